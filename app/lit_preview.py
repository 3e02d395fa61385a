"""Material mode's lit preview: the material as opened and as it is now (the repair's result) side by side,
shaded by ``core.material.render`` under one directional light that a drag in either render moves.

The light is a point on a virtual hemisphere over the render, like a trackball: the drag position's angle
around the centre is the azimuth, its distance from the centre sets the elevation (centre = straight above,
edge = grazing). Both renders always use the same light. They are drawn from copies of the maps shrunk to
``PREVIEW_SIDE`` pixels: two 256 px renders cost about 15-30 ms on a busy 2-core CPU, two 1024 px ones
300-600 ms, so a drag stays smooth whatever the material's size.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from app import theme
from app.imaging import RgbaBuffer, float_to_display8, rgba_premultiplied
from core.io import ImageData
from core.material import MapSet, ShadingInputs, render, shading_inputs

PREVIEW_SIDE = 256  # longest side of the rendered copies (see the module docstring for the timings)
MIN_ELEVATION = 5.0  # degrees: at the very edge the light still grazes the surface


def preview_mapset(mapset: MapSet, max_side: int = PREVIEW_SIDE) -> MapSet:
    """``mapset`` with every map shrunk (area average) so its longer side is at most ``max_side``."""
    scale = max_side / max(mapset.height, mapset.width)
    if scale >= 1.0:
        return mapset
    w, h = max(1, round(mapset.width * scale)), max(1, round(mapset.height * scale))
    maps = []
    for m in mapset.maps:
        px = cv2.resize(m.image.pixels, (w, h), interpolation=cv2.INTER_AREA)
        maps.append(replace(m, image=ImageData(px.reshape(h, w, -1), m.image.path, m.image.float_lo,
                                               m.image.float_hi)))
    return MapSet(maps, mapset.folder)


@dataclass(frozen=True)
class Light:
    """A directional light: azimuth (degrees, 0 = from the right, 90 = from the top of the image) and
    elevation (degrees above the surface, 90 = straight above)."""

    azimuth: float = 45.0
    elevation: float = 55.0

    def direction(self) -> tuple[float, float, float]:
        """Unit vector towards the light in the renderer's space (+X right, +Y up the image, +Z out)."""
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        return math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)

    def disc_point(self) -> tuple[float, float]:
        """Where the light sits on the unit disc over a render (x right, y up)."""
        x, y, _ = self.direction()
        return x, y

    @classmethod
    def from_disc_point(cls, x: float, y: float) -> Light:
        """The trackball: a point of the disc (x right, y up; the rim and beyond = the horizon) -> a light."""
        r = min(math.hypot(x, y), 1.0)
        elevation = max(MIN_ELEVATION, math.degrees(math.acos(r)))
        azimuth = math.degrees(math.atan2(y, x)) % 360.0 if r > 1e-6 else 0.0
        return cls(round(azimuth, 1), round(elevation, 1))


class LitRender(QWidget):
    """One render, scaled to fit, with the light drawn where it stands; a left-button drag reports points
    of the unit disc over the render (``dragged``)."""

    dragged = Signal(float, float)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 150)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Drag to move the light (both views follow)")
        self.image: RgbaBuffer | None = None
        self.light = Light()
        self.placeholder = ""

    def sizeHint(self) -> QSize:
        return QSize(200, 200)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    def show_image(self, image: RgbaBuffer | None, light: Light) -> None:
        self.image, self.light = image, light
        self.update()

    def target(self) -> QRectF:
        """The rectangle the render is drawn in (centred, aspect kept)."""
        if self.image is None:
            side = min(self.width(), self.height())
            return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        w, h = self.image.qimage.width(), self.image.qimage.height()
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), theme.color("base"))
        if self.image is None:
            p.setPen(theme.color("muted"))
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
            return
        t = self.target()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(t, self.image.qimage)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        x, y = self.light.disc_point()
        c = QPointF(t.center().x() + x * t.width() / 2, t.center().y() - y * t.height() / 2)
        p.setPen(QPen(QColor(0, 0, 0, 160), 3))
        p.drawEllipse(c, 7, 7)
        p.setPen(QPen(QColor(255, 220, 120), 2))
        p.setBrush(QColor(255, 230, 150, 200))
        p.drawEllipse(c, 6, 6)

    def _report(self, pos: QPointF) -> None:
        t = self.target()
        self.dragged.emit((pos.x() - t.center().x()) / max(1.0, t.width() / 2),
                          -(pos.y() - t.center().y()) / max(1.0, t.height() / 2))

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton and self.image is not None:
            self._report(e.position())

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if e.buttons() & Qt.MouseButton.LeftButton and self.image is not None:
            self._report(e.position())


class LitPreview(QWidget):
    """The panel: a heading, the original's render and the current one's side by side with captions, and a
    line naming the light. ``set_original`` once per opened set, ``set_current`` after every change."""

    light_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.light = Light()
        self.render_ms = 0.0  # the last update: both renders, in milliseconds
        self._inputs: dict[str, ShadingInputs | None] = {"original": None, "current": None}
        heading = QLabel("Lit preview")
        heading.setProperty("role", "heading")
        self.original_view, self.current_view = LitRender("lit_original"), LitRender("lit_current")
        self.original_caption, self.current_caption = QLabel("Original"), QLabel("Result")
        for cap in (self.original_caption, self.current_caption):
            cap.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.light_label = QLabel()
        self.light_label.setProperty("role", "muted")
        self.light_label.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        grid.addWidget(heading, 0, 0, 1, 2)
        grid.addWidget(self.original_caption, 1, 0)
        grid.addWidget(self.current_caption, 1, 1)
        grid.addWidget(self.original_view, 2, 0)
        grid.addWidget(self.current_view, 2, 1)
        grid.addWidget(self.light_label, 3, 0, 1, 2)
        grid.setRowStretch(2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self.render_both)
        for view in (self.original_view, self.current_view):
            view.dragged.connect(self._on_drag)
        self.set_original(None)

    def views(self) -> tuple[LitRender, LitRender]:
        return self.original_view, self.current_view

    def set_original(self, mapset: MapSet | None) -> None:
        """The material as opened (``None``: no material; both views show a placeholder)."""
        self._inputs["original"] = shading_inputs(preview_mapset(mapset)) if mapset is not None else None
        if mapset is None:
            self._inputs["current"] = None
        self.render_both()

    def set_current(self, mapset: MapSet, has_result: bool) -> None:
        """The maps as they are now; ``has_result``: they differ from the original (a repair was applied)."""
        self._inputs["current"] = shading_inputs(preview_mapset(mapset))
        self.current_caption.setText("Result" if has_result else "Current (no repair yet)")
        self.current_view.setToolTip("The maps as they are now, after the repair" if has_result else
                                     "No repair yet: the maps are the original's. Drag to move the light")
        self.render_both()

    def set_light(self, light: Light) -> None:
        if light == self.light:
            return
        self.light = light
        self.light_changed.emit()
        if not self._pending.isActive():
            self._pending.start(0)  # coalesce mouse moves into one render per event-loop pass

    def _on_drag(self, x: float, y: float) -> None:
        self.set_light(Light.from_disc_point(x, y))

    def render_both(self) -> None:
        """Render both views now, under the same light."""
        self._pending.stop()
        t0 = time.perf_counter()
        direction = self.light.direction()
        for key, view in (("original", self.original_view), ("current", self.current_view)):
            inp = self._inputs[key]
            image = None
            if inp is not None:
                image = RgbaBuffer.from_array(rgba_premultiplied(float_to_display8(render(inp, direction))))
            view.placeholder = "Open a material folder to see it lit"
            view.show_image(image, self.light)
        self.render_ms = (time.perf_counter() - t0) * 1000
        self.light_label.setText(f"Light: azimuth {self.light.azimuth:.0f}°, elevation {self.light.elevation:.0f}° "
                                 "— drag in either view to move it")

    def preview_size(self) -> tuple[int, int] | None:
        """Height and width of the rendered copies (None without a material)."""
        inp = self._inputs["original"]
        return None if inp is None else tuple(inp.normal.shape[:2])

    def frame(self, which: str) -> np.ndarray | None:
        """The last render of ``which`` ("original" | "current") as an RGBA array (for tests and scripts)."""
        view = self.original_view if which == "original" else self.current_view
        return None if view.image is None else view.image.array.copy()
