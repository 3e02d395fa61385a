"""Truevision TGA, read and written here because our OpenCV build has no TGA codec.

Game engines (Unreal's ``T_Brick_BaseColor.tga``) still ship material maps as TGA, and material mode saves
each map in its own format. Supported: uncompressed and RLE true-colour (24/32-bit) and gray (8-bit)
images, either origin; written uncompressed with a top-left origin. Colour-mapped and 16-bit (5-5-5) TGAs
are refused with a clear message.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.io import ImageData, atomic_file, row_bands


def _decode_rle(data: memoryview, n_pixels: int, bpp: int, path: Path) -> np.ndarray:
    out = bytearray(n_pixels * bpp)
    pos, pix = 0, 0
    while pix < n_pixels:
        if pos >= len(data):
            raise UserError(f"cannot read {path}: truncated TGA data")
        head = data[pos]
        count = (head & 0x7F) + 1
        pos += 1
        count = min(count, n_pixels - pix)
        if head & 0x80:  # run: one pixel repeated
            out[pix * bpp:(pix + count) * bpp] = bytes(data[pos:pos + bpp]) * count
            pos += bpp
        else:  # raw packet
            out[pix * bpp:(pix + count) * bpp] = data[pos:pos + count * bpp]
            pos += count * bpp
        pix += count
    return np.frombuffer(bytes(out), np.uint8)


def read_tga(path: str | os.PathLike) -> ImageData:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None
    if len(raw) < 18:
        raise UserError(f"cannot read {p}: not a TGA file (too short)")
    id_len, cmap_type, img_type = raw[0], raw[1], raw[2]
    width, height, bits, desc = struct.unpack_from("<HHBB", raw, 12)
    if cmap_type != 0 or img_type not in (2, 3, 10, 11):
        raise UserError(f"cannot read {p}: unsupported TGA type {img_type} (colour-mapped or unknown)")
    gray = img_type in (3, 11)
    if (gray and bits != 8) or (not gray and bits not in (24, 32)) or width == 0 or height == 0:
        raise UserError(f"cannot read {p}: unsupported TGA layout ({bits} bits per pixel)")
    bpp = bits // 8
    n = width * height
    body = memoryview(raw)[18 + id_len:]
    try:
        if img_type in (10, 11):
            flat = _decode_rle(body, n, bpp, p)
        else:
            if len(body) < n * bpp:
                raise UserError(f"cannot read {p}: truncated TGA data")
            flat = np.frombuffer(body[:n * bpp], np.uint8)
    except (IndexError, ValueError):
        raise UserError(f"cannot read {p}: corrupt TGA data") from None
    px = flat.reshape(height, width, bpp)
    if not desc & 0x20:  # bottom-left origin (the TGA default)
        px = px[::-1]
    if desc & 0x10:  # right-to-left
        px = px[:, ::-1]
    if bpp == 3:
        px = px[:, :, ::-1]
    elif bpp == 4:
        px = px[:, :, [2, 1, 0, 3]]
    return ImageData(np.ascontiguousarray(px), p)


def check_tga_writable(img: ImageData, path: Path) -> None:
    if img.dtype != np.uint8 or img.channels not in (1, 3, 4):
        raise UserError(f"cannot write {path}: TGA holds 8-bit gray, RGB or RGBA; this map is {img.describe()}")


def write_tga(path: str | os.PathLike, img: ImageData) -> Path:
    """Write uncompressed, top-left origin, atomically (temp file in the same folder, then rename), a band of rows
    at a time: no channel-swapped copy of the map and no file image in memory."""
    p = Path(path)
    check_tga_writable(img, p)
    px = img.pixels
    c = px.shape[2]
    desc = 0x20 | (8 if c == 4 else 0)
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, 3 if c == 1 else 2, 0, 0, 0, 0, 0,
                         img.width, img.height, 8 * c, desc)
    with atomic_file(p) as fh:
        fh.write(header)
        for y0, y1 in row_bands(img.height):
            band = px[y0:y1]
            if c == 3:
                band = band[:, :, ::-1]
            elif c == 4:
                band = band[:, :, [2, 1, 0, 3]]
            fh.write(np.ascontiguousarray(band))
    return p
