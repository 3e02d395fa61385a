"""Running an engine off the GUI thread.

``RunController.start(engine, request)`` iterates ``engine.run(request)`` on a superqt ``GeneratorWorker``
(a QThreadPool thread). Each event comes back to the GUI thread as a Qt signal; previews are turned into
display-ready RGBA on the worker thread and coalesced on the GUI thread, so a fast sampler never floods
the event loop. ``stop()`` sets ``request.cancel`` (the engine checks it every step) and quits the
worker; ``finished`` fires once, with the outcome, when the thread is done.
"""
from __future__ import annotations

import gc
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import GeneratorWorker

from app.imaging import hole_preview
from core.engines.base import Engine, InpaintRequest, Loss, Preview, Progress, Result
from core.errors import Cancelled, UserError
from core.masks import Box

PREVIEW_INTERVAL_S = 0.05  # at most ~20 preview frames per second reach the canvas
WORKER_NICE = 5  # engine thread priority below the GUI's (Linux nice value)


@dataclass
class PreviewFrame:
    rgba: np.ndarray  # premultiplied RGBA of ``box``, transparent outside the hole
    box: Box
    stage: str
    step: int
    total: int


@dataclass
class Outcome:
    status: str  # "done" | "stopped" | "failed"
    error: BaseException | None = None
    details: str = ""


def _lower_thread_priority(nice: int = WORKER_NICE) -> None:
    """Let the GUI thread win the CPU when both want it (Linux: per-thread nice; elsewhere nothing).

    Torch's intra-op threads are started by this thread on its first parallel operation and inherit it.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (OSError, AttributeError):
        pass


def warm_up_engines() -> threading.Thread:
    """Import in the background, at startup, what the first training step would import lazily.

    The optimiser's first step imports torch._dynamo (about 800 modules, seconds on a busy CPU) while holding
    the GIL in long chunks: done during a run, that freezes the window for a few hundred ms at the start of
    training. Done here, it happens while the user is still painting.

    Then everything alive so far (torch, Qt and the app: ~340k objects) is moved out of the garbage
    collector's reach with ``gc.freeze()``. A full collection scans every tracked object while holding the
    GIL: 100-200 ms on the dev CPU, a freeze of the window whenever one happens. None happened in the
    responsiveness benchmark's runs (the engine allocates few Python objects), but opening and editing
    images can trigger one; frozen, they cost nothing. Most of those objects live until exit anyway.
    """
    def work() -> None:
        _lower_thread_priority()
        try:
            import torch._dynamo  # noqa: F401 -- imported only to load it ahead of time
        except Exception:  # only an optimisation
            pass
        gc.freeze()

    thread = threading.Thread(target=work, name="reweave-warm-up", daemon=True)
    thread.start()
    return thread


class _EngineRun:
    """The generator the worker thread iterates: engine events in, GUI-ready items out, never raises."""

    def __init__(self, engine: Engine, request: InpaintRequest) -> None:
        self.engine = engine
        self.request = request
        self._gen: Iterator | None = None

    def events(self) -> Iterator[object]:
        mask = getattr(self.request, "mask", None)  # training requests have none (and no previews)
        mask = None if mask is None else np.asarray(mask, bool)
        _lower_thread_priority()
        try:
            self._gen = self.engine.run(self.request)
            for ev in self._gen:
                if isinstance(ev, Preview) and mask is not None:
                    hole = mask[ev.box.slices()]
                    ev = PreviewFrame(hole_preview(ev.image, hole), ev.box, ev.stage, ev.step, ev.total)
                elif isinstance(ev, Result):
                    ev = replace(ev, base=None)  # the window keeps a result's region, not the request's image
                yield ev
                if self.request.cancelled():
                    return Outcome("stopped")
        except Cancelled:
            return Outcome("stopped")
        except GeneratorExit:
            raise
        except BaseException as exc:  # reported to the user, never crashes the app
            if self.request.cancelled():
                return Outcome("stopped")
            return Outcome("failed", exc, traceback.format_exc())
        finally:
            self.close_engine()
        return Outcome("done")

    def close_engine(self) -> None:
        gen, self._gen = self._gen, None
        if gen is not None:
            try:
                gen.close()  # runs the engine's cleanup (frees tensors) now, not at garbage collection
            except Exception:
                pass


class RunController(QObject):
    started = Signal()
    progress = Signal(object)  # Progress
    loss = Signal(object)  # Loss
    preview = Signal(object)  # PreviewFrame (coalesced)
    result = Signal(object)  # Result
    other = Signal(object)  # anything else an engine yields (material mode's MaterialResult)
    finished = Signal(object)  # Outcome

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker: GeneratorWorker | None = None
        self._run: _EngineRun | None = None
        self._gen = None
        self._outcome: Outcome | None = None
        self._pending_preview: PreviewFrame | None = None
        self._last_preview = 0.0
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.timeout.connect(self._emit_preview)
        self.stop_requested_at: float | None = None

    def is_running(self) -> bool:
        return self._worker is not None

    def start(self, engine: Engine, request: InpaintRequest) -> None:
        if self._worker is not None:
            raise RuntimeError("an engine is already running")
        self._run = _EngineRun(engine, request)
        self._outcome = None
        self.stop_requested_at = None
        self._pending_preview = None
        run = self._run

        def drive():  # GeneratorWorker wants a generator function
            outcome = yield from run.events()
            return outcome

        worker = GeneratorWorker(drive)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()
        self.started.emit()

    def stop(self) -> None:
        """Ask the engine to stop: it notices within one step; ``finished`` follows."""
        if self._worker is None:
            return
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
        self._run.request.cancel.set()
        self._worker.quit()

    def wait(self, timeout_s: float = 10.0) -> bool:
        """Block (processing events) until the run is over; for closing the window and for tests."""
        from PySide6.QtCore import QCoreApplication, QEventLoop

        end = time.monotonic() + timeout_s
        while self._worker is not None and time.monotonic() < end:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.005)
        return self._worker is None

    # -- worker signals (GUI thread) --------------------------------------------------------------------
    def _on_yielded(self, item: object) -> None:
        if self._run is None or self._run.request.cancelled():
            return  # after Stop nothing more is drawn
        if isinstance(item, PreviewFrame):
            self._pending_preview = item
            wait = PREVIEW_INTERVAL_S - (time.monotonic() - self._last_preview)
            if not self._flush.isActive():
                self._flush.start(max(0, int(wait * 1000)))
        elif isinstance(item, Progress):
            self.progress.emit(item)
        elif isinstance(item, Loss):
            self.loss.emit(item)
        elif isinstance(item, Result):
            self._emit_preview()
            self.result.emit(item)
        else:
            self._emit_preview()
            self.other.emit(item)

    def _emit_preview(self) -> None:
        frame, self._pending_preview = self._pending_preview, None
        if frame is not None:
            self._last_preview = time.monotonic()
            self.preview.emit(frame)

    def _on_returned(self, outcome: object) -> None:
        self._outcome = outcome if isinstance(outcome, Outcome) else Outcome("done")

    def _on_errored(self, exc: Exception) -> None:  # the generator never raises, but be safe
        self._outcome = Outcome("failed", exc, "".join(traceback.format_exception(exc)))

    def _on_finished(self) -> None:
        run, self._run = self._run, None
        self._worker = None
        self._flush.stop()
        self._pending_preview = None
        if run is not None:
            run.close_engine()  # when the worker quit at a yield, the engine is still suspended there
        outcome = self._outcome
        if outcome is None:  # quit() at a yield: superqt emits neither returned nor errored
            outcome = Outcome("stopped")
        elif run is not None and run.request.cancelled() and outcome.status == "done":
            outcome = Outcome("stopped")
        self.finished.emit(outcome)


def describe_failure(outcome: Outcome) -> tuple[str, str]:
    """A title and one-paragraph message for a failed run."""
    exc = outcome.error
    if isinstance(exc, UserError):
        return "Cannot inpaint", str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "Out of memory", ("The engine ran out of memory. Try a smaller hole, the 'fast' preset, "
                                 "fewer variants, or the CPU device. Your image and mask are unchanged.")
    return "The engine failed", (f"{type(exc).__name__}: {exc}\n\nYour image and mask are unchanged. "
                                 "The details below help us fix it.")
