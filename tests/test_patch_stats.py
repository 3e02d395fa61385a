"""texture_mismatch: a no-reference score of how unlike its surroundings a filled hole looks."""
import cv2
import numpy as np
import pytest

from core.patch_stats import ring_around, texture_mismatch


def _hole(h: int = 96, w: int = 96) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[32:64, 28:68] = True
    return mask


def test_the_true_texture_scores_below_a_blur_and_a_flat_fill(make_texture):
    image, mask = make_texture(96, 96), _hole()
    blurred = image.copy()
    blurred[mask] = cv2.GaussianBlur(image, (0, 0), 2.5)[mask]
    flat = image.copy()
    flat[mask] = image[~mask].mean(axis=0)
    truth, blur, mean = (texture_mismatch(x, mask) for x in (image, blurred, flat))
    assert truth < 0.5 * blur and blur < mean


def test_a_wrong_texture_scores_worse_than_the_same_texture_moved(make_texture):
    image, mask = make_texture(96, 96, seed=0), _hole()
    moved = image.copy()
    moved[mask] = np.roll(image, (5, 7), axis=(0, 1))[mask]  # the image's own texture, out of phase
    other = image.copy()
    other[mask] = np.rot90(make_texture(96, 96, seed=3))[mask]  # stripes the other way
    assert texture_mismatch(moved, mask) < texture_mismatch(other, mask)


def test_the_ring_is_known_pixels_near_the_hole_only():
    mask = _hole()
    ring = ring_around(mask, 5)
    assert not (ring & mask).any()
    assert ring[30, 40] and not ring[20, 40]  # 2 px above the hole, and 12 px above it


@pytest.mark.parametrize("match", ["spread", "capped", "ranks"])
def test_restore_detail_lifts_a_faded_fill_and_leaves_known_pixels(make_texture, match):
    from core.patch_stats import restore_detail

    image, mask = make_texture(96, 96), _hole()
    faded = image.copy()
    mean = image[mask].mean(axis=0)
    faded[mask] = mean + 0.35 * (image[mask] - mean)  # the texture at a third of its contrast: a vote's blend
    restored = restore_detail(faded, mask, match=match)
    assert np.array_equal(restored[~mask], image[~mask])
    err = [np.abs(x[mask] - image[mask]).mean() for x in (faded, restored)]
    assert err[1] < 0.8 * err[0]
    assert texture_mismatch(restored, mask) < texture_mismatch(faded, mask)


@pytest.mark.parametrize("match", ["spread", "capped", "ranks"])
def test_restore_detail_does_not_touch_a_fill_as_detailed_as_its_ring(make_texture, match):
    from core.patch_stats import restore_detail

    image, mask = make_texture(96, 96), _hole()
    change = np.abs(restore_detail(image, mask, match=match) - image)
    # ranks move each value to where a sample of the ring's own distribution puts it: a little, not nothing
    assert change.max() < (0.1 if match == "ranks" else 0.05)
    assert change[mask].mean() < 0.01


def test_capped_and_ranked_detail_do_not_raise_edges_that_are_right_with_their_faint_grain():
    """Sharp stripes plus a fine grain; the fill has the stripes right and the grain at a fifth. The plain gain,
    sized by the grain, raises the stripes' edges with it; capped by the bands' standard deviations (which the
    edges dominate) it leaves them as they were, and the rank mapping also brings the grain back."""
    from core.patch_stats import restore_detail

    rng = np.random.default_rng(3)
    h = w = 128
    stripes = np.where((np.arange(w) // 8) % 2 == 0, 0.3, 0.7)[None, :].repeat(h, 0)
    grain = rng.normal(0.0, 0.02, (h, w))
    image = (stripes + grain).astype(np.float32)[:, :, None]
    mask = np.zeros((h, w), bool)
    mask[40:88, 40:88] = True
    fill = image.copy()
    fill[mask] = (stripes + 0.2 * grain).astype(np.float32)[:, :, None][mask]

    def edge_step(x):  # the mean jump across the stripes' edges inside the hole
        d = np.abs(np.diff(x[44:84, 44:84, 0], axis=1))
        return float(np.sort(d.ravel())[-200:].mean())

    def grain_level(x):  # the grain's typical size on the stripes' flat parts inside the hole
        return float(np.median(np.abs(x[44:84, 44:84, 0] - stripes[44:84, 44:84])))

    truth_edge = edge_step(image)
    assert edge_step(restore_detail(fill, mask, match="spread")) > 1.3 * truth_edge
    for match in ("capped", "ranks"):
        assert abs(edge_step(restore_detail(fill, mask, match=match)) - truth_edge) < 0.1 * truth_edge
    ranked = restore_detail(fill, mask, match="ranks")
    assert grain_level(ranked) > 2.0 * grain_level(fill)


def test_restore_detail_names_its_matches():
    from core.patch_stats import restore_detail

    with pytest.raises(ValueError, match="ranks"):
        restore_detail(np.zeros((32, 32, 1), np.float32), np.ones((32, 32), bool), match="gain")
