"""Material mode's view: the lit preview of a material -- base colour, normal, roughness and metal/specular
shaded by ``core.material.render`` under a light the user drags (left button), capped at 512 px so it stays
interactive -- and ``MaterialView``, the map tabs and the Material dock that hold it."""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QCheckBox, QDockWidget, QSizePolicy, QTabBar, QVBoxLayout, QWidget

from app import theme
from app.imaging import RgbaBuffer, float_to_display8, rgba_premultiplied
from app.material_doc import MaterialDocument
from core.material import MapSet, render, shading_inputs

MAX_SIDE = 512


class ShadedPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(200)
        self.setToolTip("Shaded material: drag to move the light")
        self.light = (0.4, 0.4)  # x, y of the light on the unit disc (z follows)
        self._inputs = None
        self._image: RgbaBuffer | None = None
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self._render)
        self.render_ms = 0.0

    def sizeHint(self) -> QSize:
        return QSize(280, 240)

    def light_dir(self) -> tuple[float, float, float]:
        x, y = self.light
        return x, y, math.sqrt(max(0.04, 1.0 - x * x - y * y))

    def set_mapset(self, mapset: MapSet | None) -> None:
        """(Re)build the shading inputs from the maps as they are now (after a repair, an undo...)."""
        if mapset is None:
            self._inputs = None
            self._image = None
            self.update()
            return
        step = max(1, math.ceil(max(mapset.height, mapset.width) / MAX_SIDE))
        inp = shading_inputs(mapset)
        if step > 1:
            for name in ("diffuse", "f0", "normal", "roughness", "ao"):
                v = getattr(inp, name)
                if v is not None:
                    setattr(inp, name, np.ascontiguousarray(v[::step, ::step]))
        self._inputs = inp
        self._render()

    def _render(self) -> None:
        if self._inputs is None:
            return
        import time

        t0 = time.perf_counter()
        rgb = render(self._inputs, self.light_dir())
        self._image = RgbaBuffer.from_array(rgba_premultiplied(float_to_display8(rgb)))
        self.render_ms = (time.perf_counter() - t0) * 1000
        self.update()

    def _target(self) -> QRectF:
        if self._image is None:
            return QRectF(self.rect())
        w, h = self._image.qimage.width(), self._image.qimage.height()
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), theme.color("base"))
        if self._image is None:
            p.setPen(theme.color("muted"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a material folder to see it lit")
            return
        t = self._target()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(t, self._image.qimage)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = QPointF(t.center().x() + self.light[0] * t.width() / 2, t.center().y() - self.light[1] * t.height() / 2)
        p.setPen(QPen(QColor(0, 0, 0, 160), 3))
        p.drawEllipse(c, 7, 7)
        p.setPen(QPen(QColor(255, 220, 120), 2))
        p.setBrush(QColor(255, 230, 150, 200))
        p.drawEllipse(c, 6, 6)

    def _move_light(self, pos: QPointF) -> None:
        t = self._target()
        x = (pos.x() - t.center().x()) / max(1.0, t.width() / 2)
        y = -(pos.y() - t.center().y()) / max(1.0, t.height() / 2)
        r = math.hypot(x, y)
        if r > 0.98:
            x, y = x / r * 0.98, y / r * 0.98
        self.light = (x, y)
        if not self._pending.isActive():
            self._pending.start(0)  # coalesce mouse moves into one render per event-loop pass

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._move_light(e.position())

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if e.buttons() & Qt.MouseButton.LeftButton:
            self._move_light(e.position())


class MaterialView(QObject):
    """Material mode's own view: the map tabs above the canvas and the Material dock (lit preview and the
    joint/separate choice). The window places both; ``show_document`` fills them for a map set or hides them.
    """

    map_shown = Signal(int)  # the document now shows this map; the canvas must follow

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.doc: MaterialDocument | None = None
        self.tabs = QTabBar()
        self.tabs.setDocumentMode(True)
        self.tabs.setExpanding(False)
        self.tabs.setToolTip("The maps of this material; the mask is shared by all of them")
        self.tabs.hide()
        self.shaded = ShadedPreview()
        self.separate_check = QCheckBox("Repair each map separately (for comparison)")
        self.separate_check.setToolTip("Default: all maps stacked and repaired jointly by one model")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 4, 12, 8)
        lay.addWidget(self.shaded, 1)
        lay.addWidget(self.separate_check)
        self.dock = QDockWidget("Material", parent)
        self.dock.setObjectName("material_dock")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.dock.setWidget(body)
        self.dock.hide()
        self._shade_timer = QTimer(self)
        self._shade_timer.setSingleShot(True)
        self._shade_timer.setInterval(30)
        self._shade_timer.timeout.connect(self._refresh_shading)
        self.tabs.currentChanged.connect(self._on_tab)

    def show_document(self, doc: MaterialDocument | None) -> None:
        """One tab per map of ``doc`` and its lit preview; ``None`` empties and hides everything."""
        self.doc = doc
        self.tabs.blockSignals(True)
        while self.tabs.count():
            self.tabs.removeTab(0)
        if doc is not None:
            for title in doc.map_titles():
                self.tabs.addTab(title)
            self.tabs.setCurrentIndex(0)
            doc.image_changed.connect(lambda _r: self._shade_timer.start())
        self.tabs.blockSignals(False)
        self.tabs.setVisible(doc is not None)
        self.dock.setVisible(doc is not None)
        self.separate_check.setChecked(False)
        self._refresh_shading()

    def separate(self) -> bool:
        return self.separate_check.isChecked()

    def _on_tab(self, index: int) -> None:
        if self.doc is None or index < 0 or index == self.doc.current:
            return
        self.doc.show_map(index)
        self.map_shown.emit(index)

    def _refresh_shading(self) -> None:
        self.shaded.set_mapset(self.doc.mapset if self.doc is not None else None)
