"""Faults injected where they hurt: an engine that raises mid-run (RuntimeError, MemoryError) and a disk that
fills up half-way through a save, through the command line (inpaint, inpaint-material) and the window.

The guarantee each test checks: every file on disk is byte for byte what it was (no half-written output, no
temp file left behind), the open document's image, mask and undo history are what they were, and the user
gets one clear message -- on the command line a non-zero exit and exactly one ``error:`` line on stderr with
no traceback; in the window one message box through ``dialogs.show_error``.
"""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from core.engines.base import Capabilities, Event, Progress
from core.engines.options import EngineOptions
from core.engines.region import RegionEngine, RegionJob
from core.engines.registry import Registry

FAULTS = {"runtime": RuntimeError("the model diverged at step 3"), "memory": MemoryError()}
FAULTY_CAPS = Capabilities(title="Faulty", description="Raises after a few events (tests).", devices=("cpu",))


class FaultyEngine(RegionEngine):
    """A region engine that yields a few progress events and a preview, then raises ``fault``."""

    Options = EngineOptions

    def __init__(self, fault: BaseException, pause_s: float = 0.0) -> None:
        super().__init__(FAULTY_CAPS)
        self.name = "faulty"
        self.fault = fault
        self.pause_s = pause_s  # after the preview: long enough for the window to show it
        self.events = 0

    def fill(self, job: RegionJob, opts) -> Iterator[Event]:
        for step in range(3):
            yield Progress("sample", step, 5, f"step {step}")
            self.events += 1
        yield job.preview(np.full_like(job.roi, 0.5), "sample", 3, 5)
        self.events += 1
        time.sleep(self.pause_s)
        raise self.fault


def registry_with(fault: BaseException, pause_s: float = 0.0) -> tuple[Registry, FaultyEngine]:
    from core.engines import classical

    reg = Registry()
    classical.register(reg)
    engine = FaultyEngine(fault, pause_s)
    reg.register("faulty", FAULTY_CAPS, lambda: engine)
    return reg, engine


@pytest.fixture
def fault_registry(monkeypatch):
    """``use(fault)``: the command line's registry gets a 'faulty' engine raising ``fault`` (and telea)."""
    import core.engines.registry as registry_module

    def use(fault: BaseException) -> FaultyEngine:
        reg, engine = registry_with(fault)
        monkeypatch.setattr(registry_module, "default_registry", lambda: reg)
        return engine

    return use


class DiskFull:
    """Every file opened for writing through ``os.fdopen`` (core.io's atomic write) takes half of what it is
    given and then fails with ENOSPC, as a full disk would; the first ``spare`` such files are written whole."""

    def __init__(self, spare: int = 0) -> None:
        self.spare = spare
        self.partial: list[int] = []  # bytes that reached the disk in each failed file
        self.real = os.fdopen

    def install(self, monkeypatch) -> DiskFull:
        monkeypatch.setattr(os, "fdopen", self._open)
        return self

    def _open(self, fd, mode="r", *args, **kwargs):
        fh = self.real(fd, mode, *args, **kwargs)
        if "w" not in mode:
            return fh
        if self.spare > 0:
            self.spare -= 1
            return fh
        return _FillingFile(fh, self)


class _FillingFile:
    def __init__(self, fh, disk: DiskFull) -> None:
        self._fh, self._disk = fh, disk

    def write(self, data) -> int:
        raw = memoryview(data).cast("B")
        half = max(1, len(raw) // 2)
        self._fh.write(raw[:half])
        self._fh.flush()
        self._disk.partial.append(os.fstat(self._fh.fileno()).st_size)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def texture_u16(h: int = 40, w: int = 48, channels: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 3.0)[..., None] + np.cos(yy / 4.0)[..., None] + np.arange(channels)) * 9000 + 32768
    return np.clip(base + rng.integers(-3000, 3000, (h, w, channels)), 0, 65535).astype(np.uint16)


def write_image(path: Path, px: np.ndarray) -> Path:
    from core.io import ImageData, save_image

    return save_image(path, ImageData(px))


def box_mask(shape, y0=12, x0=14, y1=26, x1=32) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture
def inputs(tmp_path):
    """An RGBA 16-bit image, its mask and a previous output in ``tmp_path/work``; the folder is returned."""
    work = tmp_path / "work"
    work.mkdir()
    px = texture_u16()
    write_image(work / "photo.png", px)
    write_image(work / "mask.png", (box_mask(px.shape[:2]).astype(np.uint8) * 255)[:, :, None])
    write_image(work / "previous.png", texture_u16(seed=1))
    return work


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from core.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_error_line(stderr: str, *words: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


# ---- the command line -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("out_name", ["result.png", "previous.png", "photo.png"])
def test_cli_engine_fault_mid_run_changes_no_file(inputs, fault_registry, capsys, fault, out_name):
    engine = fault_registry(FAULTS[fault])
    before = snapshot(inputs)
    code, stdout, stderr = cli(["inpaint", inputs / "photo.png", "--mask", inputs / "mask.png",
                                "--out", inputs / out_name, "--engine", "faulty", "-q"], capsys)
    assert engine.events == 4  # the fault came mid-run, after progress and a preview
    assert code == 1
    assert stdout == ""
    line = assert_one_error_line(stderr)
    assert ("out of memory" in line) if fault == "memory" else ("the model diverged at step 3" in line)
    assert snapshot(inputs) == before


def test_cli_engine_fault_traceback_on_request(inputs, fault_registry, capsys, monkeypatch):
    fault_registry(FAULTS["runtime"])
    monkeypatch.setenv("REWEAVE_TRACEBACK", "1")
    code, _, stderr = cli(["inpaint", inputs / "photo.png", "--mask", inputs / "mask.png",
                           "--out", inputs / "result.png", "--engine", "faulty", "-q"], capsys)
    assert code == 1
    assert "Traceback" in stderr and "in fill" in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: unexpected RuntimeError: the model diverged")


@pytest.mark.parametrize("out_name", ["result.png", "previous.png", "photo.png"])
def test_cli_disk_full_half_way_through_the_save_changes_no_file(inputs, monkeypatch, capsys, out_name):
    before = snapshot(inputs)
    disk = DiskFull().install(monkeypatch)
    code, stdout, stderr = cli(["inpaint", inputs / "photo.png", "--mask", inputs / "mask.png",
                                "--out", inputs / out_name, "--engine", "telea", "-q"], capsys)
    assert len(disk.partial) == 1 and disk.partial[0] > 0  # half a file did reach the disk
    assert code == 2
    assert stdout == ""
    assert_one_error_line(stderr, f"cannot write {inputs / out_name}", os.strerror(errno.ENOSPC))
    assert snapshot(inputs) == before


def test_cli_save_works_again_once_there_is_room(inputs, capsys):
    """The same call without the fault: the output is written (so the tests above did reach the save)."""
    code, stdout, _ = cli(["inpaint", inputs / "photo.png", "--mask", inputs / "mask.png",
                           "--out", inputs / "result.png", "--engine", "telea", "-q"], capsys)
    assert code == 0 and stdout.strip() == str(inputs / "result.png")
    assert (inputs / "result.png").is_file()


@pytest.fixture
def material(tmp_path):
    """A four-map material (8-bit colour, normal, roughness; 16-bit height) and a mask, under tmp_path/work."""
    from core.material.normals import quantise_unit

    work = tmp_path / "work"
    (work / "maps").mkdir(parents=True)
    h, w = 40, 48
    rng = np.random.default_rng(3)
    write_image(work / "maps" / "basecolor.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    n = np.dstack([rng.normal(0, 0.2, (h, w)), rng.normal(0, 0.2, (h, w)), np.ones((h, w))])
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    write_image(work / "maps" / "normal.png", quantise_unit(n, 255).astype(np.uint8))
    write_image(work / "maps" / "roughness.png", rng.integers(0, 256, (h, w, 1), dtype=np.uint8))
    write_image(work / "maps" / "height.png", texture_u16(h, w, 1))
    write_image(work / "mask.png", (box_mask((h, w)).astype(np.uint8) * 255)[:, :, None])
    return work


@pytest.mark.parametrize("fault", list(FAULTS))
def test_cli_material_engine_fault_writes_nothing(material, fault_registry, capsys, fault):
    engine = fault_registry(FAULTS[fault])
    before = snapshot(material)
    code, stdout, stderr = cli(["inpaint-material", material / "maps", "--mask", material / "mask.png",
                                "--out", material / "out", "--engine", "faulty", "-q"], capsys)
    assert engine.events == 4
    assert code == 1 and stdout == ""
    assert_one_error_line(stderr)
    assert snapshot(material) == before and not (material / "out").exists()


@pytest.mark.parametrize("existing", [False, True])
def test_cli_material_disk_full_on_the_second_map_writes_nothing(material, monkeypatch, capsys, existing):
    if existing:  # an output folder from an earlier run: its maps must stay as they were
        (material / "out").mkdir()
        for p in (material / "maps").iterdir():
            (material / "out" / p.name).write_bytes(b"earlier " + p.name.encode())
    before = snapshot(material)
    disk = DiskFull(spare=1).install(monkeypatch)
    code, stdout, stderr = cli(["inpaint-material", material / "maps", "--mask", material / "mask.png",
                                "--out", material / "out", "--engine", "telea", "-q"], capsys)
    assert len(disk.partial) == 1 and disk.partial[0] > 0
    assert code == 2 and stdout == ""
    assert_one_error_line(stderr, os.strerror(errno.ENOSPC))
    assert snapshot(material) == before
    assert (material / "out").exists() == existing


# ---- the window -------------------------------------------------------------------------------------------------
def _state(doc) -> tuple:
    h = doc.history
    return (doc.image.pixels.copy(), doc.mask.copy(), doc.source.copy(), len(h), id(h.top()),
            h.undo_label() if h.can_undo() else None, h.can_redo(), doc.is_dirty())


def assert_same_state(doc, state: tuple) -> None:
    now = _state(doc)
    assert np.array_equal(now[0], state[0]), "image changed"
    assert np.array_equal(now[1], state[1]), "mask changed"
    assert np.array_equal(now[2], state[2]), "source area changed"
    assert now[3:] == state[3:], "undo history or the unsaved flag changed"


@pytest.fixture
def open_window(qtbot, settings, errors, answers, inputs):
    """``open_window(registry=None)``: a window with inputs/photo.png and its mask painted as one undo step."""
    from app_helpers import make_window

    windows = []

    def make(registry=None):
        w = make_window(qtbot, settings, registry)
        windows.append(w)
        assert w.open_path(inputs / "photo.png")
        w.doc.set_mask(box_mask(w.doc.shape), "test mask")
        return w

    yield make
    for w in windows:
        if w.controller.is_running():
            w.controller.stop()
            w.controller.wait(10)
        w.close()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_app_engine_fault_mid_run_leaves_the_document(open_window, inputs, errors, qtbot, fault):
    from app.imaging import rgba_premultiplied, to_display8
    from app_helpers import select_engine, wait_idle

    reg, engine = registry_with(FAULTS[fault], pause_s=0.5)
    window = open_window(reg)
    select_engine(window, "faulty")
    state, files = _state(window.doc), snapshot(inputs)
    previews = []
    window.controller.preview.connect(lambda _f: previews.append(window.canvas.has_preview()))
    with qtbot.waitSignal(window.controller.finished, timeout=20000):
        assert window.inpaint()
    wait_idle(qtbot, window)
    assert engine.events == 4 and previews == [True]  # the preview was on the canvas before the fault
    assert len(errors) == 1
    title, message = errors[0]
    assert title == ("Out of memory" if fault == "memory" else "The engine failed")
    assert "unchanged" in message
    assert fault == "memory" or "the model diverged at step 3" in message
    assert_same_state(window.doc, state)
    assert snapshot(inputs) == files
    assert not window.canvas.has_preview()  # the half-made fill is gone from the canvas
    assert np.array_equal(window.canvas._image.array, rgba_premultiplied(to_display8(window.doc.image.pixels)))
    assert window.inpaint_dock.stage_label.text() == "Failed"
    assert window.action("inpaint").isEnabled() and window.canvas.editable
    window.undo()  # the history still works: the mask step undoes
    assert not window.doc.has_mask()


@pytest.mark.parametrize("target", ["same file", "save as"])
def test_app_disk_full_half_way_through_the_save_leaves_file_and_document(open_window, inputs, errors, qtbot,
                                                                         monkeypatch, target):
    from app_helpers import select_engine

    window = open_window()
    select_engine(window, "telea")
    with qtbot.waitSignal(window.controller.finished, timeout=20000):
        assert window.inpaint()
    assert window.doc.is_dirty() and not errors
    state, files = _state(window.doc), snapshot(inputs)
    disk = DiskFull().install(monkeypatch)
    saved = window.save() if target == "same file" else window.save_as(inputs / "copy.png")
    assert not saved
    assert len(disk.partial) == 1 and disk.partial[0] > 0
    assert len(errors) == 1
    title, message = errors[0]
    assert title == "Cannot save" and os.strerror(errno.ENOSPC) in message
    assert snapshot(inputs) == files
    assert_same_state(window.doc, state)
    assert window.doc.is_dirty() and window.isWindowModified()
    assert window.doc.path == inputs / "photo.png"
    monkeypatch.setattr(os, "fdopen", disk.real)  # room again: the same save now works
    assert window.save() and not window.doc.is_dirty()
