"""The patchmatch engine (core.engines.patchmatch): PyPatchMatch's native fill fitted to any image.

Texture is copied rather than smoothed, known pixels stay bit for bit, any channel count works (the channels
the library does not see follow the colour match), seeds reproduce, a source area restricts what is copied,
and the engine is in the registry and on the command line."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import quantise, texture, write_native
from core.engines import patchmatch
from core.engines.base import InpaintRequest, Progress, Result
from core.engines.classical import cv_inpaint
from core.engines.patchmatch import patchmatch_fill
from core.engines.registry import Registry, default_registry, register_builtin
from core.engines.train_set import level_matched
from core.errors import UserError

needs_library = pytest.mark.skipif(not patchmatch.available(), reason="the PatchMatch native library is missing")


def _box(h: int, w: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _exact_known(result: np.ndarray, image: np.ndarray, mask: np.ndarray) -> None:
    assert result.dtype == np.float32 and result.shape == image.shape
    np.testing.assert_array_equal(result[~mask], image[~mask])


@pytest.fixture(scope="module")
def brodatz(data_dir) -> np.ndarray:
    from core.io import load_image, to_float

    img = to_float(load_image(data_dir / "textures" / "brodatz_D006.png"))
    img = img[:128, :128]
    return np.ascontiguousarray(img.mean(axis=2, keepdims=True) if img.shape[2] > 1 else img, dtype=np.float32)


# --------------------------------------------------------------------------------------------------------
# The fill
# --------------------------------------------------------------------------------------------------------
@needs_library
def test_gray_texture_is_copied_not_blurred(brodatz):
    mask = _box(128, 128, 44, 44, 84, 84)
    result = patchmatch_fill(brodatz, mask, seed=0)
    assert result.shape == (128, 128, 1)  # gray stays one channel
    _exact_known(result, brodatz, mask)
    assert np.abs(result[mask] - brodatz[mask]).max() > 0  # the hole was filled, not left as it was
    truth_std = float(brodatz[mask].std())
    telea_std = float(cv_inpaint(brodatz, mask)[mask].std())
    pm_std = float(result[mask].std())
    assert pm_std >= 0.5 * truth_std, (pm_std, truth_std)
    assert telea_std < pm_std, (telea_std, pm_std)


@needs_library
def test_rgb_keeps_shape_and_known_pixels():
    img = texture(64, 72, 3, seed=1)
    mask = _box(64, 72, 20, 24, 40, 48)
    result = patchmatch_fill(img, mask)
    _exact_known(result, img, mask)
    assert not np.array_equal(result[mask], img[mask])
    assert 0.0 <= result.min() and result.max() <= 1.0
    # colour comes from the image: the filled mean is near the known pixels' mean, channel by channel
    np.testing.assert_allclose(result[mask].mean(axis=0), img[~mask].mean(axis=0), atol=0.08)


@needs_library
def test_rgba_alpha_follows_the_colour_match():
    img = texture(64, 72, 4, seed=2)
    img[:, :, 3] = 1.0 - img[:, :, 0]  # alpha tied to red: a coherent fill keeps the tie
    mask = _box(64, 72, 20, 24, 40, 48)
    result = patchmatch_fill(img, mask)
    _exact_known(result, img, mask)
    alpha, red = result[mask][:, 3], result[mask][:, 0]
    assert float(alpha.std()) > 0.05  # alpha is textured in the hole, not one flat value
    assert float(np.abs(alpha - (1.0 - red)).mean()) < 0.06
    known_alpha = img[~mask][:, 3]
    assert known_alpha.min() <= alpha.min() and alpha.max() <= known_alpha.max()


@needs_library
def test_stacked_maps_are_filled_with_whole_known_pixels():
    """7 channels: every filled pixel is one known pixel's whole vector, so the maps stay coherent."""
    rng = np.random.default_rng(3)
    base = texture(64, 72, 3, seed=3)
    mix = rng.uniform(-1, 1, (3, 7)).astype(np.float32)
    img = base @ mix
    img = ((img - img.min(axis=(0, 1))) / np.ptp(img, axis=(0, 1))).astype(np.float32)
    mask = _box(64, 72, 20, 24, 40, 48)
    result = patchmatch_fill(img, mask)
    assert result.shape == (64, 72, 7)
    _exact_known(result, img, mask)
    known = {tuple(v) for v in img[~mask]}
    assert all(tuple(v) in known for v in result[mask])
    assert len({tuple(v) for v in result[mask]}) > 50  # many different pixels, not one repeated


@needs_library
def test_map_groups_match_each_map_on_what_it_shows():
    """A stack of a loud colour map and a quiet roughness map of vertical stripes: matched on the stack's principal
    axes the quiet map is hardly seen and its stripes break up in the hole; matched map by map (``groups``) they
    run through it, and the maps still come from the same places: a third map, a function of the colour map,
    keeps that relation in the hole."""
    h, w = 72, 80
    colour = texture(h, w, 3, seed=5)
    stripes = (0.5 + 0.04 * np.sign(np.sin(np.arange(w) * 2 * np.pi / 6)))[None, :, None] * np.ones((h, 1, 1))
    img = np.concatenate([colour, stripes.astype(np.float32), 1.0 - colour[:, :, :1]], axis=2).astype(np.float32)
    mask = _box(h, w, 24, 26, 48, 54)
    groups = [[0, 1, 2], [3], [4]]

    def stripe_contrast(result):  # horizontal against vertical change of the roughness inside the hole
        r = result[:, :, 3]
        inner = mask[1:, 1:] & mask[:-1, 1:] & mask[1:, :-1]
        return np.abs(np.diff(r, axis=1))[1:][inner].mean() / (np.abs(np.diff(r, axis=0))[:, 1:][inner].mean() + 1e-6)

    grouped = patchmatch_fill(img, mask, seed=0, groups=groups)
    plain = patchmatch_fill(img, mask, seed=0)
    _exact_known(grouped, img, mask)
    assert stripe_contrast(grouped) > 20.0 and stripe_contrast(grouped) > 5.0 * stripe_contrast(plain)
    # coherent: the third map is still 1 - the colour map's first channel
    assert np.abs(grouped[:, :, 4] - (1.0 - grouped[:, :, 0]))[mask].mean() < 0.02


@needs_library
def test_map_weights_decide_which_map_the_one_correspondence_follows():
    """Two maps with unrelated textures, vertical stripes and noise: weighted towards the stripes, the one
    correspondence copies runs of stripes into the hole; weighted towards the noise, it follows the noise and the
    stripes break up. Both keep every map copied from the same source pixels."""
    h, w = 72, 80
    stripes = (0.5 + 0.2 * np.sign(np.sin(np.arange(w) * 2 * np.pi / 6)))[None, :, None] * np.ones((h, 1, 1))
    noise = texture(h, w, 3, seed=9)
    img = np.concatenate([stripes, noise, 1.0 - noise[:, :, :1]], axis=2).astype(np.float32)
    mask = _box(h, w, 24, 26, 48, 54)

    def stripe_error(result):  # the stripes are the same down every column: how far the hole's rows stray
        col = img[0, :, 0]
        return np.abs(result[:, :, 0] - col[None, :])[mask].mean()

    groups = [[0], [1, 2, 3], [4]]
    stripes_first = patchmatch_fill(img, mask, seed=0, groups=groups, group_weights=[1.0, 0.01, 0.01])
    noise_first = patchmatch_fill(img, mask, seed=0, groups=groups, group_weights=[0.01, 1.0, 1.0])
    assert stripe_error(stripes_first) < 0.5 * stripe_error(noise_first)
    for result in (stripes_first, noise_first):
        _exact_known(result, img, mask)
        assert np.abs(result[:, :, 4] - (1.0 - result[:, :, 1]))[mask].mean() < 0.02


def test_map_weights_are_checked():
    from core.engines.patchmatch import checked_map_weights, map_groups_option

    assert checked_map_weights(None, 3) == ()
    assert checked_map_weights([1, 0.5, 0], 3) == (1.0, 0.5, 0.0)
    for bad in ([1, 2], [0, 0, 0], [1, -1, 1], [1, float("nan"), 1], ["x", 1, 1]):
        with pytest.raises(ValueError):
            checked_map_weights(bad, 3)
    with pytest.raises(UserError, match="without map groups"):
        map_groups_option(None, 5, [1, 2])
    with pytest.raises(UserError, match="non-negative"):
        map_groups_option([[0, 1, 2], [3], [4]], 5, [1, 2])


def test_map_groups_are_checked():
    from core.engines.patchmatch import checked_map_groups

    assert checked_map_groups([[0, 1, 2], [3]], 4) == ()  # RGBA: the library fills it as it is
    assert checked_map_groups([[0, 1, 2, 3, 4]], 5) == ()  # one map: nothing to match map by map
    assert checked_map_groups([[0, 1, 2], [3], []], 5) == ((0, 1, 2), (3,))
    for bad in ([[0, 1], [1, 2]], [[0, 7]], [[-1], [2]], [["x"], [1]]):
        with pytest.raises(ValueError):
            checked_map_groups(bad, 5)


@needs_library
def test_engine_refuses_bad_map_groups():
    img = texture(40, 48, 5, seed=1)
    req = InpaintRequest(img, _box(40, 48, 10, 12, 24, 30), options={"map_groups": [[0, 1], [1, 2, 3, 4]]})
    with pytest.raises(UserError, match="disjoint"):
        list(default_registry().get("patchmatch").run(req))


@needs_library
def test_narrow_16_bit_range_keeps_its_detail():
    """A height map spanning 2 % of the range: matched in 8 bits only after stretching, so the fill stays textured."""
    img = (0.40 + 0.02 * texture(64, 64, 1, seed=4)).astype(np.float32)
    img = np.rint(img * 65535).astype(np.float32) / 65535.0
    mask = _box(64, 64, 20, 20, 44, 44)
    result = patchmatch_fill(img, mask)
    _exact_known(result, img, mask)
    assert float(result[mask].std()) >= 0.5 * float(img[mask].std())
    assert img[~mask].min() - 1e-4 <= result[mask].min() and result[mask].max() <= img[~mask].max() + 1e-4


@needs_library
def test_same_seed_same_fill_other_seed_other_fill(brodatz):
    mask = _box(128, 128, 44, 44, 84, 84)
    a, b = patchmatch_fill(brodatz, mask, seed=5), patchmatch_fill(brodatz, mask, seed=5)
    c = patchmatch_fill(brodatz, mask, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[mask], c[mask])


@needs_library
def test_source_restricts_what_is_copied():
    a, b = np.array([40, 80, 120]) / 255, np.array([200, 20, 60]) / 255
    img = np.empty((64, 128, 3), np.float32)
    img[:, :64], img[:, 64:] = a, b
    mask = _box(64, 128, 20, 20, 44, 44)  # in A's half
    source = np.zeros((64, 128), bool)
    source[:, 64:] = True
    result = patchmatch_fill(img, mask, source=source)
    _exact_known(result, img, mask)
    np.testing.assert_array_equal(result[mask], np.broadcast_to(img[0, 100], result[mask].shape))
    # without a source the same hole takes its surroundings' colour (within the library's 8-bit vote rounding)
    free = patchmatch_fill(img, mask)
    np.testing.assert_allclose(free[mask], np.broadcast_to(img[0, 0], free[mask].shape), atol=3 / 255)


@needs_library
def test_source_on_texture_copies_only_source_pixels():
    img = texture(64, 96, 3, seed=6)
    img[:, :48] = texture(64, 48, 3, seed=7)[:, :, ::-1]  # another texture on the left
    mask = _box(64, 96, 24, 56, 40, 72)
    source = np.zeros((64, 96), bool)
    source[:, 80:] = True  # a strip far from the hole
    result = patchmatch_fill(img, mask, source=source, seed=1)
    _exact_known(result, img, mask)
    allowed = {tuple(v) for v in img[source]}
    assert all(tuple(v) in allowed for v in result[mask])


@needs_library
def test_a_source_that_rings_the_hole_blocks_only_what_lies_beyond_the_gap():
    """A red block from a few px beside the hole, outside the sampling area: it is never copied, and the pixels
    of it within SOURCE_GAP of the hole stay as context (not blocked, not filled) rather than a blocked edge,
    which the library fills worse."""
    img = texture(96, 128, 3, seed=8)
    mask = _box(96, 128, 32, 32, 64, 64)
    img[16:80, 68:110] = (0.9, 0.05, 0.05)  # 4 px right of the hole
    source = np.ones((96, 128), bool)
    source[16:80, 68:110] = False
    job = patchmatch._Job.prepare(img, mask, source)
    assert not job.recopy and np.array_equal(job.lib_hole.astype(bool), job.hole)
    ys, xs = job.box.slices()
    beside = np.zeros((96, 128), bool)
    g = patchmatch.SOURCE_GAP
    beside[32 - g:64 + g, 68:64 + g] = True  # the block's columns within the gap, beside the hole
    assert not job.blocked[beside[ys, xs]].any()
    assert job.blocked[(~source & ~beside)[ys, xs]].all()
    for seed in range(3):
        result = patchmatch_fill(img, mask, source=source, seed=seed)
        _exact_known(result, img, mask)
        assert (result[mask][:, 0] - result[mask][:, 1] < 0.5).all()  # no red copied in


@needs_library
def test_references_are_copied_from():
    """A sampling area of flat colour and a reference of the image's texture: the fill takes the texture."""
    img = texture(96, 96, 3, seed=3)
    img[:, 72:] = 0.5  # a flat strip, the only sampling area
    mask = _box(96, 96, 30, 20, 62, 52)
    source = np.zeros((96, 96), bool)
    source[:, 76:] = True
    ref = texture(80, 80, 3, seed=4)
    without = patchmatch_fill(img, mask, source=source, seed=2)
    with_ref = patchmatch_fill(img, mask, source=source, seed=2, references=[ref])
    _exact_known(with_ref, img, mask)
    assert float(without[mask].std()) < 1e-6  # flat: all it could copy
    assert float(with_ref[mask].std()) > 0.5 * float(ref.std())  # the reference's texture
    # real pixels of the area or of the reference (at the level around the hole, see the next test) only
    matched = level_matched([ref], img, mask, source)[0]
    refs = {tuple(v) for v in matched.reshape(-1, 3)} | {tuple(v) for v in img[source]}
    assert all(tuple(v) in refs for v in with_ref[mask])


@needs_library
def test_a_reference_is_copied_at_the_level_around_the_hole():
    """The same texture under brighter light: copied as it is, the patch would glow; shifted to the mean around
    the hole, it sits at the image's level (gray, RGB, RGBA colour; not alpha, not map stacks)."""
    tex = texture(96, 96, 3, seed=5) * 0.5 + 0.1  # values 0.1-0.6
    img = tex.copy()
    img[:, 60:] = 0.35  # a flat strip, the only sampling area, reaching into the ring around the hole
    mask = _box(96, 96, 30, 20, 62, 52)
    source = np.zeros((96, 96), bool)
    source[:, 60:] = True
    bright = texture(80, 80, 3, seed=6) * 0.5 + 0.35  # the same kind of texture, 0.25 brighter
    filled = patchmatch_fill(img, mask, source=source, seed=1, references=[bright])
    assert float(filled[mask].std()) > 0.05  # the reference's texture ...
    assert abs(float(filled[mask].mean()) - 0.35) < 0.03  # ... at the level of the area's part of the ring
    assert float(bright.mean()) - 0.35 > 0.2
    rgba = np.concatenate([img, np.full((96, 96, 1), 0.8, np.float32)], axis=2)
    ref4 = np.concatenate([bright, np.full((80, 80, 1), 0.3, np.float32)], axis=2)
    shifted = level_matched([ref4], rgba, mask, source)[0]
    assert np.allclose(shifted[:, :, :3].reshape(-1, 3).mean(axis=0), 0.35, atol=1e-3)
    assert np.array_equal(shifted[:, :, 3], ref4[:, :, 3])  # alpha as it was
    stack = np.random.default_rng(0).random((96, 96, 7)).astype(np.float32)
    maps = [np.random.default_rng(1).random((40, 40, 7)).astype(np.float32)]
    assert np.array_equal(level_matched(maps, stack, mask)[0], maps[0])  # material stacks: untouched


@needs_library
def test_reference_canvas_blocks_its_gaps():
    crop = np.zeros((40, 50, 3), np.float32)
    hole = _box(40, 50, 10, 10, 20, 20)
    refs = [np.ones((30, 200, 3), np.float32), np.ones((90, 20, 3), np.float32)]
    canvas, usable, blocked, lib_hole = patchmatch._with_references(crop, hole, None, None, hole, refs)
    gap = 2 * patchmatch.PATCH_SIZE + 1
    assert canvas.shape[:2] == (max(40, 64), 50 + gap + 64 + gap + 20)  # references cut to the region's size
    assert usable[:40, :50].sum() == (~hole).sum() and not usable[:40, :50][hole].any()
    assert blocked[:, 50:50 + gap].all() and not blocked[:30, 50 + gap:50 + gap + 64].any()
    assert blocked[40:, :50].all()  # the empty canvas below the region is never copied
    assert lib_hole.shape == usable.shape and lib_hole.sum() == hole.sum()


def test_unusable_source_is_a_user_error():
    mask = _box(32, 32, 8, 8, 16, 16)
    with pytest.raises(UserError, match="no known pixels"):
        patchmatch.checked_source(mask.copy(), mask)  # the source is the hole itself
    with pytest.raises(UserError, match="same size"):
        patchmatch.checked_source(np.ones((16, 16), bool), mask)
    assert patchmatch.checked_source(None, mask) is None


# --------------------------------------------------------------------------------------------------------
# The engine, the registry, the command line
# --------------------------------------------------------------------------------------------------------
@needs_library
def test_engine_streams_progress_and_one_result_per_variant():
    img = texture(48, 56, 3, seed=8)
    mask = _box(48, 56, 16, 20, 30, 36)
    engine = default_registry().get("patchmatch")
    events = list(engine.run(InpaintRequest(img, mask, seed=3, variants=2)))
    results = [e for e in events if isinstance(e, Result)]
    assert [r.variant for r in results] == [0, 1]
    assert any(isinstance(e, Progress) for e in events)
    for r in results:
        _exact_known(r.image, img, mask)
        assert r.info["engine"] == "patchmatch"
        y0, x0, y1, x1 = r.info["region"]
        assert y0 <= 16 and x0 <= 20 and y1 >= 30 and x1 >= 36
    assert [r.info["seed"] for r in results] == [3, 4]
    assert not np.array_equal(results[0].image, results[1].image)
    np.testing.assert_array_equal(results[0].image, patchmatch_fill(img, mask, seed=3))


@needs_library
def test_engine_takes_the_source_option():
    img = np.zeros((40, 80, 3), np.float32)
    img[:, 40:] = 1.0
    mask = _box(40, 80, 10, 10, 30, 30)
    source = np.zeros((40, 80), bool)
    source[:, 40:] = True
    engine = default_registry().get("patchmatch")
    result = [e for e in engine.run(InpaintRequest(img, mask, options={"source": source}))
              if isinstance(e, Result)][0]
    assert (result.image[mask] == 1.0).all()


@needs_library
def test_registry_lists_patchmatch_as_instant():
    reg = default_registry()
    names = reg.names()
    assert "patchmatch" in names and names.index("patchmatch") == names.index("ns") + 1
    caps = reg.capabilities("patchmatch")
    assert caps.instant and caps.supports_seed and caps.supports_variants
    assert caps.devices == ("cpu",) and caps.max_channels is None and not caps.trains_per_image


def test_without_the_library_the_engine_is_not_offered(monkeypatch):
    monkeypatch.setattr(patchmatch, "available", lambda: False)
    reg = register_builtin(Registry())
    assert "patchmatch" not in reg.names()
    assert {"telea", "ns", "internal"} <= set(reg.names())


@needs_library
def test_cli_inpaint_with_patchmatch_end_to_end(tmp_path, write_mask):
    from test_cli import _load, run_main

    rgba = texture(40, 48, 4, seed=9)
    rgba[:, :, 3] = np.linspace(0.2, 1.0, 48)[None, :]
    src = write_native(tmp_path / "in.png", quantise(rgba, np.uint8))
    mask = _box(40, 48, 12, 14, 26, 30)
    out = tmp_path / "out.png"
    p = run_main(["inpaint", str(src), "--mask", str(write_mask(mask)), "--out", str(out),
                  "--engine", "patchmatch", "--seed", "2"], tmp_path / "cache")
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{out}\n" and "Traceback" not in p.stderr
    original, result = _load(src), _load(out)
    assert result.dtype == np.uint8 and result.shape == original.shape == (40, 48, 4)
    np.testing.assert_array_equal(result[~mask], original[~mask])
    assert (result[mask] != original[mask]).any()
    alpha = result[:, :, 3][mask].astype(int)
    assert int(original[:, :, 3].min()) <= alpha.min() and alpha.max() <= int(original[:, :, 3].max())


@needs_library
def test_cli_in_process_gray16(tmp_path, write_mask, capsys):
    from core.cli import main

    gray = quantise(texture(40, 48, 1, seed=10), np.uint16)
    src = write_native(tmp_path / "g.png", gray)
    mask = _box(40, 48, 12, 14, 26, 30)
    out = tmp_path / "g_out.tif"
    code = main(["inpaint", str(src), "--mask", str(write_mask(mask)), "--out", str(out), "--engine", "patchmatch",
                 "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    from test_cli import _load

    result = _load(out)
    assert result.dtype == np.uint16 and result.shape == (40, 48, 1)
    np.testing.assert_array_equal(result[~mask], gray[~mask])
    assert (result[mask] != gray[mask]).any()


def _feature(img: np.ndarray, y: int, x: int, ring_value: float) -> None:
    """A bright pixel whose 3 x 3 neighbours are dark, with a square of ``ring_value`` 2 px around it."""
    img[y - 2:y + 3, x - 2:x + 3] = ring_value
    img[y - 1:y + 2, x - 1:x + 2] = 0.0
    img[y, x] = 1.0


def test_the_stacks_correspondence_tells_pixels_apart_by_their_wider_surroundings():
    """Two known pixels whose 3 x 3 neighbourhoods are the same, told apart only 2 px out. The hole's pixel looks
    like the lower one: with the coarse neighbourhood (what a stack's one correspondence uses) it is matched
    there; on 3 x 3 alone the two tie and the search takes the first."""
    img = np.zeros((48, 48, 1), np.float32)
    _feature(img, 8, 24, 0.2)  # above: first in raster order
    _feature(img, 40, 24, 0.8)  # below
    _feature(img, 24, 24, 0.8)  # in the filled hole: like the one below
    hole = np.zeros((48, 48), bool)
    hole[20:29, 20:29] = True
    at = int(np.flatnonzero(hole.ravel() == 1).tolist().index(24 * 48 + 24))  # the feature's index among hole pixels
    plain = patchmatch._nearest_known(img, hole, ~hole, seed=0)
    coarse = patchmatch._nearest_known(img, hole, ~hole, seed=0, coarse=patchmatch.STACK_COARSE_STEPS)
    assert (plain[0][at], plain[1][at]) == (8, 24)
    assert (coarse[0][at], coarse[1][at]) == (40, 24)
