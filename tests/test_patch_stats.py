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


def test_restore_detail_lifts_a_faded_fill_and_leaves_known_pixels(make_texture):
    from core.patch_stats import restore_detail

    image, mask = make_texture(96, 96), _hole()
    faded = image.copy()
    mean = image[mask].mean(axis=0)
    faded[mask] = mean + 0.35 * (image[mask] - mean)  # the texture at a third of its contrast: a vote's blend
    restored = restore_detail(faded, mask)
    assert np.array_equal(restored[~mask], image[~mask])
    err = [np.abs(x[mask] - image[mask]).mean() for x in (faded, restored)]
    assert err[1] < 0.8 * err[0]
    assert texture_mismatch(restored, mask) < texture_mismatch(faded, mask)


def test_restore_detail_does_not_touch_a_fill_as_detailed_as_its_ring(make_texture):
    from core.patch_stats import restore_detail

    image, mask = make_texture(96, 96), _hole()
    assert np.abs(restore_detail(image, mask) - image).max() < 0.05
