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

import tempfile
from dataclasses import dataclass
from pathlib import Path

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


def _rgb_to_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.shape[2] == 1:
        return arr[:, :, 0]
    if arr.shape[2] == 3:
        return arr[:, :, ::-1]
    if arr.shape[2] == 4:
        return arr[:, :, [2, 1, 0, 3]]
    return arr


def load_image(path: str | os.PathLike) -> ImageData:
    """Read an image file; raises ``UserError`` with a one-line reason when it cannot."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"cannot read {p}: no such file")
    if p.is_dir():
        raise UserError(f"cannot read {p}: it is a folder, not an image")
    try:
        raw = np.fromfile(str(p), dtype=np.uint8)  # fromfile + imdecode also handles non-ASCII paths
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None
    if raw.size == 0:
        raise UserError(f"cannot read {p}: the file is empty")
    arr = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    del raw  # the file's bytes: not needed beside the pixels
    if arr is None:
        raise UserError(f"cannot read {p}: not an image or a corrupt/unsupported file")
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.flags.c_contiguous:  # in place: no second copy
        cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.shape[2] == 3 else cv2.COLOR_BGRA2RGBA, dst=arr)
    else:
        arr = np.ascontiguousarray(_bgr_to_rgb(arr))
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise UserError(f"cannot read {p}: {arr.shape[1]}x{arr.shape[0]} is too large")
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        return ImageData(arr, p)
    if arr.dtype == np.int8 or arr.dtype == np.int16 or arr.dtype == np.int32:
        arr = arr.astype(np.float32)
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    lo = arr.reshape(-1, arr.shape[2]).min(axis=0)
    hi = arr.reshape(-1, arr.shape[2]).max(axis=0)
    return ImageData(arr, p, float_lo=lo, float_hi=hi)


BAND_ROWS = 256  # rows converted at a time by the functions that walk a whole image in bands


def row_bands(height: int, rows: int = BAND_ROWS) -> list[tuple[int, int]]:
    """[y0, y1) bands of at most ``rows`` rows covering ``height`` rows."""
    return [(y, min(height, y + rows)) for y in range(0, height, rows)]


def to_float(img: ImageData, box: Box | None = None) -> np.ndarray:
    """Native pixels -> float32 H x W x C in [0, 1] for the engines: of the whole image, or of ``box`` only
    (the same values as the whole image's conversion there)."""
    px = img.pixels if box is None else img.pixels[box.slices()]
    if px.dtype == np.uint8:
        return px.astype(np.float32) / 255.0
    if px.dtype == np.uint16:
        return px.astype(np.float32) / 65535.0
    lo, hi = img.float_lo, img.float_hi
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return ((px - lo) / span).astype(np.float32)


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


def write_bytes_atomic(path: Path, data: bytes | np.ndarray) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync, then rename over ``path``: a reader never
    sees half a file and a failure (disk full, Ctrl+C) leaves the old file and no temp file behind. The new
    file gets the old one's permissions, or the usual new-file mode (mkstemp alone would make it 0600)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
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
    return p


def save_image(path: str | os.PathLike, img: ImageData) -> Path:
    """Write atomically: encode to a temp file in the same folder, then rename over ``path``."""
    p = check_writable(path, img)
    ext = p.suffix.lower()
    params: list[int] = []
    if ext in {".jpg", ".jpeg"}:
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 101]  # >100 = lossless
    try:
        ok, buf = cv2.imencode(ext, _rgb_to_bgr(img.pixels), params)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"cannot write {p}: the encoder refused this image")
    return write_bytes_atomic(p, buf)


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
