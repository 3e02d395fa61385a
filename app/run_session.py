"""A run of an engine from the window: starting it, showing its events, applying its results.

The one rule that matters most lives here: results are built with ``core.io.merge_result`` against the
image as it was when the run started, so known pixels stay bit for bit what they were, and every change
to the image is one undo step (picking another variant amends that step instead of adding one). A run's
results are kept as the engine gives them: the region around the hole and its box, one per variant.

The request is built without converting the image: it carries the document's native pixels, and the mode's
engine (``app.image_run.ImageEngine`` for an image) converts on the worker thread only the part the engine
reads.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject

from app import dialogs
from app.history import MASK, Rect, Step
from app.imaging import thumbnail_array
from app.inpaint_dock import InpaintDock
from app.worker import Outcome, PreviewFrame, RunController, describe_failure
from core.engines.base import InpaintRequest, Loss, Progress, Result
from core.errors import UserError
from core.io import ImageData, merge_result
from core.masks import Box, hole_bbox

if TYPE_CHECKING:
    from app.main_window import MainWindow

STAGE_NAMES = {"prepare": "Preparing", "start": "Content-aware start", "train": "Training on this image",
               "sample": "Sampling", "fill": "Filling",
               "refine": "Refining (low rank)"}


def fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


@dataclass
class StageClock:
    """Time left in the current stage, from the pace of the steps since the stage began."""

    stage: str = ""
    t0: float = 0.0
    step0: int = 0

    def seconds_left(self, ev: Progress, now: float) -> float | None:
        if ev.stage != self.stage:
            self.stage, self.t0, self.step0 = ev.stage, now, ev.step
        done = ev.step - self.step0
        if done > 0 and ev.total > ev.step:
            return (now - self.t0) / done * (ev.total - ev.step)
        return None


@dataclass
class RunContext:
    """What a run needs to turn its results into exact, undoable image changes."""

    engine: str
    rect: Rect  # the hole's bounding box
    base: np.ndarray  # the image's native pixels in ``rect`` when the run started
    mask: np.ndarray  # bool, in ``rect``
    float_lo: np.ndarray | None
    float_hi: np.ndarray | None
    started: float = field(default_factory=time.monotonic)
    results: dict[int, Result] = field(default_factory=dict)
    step: Step | None = None  # the undo step of the applied result
    clock: StageClock = field(default_factory=StageClock)

    def patch(self, result: Result) -> np.ndarray:
        """The native pixels of ``rect`` for ``result``: engine values in the hole, exact ones elsewhere."""
        base = ImageData(self.base, None, self.float_lo, self.float_hi)
        return merge_result(base, result.crop(Box(*self.rect)), self.mask).pixels

    def thumbnail(self, result: Result, shape: tuple[int, int]) -> np.ndarray:
        """A variant's thumbnail: the hole's box and a margin around it, as far as the result's region reaches."""
        y0, x0, y1, x1 = self.rect
        m = max(8, (y1 - y0 + x1 - x0) // 8)
        b = result.box
        window = Box(max(0, y0 - m, b.y0), max(0, x0 - m, b.x0), min(shape[0], y1 + m, b.y1),
                     min(shape[1], x1 + m, b.x1))
        return thumbnail_array(result.crop(window))


class RunSession(QObject):
    """Drives ``window.controller`` for the open document and shows the run in the Inpaint dock."""

    def __init__(self, window: MainWindow, controller: RunController, dock: InpaintDock) -> None:
        super().__init__(window)
        self.window = window
        self.controller = controller
        self.dock = dock
        self.overrides: dict = {}  # merged into every request: settings the panel does not offer
        self._run: RunContext | None = None
        self._last_run: RunContext | None = None
        controller.progress.connect(self._on_progress)
        controller.loss.connect(self._on_loss)
        controller.preview.connect(self._on_preview)
        controller.result.connect(self._on_result)
        controller.other.connect(self._on_other)
        controller.finished.connect(self._on_finished)
        dock.variants.picked.connect(self.pick_variant)

    def forget(self) -> None:
        """A new document: no results to pick from, a clean panel."""
        self._last_run = None
        self.dock.clear_results()
        self.dock.show_ready()

    def build_request(self) -> InpaintRequest:
        """The request for the current image, mask, sampling area and panel choices (plus ``overrides``).
        The sampling area goes only to an engine that takes it (the panel's note says when it is ignored).
        ``image`` is the document's native pixels, not a copy: the mode's engine converts what it reads."""
        doc = self.window.doc
        kw = self.dock.panel.request_kwargs()
        extra = dict(self.overrides)
        options = dict(kw.pop("options", {}))
        if self.dock.panel.capabilities().supports_source and doc.has_source():
            options["source"] = doc.source_bool()
        options.update(extra.pop("options", {}))
        kw.update(extra)
        return InpaintRequest(image=doc.image.pixels, mask=doc.mask_bool(), options=options, **kw)

    def start(self) -> bool:
        w, doc = self.window, self.window.doc
        if doc is None or self.controller.is_running():
            return False
        if not doc.has_mask():
            dialogs.show_error(w, "Nothing to fill",
                               "Paint over what must go first (B for the brush, R for a rectangle), "
                               "or import a mask (Ctrl+Shift+O).")
            return False
        name = self.dock.panel.engine_name()
        try:
            engine = w.mode.engine(doc, name, w.registry)
            request = w.mode.adjust_request(self.build_request())
        except UserError as exc:
            dialogs.show_error(w, "Cannot inpaint", str(exc))
            return False
        except MemoryError:
            dialogs.show_error(w, "Out of memory", "There is not enough memory to start this run.")
            return False
        bounds = doc.layer_bounds(MASK)  # the hole lies inside: look for its box there only
        by0, bx0 = (bounds[0], bounds[1]) if bounds is not None else (0, 0)
        inner = hole_bbox(request.mask[by0:bounds[2], bx0:bounds[3]] if bounds is not None else request.mask)
        box = Box(inner.y0 + by0, inner.x0 + bx0, inner.y1 + by0, inner.x1 + bx0)
        ys, xs = box.slices()
        self._run = RunContext(name, (box.y0, box.x0, box.y1, box.x1), doc.image.pixels[ys, xs].copy(),
                               request.mask[ys, xs].copy(), doc.image.float_lo, doc.image.float_hi)
        self.dock.clear_results()
        self.dock.show_stage("Starting…")
        self.dock.progress.setRange(0, 0)
        self.controller.start(engine, request)
        w.set_busy(True)
        return True

    def stop(self) -> None:
        if self.controller.is_running():
            self.dock.stage_label.setText("Stopping…")
            self.dock.stop_button.setEnabled(False)
            self.controller.stop()

    # -- the worker's events --------------------------------------------------------------------------------
    def _on_progress(self, ev: Progress) -> None:
        ctx = self._run
        if ctx is None:
            return
        left = ctx.clock.seconds_left(ev, time.monotonic())
        title = STAGE_NAMES.get(ev.stage, ev.stage.capitalize())
        self.dock.show_stage(f"{title}  {ev.step}/{ev.total}" if ev.total > 1 else title,
                             f"{fmt_seconds(left)} left" if left is not None else "")
        self.dock.progress.setRange(0, max(1, ev.total))
        self.dock.progress.setValue(min(ev.step, ev.total))
        if ev.message:
            self.window.statusBar().showMessage(f"{title}: {ev.message}")

    def _on_loss(self, ev: Loss) -> None:
        training = self._run is not None and self._run.clock.stage == "train"
        self.dock.loss_plot.add(ev.step, ev.value, self.dock.progress.maximum() if training else None)

    def _on_preview(self, frame: PreviewFrame) -> None:
        if self._run is not None:
            self.window.canvas.set_preview(frame.rgba, frame.box.x0, frame.box.y0)

    def _on_result(self, result: Result) -> None:
        ctx, doc = self._run, self.window.doc
        if ctx is None or doc is None:
            return
        ctx.results[result.variant] = result
        self.dock.variants.add_variant(result.variant, ctx.thumbnail(result, doc.shape))
        if ctx.step is None:
            self.window.canvas.set_preview(None)
            ctx.step = doc.apply_pixels(ctx.rect, ctx.patch(result), f"Inpaint ({ctx.engine})")

    def _on_other(self, item: object) -> None:
        ctx, doc = self._run, self.window.doc
        if ctx is None or doc is None:
            return
        step = self.window.mode.apply(doc, ctx, item)
        if step is not None:
            self.window.canvas.set_preview(None)
            ctx.step = step

    def pick_variant(self, index: int) -> None:
        ctx, doc = self._last_run if self._run is None else self._run, self.window.doc
        if ctx is None or doc is None or index not in ctx.results or self.controller.is_running():
            return
        amend = ctx.step if doc.history.top() is ctx.step else None
        ctx.step = doc.apply_pixels(ctx.rect, ctx.patch(ctx.results[index]), f"Inpaint variant #{index + 1}",
                                    clear_mask=amend is not None, amend=amend)
        self.window.statusBar().showMessage(f"Variant #{index + 1}", 3000)

    def _on_finished(self, outcome: Outcome) -> None:
        ctx, self._run = self._run, None
        w = self.window
        w.canvas.set_preview(None)
        self.dock.progress.setRange(0, 1)
        elapsed = time.monotonic() - ctx.started if ctx else 0.0
        if outcome.status == "done" and ctx is not None and (ctx.results or ctx.step is not None):
            self._last_run = ctx
            self.dock.progress.setValue(1)
            self.dock.show_stage(f"Done in {fmt_seconds(elapsed)}")
            w.statusBar().showMessage("Done. Hold Tab on the canvas or use Split Compare (C) to compare; "
                                      "Ctrl+Z undoes.", 8000)
        elif outcome.status == "failed":
            self.dock.progress.setValue(0)
            self.dock.show_stage("Failed")
            title, message = describe_failure(outcome)
            w.set_busy(False)
            dialogs.show_error(w, title, message, "" if isinstance(outcome.error, UserError) else outcome.details)
            return
        else:
            self.dock.progress.setValue(0)
            self.dock.show_stage("Stopped")
            w.statusBar().showMessage("Stopped: the image and the mask are as they were.", 6000)
        w.set_busy(False)
