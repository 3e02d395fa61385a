"""The canvas: the image, the mask layers' overlays, the live preview, the compare view and the mask tools.

View transform: a widget point ``w`` shows the image point ``(w - offset) / scale``. The wheel zooms
around the cursor; Space+drag or the middle button pans. The mask tools (brush, eraser, rectangle, lasso)
are the canvas's other half, ``MaskTools`` in app/mask_tools.py: one drag with them is one undo step, on
the hole mask or, with the Source layer on, on the sampling area. Each layer has its overlay
(app/overlays.py): the hole in pink, the sampling area in teal beneath it. The compare views (hold Tab,
the split line) are ``CompareView`` in app/compare.py.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QWidget

from app import theme
from app.document import Document
from app.history import MASK, SOURCE, Rect
from app.imaging import DISPLAY_ROWS, RgbaBuffer, has_alpha, rgba_premultiplied, to_display8
from app.compare import CompareView
from app.mask_tools import MaskTools, Tool
from app.overlays import LayerOverlay

MIN_SCALE, MAX_SCALE = 0.02, 64.0


def _checker() -> QPixmap:
    pm = QPixmap(16, 16)
    pm.fill(QColor(200, 200, 200))
    p = QPainter(pm)
    p.fillRect(0, 0, 8, 8, QColor(150, 150, 150))
    p.fillRect(8, 8, 8, 8, QColor(150, 150, 150))
    p.end()
    return pm


class Canvas(MaskTools, CompareView, QWidget):
    cursor_moved = Signal(object)  # (x, y) in image pixels, or None when outside
    zoom_changed = Signal(float)
    brush_changed = Signal(int, int)  # diameter (image pixels), hardness (0..100)
    tool_changed = Signal(str)
    layer_changed = Signal(str)  # the mask layer the tools paint: MASK or SOURCE
    mask_edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 240)
        self.doc: Document | None = None
        self._init_tools()
        self._init_compare()
        # drawn in this order: the sampling area beneath the hole
        self.overlays = {SOURCE: LayerOverlay(SOURCE, theme.SOURCE_COLOR, 0.45),
                         MASK: LayerOverlay(MASK, theme.MASK_COLOR, 0.55)}
        self._scale = 1.0
        self._offset = QPointF(0, 0)
        self._fit_mode = True
        self._image: RgbaBuffer | None = None
        self._alpha = False
        self._preview: tuple[QImage, int, int] | None = None
        self._hover: QPointF | None = None
        self._space = False
        self._drag: str | None = None  # "pan" | "paint" | "rect" | "lasso" | "split"
        self._drag_last = QPointF()
        self._checker = _checker()

    # -- document -----------------------------------------------------------------------------------------
    def set_document(self, doc: Document | None, keep_view: bool = False) -> None:
        """Show ``doc``; with ``keep_view`` (another map of the same material) the zoom and pan stay."""
        if self.doc is not None:
            self.doc.image_changed.disconnect(self._on_image_changed)
            self.doc.mask_changed.disconnect(self._on_mask_changed)
            self.doc.source_changed.disconnect(self._on_source_changed)
        self.doc = doc
        self._preview = None
        self._original = None
        self._show_original = False
        for overlay in self.overlays.values():
            overlay.reset(None if doc is None else doc.layer(overlay.layer))
        if doc is None:
            self._image = None
            self.update()
            return
        h, w = doc.shape
        self._alpha = has_alpha(doc.image.channels)
        self._image = RgbaBuffer(w, h)
        self._on_image_changed(None)
        doc.image_changed.connect(self._on_image_changed)
        doc.mask_changed.connect(self._on_mask_changed)
        doc.source_changed.connect(self._on_source_changed)
        if keep_view and not self._fit_mode:
            self.update()
        else:
            self.fit()

    def _display(self, pixels: np.ndarray, out: np.ndarray) -> None:
        img = self.doc.image
        rgba_premultiplied(to_display8(pixels, img.float_lo, img.float_hi), out)

    def _on_image_changed(self, rect: Rect | None) -> None:
        if self.doc is None or self._image is None:
            return
        h, w = self.doc.shape
        y0, x0, y1, x1 = (0, 0, h, w) if rect is None else rect
        for b0 in range(y0, y1, DISPLAY_ROWS):  # in bands: the conversion's temporaries stay small
            ys, xs = slice(b0, min(y1, b0 + DISPLAY_ROWS)), slice(x0, x1)
            self._display(self.doc.image.pixels[ys, xs], self._image.array[ys, xs])
        self._update_image_rect(rect)

    def _on_mask_changed(self, rect: Rect | None) -> None:
        self._update_image_rect(rect)  # the overlay shares the layer's memory: only a repaint is needed

    def _on_source_changed(self, rect: Rect | None) -> None:
        self._update_image_rect(rect)

    def _update_image_rect(self, rect: Rect | None) -> None:
        if rect is None:
            self.update()
            return
        y0, x0, y1, x1 = rect
        r = self.image_to_widget_rect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.update(r.toAlignedRect().adjusted(-2, -2, 2, 2))

    # -- live preview ---------------------------------------------------------------------------------------
    def set_preview(self, rgba: np.ndarray | None, x0: int = 0, y0: int = 0) -> None:
        """Show an engine's estimate (premultiplied RGBA, transparent outside the hole) at (x0, y0)."""
        old = self._preview
        if rgba is None:
            self._preview = None
        else:
            buf = RgbaBuffer.from_array(rgba)
            self._preview = (buf.qimage, x0, y0)
        for pv in (old, self._preview):
            if pv is not None:
                img, px, py = pv
                self._update_image_rect((py, px, py + img.height(), px + img.width()))

    def has_preview(self) -> bool:
        return self._preview is not None

    # -- view transform ---------------------------------------------------------------------------------------
    def scale(self) -> float:
        return self._scale

    def zoom_percent(self) -> float:
        """Zoom as image pixels per device pixel, in percent (100 % = one image pixel per screen pixel)."""
        return self._scale * self.devicePixelRatioF() * 100.0

    def widget_to_image(self, p: QPointF) -> QPointF:
        return (p - self._offset) / self._scale

    def image_to_widget(self, p: QPointF) -> QPointF:
        return p * self._scale + self._offset

    def image_to_widget_rect(self, r: QRectF) -> QRectF:
        return QRectF(self.image_to_widget(r.topLeft()), self.image_to_widget(r.bottomRight()))

    def fit(self) -> None:
        """Show the whole image, centred."""
        self._fit_mode = True
        if self.doc is None:
            return
        h, w = self.doc.shape
        margin = 24
        s = min((self.width() - 2 * margin) / w, (self.height() - 2 * margin) / h)
        self._set_scale_centered(max(MIN_SCALE, min(MAX_SCALE, s)))

    def actual_size(self) -> None:
        """100 %: one image pixel per device pixel, keeping the view's centre."""
        self._fit_mode = False
        self.zoom_at(1.0 / self.devicePixelRatioF(), QPointF(self.width() / 2, self.height() / 2), absolute=True)

    def _set_scale_centered(self, s: float) -> None:
        h, w = self.doc.shape
        self._scale = s
        self._offset = QPointF((self.width() - w * s) / 2, (self.height() - h * s) / 2)
        self.zoom_changed.emit(self.zoom_percent())
        self.update()

    def zoom_at(self, factor: float, anchor: QPointF, absolute: bool = False) -> None:
        """Zoom by ``factor`` (or to ``factor`` when absolute) keeping the image point under ``anchor`` fixed."""
        if self.doc is None:
            return
        new = factor if absolute else self._scale * factor
        new = max(MIN_SCALE, min(MAX_SCALE, new))
        under = self.widget_to_image(anchor)
        self._scale = new
        self._offset = anchor - under * new
        self._fit_mode = False
        self.zoom_changed.emit(self.zoom_percent())
        self.update()

    def zoom_in(self) -> None:
        self.zoom_at(1.25, QPointF(self.width() / 2, self.height() / 2))

    def zoom_out(self) -> None:
        self.zoom_at(0.8, QPointF(self.width() / 2, self.height() / 2))

    def resizeEvent(self, event) -> None:
        if self._fit_mode:
            self.fit()
        super().resizeEvent(event)

    # -- overlays and cursor ---------------------------------------------------------------------------------
    @property
    def mask_visible(self) -> bool:
        return self.overlays[MASK].visible

    def set_mask_visible(self, on: bool) -> None:
        self.overlays[MASK].visible = on
        self.update()

    @property
    def source_visible(self) -> bool:
        return self.overlays[SOURCE].visible

    def set_source_visible(self, on: bool) -> None:
        self.overlays[SOURCE].visible = on
        self.update()

    def _update_cursor(self) -> None:
        if self._space or self._drag == "pan":
            self.setCursor(Qt.CursorShape.ClosedHandCursor if self._drag == "pan" else Qt.CursorShape.OpenHandCursor)
        elif not self.editable:
            self.setCursor(Qt.CursorShape.ArrowCursor)
        elif self.tool in (Tool.BRUSH, Tool.ERASER):
            self.setCursor(Qt.CursorShape.BlankCursor)  # we draw the round brush outline ourselves
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    # -- painting ---------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(event.rect(), theme.color("canvas"))
        if self.doc is None or self._image is None:
            p.setPen(theme.color("muted"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "Open an image (Ctrl+O) or drop one here")
            return
        h, w = self.doc.shape
        img_rect = self.image_to_widget_rect(QRectF(0, 0, w, h))
        p.setPen(Qt.PenStyle.NoPen)
        if self._alpha:
            p.fillRect(img_rect, QBrush(self._checker))
        p.save()
        p.translate(self._offset)
        p.scale(self._scale, self._scale)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._scale < 1.0)
        target = QRectF(0, 0, w, h)
        p.drawImage(target, self._image.qimage)
        if self._show_original:
            self._paint_original(p, target)
        else:
            if self._split is not None:
                self._paint_original(p, QRectF(0, 0, self._split * w, h))
            for name, overlay in self.overlays.items():
                overlay.draw(p, self.doc.layer_bounds(name))
            if self._preview is not None:
                img, x0, y0 = self._preview
                p.drawImage(QPointF(x0, y0), img)
        p.restore()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._split is not None and not self._show_original:
            self._paint_split(p, img_rect)
        if self._show_original:
            self._paint_badge(p, "Original (release Tab to return)")
        elif self.layer == SOURCE:
            self._paint_badge(p, "Painting the sampling area (S: back to the mask)")
        if self._drag in ("rect", "lasso") and self._shape_pts:
            self._paint_shape(p)
        if (self._hover is not None and self.editable and not self._space and self._drag != "pan"
                and self.tool in (Tool.BRUSH, Tool.ERASER)):
            self._paint_brush_cursor(p, self._hover)

    # -- mouse ----------------------------------------------------------------------------------------------
    def _img_xy(self, pos: QPointF) -> tuple[float, float]:
        q = self.widget_to_image(pos)
        return q.x(), q.y()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = e.position()
        if self.doc is None:
            return
        if e.button() == Qt.MouseButton.MiddleButton or (e.button() == Qt.MouseButton.LeftButton and self._space):
            self._drag = "pan"
            self._drag_last = pos
            self._update_cursor()
            return
        if e.button() != Qt.MouseButton.LeftButton:
            return
        if self._near_split(pos):
            self._drag = "split"
            return
        if self.editable:
            self._tool_press(pos, e.modifiers())

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        old_hover, self._hover = self._hover, pos
        if self.doc is not None:
            x, y = self._img_xy(pos)
            h, w = self.doc.shape
            self.cursor_moved.emit((int(math.floor(x)), int(math.floor(y))) if 0 <= x < w and 0 <= y < h else None)
        if self._drag == "pan":
            self._offset += pos - self._drag_last
            self._drag_last = pos
            self._fit_mode = False
            self.update()
            return
        if self._drag == "split" and self.doc is not None:
            self.set_split(self._img_xy(pos)[0] / self.doc.shape[1])
            return
        self._tool_move(pos)
        if self._split is not None and self._drag is None:
            self.setCursor(Qt.CursorShape.SplitHCursor if self._near_split(pos) else self.cursor().shape())
        self.update(self._cursor_rect(old_hover))
        self.update(self._cursor_rect(pos))

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._drag is None:
            return
        if self._drag in ("paint", "rect", "lasso") and e.button() != Qt.MouseButton.LeftButton:
            return
        self._finish_drag()

    def leaveEvent(self, e) -> None:
        old, self._hover = self._hover, None
        self.cursor_moved.emit(None)
        self.update(self._cursor_rect(old))

    def wheelEvent(self, e: QWheelEvent) -> None:
        delta = e.angleDelta().y()
        if delta == 0:
            return
        self.zoom_at(1.0015 ** delta, e.position())  # one notch (120) = x1.2

    # -- keys -------------------------------------------------------------------------------------------------
    def event(self, e) -> bool:
        # Tab would move the focus; here, holding it shows the original.
        if e.type() in (e.Type.KeyPress, e.Type.KeyRelease) and e.key() == Qt.Key.Key_Tab:
            if not e.isAutoRepeat():
                self.set_show_original(e.type() == e.Type.KeyPress and self.doc is not None)
            return True
        return super().event(e)

    def focusNextPrevChild(self, forward: bool) -> bool:
        return False

    def focusOutEvent(self, e) -> None:
        self.set_show_original(False)
        self._space = False
        super().focusOutEvent(e)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        key = e.key()
        shift = bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = True
            self._update_cursor()
            self.update(self._cursor_rect(self._hover))
        elif key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BraceLeft):
            self.set_hardness(self.hardness - 10) if shift else self.smaller_brush()
            self.update(self._cursor_rect(self._hover))
        elif key in (Qt.Key.Key_BracketRight, Qt.Key.Key_BraceRight):
            self.set_hardness(self.hardness + 10) if shift else self.bigger_brush()
            self.update(self._cursor_rect(self._hover))
        elif key == Qt.Key.Key_Escape and self._drag in ("rect", "lasso"):
            self._drag, self._shape_pts = None, []
            self.update()
        else:
            super().keyPressEvent(e)

    def keyReleaseEvent(self, e: QKeyEvent) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = False
            self._update_cursor()
        else:
            super().keyReleaseEvent(e)
