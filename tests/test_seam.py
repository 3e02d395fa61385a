"""Seam harmonisation (core.seam): offsets removed, texture kept, known pixels exact."""
import numpy as np
import pytest
import torch

from core.seam import harmonic_correction, harmonize, inlier_weights


def _texture(h: int = 64, w: int = 64, c: int = 3, seed: int = 0) -> torch.Tensor:
    """Fine texture, stationary beyond a few pixels: its local means barely move, as on a material. (Local
    means that change across the seam -- a soft shadow's edge -- are what harmonisation carries in.)"""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.2 * np.cos(2 * np.pi * xx / 3)[None] * np.cos(2 * np.pi * yy / 3)[None]
    noise = 0.05 * rng.standard_normal((c, h, w))
    return torch.from_numpy((base + noise).astype(np.float32))[None]


def _stroke(h: int = 64, w: int = 64) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., 20:30, 8:56] = 1.0  # a 10 px thick bar
    m[..., 30:50, 40:48] = 1.0  # and a leg down from it
    return m


@pytest.mark.parametrize("radius", [0, 2, 4])
def test_a_constant_offset_in_the_hole_is_removed_and_the_texture_kept(radius):
    truth, mask = _texture(), _stroke()
    offset = torch.tensor([0.08, -0.05, 0.03]).view(1, 3, 1, 1)
    fill = torch.where(mask > 0, truth + offset, truth)
    out = harmonize(fill, truth, mask, radius)
    hole = mask.expand_as(truth) > 0
    before = (fill - truth)[hole].pow(2).mean()
    after = (out - truth)[hole].pow(2).mean()
    # the offset is gone: pixel-to-pixel seam data (radius 0) carry the texture's own noise in, local means
    # (the default radius 4) hardly any
    assert after < (0.3 if radius == 0 else 0.05) * before
    # ... and the fill's own detail is untouched: the correction is smooth, so the gradients inside survive
    gy_fill = (fill[..., 1:, :] - fill[..., :-1, :])[..., 22:28, 12:52]
    gy_out = (out[..., 1:, :] - out[..., :-1, :])[..., 22:28, 12:52]
    assert (gy_fill - gy_out).abs().mean() < 0.05 * gy_fill.abs().mean()


def test_known_pixels_come_back_exactly_and_a_perfect_fill_is_left_alone():
    truth, mask = _texture(seed=1), _stroke()
    out = harmonize(truth.clone(), truth, mask)
    assert torch.equal(out[mask.expand_as(truth) == 0], truth[mask.expand_as(truth) == 0])
    diff = (out - truth).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.05  # local means of a texture differ a little across a seam
    wrong = torch.where(mask > 0, torch.zeros_like(truth), truth)
    fixed = harmonize(wrong, truth, mask)
    assert torch.equal(fixed[mask.expand_as(truth) == 0], truth[mask.expand_as(truth) == 0])


def test_correction_is_harmonic_inside_the_hole():
    truth, mask = _texture(seed=2, c=1), _stroke()
    fill = torch.where(mask > 0, torch.full_like(truth, 0.2), truth)
    c = harmonic_correction(fill, truth, mask, radius=0, tol=1e-7)
    assert torch.count_nonzero(c[mask == 0]) == 0
    # interior pixels (all four neighbours in the hole): c equals the mean of its neighbours
    inner = mask[0, 0, 21:29, 9:55]
    lap = 4 * c[0, 0, 21:29, 9:55] - (c[0, 0, 20:28, 9:55] + c[0, 0, 22:30, 9:55] + c[0, 0, 21:29, 8:54]
                                      + c[0, 0, 21:29, 10:56])
    both = (inner > 0) & (mask[0, 0, 20:28, 9:55] > 0) & (mask[0, 0, 22:30, 9:55] > 0)
    assert lap[both].abs().max() < 1e-4
    assert c[mask > 0].mean() > 0.1  # it lifts the too-dark fill towards the surroundings


def test_smooth_offset_ramp_is_followed_and_result_clamped_to_the_range():
    truth, mask = _texture(seed=3, c=2), _stroke()
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    ramp = (0.002 * xx - 0.001 * yy)[None, None]
    fill = torch.where(mask > 0, truth - 0.1, truth + ramp)  # the known side carries a gentle gradient
    known = truth + ramp
    out = harmonize(fill, known, mask, radius=2)
    err = (out - known)[mask.expand_as(truth) > 0].abs().mean()
    assert err < 0.02  # from 0.1 before
    lo, hi = torch.full((1, 2, 1, 1), 0.4), torch.full((1, 2, 1, 1), 0.6)
    clamped = harmonize(fill, known, mask, 2, lo, hi)
    inside = clamped[mask.expand_as(truth) > 0]
    assert inside.min() >= 0.4 and inside.max() <= 0.6


def test_batch_items_and_channels_are_solved_independently():
    truth, mask = _texture(seed=4), _stroke()
    fill = torch.where(mask > 0, truth + torch.tensor([0.1, 0.0, -0.1]).view(1, 3, 1, 1), truth)
    pair = harmonize(torch.cat([fill, truth]), torch.cat([truth, truth]), torch.cat([mask, mask]))
    single = harmonize(fill, truth, mask)
    alone = harmonize(truth, truth, mask)
    assert torch.allclose(pair[:1], single, atol=1e-5) and torch.allclose(pair[1:], alone, atol=1e-5)
    per_channel = torch.cat([harmonize(fill[:, k:k + 1], truth[:, k:k + 1], mask) for k in range(3)], dim=1)
    assert torch.allclose(single, per_channel, atol=1e-5)


def test_large_regions_solved_coarse_to_fine_agree_with_a_tight_solve():
    from core.seam import COARSE_SIDE

    n = 2 * COARSE_SIDE + 3  # odd on purpose: the halving pads
    truth = _texture(n, n, c=2, seed=5)
    truth[..., :, : n // 2] += 0.3  # a step across the hole, so the correction varies
    mask = torch.zeros(1, 1, n, n)
    mask[..., 30:100, 20:110] = 1.0
    fill = torch.where(mask > 0, torch.full_like(truth, 0.5), truth)
    fast = harmonic_correction(fill, truth, mask)
    tight = harmonic_correction(fill, truth, mask, tol=1e-7, max_iters=50000)
    assert tight.abs().max() > 0.1
    assert (fast - tight).abs().max() < 2e-3


def _grooved_surface(h: int = 64, w: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-channel 'tilts' of a flat, faintly textured surface with a steep groove running along the bar's
    upper seam, on the known side (a parquet joint next to a scratch): (known, fill) where the fill is the
    surface's level with the same faint texture."""
    rng = np.random.default_rng(3)
    flat = 0.01 * rng.standard_normal((1, 2, h, w)).astype(np.float32)
    known = torch.from_numpy(flat.copy())
    known[:, 0, 17:20, :] = 0.6  # the groove: 3 px, steep, just above the hole (rows 20-29)
    return known, torch.from_numpy(flat.copy())


def test_trimmed_means_keep_a_groove_along_the_seam_from_tilting_the_fill():
    known, fill = _grooved_surface()
    mask = _stroke()
    hole = mask.expand_as(fill) > 0
    plain = harmonize(fill, known, mask, radius=8)
    trimmed = harmonize(fill, known, mask, radius=8, trim=0.75)
    # plain local means see the groove and carry its tilt into the bar; trimmed ones leave the fill level
    assert (plain - fill)[:, 0][hole[:, 0]].abs().mean() > 0.05
    assert (trimmed - fill)[hole].abs().mean() < 0.01
    # a real offset is still removed with trimmed means
    shifted = fill + 0.2 * mask
    fixed = harmonize(shifted, known, mask, radius=8, trim=0.75)
    assert (fixed - fill)[hole].abs().mean() < 0.1 * (shifted - fill)[hole].abs().mean()
    assert torch.equal(fixed[~hole], known[~hole])


def test_inlier_weights_keep_the_share_nearest_the_median_in_data_units():
    known, fill = _grooved_surface()
    mask = _stroke()
    wk, wf = inlier_weights(fill, known, mask, keep=0.75)
    outside = mask[0, 0] == 0
    assert abs(float(wk[0, 0][outside].mean()) - 0.75) < 0.01
    assert float(wk[0, 0, 17:20][outside[17:20]].sum()) == 0  # the groove is out
    assert float(wf[0, 0][~outside].mean()) > 0.5  # the level fill is in
    # scale puts channels in data units: a channel scaled to nothing no longer decides
    wk0, _ = inlier_weights(fill, known, mask, keep=0.75, scale=torch.tensor([0.0, 1.0]).view(1, 2, 1, 1))
    assert float(wk0[0, 0, 17:20][outside[17:20]].mean()) > 0.3
    # a batch of fills (variants) against one known image and mask: one weight map per fill
    wk2, wf2 = inlier_weights(torch.cat([fill, fill + 1.0]), known, mask, keep=0.75)
    assert wk2.shape == (2, 1, 64, 64) and torch.equal(wk2[0], wk[0]) and torch.equal(wk2[1], wk[0])
    assert torch.equal(wf2[0], wf[0]) and float(wf2[1, 0][~outside].sum()) == 0  # the shifted fill is all out


def test_windows_without_inliers_fall_back_to_plain_means():
    known, fill = _grooved_surface()
    known[:, 0, :, :32] = 0.6  # left half steep everywhere: its windows hold no inlier at keep = 0.3
    mask = _stroke()
    trimmed = harmonize(fill, known, mask, radius=4, trim=0.3)
    plain = harmonize(fill, known, mask, radius=4)
    assert torch.isfinite(trimmed).all()
    left = (mask[0, 0] > 0).clone()
    left[:, 24:] = False
    assert torch.allclose(trimmed[0, 0][left].mean(), plain[0, 0][left].mean(), atol=0.1)


@pytest.mark.parametrize("trim", [None, 0.75])
def test_the_solve_cropped_to_the_hole_matches_the_whole_image(trim):
    """harmonize solves only on the hole's box grown by the local means' reach; that must be exact, also for a
    hole at the image's edge (where the edge stays free) and with trimmed means (inliers from the whole image)."""
    from core.seam import DEFAULT_RADIUS

    known = _texture(96, 96)
    fill = known + 0.15 * torch.linspace(0, 1, 96).view(1, 1, 1, 96)  # an offset that varies along the seam
    for box in ((30, 50, 40, 70), (0, 20, 70, 96)):  # inside; touching the top and right edges
        mask = torch.zeros(1, 1, 96, 96)
        mask[..., box[0]:box[1], box[2]:box[3]] = 1.0
        inl = None if trim is None else inlier_weights(fill, known, mask, trim)
        whole = fill + harmonic_correction(fill, known, mask, DEFAULT_RADIUS, tol=1e-7, inliers=inl)
        whole = torch.where(mask > 0.5, whole, known)
        got = harmonize(fill, known, mask, trim=trim)
        assert (got - fill).abs().max() > 0.05  # there was something to correct
        assert torch.allclose(got, whole, atol=2e-4), float((got - whole).abs().max())


def test_separable_box_mean_equals_the_square_window():
    import torch.nn.functional as F

    from core.seam import _box_mean

    x = torch.rand(2, 3, 37, 41)
    for r in (1, 4, 8):
        k = 2 * r + 1
        assert torch.allclose(_box_mean(x, r), F.avg_pool2d(x, k, stride=1, padding=r), atol=1e-6)
