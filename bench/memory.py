"""Peak memory and time of the command line and of the window on large images with a small hole.

    python -m bench.memory [--size 8192] [--ref-size 2048] [--engines telea,internal] [--cases cli,material,app]
                           [--material-engines telea] [--app-engines telea] [--timeout 1800] [--keep DIR]

Generates, in a temp folder (removed afterwards unless --keep), at ``--size`` and at ``--ref-size``:

- an RGB 8-bit PNG and an RGBA 16-bit PNG (stripes, waves and a little noise), and a mask with one 60 x 200 px
  hole in the middle;
- a material folder of four maps: base colour (8-bit RGB), normal (8-bit RGB, from the height field), roughness
  (8-bit gray) and height (16-bit gray).

Then it measures, each case in its own subprocess (peak RSS from ``os.wait4``'s rusage of that child, started by
a small launcher so that the peak is the case's alone):

- ``main.py inpaint`` on either image with each engine of ``--engines`` (internal runs ``--preset fast``);
- ``main.py inpaint-material`` on the four maps with each engine of ``--material-engines``;
- the window (offscreen, warmed up as ``app.gui.launch`` does): open the RGBA 16-bit image, paint a stroke over
  the hole's place with the brush (three times, each stroke's longest event-loop stall measured by a 5 ms
  heartbeat timer), inpaint it with each engine of ``--app-engines``, undo, redo.

Every case also runs at ``--ref-size`` with the same hole, for the time target. Three tables come out, with the
targets beside each row: peak RSS against the decoded pixels; the time of the same small hole at both sizes (whole
call, and the part spent running the engine); the window's RSS after each step and its longest stalls. GB here are
10^9 bytes. The CLI children run main.py's ``main`` in-process behind a thin wrapper that only times its loading,
engine and saving steps. Results of 2026-12-01 and their causes: docs/benchmarks.md, "Memory on large images".
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GB = 1e9
HOLE_H, HOLE_W = 60, 200
BRUSH = HOLE_H  # the window's stroke: a brush this wide dragged over the hole's length
STROKES = 3
STROKE_EVENTS = 42  # a press, 40 moves and a release


# ---- generated inputs ---------------------------------------------------------------------------------------
def _field(y0: int, y1: int, w: int, phase: float, seed: int):
    """A float32 (y1 - y0) x w height-like field in [0, 1]: stripes, a slow wave and a little noise."""
    import numpy as np

    yy, xx = np.mgrid[y0:y1, 0:w].astype(np.float32)
    v = (0.5 + 0.22 * np.sin(2 * np.pi * (xx + 0.4 * yy) / 37.0 + phase)
         + 0.15 * np.sin(2 * np.pi * yy / 53.0 + 2 * phase) * np.cos(2 * np.pi * xx / 91.0))
    v += np.random.default_rng([seed, y0]).normal(0.0, 0.02, v.shape).astype(np.float32)
    return np.clip(v, 0.0, 1.0)


def _write(path: Path, size: int, channels: int, dtype, kind: str = "colour") -> Path:
    """Write a generated size x size image (RGB(A) order) with cv2, built in bands of rows (kept when it exists:
    a --keep folder from an earlier run)."""
    import cv2
    import numpy as np

    if path.exists():
        return path

    top = np.iinfo(dtype).max
    px = np.empty((size, size, channels), dtype)
    for y0 in range(0, size, 512):
        y1 = min(size, y0 + 512)
        if kind == "normal":  # unit normals of the height field, OpenGL convention, encoded as n * 0.5 + 0.5
            h = _field(max(0, y0 - 1), min(size, y1 + 1), size, 0.0, 7)
            gy, gx = np.gradient(h * 8.0)
            lo = 1 if y0 > 0 else 0
            gx, gy = gx[lo:lo + y1 - y0], gy[lo:lo + y1 - y0]
            n = np.stack([-gx, gy, np.ones_like(gx)], axis=2)
            n /= np.linalg.norm(n, axis=2, keepdims=True)
            vals = n * 0.5 + 0.5
        else:
            vals = np.stack([_field(y0, y1, size, 1.3 * c + (0.5 if kind == "rough" else 0.0), c)
                             for c in range(channels)], axis=2)
        px[y0:y1] = np.rint(vals * top).astype(dtype)
    if channels == 4:  # an alpha that varies, as a real RGBA image's would
        px[:, :, 3] = np.rint(np.linspace(0.6, 1.0, size) * top).astype(dtype)[None, :]
    bgr = px[:, :, 0] if channels == 1 else px[:, :, ::-1] if channels == 3 else px[:, :, [2, 1, 0, 3]]
    if not cv2.imwrite(str(path), np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise SystemExit(f"cannot write {path}")
    return path


def hole_box(size: int) -> tuple[int, int, int, int]:
    """y0, x0, y1, x1 of the small hole, in the middle of a size x size image."""
    y0, x0 = size // 2 - HOLE_H // 2, size // 2 - HOLE_W // 2
    return y0, x0, y0 + HOLE_H, x0 + HOLE_W


@dataclass
class Inputs:
    size: int
    folder: Path
    rgb8: Path = None
    rgba16: Path = None
    mask: Path = None
    material: Path = None
    decoded: dict = field(default_factory=dict)  # name -> bytes of decoded pixels

    @classmethod
    def generate(cls, root: Path, size: int, what: set[str]) -> Inputs:
        import cv2
        import numpy as np

        folder = root / str(size)
        folder.mkdir(parents=True, exist_ok=True)
        inp = cls(size, folder)
        mask = np.zeros((size, size), np.uint8)
        y0, x0, y1, x1 = hole_box(size)
        mask[y0:y1, x0:x1] = 255
        inp.mask = folder / "mask.png"
        cv2.imwrite(str(inp.mask), mask)
        px = size * size
        if what & {"cli"}:
            inp.rgb8 = _write(folder / "rgb8.png", size, 3, np.uint8)
            inp.decoded["rgb8"] = px * 3
        if what & {"cli", "app"}:
            inp.rgba16 = _write(folder / "rgba16.png", size, 4, np.uint16)
            inp.decoded["rgba16"] = px * 8
        if "material" in what:
            inp.material = folder / "material"
            inp.material.mkdir(exist_ok=True)
            _write(inp.material / "basecolor.png", size, 3, np.uint8)
            _write(inp.material / "normal.png", size, 3, np.uint8, "normal")
            _write(inp.material / "roughness.png", size, 1, np.uint8, "rough")
            _write(inp.material / "height.png", size, 1, np.uint16)
            inp.decoded["material"] = px * (3 + 3 + 1 + 2)
        return inp


# ---- one measured case ----------------------------------------------------------------------------------------
@dataclass
class Case:
    kind: str  # cli | material | app
    subject: str  # rgb8 | rgba16 | material
    engine: str

    @property
    def label(self) -> str:
        what = {"rgb8": "RGB 8-bit", "rgba16": "RGBA 16-bit", "material": "4 maps"}[self.subject]
        engine = f"{self.engine} fast" if self.engine == "internal" else self.engine
        return f"{self.kind} {what}, {engine}"

    def argv(self, inp: Inputs, out: Path, report: Path) -> list[str]:
        child = [sys.executable, "-m", "bench.memory", "--child", self.kind, "--report", str(report)]
        preset = ["--preset", "fast"] if self.engine == "internal" else []
        if self.kind == "cli":
            return child + ["--", "inpaint", str(getattr(inp, self.subject)), "--mask", str(inp.mask),
                            "--out", str(out / f"{self.subject}.png"), "--engine", self.engine, "-q", *preset]
        if self.kind == "material":
            return child + ["--", "inpaint-material", str(inp.material), "--mask", str(inp.mask),
                            "--out", str(out / "maps"), "--engine", self.engine, "-q", *preset]
        return child + ["--image", str(inp.rgba16), "--engine", self.engine, "--size", str(inp.size)]


@dataclass
class Measured:
    rc: int
    peak: int  # bytes, from the child's rusage
    wall: float  # s, the whole subprocess
    report: dict
    stderr: str


# A child's rusage counts, as its peak, the RSS of the process it was forked from: a child of this process (big
# after generating the inputs) would start at this process's own peak. So each case is started by a small
# launcher whose rusage of its child is that case's alone.
LAUNCHER = ("import json, os, subprocess, sys\n"
            "p = subprocess.Popen(sys.argv[2:])\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "open(sys.argv[1], 'w').write(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))\n")


def measure(cmd: list[str], timeout: float, env: dict, usage_file: Path) -> Measured:
    """Run ``cmd`` through the launcher; its exit status, peak RSS (that process alone) and wall time."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(usage_file), *cmd], cwd=str(REPO), env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if not usage_file.exists():
        return Measured(-9, 0, wall, {}, stderr + f"\n(killed after {timeout:.0f} s)")
    rc, max_kib = json.loads(usage_file.read_text())
    return Measured(rc, max_kib * 1024, wall, {}, stderr)


def run_case(case: Case, inp: Inputs, root: Path, timeout: float) -> Measured:
    out = Path(tempfile.mkdtemp(prefix="out-", dir=root))
    report = out / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "QT_QPA_PLATFORM": "offscreen"}
    env["REWEAVE_CACHE_DIR"] = str(out / "cache")  # no trained model reused between cases
    try:
        m = measure(case.argv(inp, out, report), timeout, env, out / "usage.json")
        if report.exists():
            m.report = json.loads(report.read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return m


# ---- the children ---------------------------------------------------------------------------------------------
def _rss() -> tuple[int, int]:
    """Current and peak RSS of this process, bytes (VmRSS, VmHWM)."""
    vals = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                vals[line.split(":")[0]] = int(line.split()[1]) * 1024
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


def child_cli(argv: list[str], report: Path) -> int:
    """main.py's main, with its loading, engine and saving steps timed (the wrappers only read the clock)."""
    import core.inpaint_cli as inpaint_cli
    import core.io as io
    import core.material_cli as material_cli
    import main as entry

    times: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    if argv and argv[0] == "inpaint":
        io.load_image = timed("load", io.load_image)
        io.save_image = timed("save", io.save_image)
        inpaint_cli.run_on_image = timed("engine", inpaint_cli.run_on_image)
    material_cli._prepare = timed("load", material_cli._prepare)
    material_cli._repair = timed("engine", material_cli._repair)
    material_cli.save_set_whole = timed("save", material_cli.save_set_whole)
    rc = entry.main(argv)
    report.write_text(json.dumps({"times": times, "peak_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                  * 1024}))
    return rc


def child_app(image: Path, engine: str, size: int, report: Path) -> int:
    """The window, offscreen: open, paint a stroke (heartbeat-timed), inpaint, undo, redo."""
    from PySide6.QtCore import QEvent, QEventLoop, QPointF, QSettings, Qt, QTimer
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from app import dialogs
    from app.gui import _application
    from app.main_window import MainWindow
    from app.worker import warm_up_engines
    from core import runtime

    errors: list[str] = []
    dialogs.ask_unsaved = lambda *_a: "discard"
    dialogs.show_error = lambda _p, title, message, details="": errors.append(f"{title}: {message}")
    runtime.tune_allocator()
    runtime.set_threads()
    app = _application()
    tmp = Path(tempfile.mkdtemp(prefix="settings-", dir=report.parent))
    win = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1440, 900)
    win.show()
    rep: dict = {"errors": errors, "rss": {}, "hwm": {}, "times": {}, "stall_ms": {}}

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)

    from bench.gui_responsiveness import wait_until as wait

    def note(stage: str) -> None:
        rep["rss"][stage], rep["hwm"][stage] = _rss()

    beat = {"last": 0.0, "stage": "", "gaps": {}, "long": []}
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(5)

    def tick() -> None:
        now = time.perf_counter()
        if beat["stage"] and beat["last"]:
            gap = (now - beat["last"]) * 1000 - 5
            beat["gaps"].setdefault(beat["stage"], []).append(gap)
            if gap > 50 and beat["stage"].startswith("paint"):  # where in the stroke: events still to send
                beat["long"].append((beat["stage"], len(queue), round(gap)))
        beat["last"] = now

    heartbeat.timeout.connect(tick)
    heartbeat.start()
    warm = warm_up_engines()  # as app.gui.launch does: imports ahead of time, then gc.freeze()
    wait(lambda: not warm.is_alive(), 300)
    pump(1.0)
    note("window")

    t0 = time.perf_counter()
    if not win.open_path(image, confirm=False):
        report.write_text(json.dumps(rep))
        return 2
    rep["times"]["open"] = time.perf_counter() - t0
    pump(1.0)
    note("opened")

    # Strokes over the hole's place at the fitted zoom, one mouse event every 16 ms as a hand would give them;
    # the same stroke STROKES times (each its own undo step), each one's longest stall kept.
    canvas = win.canvas
    canvas.set_brush_size(BRUSH)
    y0, x0, y1, x1 = hole_box(size)
    yc = (y0 + y1) / 2
    xs = [x0 + BRUSH / 2 + i * (x1 - x0 - BRUSH) / (STROKE_EVENTS - 2) for i in range(STROKE_EVENTS - 1)]
    events = ([(QEvent.Type.MouseButtonPress, xs[0])] + [(QEvent.Type.MouseMove, x) for x in xs[1:]]
              + [(QEvent.Type.MouseButtonRelease, xs[-1])])
    queue: list = []

    def send_next() -> None:
        if not queue:
            painter.stop()
            return
        kind, x = queue.pop(0)
        pos = canvas.image_to_widget(QPointF(x, yc))
        left = Qt.MouseButton.LeftButton
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else left
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else left
        QApplication.sendEvent(canvas, QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons,
                                                   Qt.KeyboardModifier.NoModifier))

    painter = QTimer()
    painter.setInterval(16)
    painter.timeout.connect(send_next)
    for k in range(STROKES):
        queue[:] = events
        beat["stage"] = f"paint {k + 1}"
        painter.start()
        wait(lambda: not painter.isActive(), 60)
        pump(0.3)  # the release's work and the last repaint
        beat["stage"] = ""
        pump(0.5)
    hole = win.doc.mask_bool()
    rep["hole_px"] = int(hole.sum())
    note("painted")

    combo = win.panel.engine_combo
    combo.setCurrentIndex(combo.findData(engine))
    if engine == "internal":
        win.session.overrides = {"preset": "fast", "options": {"cache": False}}
    beat["stage"] = "inpaint"
    t0 = time.perf_counter()
    started = win.inpaint()
    wait(lambda: not win.is_busy(), 3600)
    rep["times"]["inpaint"] = time.perf_counter() - t0
    pump(0.3)
    beat["stage"] = ""
    rep["inpainted"] = bool(started and not win.doc.mask_bool().any() and win.doc.history.can_undo())
    note("inpainted")
    for verb in ("undo", "redo"):
        beat["stage"] = verb
        t0 = time.perf_counter()
        getattr(win, verb)()
        pump(0.3)
        rep["times"][verb] = time.perf_counter() - t0 - 0.3
        beat["stage"] = ""
        note(verb)
    heartbeat.stop()
    rep["stall_ms"] = {k: max(v) for k, v in beat["gaps"].items()}
    rep["long_paint_stalls"] = beat["long"]
    rep["peak_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report.write_text(json.dumps(rep))
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rep["inpainted"] and not errors else 1


# ---- tables ---------------------------------------------------------------------------------------------------
def _gb(n: float) -> str:
    return f"{n / GB:.2f}"


def memory_target(case: Case, decoded: int) -> tuple[float, str]:
    """(limit in bytes, how it reads) for the case's peak RSS."""
    if case.kind == "cli":
        return decoded + 1.0 * GB, "decoded + 1 GB"
    if case.kind == "material":
        return decoded + 1.5 * GB, "decoded + 1.5 GB"
    return 3.0 * decoded, "3 x decoded"


def tables(results: list[tuple[Case, Inputs, Measured, Inputs | None, Measured | None]]) -> None:
    from bench.common import print_table

    rows = []
    for case, inp, m, _ref_inp, _ref in results:
        decoded = inp.decoded[case.subject]
        limit, how = memory_target(case, decoded)
        ok = m.rc == 0
        verdict = ("pass" if m.peak <= limit else "FAIL") if ok else f"error (exit {m.rc})"
        rows.append([case.label, _gb(decoded), _gb(m.peak), _gb(m.peak - decoded), f"{how} = {_gb(limit)}",
                     verdict])
    size = results[0][1].size if results else 0
    print_table(["case", "decoded GB", "peak RSS GB", "peak - decoded GB", "target GB", "memory"], rows,
                title=f"Peak RSS at {size}x{size}, hole {HOLE_W}x{HOLE_H} px (GB = 10^9 bytes)")
    print()
    rows = []
    for case, inp, m, ref_inp, ref in results:
        if ref is None:
            continue
        whole, whole_ref = (m.wall, ref.wall) if case.kind != "app" else (_engine_time(case, m),
                                                                          _engine_time(case, ref))
        ratio = whole / whole_ref if whole_ref > 0 else float("inf")
        e_big, e_ref = (_engine_time(case, m), _engine_time(case, ref)) if case.kind != "app" else (0.0, 0.0)
        e_ratio = f"{e_big / e_ref:.2f}" if e_big and e_ref else "-"
        verdict = ("pass" if ratio <= 1.5 else "FAIL") if m.rc == 0 and ref.rc == 0 else "error"
        rows.append([case.label, f"{whole:.1f}", f"{whole_ref:.1f}", f"{ratio:.2f}", verdict,
                     f"{e_big:.1f}" if e_big else "-", f"{e_ref:.1f}" if e_ref else "-", e_ratio])
    if rows:
        ref_size = next(r[3].size for r in results if r[3] is not None)
        print_table(["case", f"{size} s", f"{ref_size} s", "ratio", "target <= 1.5x", "engine s", "engine s (ref)",
                     "engine ratio"], rows,
                    title=f"Time of the same small hole at {size} and {ref_size} px (CLI: the whole call, and "
                          "'engine': run_on_image or the material repair alone; window: Inpaint pressed to idle)")
        print()
    apps = [(c, m) for c, _i, m, _ri, _r in results if c.kind == "app" and m.report]
    if apps:
        rows = []
        for case, m in apps:
            r = m.report
            rss, hwm = r.get("rss", {}), r.get("hwm", {})
            stall = r.get("stall_ms", {})
            strokes = [stall[k] for k in sorted(stall) if k.startswith("paint")]
            paint = max(strokes) if strokes else None
            rows.append([case.label, _gb(rss.get("window", 0)),
                         f"{_gb(rss.get('opened', 0))} ({_gb(hwm.get('opened', 0))})",
                         f"{_gb(rss.get('inpainted', 0))} ({_gb(hwm.get('inpainted', 0))})",
                         f"{_gb(rss.get('redo', 0))} ({_gb(hwm.get('redo', 0))})", _gb(m.peak),
                         " / ".join(f"{v:.0f}" for v in strokes) if strokes else "-",
                         ("pass" if paint < 50 else "FAIL") if paint is not None else "-",
                         f"{stall.get('inpaint', 0):.0f}", f"{r.get('times', {}).get('open', 0):.1f}",
                         f"{max(r.get('times', {}).get('undo', 0), r.get('times', {}).get('redo', 0)):.2f}"])
        print_table(["case", "RSS empty window", "after open", "after inpaint", "after undo+redo", "peak",
                     f"paint stall ms ({STROKES} strokes)", "target < 50", "inpaint stall ms", "open s",
                     "undo/redo s"], rows,
                    title="The window: RSS after each step (peak so far) in GB, and the longest event-loop stall "
                          "(5 ms heartbeat)")
        print()


def _engine_time(case: Case, m: Measured) -> float:
    if case.kind == "app":
        return m.report.get("times", {}).get("inpaint", 0.0)
    return m.report.get("times", {}).get("engine", 0.0)


# ---- main -----------------------------------------------------------------------------------------------------
def cases_for(args) -> list[Case]:
    engines = [e for e in args.engines.split(",") if e]
    kinds = set(args.cases.split(","))
    cases = []
    if "cli" in kinds:
        cases += [Case("cli", s, e) for e in engines for s in ("rgb8", "rgba16")]
    if "material" in kinds:
        cases += [Case("material", "material", e) for e in (args.material_engines or args.engines).split(",") if e]
    if "app" in kinds:
        cases += [Case("app", "rgba16", e) for e in (args.app_engines or args.engines).split(",") if e]
    if args.only:
        cases = [c for c in cases if any(o in c.label for o in args.only.split(","))]
    return cases


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=8192, help="side of the large images (default 8192)")
    ap.add_argument("--ref-size", type=int, default=2048, help="side of the images for the time target (0: skip)")
    ap.add_argument("--engines", default="telea,internal", help="engines of the CLI cases (comma-separated)")
    ap.add_argument("--material-engines", default=None, help="engines of the material cases (default: --engines)")
    ap.add_argument("--app-engines", default=None, help="engines of the window's cases (default: --engines)")
    ap.add_argument("--cases", default="cli,material,app", help="which kinds: cli, material, app")
    ap.add_argument("--only", default=None, help="only cases whose label contains one of these (comma-separated)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    ap.add_argument("--keep", default=None, help="generate the inputs into this folder and keep them")
    ap.add_argument("--child", choices=["cli", "material", "app"], help=argparse.SUPPRESS)
    ap.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    rest: list[str] = []
    if "--" in argv:
        argv, rest = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = ap.parse_args(argv)
    if args.child in ("cli", "material"):
        return child_cli(rest, args.report)
    if args.child == "app":
        return child_app(args.image, args.engine, args.size, args.report)

    cases = cases_for(args)
    if not cases:
        raise SystemExit("no case selected")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="reweave-memory-"))
    root.mkdir(parents=True, exist_ok=True)
    kinds = {c.kind for c in cases}
    try:
        t0 = time.perf_counter()
        big = Inputs.generate(root, args.size, kinds)
        ref = Inputs.generate(root, args.ref_size, kinds) if args.ref_size else None
        print(f"inputs generated in {time.perf_counter() - t0:.0f} s under {root}; "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}", file=sys.stderr)
        results = []
        for case in cases:
            m = run_case(case, big, root, args.timeout)
            r = run_case(case, ref, root, args.timeout) if ref is not None else None
            print(f"{case.label}: exit {m.rc}, peak {_gb(m.peak)} GB, {m.wall:.1f} s"
                  + (f"; at {ref.size}: exit {r.rc}, {_gb(r.peak)} GB, {r.wall:.1f} s" if r else ""),
                  file=sys.stderr)
            for run in (m, r):
                if run is not None and run.report.get("long_paint_stalls"):
                    print(f"    paint stalls > 50 ms (stroke, mouse events still to send of {STROKE_EVENTS}, ms): "
                          f"{run.report['long_paint_stalls']}", file=sys.stderr)
                if run is not None and run.rc != 0:
                    tail = "\n    ".join(run.stderr.strip().splitlines()[-5:])
                    print(f"    {tail}", file=sys.stderr)
            results.append((case, big, m, ref, r))
        print()
        tables(results)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
