"""The mask layers drawn over the image: for each layer of the document (the hole, the sampling area) an
indexed QImage that shares memory with the layer's 8-bit coverage, its colour table turning coverage into
the layer's tint at the layer's opacity. So an overlay costs no memory of its own and is never out of step
with its layer; only the part of the layer that holds any coverage (``Document.layer_bounds``) is drawn.
Only how the layers are shown; the layers themselves are the document's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter, qRgba

from app.history import Rect


def coverage_colors(color: QColor, opacity: float) -> list[int]:
    """The colour table: coverage ``i`` -> the tint with alpha ``i * opacity`` (non-premultiplied ARGB)."""
    k = int(round(opacity * 255))
    return [qRgba(color.red(), color.green(), color.blue(), i * k // 255) for i in range(256)]


def premultiplied(argb: int) -> np.ndarray:
    """A colour table entry as premultiplied RGBA uint8 (what the overlay adds to a pixel it covers)."""
    a = (argb >> 24) & 255
    rgb = [(argb >> s) & 255 for s in (16, 8, 0)]
    return np.array([c * a // 255 for c in rgb] + [a], np.uint8)


@dataclass
class LayerOverlay:
    layer: str
    color: QColor
    opacity: float
    visible: bool = True
    image: QImage | None = None
    _coverage: np.ndarray | None = field(default=None, repr=False)  # keeps the shared memory alive
    _table: list[int] = field(default_factory=list, repr=False)

    def reset(self, coverage: np.ndarray | None) -> None:
        """Show ``coverage`` (the layer's own array, C-contiguous uint8 H x W; None: no document)."""
        self._coverage = coverage
        if coverage is None:
            self.image = None
            return
        if coverage.dtype != np.uint8 or coverage.ndim != 2 or not coverage.flags.c_contiguous:
            raise ValueError("an overlay shows a C-contiguous uint8 H x W layer")
        h, w = coverage.shape
        self.image = QImage(coverage.data, w, h, w, QImage.Format.Format_Indexed8)
        self._table = coverage_colors(self.color, self.opacity)
        self.image.setColorTable(self._table)

    def pixel(self, y: int, x: int) -> np.ndarray:
        """The premultiplied RGBA the overlay lays over image pixel (x, y) (for tests and scripts)."""
        if self._coverage is None:
            return np.zeros(4, np.uint8)
        return premultiplied(self._table[int(self._coverage[y, x])])

    def draw(self, p: QPainter, bounds: Rect | None) -> None:
        """Draw the part of the layer inside ``bounds`` (image pixels; None: nothing to draw)."""
        if not self.visible or self.image is None or bounds is None:
            return
        h, w = self._coverage.shape
        y0, x0 = max(0, bounds[0] - 1), max(0, bounds[1] - 1)  # a pixel more: the smooth zoom's fade at the edge
        y1, x1 = min(h, bounds[2] + 1), min(w, bounds[3] + 1)
        r = QRectF(x0, y0, x1 - x0, y1 - y0)
        p.drawImage(r, self.image, r)
