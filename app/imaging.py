"""Display conversion: native or float pixels -> 8-bit RGBA for the screen, and QImages that share memory
with numpy arrays so that a changed rectangle can be redrawn without rebuilding the whole picture.

Nothing here changes the document's pixels; this is only how they are shown.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

DISPLAY_ROWS = 256  # rows converted at a time when a whole picture is (re)built


def to_display8(pixels: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """uint8 / uint16 / float H x W x C -> uint8 H x W x C (float uses the image's own lo..hi range)."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    v = pixels.astype(np.float32)
    if lo is not None and hi is not None:
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        v = (v - lo) / span
    return np.rint(np.clip(v, 0.0, 1.0) * 255.0).astype(np.uint8)


def float_to_display8(values: np.ndarray) -> np.ndarray:
    """Engine-space floats in [0, 1] -> uint8."""
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def has_alpha(channels: int) -> bool:
    return channels in (2, 4)


def rgba_premultiplied(p8: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 H x W x C (gray, gray+alpha, RGB, RGBA, or more channels: the first three) -> premultiplied RGBA."""
    h, w, c = p8.shape
    if out is None:
        out = np.empty((h, w, 4), np.uint8)
    if c in (1, 2):
        out[:, :, :3] = p8[:, :, :1]
    else:
        out[:, :, :3] = p8[:, :, :3]
    if has_alpha(c):
        a = p8[:, :, -1]
        out[:, :, 3] = a
        out[:, :, :3] = (out[:, :, :3].astype(np.uint16) * a[:, :, None] // 255).astype(np.uint8)
    else:
        out[:, :, 3] = 255
    return out


class RgbaBuffer:
    """A premultiplied RGBA QImage and a writable numpy view of its pixels (they share memory)."""

    def __init__(self, width: int, height: int) -> None:
        self.qimage = QImage(width, height, QImage.Format.Format_RGBA8888_Premultiplied)
        self.qimage.fill(0)
        bpl = self.qimage.bytesPerLine()
        raw = np.frombuffer(self.qimage.bits(), np.uint8, count=bpl * height)
        self.array = raw.reshape(height, bpl)[:, :width * 4].reshape(height, width, 4)

    @classmethod
    def from_array(cls, rgba: np.ndarray) -> "RgbaBuffer":
        buf = cls(rgba.shape[1], rgba.shape[0])
        buf.array[...] = rgba
        return buf


def hole_preview(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """An engine's float region estimate -> premultiplied RGBA, transparent outside the hole."""
    rgba = rgba_premultiplied(float_to_display8(values))
    rgba[~hole] = 0
    return rgba


def thumbnail_array(values: np.ndarray) -> np.ndarray:
    """A float region -> premultiplied RGBA for a thumbnail."""
    return rgba_premultiplied(float_to_display8(values))
