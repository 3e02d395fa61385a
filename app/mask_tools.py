"""The mask tools' half of the canvas: the tool and brush in use, the mask layer they paint, what a drag
with them does to that layer, and what they draw over the image while in use (the shape being dragged, the
brush outline).

``Canvas`` (app/canvas.py, the view half: display, zoom and pan, compare, events) inherits ``MaskTools``;
the methods here use its state (``doc``, ``_drag``, the view transform) and its signals. A drag edits the
layer (``doc.mask``, or ``doc.source`` while the Source layer is on) in place and tells the document when it
ends, so one drag is one undo step; the pixels a tool covers are computed in app/brush.py.
"""
from __future__ import annotations

import enum
import math

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF

from app import brush, theme
from app.history import LAYERS, MASK, SOURCE

MIN_BRUSH, MAX_BRUSH = 1, 1000


class Tool(str, enum.Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    RECT = "rect"
    LASSO = "lasso"


class MaskTools:
    """Mixed into ``Canvas``; ``_init_tools`` sets the tools' state."""

    def _init_tools(self) -> None:
        self.tool = Tool.BRUSH
        self.layer = MASK  # the mask layer the tools paint
        self.brush_size = 40
        self.hardness = 100
        self.editable = True
        self._last_img = (0.0, 0.0)
        self._shape_pts: list[tuple[float, float]] = []
        self._erase_shape = False

    # -- settings ---------------------------------------------------------------------------------------------
    def set_tool(self, tool: Tool | str) -> None:
        self.tool = Tool(tool)
        self._shape_pts = []
        self._update_cursor()
        self.tool_changed.emit(self.tool.value)
        self.update()

    def set_layer(self, layer: str) -> None:
        """Paint the hole mask (``MASK``) or the sampling area (``SOURCE``) with the same tools."""
        if layer not in LAYERS:
            raise ValueError(f"no mask layer {layer!r}")
        if self._drag in ("paint", "rect", "lasso"):
            self._finish_drag()
        if layer != self.layer:
            self.layer = layer
            self.layer_changed.emit(layer)
            self.update()

    def set_brush_size(self, size: int) -> None:
        size = int(max(MIN_BRUSH, min(MAX_BRUSH, size)))
        if size != self.brush_size:
            self.brush_size = size
            self.brush_changed.emit(self.brush_size, self.hardness)
            self.update()

    def set_hardness(self, hardness: int) -> None:
        hardness = int(max(0, min(100, hardness)))
        if hardness != self.hardness:
            self.hardness = hardness
            self.brush_changed.emit(self.brush_size, self.hardness)
            self.update()

    def bigger_brush(self) -> None:
        self.set_brush_size(self.brush_size + max(1, round(self.brush_size * 0.15)))

    def smaller_brush(self) -> None:
        self.set_brush_size(self.brush_size - max(1, round(self.brush_size * 0.13)))

    def set_editable(self, on: bool) -> None:
        """False while an engine runs: the view can still be zoomed and panned, the mask not edited."""
        self.editable = on
        if not on and self._drag in ("paint", "rect", "lasso"):
            self._finish_drag()
        self._update_cursor()

    # -- a drag with the tool -----------------------------------------------------------------------------------
    def _tool_press(self, pos: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        xy = self._img_xy(pos)
        if self.tool in (Tool.BRUSH, Tool.ERASER):
            self._drag = "paint"
            self.doc.begin_mask_edit(self.layer)
            self._last_img = xy
            self._stamp(xy, xy)
        else:
            self._drag = "rect" if self.tool == Tool.RECT else "lasso"
            self._erase_shape = bool(modifiers & Qt.KeyboardModifier.AltModifier)
            self._shape_pts = [xy, xy] if self.tool == Tool.RECT else [xy]
            self.update()

    def _stamp(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        rect = brush.stamp_segment(self.doc.layer(self.layer), a, b, self.brush_size, self.hardness / 100.0,
                                   erase=self.tool == Tool.ERASER, prepare=self.doc.will_change)
        if rect is not None:
            self.doc.notify_mask(rect, self.layer)

    def _tool_move(self, pos: QPointF) -> None:
        if self._drag == "paint":
            xy = self._img_xy(pos)
            self._stamp(self._last_img, xy)
            self._last_img = xy
        elif self._drag == "rect":
            self._shape_pts[1] = self._img_xy(pos)
            self.update()
        elif self._drag == "lasso":
            xy = self._img_xy(pos)
            lx, ly = self._shape_pts[-1]
            if math.hypot((xy[0] - lx) * self._scale, (xy[1] - ly) * self._scale) >= 2:
                self._shape_pts.append(xy)
                self.update()

    def _finish_drag(self) -> None:
        drag, self._drag = self._drag, None
        source = self.layer == SOURCE
        if drag == "paint":
            if self.tool == Tool.ERASER:
                label = "Erase source area" if source else "Erase mask"
            else:
                label = "Source area stroke" if source else "Brush stroke"
            if self.doc.end_mask_edit(label):
                self.mask_edited.emit()
        elif drag in ("rect", "lasso"):
            pts, self._shape_pts = self._shape_pts, []
            layer = self.doc.layer(self.layer)
            self.doc.begin_mask_edit(self.layer)
            if drag == "rect":
                rect = brush.fill_rect(layer, pts[0], pts[1], erase=self._erase_shape, prepare=self.doc.will_change)
            else:
                rect = brush.fill_polygon(layer, pts, erase=self._erase_shape, prepare=self.doc.will_change)
            label = (("Subtract " if self._erase_shape else "") + ("source area " if source else "")
                     + ("rectangle" if drag == "rect" else "lasso"))
            if self.doc.end_mask_edit(label.capitalize()):
                self.doc.notify_mask(rect, self.layer)
                self.mask_edited.emit()
            self.update()
        self._update_cursor()

    # -- drawn over the image -----------------------------------------------------------------------------------
    def _paint_shape(self, p: QPainter) -> None:
        pts = [self.image_to_widget(QPointF(x, y)) for x, y in self._shape_pts]
        path = QPainterPath()
        if self._drag == "rect" and len(pts) == 2:
            path.addRect(QRectF(pts[0], pts[1]).normalized())
        else:
            path.addPolygon(QPolygonF(pts))
            path.closeSubpath()
        fill = QColor(theme.SOURCE_COLOR if self.layer == SOURCE else theme.MASK_COLOR)
        fill.setAlpha(60)
        p.setBrush(fill)
        p.setPen(QPen(QColor("white"), 1.5, Qt.PenStyle.DashLine))
        p.drawPath(path)

    def _paint_brush_cursor(self, p: QPainter, at: QPointF) -> None:
        r = max(1.5, self.brush_size * self._scale / 2)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0, 170), 3))
        p.drawEllipse(at, r, r)
        p.setPen(QPen(QColor(255, 255, 255, 230), 1.2))
        p.drawEllipse(at, r, r)
        if self.hardness < 100:  # the fully covered core of a soft brush
            ri = r * self.hardness / 100.0
            if ri > 2:
                p.setPen(QPen(QColor(255, 255, 255, 140), 1, Qt.PenStyle.DotLine))
                p.drawEllipse(at, ri, ri)
        if self.tool == Tool.ERASER:
            p.setPen(QPen(QColor(255, 255, 255, 230), 1.2))
            p.drawLine(at - QPointF(4, 0), at + QPointF(4, 0))
        p.setPen(QPen(QColor(255, 255, 255, 200), 1))
        p.drawPoint(at)

    def _cursor_rect(self, at: QPointF | None) -> QRect:
        if at is None:
            return QRect()
        r = self.brush_size * self._scale / 2 + 4
        return QRectF(at.x() - r, at.y() - r, 2 * r, 2 * r).toAlignedRect()
