"""texture_mismatch: a no-reference score of how unlike its surroundings a filled hole looks."""
import cv2
import numpy as np

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
