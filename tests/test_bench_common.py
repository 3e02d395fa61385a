"""The benchmarks' shifted-truth reference (bench.common.shifted_truths): known pixels kept, the hole filled
with the image itself shifted, one fill per offset."""
import numpy as np

from bench.common import ORACLE_SHIFTS, shifted_truths


def test_shifted_truths_fill_the_hole_with_the_image_shifted_and_keep_the_rest():
    rng = np.random.default_rng(0)
    img = rng.random((40, 60, 3)).astype(np.float32)
    mask = np.zeros((40, 60), bool)
    mask[10:25, 5:50] = True
    fills = shifted_truths(img, mask)
    assert len(fills) == len(ORACLE_SHIFTS)
    for (fy, fx), f in zip(ORACLE_SHIFTS, fills):
        assert f.shape == img.shape and np.array_equal(f[~mask], img[~mask])
        dy, dx = int(round(fy * 40)), int(round(fx * 60))
        assert np.array_equal(f[12, 7], img[(12 - dy) % 40, (7 - dx) % 60])  # wrapped copy
        assert not np.array_equal(f[mask], img[mask])  # never the hole's own pixels
    gray = shifted_truths(img[:, :, 0], mask)  # (H, W) arrays too
    assert gray[0].shape == (40, 60) and np.array_equal(gray[0][~mask], img[:, :, 0][~mask])
