"""Mask parsing (white > 127 = fill, whatever the mask's format) and the masks we draw ourselves."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import write_native
from core import masks
from core.errors import UserError
from core.io import load_mask, mask_from_pixels


def _levels_row() -> np.ndarray:
    """One row of 8-bit gray levels around the threshold, and the expected fill decision."""
    return np.array([0, 1, 100, 126, 127, 128, 129, 200, 254, 255], np.uint8)


EXPECTED = _levels_row() > 127


# --------------------------------------------------------------------------------------------------------
# load_mask
# --------------------------------------------------------------------------------------------------------
def test_gray_mask_threshold(tmp_path):
    row = _levels_row()
    path = write_native(tmp_path / "m.png", np.tile(row, (3, 1))[:, :, None])
    m = load_mask(path)
    assert m.dtype == bool and m.shape == (3, row.size)
    np.testing.assert_array_equal(m[0], EXPECTED)


def test_rgb_mask_threshold_on_gray_levels(tmp_path):
    row = _levels_row()
    px = np.repeat(np.tile(row, (2, 1))[:, :, None], 3, axis=2)
    m = load_mask(write_native(tmp_path / "m.png", px))
    np.testing.assert_array_equal(m[0], EXPECTED)


def test_rgb_mask_uses_luminance(tmp_path):
    # pure blue (luma 29) keeps, pure green (luma 150) fills, pure red (luma 76) keeps, white fills
    px = np.array([[[0, 0, 255], [0, 255, 0], [255, 0, 0], [255, 255, 255]]], np.uint8)
    m = load_mask(write_native(tmp_path / "m.png", px))
    np.testing.assert_array_equal(m[0], [False, True, False, True])


def test_16bit_mask_threshold(tmp_path):
    row16 = _levels_row().astype(np.uint16) * 257  # the same levels on a 16-bit scale
    m = load_mask(write_native(tmp_path / "m.png", np.tile(row16, (2, 1))[:, :, None]))
    np.testing.assert_array_equal(m[0], EXPECTED)
    rgb16 = np.repeat(np.tile(row16, (2, 1))[:, :, None], 3, axis=2)
    m = load_mask(write_native(tmp_path / "m3.tif", rgb16))
    np.testing.assert_array_equal(m[0], EXPECTED)


def test_alpha_painted_mask(tmp_path):
    """Strokes painted on a transparent layer: black colour everywhere, the alpha holds the strokes."""
    px = np.zeros((6, 10, 4), np.uint8)
    px[:, :, 3] = _levels_row()[None, :]
    m = load_mask(write_native(tmp_path / "alpha.png", px))
    np.testing.assert_array_equal(m[0], EXPECTED)


def test_opaque_rgba_mask_uses_colour(tmp_path):
    px = np.zeros((6, 10, 4), np.uint8)
    px[:, :, 3] = 255
    px[:, 4:, :3] = 255
    m = load_mask(write_native(tmp_path / "rgba.png", px))
    assert m[:, 4:].all() and not m[:, :4].any()


def test_float_mask_pixels():
    px = np.array([[[0.0], [0.49], [0.51], [1.0]]], np.float32)
    np.testing.assert_array_equal(mask_from_pixels(px)[0], [False, False, True, True])


def test_wrong_size_mask_is_user_error(tmp_path):
    path = write_native(tmp_path / "m.png", np.full((10, 12, 1), 255, np.uint8))
    with pytest.raises(UserError, match="same size"):
        load_mask(path, (12, 10))
    assert load_mask(path, (10, 12)).shape == (10, 12)


def test_unreadable_mask_is_user_error(tmp_path):
    bad = tmp_path / "m.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(UserError):
        load_mask(bad, (4, 4))


# --------------------------------------------------------------------------------------------------------
# validate_mask
# --------------------------------------------------------------------------------------------------------
def test_empty_and_full_masks_are_user_errors():
    with pytest.raises(UserError, match="empty"):
        masks.validate_mask(np.zeros((8, 8), bool), (8, 8))
    with pytest.raises(UserError, match="whole image"):
        masks.validate_mask(np.ones((8, 8), bool), (8, 8))
    with pytest.raises(UserError, match="same size"):
        masks.validate_mask(np.zeros((8, 9), bool), (8, 8))
    m = np.zeros((8, 8), np.uint8)
    m[2, 3] = 255
    out = masks.validate_mask(m, (8, 8))
    assert out.dtype == bool and out.sum() == 1 and out[2, 3]


# --------------------------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------------------------
def test_hole_bbox():
    m = np.zeros((20, 30), bool)
    m[3, 7] = m[11, 25] = True
    assert masks.hole_bbox(m) == masks.Box(3, 7, 12, 26)


def _random_cases(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, x1 = int(rng.integers(y0 + 1, h + 1)), int(rng.integers(x0 + 1, w + 1))
        yield masks.Box(y0, x0, y1, x1), int(rng.integers(0, 120)), (h, w)


def _possible(box_len: int, size: int, multiple: int = 8) -> bool:
    """A window of a multiple of ``multiple`` that holds the box fits inside the image."""
    return -(-box_len // multiple) * multiple <= size


def test_grow_box_stays_inside_holds_the_box_and_is_aligned_where_possible():
    for box, margin, (h, w) in _random_cases(3000):
        g = masks.grow_box(box, margin, (h, w), multiple=8)
        assert 0 <= g.y0 < g.y1 <= h and 0 <= g.x0 < g.x1 <= w, (box, margin, (h, w), g)
        # the whole hole is inside the region that gets worked on
        assert g.y0 <= box.y0 and box.y1 <= g.y1 and g.x0 <= box.x0 and box.x1 <= g.x1, (box, margin, (h, w), g)
        if _possible(box.height, h):
            assert g.height % 8 == 0, (box, margin, (h, w), g)
        if _possible(box.width, w):
            assert g.width % 8 == 0, (box, margin, (h, w), g)


def test_grow_box_keeps_margin_when_there_is_room():
    g = masks.grow_box(masks.Box(100, 100, 120, 130), 40, (512, 512))
    assert g.y0 <= 60 and g.y1 >= 160 and g.x0 <= 60 and g.x1 >= 170
    assert g.height % 8 == 0 and g.width % 8 == 0
    assert g.height <= 100 + 7 and g.width <= 110 + 7  # grown to the next multiple, not beyond


def test_grow_box_hole_at_the_edge_of_an_unaligned_image():
    """A hole touching the last row/column of a 50x50 image must stay inside the region."""
    box = masks.Box(49, 49, 50, 50)
    g = masks.grow_box(box, 48, (50, 50))
    assert g.y1 == 50 and g.x1 == 50
    assert g.height % 8 == 0 and g.width % 8 == 0


def test_grow_box_multiple_1_is_plain_clipped_growth():
    g = masks.grow_box(masks.Box(5, 5, 10, 12), 7, (20, 15), multiple=1)
    assert g == masks.Box(0, 0, 17, 15)


# --------------------------------------------------------------------------------------------------------
# Synthetic masks
# --------------------------------------------------------------------------------------------------------
def test_random_strokes_deterministic_for_a_seed():
    a = masks.random_strokes(64, 80, np.random.default_rng(5))
    b = masks.random_strokes(64, 80, np.random.default_rng(5))
    c = masks.random_strokes(64, 80, np.random.default_rng(6))
    assert a.dtype == bool and a.shape == (64, 80)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert 0 < a.mean() < 1


def test_random_box_inside_and_sized():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = masks.random_box(40, 30, rng, size=(5, 12))
        ys, xs = np.nonzero(m)
        hh, ww = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert m.sum() == hh * ww  # one filled rectangle
        assert 2 <= hh <= 12 and 2 <= ww <= 12


@pytest.mark.parametrize("size", [(256, 256), (128, 192)])
def test_stroke_mask_for_bench_coverage_and_reproducible(size):
    h, w = size
    for seed in range(6):
        m = masks.stroke_mask_for_bench(h, w, seed)
        assert m.shape == (h, w) and m.dtype == bool
        assert 0.15 <= m.mean() <= 0.25, (seed, m.mean())
        np.testing.assert_array_equal(m, masks.stroke_mask_for_bench(h, w, seed))
    assert (masks.stroke_mask_for_bench(h, w, 0) != masks.stroke_mask_for_bench(h, w, 1)).any()


def test_centre_box_mask_fraction():
    m = masks.centre_box_mask(200, 100, frac=0.25)
    assert abs(m.mean() - 0.25) < 0.01
    ys, xs = np.nonzero(m)
    assert abs((ys.min() + ys.max()) / 2 - 99.5) <= 1 and abs((xs.min() + xs.max()) / 2 - 49.5) <= 1


def test_hole_thickness():
    m = np.zeros((64, 64), bool)
    m[20:30, :] = True  # a band 10 px thick
    assert 8 <= masks.hole_thickness(m) <= 12


def test_mean_hole_distance_tells_scattered_pixels_from_holes():
    from core.masks import mean_hole_distance

    rng = np.random.default_rng(0)
    scattered = rng.random((64, 64)) < 0.5
    box = np.zeros((64, 64), bool)
    box[16:48, 16:48] = True
    assert mean_hole_distance(scattered) < 2.0
    assert mean_hole_distance(box) > 5.0  # a 32 px box: about 8 px on average
    assert mean_hole_distance(np.zeros((8, 8), bool)) == 0.0


@pytest.mark.parametrize("rate", [0.5, 0.8])
def test_is_scattered_for_random_pixel_loss_but_not_strokes_or_an_empty_mask(rate):
    rng = np.random.default_rng(1)
    assert masks.is_scattered(rng.random((96, 96)) < rate)
    assert not masks.is_scattered(masks.stroke_mask_for_bench(96, 96, seed=3))
    assert not masks.is_scattered(np.zeros((16, 16), bool))
