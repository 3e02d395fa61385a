"""core.io on large images: the PNG writer is exact and streams, saving and loading make no copy of the image."""
from __future__ import annotations

import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from core import io
from core.masks import Box


def _read_native(path) -> np.ndarray:
    """The file's pixels in RGB(A) order as an independent decoder (Pillow) sees them."""
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        arr = np.asarray(im)
    return arr, mode


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_writer_round_trips_bit_exactly(tmp_path, dtype, channels):
    rng = np.random.default_rng(channels)
    top = np.iinfo(dtype).max
    px = rng.integers(0, top + 1, (131, 97, channels), dtype=dtype)
    px[:5] = top  # runs, extremes, and rows that repeat: every filter difference wraps somewhere
    px[5:9] = 0
    px[40:43] = px[39]
    out = io.save_image(tmp_path / "x.png", io.ImageData(px))
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    back = back[:, :, None] if back.ndim == 2 else back
    assert back.dtype == dtype
    if channels == 2:  # OpenCV reads gray + alpha as BGRA
        got = back[:, :, [0, 3]]
    elif channels >= 3:
        got = back[:, :, [2, 1, 0, 3][:channels]]
    else:
        got = back
    np.testing.assert_array_equal(got, px)
    if channels != 2:  # (gray + alpha files load as RGBA)
        np.testing.assert_array_equal(io.load_image(out).pixels, px)


def test_png_writer_agrees_with_an_independent_decoder(tmp_path):
    rng = np.random.default_rng(5)
    rgba16 = rng.integers(0, 65536, (40, 33, 4), dtype=np.uint16)
    rgb8 = rng.integers(0, 256, (40, 33, 3), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (40, 33, 1), dtype=np.uint16)
    arr, mode = _read_native(io.save_image(tmp_path / "a.png", io.ImageData(rgb8)))
    assert mode == "RGB"
    np.testing.assert_array_equal(arr, rgb8)
    arr, mode = _read_native(io.save_image(tmp_path / "b.png", io.ImageData(gray16)))
    assert mode.startswith("I")
    np.testing.assert_array_equal(arr.astype(np.int64), gray16[:, :, 0].astype(np.int64))
    data = (tmp_path / "c.png")
    io.save_image(data, io.ImageData(rgba16))
    raw = data.read_bytes()
    assert raw[:8] == io.PNG_SIGNATURE
    # every chunk's CRC is right and the IDAT stream inflates to the filtered rows
    pos, idat = 8, b""
    while pos < len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "big")
        kind, body = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        assert int.from_bytes(raw[pos + 8 + n:pos + 12 + n], "big") == zlib.crc32(kind + body)
        idat += body if kind == b"IDAT" else b""
        pos += 12 + n
    assert len(zlib.decompress(idat)) == 40 * (1 + 33 * 8)


def test_saving_a_large_png_allocates_a_few_bands_only(tmp_path):
    """A 4096 x 1024 RGBA 16-bit image (34 MB): saving it traces a few MB (a band's rows and zlib's buffers), not a
    swapped copy of the image nor the encoded file in memory."""
    px = np.random.default_rng(0).integers(0, 65536, (4096, 1024, 4), dtype=np.uint16)
    img = io.ImageData(px)
    tracemalloc.start()
    try:
        io.save_image(tmp_path / "big.png", img)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < px.nbytes / 4, f"saving traced {peak / 1e6:.1f} MB for a {px.nbytes / 1e6:.0f} MB image"
    np.testing.assert_array_equal(io.load_image(tmp_path / "big.png").pixels, px)


def test_saving_tiff_swaps_in_place_and_restores_the_pixels(tmp_path):
    px = np.random.default_rng(1).integers(0, 65536, (64, 48, 4), dtype=np.uint16)
    img = io.ImageData(px.copy())
    before_ptr = img.pixels.ctypes.data
    out = io.save_image(tmp_path / "x.tif", img)
    np.testing.assert_array_equal(img.pixels, px)  # swapped back
    assert img.pixels.ctypes.data == before_ptr
    np.testing.assert_array_equal(io.load_image(out).pixels, px)
    ro = px.copy()
    ro.flags.writeable = False  # cannot be swapped in place: copied instead, still right
    np.testing.assert_array_equal(io.load_image(io.save_image(tmp_path / "y.tif", io.ImageData(ro))).pixels, px)


def test_to_float_matches_the_plain_conversion_bit_for_bit():
    rng = np.random.default_rng(2)
    for dtype, top in ((np.uint8, 255.0), (np.uint16, 65535.0)):
        px = rng.integers(0, int(top) + 1, (37, 29, 3), dtype=dtype)
        img = io.ImageData(px)
        expected = px.astype(np.float32) / top
        got = io.to_float(img)
        assert got.dtype == np.float32 and np.array_equal(got, expected)
        assert np.array_equal(io.to_float(img, Box(3, 4, 20, 17)), expected[3:20, 4:17])
    f = rng.normal(0, 3, (21, 13, 2)).astype(np.float32)
    lo, hi = f.reshape(-1, 2).min(0), f.reshape(-1, 2).max(0)
    img = io.ImageData(f, float_lo=lo, float_hi=hi)
    expected = ((f - lo) / np.where(hi - lo > 0, hi - lo, 1.0)).astype(np.float32)
    assert np.array_equal(io.to_float(img), expected)


def test_to_float_allocates_only_its_result():
    px = np.random.default_rng(3).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        out = io.to_float(io.ImageData(px))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * out.nbytes


def test_loading_decodes_into_the_returned_array(tmp_path):
    """No copy of the file's bytes beside the pixels: the traced peak of loading is about the pixels alone."""
    px = np.random.default_rng(4).integers(0, 65536, (1024, 768, 4), dtype=np.uint16)
    path = io.save_image(tmp_path / "x.png", io.ImageData(px))
    tracemalloc.start()
    try:
        img = io.load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(img.pixels, px)
    assert peak < 1.2 * px.nbytes, f"loading traced {peak / 1e6:.1f} MB for {px.nbytes / 1e6:.1f} MB of pixels"


PEAK_SCRIPT = r"""
import sys
import numpy as np
from core import io

def hwm():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM"))

def reset():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")

path = sys.argv[1]
h, w = 4096, 2048
px = np.empty((h, w, 4), np.uint16)
rng = np.random.default_rng(0)
for y in range(0, h, 256):
    px[y:y + 256] = rng.integers(0, 65536, (256, w, 4), dtype=np.uint16)
base = (reset(), hwm())[1]
io.save_image(path, io.ImageData(px))
save_png = hwm() - base
base = (reset(), hwm())[1]
io.save_image(path + ".tif", io.ImageData(px))
save_tif = hwm() - base
del px
base_load = (reset(), hwm())[1]
img = io.load_image(path)
load = hwm() - base_load
print(save_png, save_tif, load, img.pixels.nbytes)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak RSS")
def test_resident_peak_of_saving_and_loading_an_rgba16_image(tmp_path, repo_root):
    """Peak RSS, OpenCV's own allocations included (tracemalloc sees only Python's), for a 67 MB RGBA 16-bit image:
    saving it, as PNG or TIFF, adds far less than a copy of it (no swapped copy, no encoded file in memory);
    loading it adds little beyond its pixels."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(tmp_path / "x.png")], cwd=str(repo_root),
                         capture_output=True, text=True, check=True).stdout.split()
    save_png, save_tif, load, nbytes = (int(v) for v in out)
    assert save_png < 0.25 * nbytes, f"PNG: {save_png / 1e6:.0f} MB of peak RSS for {nbytes / 1e6:.0f} MB of pixels"
    assert save_tif < 0.25 * nbytes, f"TIFF: {save_tif / 1e6:.0f} MB of peak RSS for {nbytes / 1e6:.0f} MB of pixels"
    assert load < 1.25 * nbytes, f"loading added {load / 1e6:.0f} MB of peak RSS for {nbytes / 1e6:.0f} MB of pixels"
