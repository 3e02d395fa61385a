"""Shared helpers for the app tests (plain functions and classes, no fixtures: those live in conftest.py):
tiny images on disk, a window factory, simulated mouse drags, and small fake engines."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from core.engines.base import Capabilities, InpaintRequest, Preview, Progress, Result
from core.engines.registry import Registry, register_builtin
from core.masks import hole_bbox


def texture_u8(h: int = 48, w: int = 56, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((np.sin(xx / 3.0)[..., None] + np.cos(yy / 4.0)[..., None] + np.arange(channels)) * 40 + 128)
    return np.clip(base + rng.integers(-20, 20, (h, w, channels)), 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    from core.io import ImageData, save_image

    save_image(path, ImageData(pixels))
    return path


class Answers(list):
    """Queued answers to the unsaved-changes prompt; ``asked`` records each time it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []


def make_window(qtbot, settings, registry=None):
    from app.main_window import MainWindow

    w = MainWindow(registry=registry, settings=settings)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    return w


def send_mouse(widget, kind: QEvent.Type, pos: QPointF, button=Qt.MouseButton.LeftButton,
               buttons=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    ev = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, modifiers)
    QApplication.sendEvent(widget, ev)


def drag(canvas, points: list[tuple[float, float]], button=Qt.MouseButton.LeftButton,
         modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at the first image point, move through the others, release at the last (image coordinates)."""
    wpts = [canvas.image_to_widget(QPointF(x, y)) for x, y in points]
    send_mouse(canvas, QEvent.Type.MouseButtonPress, wpts[0], button, button, modifiers)
    for p in wpts[1:]:
        send_mouse(canvas, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button, modifiers)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, wpts[-1], button, Qt.MouseButton.NoButton, modifiers)


def segment_distance(shape, p0, p1) -> np.ndarray:
    """Distance of each pixel centre to the segment p0-p1 (x, y)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    (ax, ay), (bx, by) = p0, p1
    dx, dy = bx - ax, by - ay
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
    return np.hypot(xx - (ax + t * dx), yy - (ay + t * dy))


class FakeEngine:
    """Fills the hole with a flat value per variant; optional failure; yields a preview first. With ``hold``
    (a threading.Event) it waits for the event before its first event, so a test can act mid-run."""

    def __init__(self, name: str, caps: Capabilities, fail: BaseException | None = None, hold=None) -> None:
        self.name = name
        self.capabilities = caps
        self.fail = fail
        self.hold = hold
        self.requests: list[InpaintRequest] = []

    def run(self, request: InpaintRequest) -> Iterator:
        self.requests.append(request)
        while self.hold is not None and not self.hold.wait(0.01):
            if request.cancelled():
                return
        yield Progress("sample", 0, 2, "fake")
        if self.fail is not None:
            raise self.fail
        box = hole_bbox(request.mask)
        region = request.image[box.slices()].copy()
        region[request.mask[box.slices()]] = 0.5
        yield Preview(region, box, "sample", 1, 2)
        yield Progress("sample", 2, 2, "fake")
        for v in range(max(1, request.variants)):
            region = request.image[box.slices()].copy()
            region[request.mask[box.slices()]] = 0.2 + 0.3 * v
            yield Result(region, box, v, {"engine": self.name}, base=request.image)


FAKE_CAPS = Capabilities(title="Fake fill", description="Test engine.", supports_seed=True, supports_variants=True)


def fake_registry(fail: BaseException | None = None, with_builtin: bool = False,
                  hold=None) -> tuple[Registry, FakeEngine]:
    reg = Registry()
    engine = FakeEngine("fake", FAKE_CAPS, fail, hold)
    reg.register("fake", FAKE_CAPS, lambda: engine)
    if with_builtin:
        register_builtin(reg)
    return reg, engine


def wait_idle(qtbot, window, timeout_ms: int = 20000) -> None:
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=timeout_ms)


def select_engine(window, name: str) -> None:
    combo = window.panel.engine_combo
    idx = combo.findData(name)
    assert idx >= 0, f"engine {name} not in the panel"
    combo.setCurrentIndex(idx)
