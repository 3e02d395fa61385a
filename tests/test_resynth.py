"""bench.resynth: Resynthesizer's heal selection as a benchmark peer.

With the engine (PyPI's resynthesizer wheel): known pixels come back bit for bit and a striped hole is filled
with stripes, not a flat colour. Without it (CI): None, no exception, so bench.quality skips the peer."""
from __future__ import annotations

import numpy as np
import pytest

from bench import resynth

needs_engine = pytest.mark.skipif(not resynth.available(), reason="Resynthesizer's engine is not installed")


def _stripes(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """64x64 vertical stripes, 4 px dark blue / 4 px light orange (gray: their luminance), and a 16x16 hole."""
    x = np.arange(64)
    light = ((x // 4) % 2 == 1)[None, :].repeat(64, axis=0)
    img = np.where(light[..., None], np.float32([0.9, 0.6, 0.2]), np.float32([0.1, 0.2, 0.5])).astype(np.float32)
    if channels == 1:
        img = img.mean(axis=2, keepdims=True)
    mask = np.zeros((64, 64), bool)
    mask[24:40, 26:42] = True
    return img, mask


@needs_engine
@pytest.mark.parametrize("channels", [3, 1])
def test_fill_keeps_known_pixels_and_continues_the_stripes(channels):
    img, mask = _stripes(channels)
    out = resynth.resynth_fill(img, mask)
    assert out is not None and out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_array_equal(out[~mask], img[~mask])
    err = np.mean((out[mask] - img[mask]) ** 2)
    flat = np.mean((img[~mask].mean(axis=0) - img[mask]) ** 2)  # the hole filled with the mean colour
    assert err < 0.1 * flat, (err, flat)


def test_no_engine_gives_none(monkeypatch, tmp_path):
    monkeypatch.setenv("REWEAVE_RESYNTH_LIB", str(tmp_path / "missing" / "libresynthesizer.so"))
    img, mask = _stripes(3)
    assert not resynth.available()
    assert resynth.resynth_fill(img, mask) is None


def test_unloadable_library_gives_none(monkeypatch, tmp_path):
    fake = tmp_path / "libresynthesizer.so"
    fake.write_bytes(b"not a shared library")
    monkeypatch.setenv("REWEAVE_RESYNTH_LIB", str(fake))
    img, mask = _stripes(3)
    assert resynth.resynth_fill(img, mask) is None
