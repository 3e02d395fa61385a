"""core.grain: the image's own texture rebuilt over a smooth fill (fine bands only, or whole blocks), its coarse bands
kept."""
import cv2
import numpy as np
import pytest

from core.grain import GRAIN_SIGMA, KEEP_SIGMA, add_grain, rebuild_blocks


def grainy(h: int = 128, w: int = 128, c: int = 3, seed: int = 0) -> np.ndarray:
    """Fine random grain (a few px) over a gentle gradient, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, c)).astype(np.float32), (0, 0), 1.0).reshape(h, w, c)
    ramp = np.linspace(0.3, 0.6, w, dtype=np.float32)[None, :, None]
    return np.clip(ramp + 0.12 * noise / noise.std(), 0, 1).astype(np.float32)


def _hole(h=128, w=128):
    m = np.zeros((h, w), bool)
    m[40:88, 36:92] = True
    return m


def _fine(x):
    return x - cv2.GaussianBlur(x, (0, 0), GRAIN_SIGMA).reshape(x.shape)


def test_a_smooth_fill_gets_the_images_grain_and_keeps_its_layout():
    img, hole = grainy(), _hole()
    smooth = img.copy()
    smooth[hole] = cv2.GaussianBlur(img, (0, 0), 8.0)[hole]  # right colours, no texture
    out = add_grain(smooth, hole, seed=0)
    assert np.array_equal(out[~hole], smooth[~hole])  # known pixels untouched
    inner = np.zeros_like(hole)
    inner[48:80, 44:84] = True  # away from the hole's edge, where the blur mixes in known pixels
    known_fine = _fine(img)[~hole].std()
    assert _fine(smooth)[inner].std() < 0.3 * known_fine  # the input was smooth ...
    assert 0.7 * known_fine < _fine(out)[inner].std() < 1.3 * known_fine  # ... the output as grainy as the image
    coarse = cv2.GaussianBlur(out - smooth, (0, 0), 2 * GRAIN_SIGMA)
    assert np.abs(coarse[inner]).mean() < 0.02  # the coarse bands stay the fill's
    assert np.array_equal(add_grain(smooth, hole, seed=0), out)  # a seed gives one result
    assert not np.array_equal(add_grain(smooth, hole, seed=1), out)


def test_grain_comes_only_from_where_it_is_allowed():
    img, hole = grainy(c=1), np.zeros((128, 128), bool)
    hole[40:88, 16:56] = True
    img[:, 64:] = 0.45  # a flat strip: no grain there ...
    allowed = np.zeros_like(hole)
    allowed[:, 80:] = True  # ... the sampling area, beyond the blur's reach of the grainy part
    smooth = img.copy()
    smooth[hole] = cv2.GaussianBlur(img, (0, 0), 8.0)[hole][:, None]
    out = add_grain(smooth, hole, seed=0, allowed=allowed)
    base = cv2.GaussianBlur(smooth, (0, 0), GRAIN_SIGMA)[:, :, None]
    assert np.abs(out[hole] - base[hole]).max() < 1e-3  # only the strip's (zero) grain was there to copy
    assert _fine(add_grain(smooth, hole, seed=0))[hole].std() > 0.02  # from anywhere: grainy


@pytest.mark.parametrize("rebuild", [add_grain, rebuild_blocks])
def test_nothing_to_copy_leaves_the_fill_as_it_is(rebuild):
    img = grainy(40, 40)
    hole = np.zeros((40, 40), bool)
    hole[4:36, 4:36] = True  # no known block of the grain's size fits beside it
    assert np.array_equal(rebuild(img, hole), img)
    assert np.array_equal(rebuild(img, np.zeros((40, 40), bool)), img)


def bricks(h: int = 160, w: int = 192, c: int = 3, seed: int = 0) -> np.ndarray:
    """A brick wall: 14-px courses of 32-px bricks (each its own shade of red, with fine grain) between 4-px light
    mortar joints, every other course shifted half a brick."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    for top in range(0, h, 18):
        shift = 16 if (top // 18) % 2 else 0
        for left in range(-shift, w, 36):
            img[top:top + 18, max(0, left):left + 36] = np.array([0.55, 0.22, 0.18]) + rng.uniform(-0.06, 0.06)
            img[top:top + 18, max(0, left + 32):left + 36] = 0.8  # the vertical joint
        img[top + 14:top + 18] = 0.8  # the horizontal joint
    img += 0.02 * rng.normal(0, 1, img.shape).astype(np.float32)
    img = np.clip(img, 0, 1)
    return img if c == 3 else img.mean(axis=2, keepdims=True)


def _stroke(h: int = 160, w: int = 192) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.polylines(m, [np.array([[20, 120], [70, 40], [120, 120], [170, 40]], np.int32)], False, 1, 10)
    return m.astype(bool)


@pytest.mark.parametrize("c", [1, 3])
def test_whole_blocks_carry_a_walls_joints_across_a_stroke(c):
    """A smooth fill blends brick and mortar into a band of their mean colour where a stroke crosses a joint; grain
    over it keeps that band, whole blocks put the joints back where the wall has them. The fill's coarsest bands
    stay its own; known pixels are untouched and a seed gives one result."""
    img, hole = bricks(c=c), _stroke()
    smooth = img.copy()
    smooth[hole] = cv2.GaussianBlur(img, (0, 0), 6.0).reshape(img.shape)[hole]
    blocks, grain = rebuild_blocks(smooth, hole, seed=0), add_grain(smooth, hole, seed=0)
    assert np.array_equal(blocks[~hole], smooth[~hole])

    def error(x, sigma=0.0):  # mean absolute error in the hole; after a blur, of where shades and joints lie
        d = x - img if not sigma else cv2.GaussianBlur(x - img, (0, 0), sigma).reshape(img.shape)
        return float(np.abs(d)[hole].mean())
    assert error(blocks) < 0.5 * error(smooth) and error(blocks) < 0.85 * error(grain)
    assert error(blocks, 2.0) < 0.75 * error(grain, 2.0)
    unsearched = rebuild_blocks(smooth, hole, seed=0, search=0)  # random candidates only: joints out of line
    assert error(blocks, 2.0) < 0.8 * error(unsearched, 2.0)
    coarse = cv2.GaussianBlur(blocks - smooth, (0, 0), 2 * KEEP_SIGMA).reshape(img.shape)
    assert np.abs(coarse[hole]).mean() < 0.02
    assert np.array_equal(rebuild_blocks(smooth, hole, seed=0), blocks)


def test_whole_blocks_come_only_from_where_they_are_allowed():
    img, hole = grainy(c=1), np.zeros((128, 128), bool)
    hole[40:88, 16:56] = True
    img[:, 64:] = 0.45  # a flat strip: nothing fine to copy there ...
    allowed = np.zeros_like(hole)
    allowed[:, 80:] = True  # ... the sampling area
    smooth = img.copy()
    smooth[hole] = cv2.GaussianBlur(img, (0, 0), 8.0)[hole][:, None]
    assert _fine(rebuild_blocks(smooth, hole, seed=0, allowed=allowed))[48:80, 24:48].std() < 0.01
    assert _fine(rebuild_blocks(smooth, hole, seed=0))[48:80, 24:48].std() > 0.02  # from anywhere: grainy


def test_whole_blocks_line_up_from_a_sampling_area_away_from_the_hole():
    """The area lies 20 px below the stroke, beyond the search near each block: the whole area is searched then, so
    the joints still line up (as well as when the blocks may come from anywhere, or better)."""
    img, hole = bricks(h=240), np.zeros((240, 192), bool)
    hole[:160] = _stroke()
    smooth = img.copy()
    smooth[hole] = cv2.GaussianBlur(img, (0, 0), 6.0)[hole]
    allowed = np.zeros_like(hole)
    allowed[180:] = True

    def placement_error(x):
        return float(np.abs(cv2.GaussianBlur(x - img, (0, 0), 2.0))[hole].mean())
    fenced = rebuild_blocks(smooth, hole, seed=0, allowed=allowed)
    assert placement_error(fenced) <= placement_error(rebuild_blocks(smooth, hole, seed=0))
    assert placement_error(fenced) < 0.5 * placement_error(add_grain(smooth, hole, seed=0, allowed=allowed))
