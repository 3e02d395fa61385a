"""The compare views' half of the canvas: the image as it was opened, shown whole while Tab is held
(``set_show_original``) or left of a split line the user drags (``set_split``), and the labels drawn over
the image (also the canvas's badges).

The opened image is the current one with the document's kept originals (``Document.originals``: the
rectangles an inpaint changed, as they were) drawn over it, so comparing costs a picture of those
rectangles only, not a second picture of the whole image.

``Canvas`` (app/canvas.py) inherits ``CompareView``; the methods here use its state (``doc``, the view
transform, ``_display``) and ``_init_compare`` sets their own.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from app import theme
from app.imaging import RgbaBuffer


class CompareView:
    """Mixed into ``Canvas``."""

    def _init_compare(self) -> None:
        self._original: tuple[object, list[tuple[RgbaBuffer, int, int]]] | None = None  # (key, pictures)
        self._show_original = False
        self._split: float | None = None  # fraction of the image width shown as the original, or None

    def original_pictures(self) -> list[tuple[RgbaBuffer, int, int]]:
        """The display pictures of the kept originals and where they go (x0, y0), rebuilt when they change."""
        if self.doc is None:
            return []
        kept = self.doc.originals
        key = (id(kept), kept.version)
        if self._original is None or self._original[0] != key:
            pictures = []
            for (y0, x0, y1, x1), px in kept.patches:
                buf = RgbaBuffer(x1 - x0, y1 - y0)
                self._display(px, buf.array)
                pictures.append((buf, x0, y0))
            self._original = (key, pictures)
        return self._original[1]

    def _paint_original(self, p: QPainter, area: QRectF) -> None:
        """Over the current image (already drawn), the opened one within ``area`` (image coordinates)."""
        p.save()
        p.setClipRect(area, Qt.ClipOperation.IntersectClip)
        for buf, x0, y0 in self.original_pictures():
            p.drawImage(QPointF(x0, y0), buf.qimage)
        p.restore()

    def set_show_original(self, on: bool) -> None:
        if on != self._show_original:
            self._show_original = on
            self.update()

    def showing_original(self) -> bool:
        return self._show_original

    def set_split(self, fraction: float | None) -> None:
        self._split = None if fraction is None else float(min(1.0, max(0.0, fraction)))
        self.update()

    def split(self) -> float | None:
        return self._split

    def _paint_split(self, p: QPainter, img_rect: QRectF) -> None:
        x = img_rect.left() + self._split * img_rect.width()
        p.setPen(QPen(QColor(255, 255, 255, 230), 2))
        p.drawLine(QPointF(x, img_rect.top()), QPointF(x, img_rect.bottom()))
        cy = min(max(img_rect.center().y(), 20), self.height() - 20)
        p.setBrush(theme.ACCENT)
        p.setPen(QPen(QColor("white"), 2))
        p.drawEllipse(QPointF(x, cy), 11, 11)
        p.setPen(QPen(QColor("white"), 2))
        for d in (-1, 1):
            p.drawLine(QPointF(x + d * 3, cy - 4), QPointF(x + d * 7, cy))
            p.drawLine(QPointF(x + d * 7, cy), QPointF(x + d * 3, cy + 4))
        self._paint_label(p, QPointF(max(x - 8, 70), img_rect.top() + 8), "Original", right=True)
        self._paint_label(p, QPointF(min(x + 8, self.width() - 70), img_rect.top() + 8), "Result", right=False)

    def _paint_label(self, p: QPainter, at: QPointF, text: str, right: bool) -> None:
        fm = p.fontMetrics()
        tw = fm.horizontalAdvance(text) + 12
        r = QRectF(at.x() - tw if right else at.x(), at.y(), tw, fm.height() + 6)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(r, 4, 4)
        p.setPen(QColor("white"))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_badge(self, p: QPainter, text: str) -> None:
        self._paint_label(p, QPointF(12, 12), text, right=False)

    def _near_split(self, pos: QPointF) -> bool:
        if self._split is None or self.doc is None:
            return False
        x = self.image_to_widget(QPointF(self._split * self.doc.shape[1], 0)).x()
        return abs(pos.x() - x) <= 10
