"""GUI responsiveness while the internal engine trains and samples, measured on the real window.

    python -m bench.gui_responsiveness [--train-steps N] [--shot PNG]

Drives the main window offscreen (QT_QPA_PLATFORM=offscreen unless set) on the bundled sample with its
mask and the `fast` preset, while a timer zooms the view in and out every 250 ms (full repaints, as a
user would cause). It prints, as a table:

- the longest event-loop stall during the startup warm-up (app.gui.launch imports torch._dynamo in the
  background: the optimiser would otherwise import it during the first training step, holding the GIL);
- the longest event-loop stall (the largest gap between 10 ms timer ticks, minus 10 ms) and its 99th
  percentile, per stage -- target < 50 ms;
- the preview frame rate that reached the canvas while sampling (and the number of training previews);
- the time from pressing Stop to the app being idle again, once while training and once while
  sampling -- target < 1 s.

The model cache is off, so every run trains from scratch.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from bench.common import REPO, print_table

TICK_MS = 10


class StallMeter:
    """Gaps between ticks of a precise 10 ms timer, bucketed by the window's current stage."""

    def __init__(self, stage_of, where=lambda: "") -> None:
        self.stage_of = stage_of
        self.where = where
        self.long: list[tuple[str, str, float]] = []
        self.gaps: dict[str, list[float]] = {}
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        gap = self.clock.restart()
        stall = max(0.0, gap - TICK_MS)
        self.gaps.setdefault(self.stage_of(), []).append(stall)
        if stall > 50:
            self.long.append((self.stage_of(), self.where(), stall))

    def summary(self, stage: str) -> tuple[float, float, int, int]:
        g = np.array(self.gaps.get(stage, [0.0]))
        return float(g.max()), float(np.percentile(g, 99)), len(g), int((g > 50).sum())


class GcMeter:
    """Garbage-collector passes (any thread) and the longest one: a pass holds the GIL, so the GUI waits."""

    def __init__(self) -> None:
        self.passes = {0: 0, 1: 0, 2: 0}
        self.longest_ms = 0.0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.passes[info["generation"]] += 1
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - self._t0) * 1000)


def wait_until(pred, timeout_s: float) -> bool:
    loop_end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > loop_end:
            return False
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-steps", type=int, default=None, help="override the fast preset's training steps")
    ap.add_argument("--shot", help="also save a PNG of the window while it samples")
    args = ap.parse_args(argv)

    from app import dialogs, theme
    from app.gui import _application
    from app.main_window import MainWindow
    from app.worker import warm_up_engines
    from core import runtime

    dialogs.ask_unsaved = lambda *_a: "discard"  # nothing modal in a benchmark
    dialogs.show_error = lambda _p, title, message, details="": print(f"error: {title}: {message}", file=sys.stderr)
    runtime.tune_allocator()
    threads = runtime.set_threads()
    app = _application()
    theme.apply_theme(app, "dark")
    tmp = tempfile.mkdtemp(prefix="reweave-bench-")
    win = MainWindow(settings=QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat))
    win.resize(1440, 900)
    win.show()
    if not win.open_path(REPO / "resources" / "sample.png", REPO / "resources" / "sample_mask.png", confirm=False):
        print("error: cannot open the sample", file=sys.stderr)
        return 2
    combo = win.panel.engine_combo
    combo.setCurrentIndex(combo.findData("internal"))
    overrides = {"preset": "fast", "options": {"cache": False}}
    if args.train_steps:
        overrides["train_steps"] = args.train_steps
    win.session.overrides = overrides

    stage = {"name": "idle"}
    win.controller.progress.connect(lambda ev: stage.__setitem__("name", ev.stage))
    frames: dict[str, int] = {}
    first_frame: dict[str, float] = {}
    last_frame: dict[str, float] = {}

    def on_frame(f) -> None:
        frames[f.stage] = frames.get(f.stage, 0) + 1
        now = time.monotonic()
        first_frame.setdefault(f.stage, now)
        last_frame[f.stage] = now
        if args.shot and f.stage == "sample" and frames[f.stage] == 8:
            stage["name"] = "screenshot"  # grabbing and encoding the PNG stalls the loop itself (~80 ms)
            win.grab().save(args.shot)
            meter.clock.restart()
            stage["name"] = "sample"

    win.controller.preview.connect(on_frame)
    zoom = QTimer()
    zoom.setInterval(250)
    flip = {"in": True}

    def poke() -> None:  # a user zooming: full repaints of the canvas during the run
        win.canvas.zoom_in() if flip["in"] else win.canvas.zoom_out()
        flip["in"] = not flip["in"]

    zoom.timeout.connect(poke)
    last = {"step": ""}
    win.controller.progress.connect(lambda ev: last.__setitem__("step", f"{ev.stage} {ev.step}/{ev.total}"))
    meter = StallMeter(lambda: stage["name"], lambda: last["step"])

    # --- 0. startup warm-up (as app.gui.launch does), then an idle baseline -------------------------------
    meter.start()
    zoom.start()
    stage["name"] = "warm-up"
    warm = warm_up_engines()
    wait_until(lambda: not warm.is_alive(), 300)
    stage["name"] = "idle"
    wait_until(lambda: False, 3.0)
    stage["name"] = "idle-done"

    import gc
    gc_meter = GcMeter()
    gc.callbacks.append(gc_meter)

    # --- 1. a whole run ------------------------------------------------------------------------------------
    t0 = time.monotonic()
    stage_t: dict[str, float] = {}
    win.controller.progress.connect(lambda ev: stage_t.setdefault(ev.stage, time.monotonic()))
    win.inpaint()
    wait_until(lambda: not win.is_busy(), 1800)
    total = time.monotonic() - t0
    gc.callbacks.remove(gc_meter)
    zoom.stop()
    meter.stop()
    sample_frames = frames.get("sample", 0)
    sample_span = (last_frame["sample"] - first_frame["sample"]) if sample_frames > 1 else 0.0
    sample_fps = (sample_frames - 1) / sample_span if sample_span > 0 else 0.0
    rows = []
    for st in ("warm-up", "idle", "prepare", "train", "sample"):
        mx, p99, n, over = meter.summary(st)
        rows.append([st, f"{mx:.0f}", f"{p99:.0f}", over, n, frames.get(st, 0)])
    print_table(["stage", "longest stall ms", "p99 stall ms", "stalls > 50 ms", "ticks", "preview frames"], rows,
                title=f"Event-loop stalls during a `fast` run on resources/sample.png (448x320), {threads} torch "
                      f"threads, total {total:.1f} s")

    for st, at, ms in meter.long:
        print(f"  stall {ms:.0f} ms in {st} (last progress: {at})")

    # --- 2. Stop while training, and while sampling -------------------------------------------------------
    stops = []
    for where, extra in (("train", {}), ("sample", {"train_steps": 20})):
        win.session.overrides = {**overrides, **extra}
        while win.doc.history.can_undo():  # back to the sample with its mask
            win.undo()
        stage["name"] = "idle"
        win.inpaint()
        reached = wait_until(lambda: stage["name"] == where, 600)
        wait_until(lambda: False, 1.5)  # let it run a moment in that stage
        before = win.doc.image.pixels.copy()
        t_stop = time.monotonic()
        win.inpaint_dock.stop_button.click()
        wait_until(lambda: not win.is_busy(), 60)
        idle_after = time.monotonic() - t_stop
        unchanged = np.array_equal(before, win.doc.image.pixels)
        stops.append([where if reached else f"{where} (not reached)", f"{idle_after * 1000:.0f}",
                      "yes" if unchanged else "NO"])

    print()
    print_table(["metric", "value", "target"], [
        ["longest event-loop stall, whole run (ms)",
         f"{max(meter.summary(s)[0] for s in ('prepare', 'train', 'sample')):.0f}", "< 50"],
        ["longest stall with no run, same load (ms)", f"{meter.summary('idle')[0]:.0f}", ""],
        ["gc passes during the run (gen 0/1/2), longest (ms)",
         f"{gc_meter.passes[0]}/{gc_meter.passes[1]}/{gc_meter.passes[2]}, {gc_meter.longest_ms:.0f}", ""],
        ["preview frame rate while sampling (fps)", f"{sample_fps:.1f}", "smooth, <= 20 (throttled)"],
        ["training previews shown", frames.get("train", 0), "every ~3 s"],
        ["train time (s)", f"{stage_t.get('sample', t0) - stage_t.get('train', t0):.1f}", ""],
        ["sample time (s)", f"{t0 + total - stage_t.get('sample', t0 + total):.1f}", ""],
    ], title="Summary")
    print()
    print_table(["Stop pressed while", "Stop to idle (ms)", "image unchanged"], stops,
                title="Stop latency (target < 1000 ms)")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
