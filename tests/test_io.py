"""core.io: loading and saving keep size, channels and depth; known pixels stay bit-exact; saves are atomic."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from core import io
from core.errors import UserError


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith("."))


# --------------------------------------------------------------------------------------------------------
# Loading what cv2 wrote
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, dtype, channels", [
    ("rgb8", np.uint8, 3), ("rgb16", np.uint16, 3), ("gray8", np.uint8, 1), ("gray16", np.uint16, 1),
    ("rgba8", np.uint8, 4), ("rgba16", np.uint16, 4),
    ("rgb8_tif", np.uint8, 3), ("rgb16_tif", np.uint16, 3), ("gray16_tif", np.uint16, 1), ("rgba16_tif", np.uint16, 4),
])
def test_load_keeps_depth_channels_and_order(image_files, name, dtype, channels):
    path, pixels = image_files[name]
    img = io.load_image(path)
    assert img.dtype == dtype
    assert img.pixels.shape == (48, 40, channels)
    np.testing.assert_array_equal(img.pixels, pixels)  # RGB(A) order, no conversion


@pytest.mark.parametrize("name", ["rgb8", "rgb16", "gray8", "gray16", "rgba8", "rgba16", "rgb16_tif", "rgba16_tif"])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_save_load_round_trip_is_exact(image_files, tmp_path, name, ext):
    src, pixels = image_files[name]
    img = io.load_image(src)
    out = io.save_image(tmp_path / f"out_{name}{ext}", img)
    back = io.load_image(out)
    assert back.dtype == img.dtype
    assert back.channels == img.channels
    np.testing.assert_array_equal(back.pixels, pixels)


def test_gray_stays_one_channel_and_rgba_keeps_alpha(image_files, tmp_path):
    gray = io.load_image(image_files["gray16"][0])
    assert gray.channels == 1 and "gray" in gray.describe()
    rgba = io.load_image(image_files["rgba8"][0])
    assert rgba.channels == 4
    alpha = rgba.pixels[:, :, 3]
    assert alpha.min() < 60 and alpha.max() == 255  # the gradient survived, not flattened to opaque
    out = io.save_image(tmp_path / "rgba.png", rgba)
    raw = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (48, 40, 4)
    np.testing.assert_array_equal(raw[:, :, 3], alpha)


def _smooth_rgb8(h: int = 48, w: int = 40) -> np.ndarray:
    """Smooth, distinct gradients per channel: what a lossy codec keeps well."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([40 + 4 * xx, 30 + 3 * yy, 200 - 2 * (xx + yy)], axis=2).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("ext, exact", [(".jpg", False), (".bmp", True), (".webp", True)])
def test_other_8bit_formats_load(image_files, tmp_path, ext, exact):
    pixels = _smooth_rgb8() if ext == ".jpg" else image_files["rgb8"][1]
    path = tmp_path / f"img{ext}"
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []
    assert cv2.imwrite(str(path), pixels[:, :, ::-1], params)
    img = io.load_image(path)
    assert img.dtype == np.uint8 and img.pixels.shape == pixels.shape
    diff = np.abs(img.pixels.astype(int) - pixels.astype(int))
    if exact:
        assert diff.max() == 0
    else:  # lossy, but the right image in the right channel order
        assert diff.mean() < 3
        swapped = np.abs(img.pixels.astype(int) - pixels[:, :, ::-1].astype(int)).mean()
        assert swapped > 20


@pytest.mark.parametrize("ext", [".bmp", ".webp", ".jpg"])
def test_8bit_formats_save(image_files, tmp_path, ext):
    px = _smooth_rgb8() if ext == ".jpg" else image_files["rgb8"][1]
    img = io.ImageData(px)
    back = io.load_image(io.save_image(tmp_path / f"out{ext}", img))
    assert back.pixels.shape == img.pixels.shape and back.dtype == np.uint8
    diff = np.abs(back.pixels.astype(int) - img.pixels.astype(int))
    if ext == ".jpg":
        assert diff.mean() < 3
    else:  # bmp, and webp saved lossless
        assert diff.max() == 0


def test_float_tiff_round_trip(tmp_path, make_texture):
    values = (make_texture(24, 16, 3) * 7.5 - 2.0).astype(np.float32)  # outside [0, 1], like a height map
    path = tmp_path / "f.tif"
    assert cv2.imwrite(str(path), values[:, :, ::-1])
    img = io.load_image(path)
    assert img.dtype == np.float32
    np.testing.assert_array_equal(img.pixels, values)
    f = io.to_float(img)
    assert f.min() == 0.0 and f.max() == 1.0
    out = io.save_image(tmp_path / "g.tif", img)
    np.testing.assert_array_equal(io.load_image(out).pixels, values)


def test_exr_float_round_trip(tmp_path, make_texture):
    if not cv2.haveImageWriter(str(tmp_path / "x.exr")):
        pytest.skip("this OpenCV build cannot write EXR")
    values = (make_texture(24, 16, 3) * 4.0 - 1.0).astype(np.float32)
    img = io.ImageData(values, None, values.reshape(-1, 3).min(0), values.reshape(-1, 3).max(0))
    back = io.load_image(io.save_image(tmp_path / "x.exr", img))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back.pixels, values, rtol=1e-3, atol=1e-3)


def test_exr_refused_cleanly_when_opencv_cannot_write_it(tmp_path, make_texture):
    """An .exr output on an OpenCV build without OpenEXR is a UserError up front, not a cv2 traceback."""
    if cv2.haveImageWriter(str(tmp_path / "x.exr")):
        pytest.skip("this OpenCV build writes EXR")
    values = make_texture(16, 16, 3)
    img = io.ImageData(values, None, values.reshape(-1, 3).min(0), values.reshape(-1, 3).max(0))
    with pytest.raises(UserError, match="exr"):
        io.check_writable(tmp_path / "x.exr", img)
    with pytest.raises(UserError):
        io.save_image(tmp_path / "x.exr", img)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------------
# Float conversion and merging
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_float_from_float_round_trip(dtype, make_texture):
    from conftest import quantise

    px = quantise(make_texture(16, 16, 3), dtype)
    img = io.ImageData(px)
    f = io.to_float(img)
    assert f.dtype == np.float32 and 0.0 <= f.min() and f.max() <= 1.0
    np.testing.assert_array_equal(io.from_float(img, f), px)


@pytest.mark.parametrize("name", ["rgb8", "rgb16", "gray16", "rgba8", "rgba16"])
def test_merge_result_keeps_known_pixels_bit_exact(image_files, name):
    img = io.load_image(image_files[name][0])
    mask = np.zeros((img.height, img.width), bool)
    mask[10:30, 5:25] = True
    rng = np.random.default_rng(3)
    # a result that differs everywhere, with float noise that would round differently outside the hole
    result = np.clip(io.to_float(img) + rng.normal(0, 0.2, img.pixels.shape).astype(np.float32), 0, 1)
    merged = io.merge_result(img, result, mask)
    assert merged.dtype == img.dtype and merged.pixels.shape == img.pixels.shape
    np.testing.assert_array_equal(merged.pixels[~mask], img.pixels[~mask])
    np.testing.assert_array_equal(merged.pixels[mask], io.from_float(img, result)[mask])
    assert (merged.pixels[mask] != img.pixels[mask]).any()


def test_merge_result_float_image_known_exact(make_texture):
    values = (make_texture(16, 16, 1) * 3.0 + 0.123).astype(np.float32)
    img = io.ImageData(values, None, values.reshape(-1, 1).min(0), values.reshape(-1, 1).max(0))
    mask = np.zeros((16, 16), bool)
    mask[4:9, 4:9] = True
    merged = io.merge_result(img, np.full(values.shape, 0.5, np.float32), mask)
    np.testing.assert_array_equal(merged.pixels[~mask], values[~mask])


def test_merge_result_rejects_wrong_shape():
    img = io.ImageData(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        io.merge_result(img, np.zeros((8, 8, 1), np.float32), np.zeros((8, 8), bool))


# --------------------------------------------------------------------------------------------------------
# Atomic saves
# --------------------------------------------------------------------------------------------------------
def test_save_leaves_no_temp_files_and_replaces(image_files, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "x.png"
    io.save_image(target, io.load_image(image_files["rgb8"][0]))
    io.save_image(target, io.load_image(image_files["rgb16"][0]))  # overwrite with another depth
    assert sorted(p.name for p in out_dir.iterdir()) == ["x.png"]
    assert io.load_image(target).dtype == np.uint16


def test_failing_encode_leaves_old_file_intact(image_files, tmp_path, monkeypatch):
    """OpenCV's encoders (TIFF here) refusing the image: the old file stays, and so do the image's pixels (the
    channels are swapped in place for the encoder and must be swapped back)."""
    target = tmp_path / "out" / "x.tif"
    target.parent.mkdir()
    io.save_image(target, io.load_image(image_files["rgb8"][0]))
    before = target.read_bytes()
    def refusing(name, px, params=()):  # as an encoder that fails half-way: part of a file, then False
        with open(name, "wb") as fh:
            fh.write(b"II*\x00 half a TIFF")
        return False

    monkeypatch.setattr(io.cv2, "imwrite", refusing)
    img = io.load_image(image_files["rgba16"][0])
    with pytest.raises(UserError):
        io.save_image(target, img)
    np.testing.assert_array_equal(img.pixels, image_files["rgba16"][1])
    assert target.read_bytes() == before
    assert _leftovers(target.parent) == []


def test_png_writer_failing_half_way_leaves_old_file_intact(image_files, tmp_path, monkeypatch):
    """The PNG is written a band at a time into the temp file; an error after most of it is written (here at its
    last chunk) leaves the old file."""
    target = tmp_path / "out" / "x.png"
    target.parent.mkdir()
    io.save_image(target, io.load_image(image_files["rgb8"][0]))
    before = target.read_bytes()
    monkeypatch.setattr(io, "PNG_BAND_ROWS", 8)
    real, calls = io._png_chunk, []

    def failing_chunk(fh, kind, data):
        calls.append(kind)
        if kind == b"IEND":
            raise OSError(28, "No space left on device")
        real(fh, kind, data)

    monkeypatch.setattr(io, "_png_chunk", failing_chunk)
    img = io.load_image(image_files["rgba16"][0])
    with pytest.raises(UserError, match="No space left"):
        io.save_image(target, img)
    assert calls.count(b"IDAT") >= 2
    assert target.read_bytes() == before
    assert _leftovers(target.parent) == []


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failing_write_leaves_old_file_intact_and_no_temp(image_files, tmp_path, monkeypatch, failure):
    target = tmp_path / "out" / "x.png"
    target.parent.mkdir()
    io.save_image(target, io.load_image(image_files["rgb8"][0]))
    before = target.read_bytes()

    def broken_fsync(fd):
        raise failure

    monkeypatch.setattr(io.os, "fsync", broken_fsync)
    with pytest.raises(UserError if isinstance(failure, OSError) else KeyboardInterrupt):
        io.save_image(target, io.load_image(image_files["gray8"][0]))
    assert target.read_bytes() == before
    assert _leftovers(target.parent) == []


# --------------------------------------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------------------------------------
def test_corrupt_empty_missing_and_folder_are_user_errors(image_files, tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.png"
    good = image_files["rgb8"][0].read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    for path, words in ((garbage, "corrupt"), (empty, "empty"), (truncated, "corrupt"), (text, "corrupt"),
                        (tmp_path / "missing.png", "no such file"), (tmp_path, "folder")):
        with pytest.raises(UserError, match=words) as info:
            io.load_image(path)
        assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------------
# check_writable
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".bmp", ".webp"])
def test_check_writable_refuses_16bit_into_8bit_formats(tmp_path, ext):
    img16 = io.ImageData(np.zeros((8, 8, 3), np.uint16))
    with pytest.raises(UserError, match="8-bit"):
        io.check_writable(tmp_path / f"x{ext}", img16)
    img8 = io.ImageData(np.zeros((8, 8, 3), np.uint8))
    assert io.check_writable(tmp_path / f"x{ext}", img8) == tmp_path / f"x{ext}"


def test_check_writable_refuses_float_outside_float_formats(tmp_path):
    img = io.ImageData(np.zeros((8, 8, 1), np.float32), None, np.zeros(1, np.float32), np.ones(1, np.float32))
    with pytest.raises(UserError):
        io.check_writable(tmp_path / "x.png", img)
    io.check_writable(tmp_path / "x.tif", img)


def test_check_writable_refuses_missing_folder_unknown_format_and_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        io.check_writable(tmp_path / "nope" / "x.png")
    with pytest.raises(UserError, match="unsupported format"):
        io.check_writable(tmp_path / "x.gif")
    with pytest.raises(UserError, match="unsupported format"):
        io.check_writable(tmp_path / "noext")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(UserError, match="folder"):
        io.check_writable(tmp_path / "d.png")


def test_check_writable_refuses_read_only_folder(readonly_dir):
    with pytest.raises(UserError, match="not writable"):
        io.check_writable(readonly_dir / "x.png")
    img = io.ImageData(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError):
        io.save_image(readonly_dir / "x.png", img)
    assert list(readonly_dir.iterdir()) == []


def test_relative_path_in_current_folder_is_writable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    img = io.ImageData(np.full((8, 8, 1), 7, np.uint8))
    io.save_image("plain.png", img)
    assert (tmp_path / "plain.png").is_file()
    assert _leftovers(tmp_path) == []
    assert os.path.getsize(tmp_path / "plain.png") > 0


# --------------------------------------------------------------------------------------------------------
# Real images from the shared data
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rel, channels", [("standard/house.png", 3), ("textures/brodatz_D006.png", 1),
                                           ("lineart/sketchsimp_test_line.png", 1)])
def test_shared_data_images_load_and_round_trip(data_dir, tmp_path, rel, channels):
    path = data_dir / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in the shared data")
    img = io.load_image(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img.channels == channels and img.dtype == raw.dtype
    expected = raw[:, :, None] if raw.ndim == 2 else raw[:, :, ::-1]
    np.testing.assert_array_equal(img.pixels, expected)
    back = io.load_image(io.save_image(tmp_path / "copy.png", img))
    np.testing.assert_array_equal(back.pixels, img.pixels)


def test_saved_files_get_normal_permissions_not_the_temp_files_0600(tmp_path):
    import os
    import stat

    from core.io import ImageData, save_image

    out = save_image(tmp_path / "p.png", ImageData(np.zeros((4, 4, 3), np.uint8)))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    os.chmod(out, 0o640)  # an existing file keeps its mode when overwritten
    save_image(out, ImageData(np.ones((4, 4, 3), np.uint8)))
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
