"""core.grain: the image's own fine texture rebuilt over a smooth fill, its coarse bands kept."""
import cv2
import numpy as np

from core.grain import GRAIN_SIGMA, add_grain


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


def test_nothing_to_copy_leaves_the_fill_as_it_is():
    img = grainy(40, 40)
    hole = np.zeros((40, 40), bool)
    hole[4:36, 4:36] = True  # no known block of the grain's size fits beside it
    assert np.array_equal(add_grain(img, hole), img)
    assert np.array_equal(add_grain(img, np.zeros((40, 40), bool)), img)
