"""The mask layers drawn over the image: for each layer of the document (the hole, the sampling area) a
tinted, premultiplied RGBA picture kept in step with the layer rectangle by rectangle, with its own colour,
opacity and visibility. Only how the layers are shown; the layers themselves are the document's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter

from app.history import Rect
from app.imaging import RgbaBuffer, mask_overlay


@dataclass
class LayerOverlay:
    layer: str
    color: QColor
    opacity: float
    visible: bool = True
    buffer: RgbaBuffer | None = None

    def reset(self, coverage: np.ndarray | None) -> None:
        """A new picture for a layer of this size (None: no document)."""
        if coverage is None:
            self.buffer = None
            return
        h, w = coverage.shape
        self.buffer = RgbaBuffer(w, h)
        self.refresh(coverage, None)

    def refresh(self, coverage: np.ndarray, rect: Rect | None) -> None:
        """Redraw ``rect`` (None: everything) from the layer's coverage."""
        if self.buffer is None:
            return
        ys, xs = (slice(None), slice(None)) if rect is None else (slice(rect[0], rect[2]), slice(rect[1], rect[3]))
        mask_overlay(coverage[ys, xs], self.color, self.opacity, self.buffer.array[ys, xs])

    def draw(self, p: QPainter, target: QRectF) -> None:
        if self.visible and self.buffer is not None:
            p.drawImage(target, self.buffer.qimage)
