"""Load and save images without losing what the user had.

Images are held as ``ImageData``: the pixels in their native dtype (uint8, uint16 or float32),
always H x W x C with channels in RGB(A) order, plus what is needed to write them back the same way.
Engines work on ``to_float`` (float32 in [0, 1]) -- of the whole image, or of only the box an engine reads;
``merge_into`` writes an engine's float result for a box back into the native pixels, in place, inside the
mask only, so every known pixel stays bit for bit the input's. Nothing here needs the whole image as floats.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must be set before cv2 is imported

import struct
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import cv2
import numpy as np

from core.errors import UserError
from core.masks import Box

READ_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".hdr", ".tga"}
WRITE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr"}
# Formats that cannot hold 16-bit or float data: saving such data there would silently lose depth.
EIGHT_BIT_ONLY = {".jpg", ".jpeg", ".bmp", ".webp"}
MAX_PIXELS = 20_000 * 20_000  # larger than this is almost surely a corrupt header


@dataclass
class ImageData:
    """Pixels in native dtype, H x W x C, RGB(A) channel order."""

    pixels: np.ndarray
    path: Path | None = None
    # For float images: the affine map used by to_float (value = lo + f * (hi - lo)), per channel.
    float_lo: np.ndarray | None = None
    float_hi: np.ndarray | None = None

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    @property
    def dtype(self) -> np.dtype:
        return self.pixels.dtype

    @property
    def bit_depth(self) -> str:
        return {"uint8": "8-bit", "uint16": "16-bit"}.get(self.pixels.dtype.name, "float")

    def describe(self) -> str:
        kind = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}.get(self.channels, f"{self.channels}-channel")
        return f"{self.width}x{self.height} {kind} {self.bit_depth}"


def _bgr_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        return arr[:, :, None]
    if arr.shape[2] == 3:
        return arr[:, :, ::-1]
    if arr.shape[2] == 4:
        return arr[:, :, [2, 1, 0, 3]]
    return arr


def _decode_file(p: Path) -> np.ndarray | None:
    """The file's pixels as OpenCV gives them (BGR(A) order), or None when it cannot decode them.

    ``imread`` with an output argument: the pixels are decoded straight into the returned array, with neither the
    file's bytes in memory beside them nor the copy the bindings make of a plain ``imread``'s result (an 8192 px
    16-bit RGBA PNG: 0.58 GB peak instead of 1.12 with ``imread``, 1.55 with ``fromfile`` + ``imdecode``). A path
    OpenCV cannot be given as text (Windows, undecodable bytes) is read into memory and decoded from there."""
    name = str(p)
    if _opencv_writes_by_name(name):
        return cv2.imread(name, None, cv2.IMREAD_UNCHANGED)
    raw = np.fromfile(name, dtype=np.uint8)
    return cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)


def swap_red_blue(px: np.ndarray) -> np.ndarray:
    """Swap the first and third channels of a C-contiguous H x W x 3|4 array in place (RGB(A) <-> BGR(A)), a band
    of rows at a time: OpenCV's cvtColor with ``dst`` = its input copies the whole image internally first."""
    code = cv2.COLOR_RGB2BGR if px.shape[2] == 3 else cv2.COLOR_RGBA2BGRA  # the same swap both ways
    for y0, y1 in row_bands(px.shape[0]):
        band = px[y0:y1]
        cv2.cvtColor(band, code, dst=band)
    return px


def load_image(path: str | os.PathLike) -> ImageData:
    """Read an image file; raises ``UserError`` with a one-line reason when it cannot. The pixels are decoded
    once, into the array that is returned: no other copy of them is made (colour channels are swapped in place)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"cannot read {p}: no such file")
    if p.is_dir():
        raise UserError(f"cannot read {p}: it is a folder, not an image")
    try:
        with open(p, "rb") as fh:  # readable at all, and not empty
            first = fh.read(1)
        arr = _decode_file(p) if first else None
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None
    if not first:
        raise UserError(f"cannot read {p}: the file is empty")
    if arr is None:
        raise UserError(f"cannot read {p}: not an image or a corrupt/unsupported file")
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.flags.c_contiguous and arr.flags.writeable:
        swap_red_blue(arr)  # in place: no second copy
    else:
        arr = np.ascontiguousarray(_bgr_to_rgb(arr))
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise UserError(f"cannot read {p}: {arr.shape[1]}x{arr.shape[0]} is too large")
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        return ImageData(arr, p)
    arr = arr.astype(np.float32, copy=False)  # int8/16/32 and float64 files: one float32 copy; float32: none
    np.nan_to_num(arr, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo = arr.reshape(-1, arr.shape[2]).min(axis=0)
    hi = arr.reshape(-1, arr.shape[2]).max(axis=0)
    return ImageData(arr, p, float_lo=lo, float_hi=hi)


BAND_ROWS = 256  # rows converted at a time by the functions that walk a whole image in bands


def row_bands(height: int, rows: int = BAND_ROWS) -> list[tuple[int, int]]:
    """[y0, y1) bands of at most ``rows`` rows covering ``height`` rows."""
    return [(y, min(height, y + rows)) for y in range(0, height, rows)]


def probing_bands(height: int, rows: int = BAND_ROWS, first: int = 8) -> list[tuple[int, int]]:
    """``row_bands`` led by a band of ``first`` rows: a scan that usually stops at once (a colour image found not
    gray) reads a sliver, not a band of 8K-wide rows (50 ms for an RGBA 16-bit 8K image)."""
    head = min(height, first)
    return [(0, head)] + [(y0 + head, y1 + head) for y0, y1 in row_bands(height - head, rows)]


def to_float(img: ImageData, box: Box | None = None) -> np.ndarray:
    """Native pixels -> float32 H x W x C in [0, 1] for the engines: of the whole image, or of ``box`` only
    (the same values as the whole image's conversion there). One new array; no temporary of its size."""
    px = img.pixels if box is None else img.pixels[box.slices()]
    if px.dtype == np.uint8 or px.dtype == np.uint16:
        out = px.astype(np.float32)
        out /= np.float32(255.0 if px.dtype == np.uint8 else 65535.0)  # in place: the same float32 division
        return out
    lo, hi = img.float_lo, img.float_hi
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    out = px - lo
    out /= span
    return out.astype(np.float32, copy=False)


def from_float(img: ImageData, values: np.ndarray) -> np.ndarray:
    """Float [0, 1] values -> the native dtype of ``img`` (rounded, clipped)."""
    v = np.clip(values, 0.0, 1.0)
    if img.dtype == np.uint8:
        return np.rint(v * 255.0).astype(np.uint8)
    if img.dtype == np.uint16:
        return np.rint(v * 65535.0).astype(np.uint16)
    lo, hi = img.float_lo, img.float_hi
    return (lo + v * (hi - lo)).astype(np.float32)


def merge_into(img: ImageData, values: np.ndarray, mask: np.ndarray, box: Box | None = None) -> ImageData:
    """Write the engine's float ``values`` of ``box`` (default: the whole image) into ``img``'s native pixels,
    in place, where the mask (bool H x W, the whole image's) is True; every other pixel keeps its bits.
    Returns ``img``."""
    px = img.pixels if box is None else img.pixels[box.slices()]
    hole = mask if box is None else mask[box.slices()]
    if values.shape != px.shape:
        raise ValueError(f"result shape {values.shape} does not match image {px.shape}")
    px[hole] = from_float(img, values[hole])
    return img


def merge_result(img: ImageData, result: np.ndarray, mask: np.ndarray) -> ImageData:
    """The engine's float result inside the mask, the input's exact pixels outside it: a new ImageData."""
    out = ImageData(img.pixels.copy(), img.path, img.float_lo, img.float_hi)
    return merge_into(out, result, mask)


def check_file_writable(p: Path) -> Path:
    """``p`` can be created or replaced: its folder exists and is writable, it is not a folder or read-only."""
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {p}: folder {parent} is not writable")
    if p.is_dir():
        raise UserError(f"cannot write {p}: it is a folder")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"cannot write {p}: the file is read-only")
    return p


def check_writable(path: str | os.PathLike, img: ImageData | None = None) -> Path:
    """Fail early, before any work, if ``path`` cannot receive ``img``."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITE_EXTENSIONS:
        raise UserError(f"cannot write {p}: unsupported format '{ext or 'none'}' "
                        f"(use one of {', '.join(sorted(WRITE_EXTENSIONS))})")
    if not cv2.haveImageWriter(str(p)):  # e.g. .exr on an OpenCV build without OpenEXR
        raise UserError(f"cannot write {p}: this OpenCV build has no {ext} encoder; use .tif or .png")
    check_file_writable(p)
    if img is not None:
        if img.dtype != np.uint8 and ext in EIGHT_BIT_ONLY:
            raise UserError(f"cannot write {p}: {ext} holds only 8-bit data and the image is "
                            f"{img.bit_depth}; use .png or .tif to keep its depth")
        if img.dtype == np.float32 and ext not in {".exr", ".tif", ".tiff"}:
            raise UserError(f"cannot write {p}: float data needs .exr or .tif")
    return p


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def _temp_beside(p: Path, suffix: str) -> Iterator[tuple[int, str]]:
    """(open descriptor, path) of a new temp file beside ``p`` to write into (the block closes the descriptor, or
    hands it to ``os.fdopen``); when the block ends the file is fsynced and renamed over
    ``p`` with ``p``'s permissions (or the usual new-file mode: mkstemp alone would make it 0600). On any failure
    it is removed, ``p`` is left as it was, and an OSError becomes a one-line ``UserError``."""
    parent = p.parent if str(p.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=str(parent))
    try:
        yield fd, tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_current_umask())
        os.replace(tmp, p)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {p}: {exc.strerror or exc}") from None
        raise


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into: a temp file in the same folder, fsynced and renamed
    over ``path`` when the block ends. A reader never sees half a file; a failure (disk full, Ctrl+C, an
    encoder's error) leaves the old file exactly as it was and no temp file behind (an OSError becomes a
    one-line ``UserError``). The new file gets the old one's permissions, or the usual new-file mode."""
    with _temp_beside(Path(path), ".tmp") as (fd, _), os.fdopen(fd, "wb") as fh:
        yield fh


def write_bytes_atomic(path: Path, data: bytes | np.ndarray) -> Path:
    """Write ``data`` to ``path`` atomically (``atomic_file``)."""
    with atomic_file(Path(path)) as fh:
        fh.write(data)
    return Path(path)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray + alpha, RGB, RGBA
PNG_BAND_ROWS = 64  # rows filtered and compressed at a time: a few MB for an 8192 px 16-bit RGBA image


def _png_chunk(fh: BinaryIO, kind: bytes, data) -> None:
    fh.write(struct.pack(">I", len(data)) + kind)
    fh.write(data)
    fh.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def write_png(fh: BinaryIO, px: np.ndarray) -> None:
    """Encode 8- or 16-bit pixels (H x W x C, C = 1-4, RGB(A) order) as a PNG into the open file ``fh``, a band of
    rows at a time: nothing of the image's size is made, neither a channel-swapped copy nor the encoded file.

    Every row gets PNG's "Up" filter (its difference from the row above) and the stream is deflated at level 1
    with run-length matching (zlib's Z_RLE, OpenCV's default strategy for PNG): on photos and 16-bit renders
    the files come out within a few percent of OpenCV's, and writing is about as fast."""
    h, w, c = px.shape
    if px.dtype not in (np.uint8, np.uint16) or c not in PNG_COLOUR_TYPES or not (h and w):
        raise ValueError(f"PNG takes 8/16-bit images of 1-4 channels, not {px.dtype} x {c}")
    depth = 16 if px.dtype == np.uint16 else 8
    row_bytes = w * c * depth // 8
    fh.write(PNG_SIGNATURE)
    _png_chunk(fh, b"IHDR", struct.pack(">IIBBBBB", w, h, depth, PNG_COLOUR_TYPES[c], 0, 0, 0))
    comp = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    prev = np.zeros(row_bytes, np.uint8)  # the row above the first is zeros
    out = np.empty((PNG_BAND_ROWS, row_bytes + 1), np.uint8)
    out[:, 0] = 2  # filter type "Up"
    for y0, y1 in row_bands(h, PNG_BAND_ROWS):
        band = px[y0:y1]
        band = band.astype(">u2") if depth == 16 else np.ascontiguousarray(band)  # big-endian samples
        raw = band.view(np.uint8).reshape(y1 - y0, row_bytes)
        rows = out[:y1 - y0]
        np.subtract(raw[0], prev, out=rows[0, 1:])  # uint8 arithmetic wraps modulo 256, as PNG's does
        np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])
        prev = raw[-1].copy()
        data = comp.compress(rows)
        if data:
            _png_chunk(fh, b"IDAT", data)
    _png_chunk(fh, b"IDAT", comp.flush())
    _png_chunk(fh, b"IEND", b"")


@contextmanager
def _opencv_order(px: np.ndarray) -> Iterator[np.ndarray]:
    """``px`` in the channel order OpenCV's encoders expect (BGR(A); gray as H x W). Colour channels are swapped
    in place and swapped back when the block ends, however it ends: no copy of the image. A pixel array that
    cannot be swapped in place (read-only, not contiguous) is copied instead."""
    c = px.shape[2]
    if c == 1:
        yield px[:, :, 0]
        return
    if c not in (3, 4):
        yield px
        return
    if not (px.flags.c_contiguous and px.flags.writeable):
        yield np.ascontiguousarray(px[:, :, ::-1] if c == 3 else px[:, :, [2, 1, 0, 3]])
        return
    swap_red_blue(px)
    try:
        yield px
    finally:
        swap_red_blue(px)


def _opencv_writes_by_name(name: str) -> bool:
    """Whether OpenCV can be given this path as text (not on Windows with non-ASCII, nor undecodable bytes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return os.name != "nt" or name.isascii()


def _save_with_opencv(p: Path, ext: str, img: ImageData, params: list[int]) -> Path:
    """Encode with OpenCV straight into a temp file beside ``p`` (``cv2.imwrite``: libtiff and the others write as
    they encode, so the encoded file is never held in memory), fsync it and rename it over ``p``; on any failure the
    old file stays as it was and the temp file is removed. A path OpenCV cannot take as text is encoded in memory
    (``cv2.imencode``) and written by ``write_bytes_atomic``."""
    refused = UserError(f"cannot write {p}: the encoder refused this image")
    parent = p.parent if str(p.parent) else Path(".")
    if not _opencv_writes_by_name(str(parent / f".{p.name}.tmp{ext}")):
        try:
            with _opencv_order(img.pixels) as px:
                ok, buf = cv2.imencode(ext, px, params)
        except cv2.error:
            ok = False
        if not ok:
            raise refused
        return write_bytes_atomic(p, buf)
    with _temp_beside(p, f".tmp{ext}") as (fd, tmp):
        os.close(fd)
        try:
            with _opencv_order(img.pixels) as px:
                ok = cv2.imwrite(tmp, px, params)
        except cv2.error:
            ok = False
        if not ok:
            raise refused
    return p


def save_image(path: str | os.PathLike, img: ImageData) -> Path:
    """Write atomically: into a temp file in the same folder, renamed over ``path`` when complete; a failure leaves
    the old file exactly as it was.

    PNG is written by ``write_png``, a band of rows at a time, straight into the temp file (``atomic_file``). Other
    formats are written by OpenCV's encoders straight into their temp file (``_save_with_opencv``), with the colour
    channels swapped in place for them and back: while a save runs, nothing else may read ``img.pixels`` (the app
    saves on its GUI thread)."""
    p = check_writable(path, img)
    ext = p.suffix.lower()
    if ext == ".png":
        with atomic_file(p) as fh:
            write_png(fh, img.pixels)
        return p
    params: list[int] = []
    if ext in {".jpg", ".jpeg"}:
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 101]  # >100 = lossless
    return _save_with_opencv(p, ext, img, params)


def load_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Any image -> bool H x W, True where the mask is white (gray > 127 on an 8-bit scale)."""
    m = load_image(path)
    return mask_from_pixels(m.pixels, shape, source=str(path))


def _mask_levels(px: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray and alpha (None without one) of mask pixels on an 8-bit scale, as float32."""
    if px.dtype == np.uint16:
        px8 = (px.astype(np.uint32) * 255 // 65535).astype(np.float32)
    elif px.dtype == np.uint8:
        px8 = px.astype(np.float32)
    else:
        px8 = np.clip(px, 0, 1).astype(np.float32) * 255.0
    c = px8.shape[2]
    if c >= 3:
        gray = 0.299 * px8[:, :, 0] + 0.587 * px8[:, :, 1] + 0.114 * px8[:, :, 2]
    else:
        gray = px8[:, :, 0]
    return gray, (px8[:, :, -1] if c in (2, 4) else None)


def mask_from_pixels(px: np.ndarray, shape: tuple[int, int] | None = None, source: str = "mask") -> np.ndarray:
    """Mask pixels -> bool H x W, True where white (gray > 127 on an 8-bit scale), converted in bands of rows."""
    if shape is not None and px.shape[:2] != tuple(shape):
        raise UserError(f"{source} is {px.shape[1]}x{px.shape[0]} but the image is {shape[1]}x{shape[0]}; "
                        "the mask must have the same size")
    bands = row_bands(px.shape[0])
    use_alpha = False
    if px.shape[2] in (2, 4):
        # A mask painted on a transparent layer: colour is black everywhere, the alpha holds the strokes.
        gray_max, alpha_min, alpha_max = -np.inf, np.inf, -np.inf
        for y0, y1 in bands:
            gray, alpha = _mask_levels(px[y0:y1])
            gray_max = max(gray_max, float(gray.max()))
            alpha_min, alpha_max = min(alpha_min, float(alpha.min())), max(alpha_max, float(alpha.max()))
        use_alpha = gray_max <= 127 and alpha_min < 128 <= alpha_max
    out = np.empty(px.shape[:2], bool)
    for y0, y1 in bands:
        gray, alpha = _mask_levels(px[y0:y1])
        out[y0:y1] = (alpha if use_alpha else gray) > 127
    return out


def mask_to_image(mask: np.ndarray) -> ImageData:
    return ImageData((mask.astype(np.uint8) * 255)[:, :, None])
