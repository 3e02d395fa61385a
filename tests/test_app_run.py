"""Running engines from the window: telea through the worker, Stop during a real internal-engine run,
variants, previews, failures as message boxes, and the panel built only from capabilities."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.imaging import rgba_premultiplied, to_display8
from app.run_session import StageClock, fmt_seconds
from core.engines.base import Capabilities
from core.engines.registry import Registry
from app_helpers import FakeEngine, fake_registry, make_window, select_engine, texture_u8, wait_idle, write_png


def _paint_box(window, y0, x0, y1, x1):
    m = np.zeros(window.doc.shape, bool)
    m[y0:y1, x0:x1] = True
    window.doc.set_mask(m, "test mask")
    return m


def test_telea_through_worker_puts_result_on_canvas(window, rgb_file, qtbot):
    path, px = rgb_file
    window.open_path(path)
    mask = _paint_box(window, 10, 12, 30, 34)
    select_engine(window, "telea")
    with qtbot.waitSignal(window.controller.finished, timeout=20000):
        assert window.inpaint()
    assert not window.is_busy()
    out = window.doc.image.pixels
    assert np.array_equal(out[~mask], px[~mask])  # known pixels bit-exact
    assert not np.array_equal(out[mask], px[mask])  # the hole was filled
    assert not window.doc.mask.any()  # applying clears the mask (same undo step)
    shown = window.canvas._image.array
    assert np.array_equal(shown, rgba_premultiplied(to_display8(out)))  # the canvas shows the result
    assert window.doc.is_dirty() and window.isWindowModified()
    window.undo()
    assert np.array_equal(window.doc.image.pixels, px) and np.array_equal(window.doc.mask_bool(), mask)
    assert not window.doc.is_dirty()
    window.redo()
    assert np.array_equal(window.doc.image.pixels[~mask], px[~mask]) and not window.doc.mask.any()


def test_stop_during_internal_run_returns_to_idle_image_unchanged(window, tmp_path, qtbot, torch_threads_1):
    px = texture_u8(48, 48, 3, seed=3)
    path = write_png(tmp_path / "small.png", px)
    window.open_path(path)
    mask = _paint_box(window, 16, 16, 28, 30)
    mask_before = window.doc.mask.copy()
    select_engine(window, "internal")
    window.session.overrides = {"preset": "fast", "train_steps": 5000, "steps": 5,
                                "options": {"cache": False, "preview_every": 0.0}}
    losses = []
    window.controller.loss.connect(losses.append)
    assert window.inpaint()
    assert window.is_busy() and not window.action("inpaint").isEnabled() and window.inpaint_dock.stop_button.isEnabled()
    qtbot.waitUntil(lambda: len(losses) >= 1, timeout=30000)  # really training
    assert window.inpaint_dock.loss_plot.values
    t0 = time.monotonic()
    window.inpaint_dock.stop_button.click()
    wait_idle(qtbot, window, 10000)
    assert time.monotonic() - t0 < 5
    assert window.controller.stop_requested_at is not None  # Stop went through the worker
    assert np.array_equal(window.doc.image.pixels, px)
    assert np.array_equal(window.doc.mask, mask_before)
    assert window.inpaint_dock.stage_label.text() == "Stopped"
    assert window.action("inpaint").isEnabled() and not window.inpaint_dock.stop_button.isEnabled()
    assert not window.canvas.has_preview() and window.canvas.editable
    assert len(window.doc.history) == 1  # only the test's mask step
    assert mask.any()


def test_internal_short_run_previews_variants_and_undo(window, tmp_path, qtbot, torch_threads_1):
    px = texture_u8(40, 40, 3, seed=5)
    path = write_png(tmp_path / "tiny.png", px)
    window.open_path(path)
    mask = _paint_box(window, 14, 14, 24, 26)
    select_engine(window, "internal")
    window.session.overrides = {"preset": "fast", "train_steps": 10, "steps": 3, "variants": 2,
                                "options": {"cache": False, "preview_every": 0.0}}
    frames = []
    window.controller.preview.connect(frames.append)
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        window.inpaint()
    assert frames and frames[-1].rgba.shape[2] == 4  # sampling previews reached the canvas
    assert window.inpaint_dock.variants.count() == 2
    first = window.doc.image.pixels.copy()
    assert np.array_equal(first[~mask], px[~mask])
    window.inpaint_dock.variants.setCurrentRow(1)
    second = window.doc.image.pixels.copy()
    assert np.array_equal(second[~mask], px[~mask]) and not np.array_equal(second, first)
    assert len(window.doc.history) == 2  # mask + one result step, amended by the variant pick
    window.undo()
    assert np.array_equal(window.doc.image.pixels, px)


def test_fake_engine_variants_preview_and_request(qtbot, settings, errors, answers, rgb_file):
    reg, engine = fake_registry()
    w = make_window(qtbot, settings, reg)
    path, px = rgb_file
    w.open_path(path)
    mask = _paint_box(w, 5, 5, 15, 20)
    w.panel.field("variants").setValue(3)
    w.panel.field("seed").setValue(1234)
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        w.inpaint()
    req = engine.requests[-1]
    assert req.seed == 1234 and req.variants == 3
    assert req.image.dtype == np.float32 and req.image.shape == (48, 56, 3) and np.array_equal(req.mask, mask)
    assert w.inpaint_dock.variants.count() == 3
    assert np.all(w.doc.image.pixels[mask] == 51)  # variant 0 = 0.2 -> 51
    w.inpaint_dock.variants.setCurrentRow(2)
    assert np.all(w.doc.image.pixels[mask] == 204)  # 0.8
    assert np.array_equal(w.doc.image.pixels[~mask], px[~mask])
    # painting again over the result and running again works
    _paint_box(w, 30, 30, 40, 40)
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        w.inpaint()
    assert np.all(w.doc.image.pixels[30:40, 30:40] == 51) and np.all(w.doc.image.pixels[mask] == 204)
    w.close()


@pytest.mark.parametrize("exc,title", [(RuntimeError("boom"), "The engine failed"),
                                       (MemoryError(), "Out of memory"),
                                       (RuntimeError("CUDA out of memory. Tried to allocate"), "Out of memory")])
def test_engine_failure_is_a_message_box_and_keeps_everything(qtbot, settings, errors, answers, rgb_file, exc, title):
    reg, _ = fake_registry(fail=exc)
    w = make_window(qtbot, settings, reg)
    path, px = rgb_file
    w.open_path(path)
    _paint_box(w, 5, 5, 15, 20)
    mask_before = w.doc.mask.copy()
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        w.inpaint()
    assert [t for t, _ in errors] == [title]
    assert np.array_equal(w.doc.image.pixels, px) and np.array_equal(w.doc.mask, mask_before)
    assert not w.is_busy() and w.action("inpaint").isEnabled()
    w.close()


def test_inpaint_without_mask_explains(window, rgb_file, errors):
    window.open_path(rgb_file[0])
    assert not window.inpaint()
    assert errors and errors[0][0] == "Nothing to fill"


def test_user_error_from_engine_has_its_message(window, rgb_file, errors, qtbot):
    window.open_path(rgb_file[0])
    window.doc.set_mask(np.ones(window.doc.shape, bool), "all")
    select_engine(window, "telea")
    select_engine(window, "internal")
    window.session.overrides = {"train_steps": 1, "steps": 1}
    with qtbot.waitSignal(window.controller.finished, timeout=10000):
        window.inpaint()
    assert errors and errors[0][0] == "Cannot inpaint" and "whole image" in errors[0][1]


def test_panel_is_built_from_capabilities_only(qtbot, settings, errors, answers, tmp_path):
    reg = Registry()
    plain = Capabilities(title="Plain", description="no options", instant=True)
    rich = Capabilities(title="Rich", description="all options", trains_per_image=True, samplers=("a", "b"),
                        default_sampler="b", presets=("fast", "best"), supports_seed=True, supports_variants=True,
                        supports_steps=True, harmonizes_seams=True, recipes=("patch", "noise"),
                        devices=("cpu", "cuda"))
    gray = Capabilities(title="Gray only", description="one channel", max_channels=1)
    for name, caps in (("plain", plain), ("rich", rich), ("gray", gray)):
        reg.register(name, caps, lambda n=name, c=caps: FakeEngine(n, c))
    w = make_window(qtbot, settings, reg)
    p = w.panel
    assert [p.engine_combo.itemText(i) for i in range(p.engine_combo.count())] == ["Plain", "Rich", "Gray only"]
    assert p.engine_name() == "rich"  # the default: the first engine that learns from the image
    fields = ("preset", "sampler", "steps", "seed", "variants", "device", "train_steps", "seam", "recipe")
    assert {n for n in fields if p.field(n) is not None} == set(fields)
    p.field("preset").setCurrentIndex(p.field("preset").findData("best"))
    p.field("sampler").setCurrentIndex(p.field("sampler").findData("a"))
    p.field("steps").setValue(12)
    p.field("train_steps").setValue(34)
    p.field("device").setCurrentIndex(p.field("device").findData("cpu"))
    assert p.request_kwargs() == {"preset": "best", "sampler": "a", "steps": 12, "seed": 0, "variants": 1,
                                  "device": "cpu", "train_steps": 34}  # seam and recipe "auto": no option sent
    p.field("seam").setCurrentIndex(p.field("seam").findData("off"))
    assert p.request_kwargs()["options"] == {"seam": "off"}  # recipe "auto": the engine picks, no option sent
    assert [p.field("recipe").itemData(i) for i in range(p.field("recipe").count())] == ["", "patch", "noise"]
    p.field("recipe").setCurrentIndex(p.field("recipe").findData("noise"))
    assert p.request_kwargs()["options"] == {"seam": "off", "recipe": "noise"}
    select_engine(w, "plain")
    assert all(p.field(n) is None for n in fields)
    assert p.request_kwargs() == {}
    assert not p.advanced.isVisibleTo(w)
    # choices are remembered per engine
    select_engine(w, "rich")
    assert p.field("steps").value() == 12 and p.field("preset").currentData() == "best"
    assert p.field("seam").currentData() == "off"
    # an engine that cannot take this image's channels cannot be started, and says why
    path = write_png(tmp_path / "c.png", texture_u8())
    w.open_path(path)
    select_engine(w, "gray")
    button = w.inpaint_dock.inpaint_button
    assert not button.isEnabled() and "at most 1 channels" in button.toolTip()
    w.close()


def test_progress_shows_stage_and_time_left(qtbot, settings, errors, answers, rgb_file):
    from core.engines.base import Progress

    hold = threading.Event()
    reg, _ = fake_registry(hold=hold)
    w = make_window(qtbot, settings, reg)
    w.open_path(rgb_file[0])
    _paint_box(w, 5, 5, 15, 20)
    assert w.inpaint()
    # while the engine waits, progress arrives as the worker reports it
    w.controller.progress.emit(Progress("train", 0, 100))
    w.controller.progress.emit(Progress("train", 50, 100))
    dock = w.inpaint_dock
    assert "Training" in dock.stage_label.text() and "50/100" in dock.stage_label.text()
    assert dock.eta_label.text() == "0 s left"  # 50 steps took no time: the other 50 take none either
    assert dock.progress.maximum() == 100 and dock.progress.value() == 50
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        hold.set()
    w.close()


def test_time_left_follows_the_pace_of_the_current_stage():
    from core.engines.base import Progress

    clock = StageClock()
    assert clock.seconds_left(Progress("train", 0, 100), now=100.0) is None  # no pace yet
    left = clock.seconds_left(Progress("train", 50, 100), now=110.0)
    assert f"{fmt_seconds(left)} left" == "10 s left"
    assert clock.seconds_left(Progress("sample", 0, 20), now=111.0) is None  # a new stage starts over
    assert fmt_seconds(clock.seconds_left(Progress("sample", 5, 20), now=131.0)) == "1:00"


def test_warm_up_takes_startup_objects_out_of_the_collector():
    """A full gc pass over torch + Qt's objects holds the GIL for 100-200 ms: frozen, they are not scanned."""
    import gc

    from app.worker import warm_up_engines

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        warm_up_engines().join(120)
        assert gc.get_freeze_count() > 50_000  # torch alone leaves far more tracked objects than this
    finally:
        gc.unfreeze()  # leave the test process as it was
