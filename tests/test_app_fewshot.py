"""Training a few-shot engine from the window: the dialog lists retrainable engines only, validates like the
CLI, trains in the background with progress and Stop (which keeps a checkpoint), and the weights it writes
become selectable in the engine panel and reach the engine's request."""
from __future__ import annotations

import time

import pytest

from core.engines.base import Capabilities
from core.fewshot.common import checkpoint_path, run_training
from app_helpers import FakeEngine, make_window, texture_u8, write_png
from test_fewshot_common import TinyTrainable

TINY_CAPS = Capabilities(title="Tiny few-shot", description="Test engine.", needs_weights=True, retrainable=True)


class SlowTrainable(TinyTrainable):
    def train_step(self, step):
        time.sleep(0.02)
        return super().train_step(step)


@pytest.fixture
def tiny_window(qtbot, settings, errors, answers):
    from core.engines.registry import Registry

    reg = Registry()
    engine = FakeEngine("tiny", TINY_CAPS)
    slow = {"on": False}

    def trainer(request):
        model = SlowTrainable(request.seed) if slow["on"] else TinyTrainable(request.seed)
        return run_training(model, request, total_steps=100_000 if slow["on"] else 40, report_every=5)

    reg.register("tiny", TINY_CAPS, lambda: engine, trainer=trainer)
    reg.register("plain", Capabilities(title="Plain", description="not trainable"),
                 lambda: FakeEngine("plain", TINY_CAPS))
    w = make_window(qtbot, settings, reg)
    w.slow = slow
    w.engine = engine
    yield w
    if w.train_dialog is not None:
        w.train_dialog.shutdown()
    w.close()


def _folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(2):
        write_png(d / f"t{i}.png", texture_u8(72, 80, 3, seed=i))
    return d


def test_train_dialog_trains_and_offers_the_weights(tiny_window, tmp_path, qtbot, errors):
    w = tiny_window
    assert w.action("train").isVisible()
    dlg = w.show_train_dialog()
    assert [dlg.engine_combo.itemData(i) for i in range(dlg.engine_combo.count())] == ["tiny"]
    dlg.folder_edit.setText(str(_folder(tmp_path)))
    out = tmp_path / "mine.safetensors"
    dlg.out_edit.setText(str(out))
    dlg.out_edit.setModified(True)
    with qtbot.waitSignal(dlg.controller.finished, timeout=20000):
        assert dlg.start()
    assert errors == [] and dlg.last_outcome.status == "done" and out.is_file()
    assert dlg.loss_plot.values  # the loss curve was drawn
    # the engine panel now offers (and has selected) the new weights; they reach the request
    combo = w.panel.engine_combo
    combo.setCurrentIndex(combo.findData("tiny"))
    weights = w.panel.field("weights")
    assert weights.currentData() == str(out)
    assert not w.inpaint_dock.loss_plot.isVisibleTo(w)  # no per-image training: no loss curve in the panel
    assert w.panel.request_kwargs()["options"] == {"weights": str(out)}
    weights.setCurrentIndex(weights.findData(""))  # back to the shipped weights: no option
    assert "options" not in w.panel.request_kwargs()


def test_train_dialog_rejects_a_bad_folder_with_one_message(tiny_window, tmp_path, errors):
    dlg = tiny_window.show_train_dialog()
    dlg.folder_edit.setText(str(tmp_path / "nope"))
    dlg.out_edit.setText(str(tmp_path / "w.safetensors"))
    assert not dlg.start()
    assert len(errors) == 1 and "not a folder" in errors[0][1]
    assert not dlg.controller.is_running() and not (tmp_path / "w.safetensors").exists()


def test_stop_during_training_keeps_a_checkpoint_and_the_app_usable(tiny_window, tmp_path, qtbot, errors):
    w = tiny_window
    w.slow["on"] = True
    dlg = w.show_train_dialog()
    dlg.folder_edit.setText(str(_folder(tmp_path)))
    out = tmp_path / "slow.safetensors"
    dlg.out_edit.setText(str(out))
    assert dlg.start()
    qtbot.waitUntil(lambda: len(dlg.loss_plot.values) > 0, timeout=20000)  # really training
    assert dlg.stop_button.isEnabled() and not dlg.start_button.isEnabled()
    t0 = time.monotonic()
    with qtbot.waitSignal(dlg.controller.finished, timeout=10000):
        dlg.stop()
    assert time.monotonic() - t0 < 2.0
    assert dlg.last_outcome.status == "stopped" and errors == []
    assert checkpoint_path(out).is_file() and not out.exists()
    assert dlg.resume.isChecked() and dlg.start_button.isEnabled()
