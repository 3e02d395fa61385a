"""Files: mask import/export round trip, corrupt input, saving keeps format and bit depth, the
unsaved-changes prompt, recent files, drag and drop, settings, and the --screenshot command."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from app import gui
from core.io import load_image, load_mask
from app_helpers import drag, fake_registry, make_window, select_engine, texture_u8, write_png


def test_mask_import_export_round_trip(window, rgb_file, write_mask, tmp_path):
    path, _ = rgb_file
    window.open_path(path)
    m = np.zeros(window.doc.shape, bool)
    m[5:20, 8:30] = True
    m[30:, 40:] = True
    assert window.import_mask(write_mask(m, "in_mask.png"))
    assert np.array_equal(window.doc.mask_bool(), m)
    assert window.doc.history.undo_label() == "Import mask"
    out = tmp_path / "out_mask.png"
    assert window.export_mask(out)
    assert np.array_equal(load_mask(out), m)
    # a soft painted mask exports as what the engines get (coverage > 127)
    window.canvas.set_hardness(0)
    window.canvas.set_brush_size(15)
    drag(window.canvas, [(45.0, 10.0), (50.0, 12.0)])
    assert window.export_mask(tmp_path / "soft")  # no extension: .png
    assert np.array_equal(load_mask(tmp_path / "soft.png"), window.doc.mask_bool())


def test_mask_of_another_size_is_refused(window, rgb_file, write_mask, errors):
    window.open_path(rgb_file[0])
    before = window.doc.mask.copy()
    assert not window.import_mask(write_mask(np.ones((10, 10), bool), "small.png"))
    assert errors and "same size" in errors[0][1]
    assert np.array_equal(window.doc.mask, before)


def test_corrupt_file_shows_error_and_keeps_current_image(window, rgb_file, tmp_path, errors):
    path, px = rgb_file
    window.open_path(path)
    window.doc.set_mask(np.ones(window.doc.shape, bool), "m")
    doc = window.doc
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    assert not window.open_path(bad)
    assert len(errors) == 1 and errors[0][0] == "Cannot open" and "broken.png" in errors[0][1]
    assert window.doc is doc and np.array_equal(doc.image.pixels, px) and doc.mask.all()
    assert not window.open_path(tmp_path / "missing.png")
    assert len(errors) == 2 and window.doc is doc


def test_save_keeps_16_bit_and_format(qtbot, settings, errors, answers, tmp_path):
    reg, _ = fake_registry()
    w = make_window(qtbot, settings, reg)
    px = (texture_u8(32, 40).astype(np.uint16) * 257 + 3)
    src = write_png(tmp_path / "deep.png", px)
    w.open_path(src)
    assert w.info_label.text().endswith("16-bit")
    m = np.zeros(w.doc.shape, bool)
    m[4:12, 6:20] = True
    w.doc.set_mask(m, "m")
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        w.inpaint()
    assert w.doc.is_dirty()
    out = tmp_path / "deep_fixed.tif"
    assert w.save_as(out)
    back = load_image(out)
    assert back.dtype == np.uint16 and np.array_equal(back.pixels[~m], px[~m])
    assert np.all(back.pixels[m] == 13107)  # 0.2 * 65535, the fake engine's fill at 16-bit precision
    assert not w.doc.is_dirty() and w.doc.path == out
    # 16-bit into JPEG would lose depth: one clear message, nothing written
    assert not w.save_as(tmp_path / "deep.jpg")
    assert errors and "8-bit" in errors[-1][1] and not (tmp_path / "deep.jpg").exists()
    # plain Save writes back in place (atomic: no temp files left)
    w.undo()
    assert w.save()
    assert np.array_equal(load_image(out).pixels, px)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    w.close()


def _dirty_window(qtbot, settings, tmp_path):
    reg, _ = fake_registry()
    w = make_window(qtbot, settings, reg)
    a = write_png(tmp_path / "a.png", texture_u8(seed=1))
    w.open_path(a)
    m = np.zeros(w.doc.shape, bool)
    m[2:6, 2:6] = True
    w.doc.set_mask(m, "m")
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        w.inpaint()
    assert w.doc.is_dirty()
    return w


def test_unsaved_changes_prompt_on_open_and_close(qtbot, settings, errors, answers, tmp_path):
    w = _dirty_window(qtbot, settings, tmp_path)
    doc = w.doc
    b = write_png(tmp_path / "b.png", texture_u8(seed=2))
    answers.append("cancel")
    assert not w.open_path(b)
    assert answers.asked == ["a.png"] and w.doc is doc
    answers.append("save")
    assert w.open_path(b)  # saved a.png in place, then opened b.png
    assert w.doc.path.name == "b.png"
    assert np.array_equal(load_image(tmp_path / "a.png").pixels, doc.image.pixels)
    # closing: cancel keeps the window open
    m = np.zeros(w.doc.shape, bool)
    m[2:6, 2:6] = True
    w.doc.set_mask(m, "m")
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        w.inpaint()
    answers.append("cancel")
    assert not w.close() and w.isVisible()
    answers.append("discard")
    assert w.close()


def test_recent_files_and_settings_are_remembered(qtbot, settings, errors, answers, tmp_path):
    w = make_window(qtbot, settings)
    a = write_png(tmp_path / "a.png", texture_u8(seed=1))
    b = write_png(tmp_path / "b.png", texture_u8(seed=2))
    w.open_path(a)
    w.open_path(b)
    assert [os.path.basename(p) for p in w.files.recent_files()] == ["b.png", "a.png"]
    actions = [x for x in w.files.recent_menu.actions() if x.text() == "a.png"]
    actions[0].trigger()
    assert w.doc.path.name == "a.png"
    w.canvas.set_brush_size(77)
    select_engine(w, "telea")
    w.close()
    w2 = make_window(qtbot, settings)
    assert w2.canvas.brush_size == 77 and w2.size_slider.value() == 77
    assert w2.panel.engine_name() == "telea"
    assert w2.files.recent_files()[0].endswith("a.png")
    assert w2.settings.value("files/last_folder") == str(tmp_path.resolve())
    w2.close()


def test_drag_and_drop_opens_or_imports_mask(window, rgb_file, tmp_path, qtbot, write_mask):
    window.open_path(rgb_file[0])
    other = write_png(tmp_path / "dropped.png", texture_u8(seed=9))

    def drop(path, modifiers=Qt.KeyboardModifier.NoModifier):
        md = QMimeData()
        md.setUrls([QUrl.fromLocalFile(str(path))])
        ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, modifiers)
        window.dropEvent(ev)

    drop(other)
    qtbot.waitUntil(lambda: window.doc.path.name == "dropped.png", timeout=3000)
    m = np.zeros(window.doc.shape, bool)
    m[1:9, 3:7] = True
    drop(write_mask(m, "drop_mask.png"), Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.doc.has_mask(), timeout=3000)
    assert np.array_equal(window.doc.mask_bool(), m) and window.doc.path.name == "dropped.png"


def test_gray_and_alpha_images_open_and_display(window, image_files):
    for name in ("gray16", "rgba8", "rgba16_tif"):
        path, px = image_files[name]
        assert window.open_path(path)
        assert np.array_equal(window.doc.image.pixels, px)
        window.canvas.grab()


def test_screenshot_in_process_writes_png_of_window_size(qapp, tmp_path, rgb_file, write_mask):
    path, _ = rgb_file
    m = np.zeros((48, 56), bool)
    m[10:20, 10:30] = True
    out = tmp_path / "shot.png"
    assert gui.launch(["--screenshot", str(out), str(path), "--mask", str(write_mask(m))]) == 0
    img = QImage(str(out))
    assert (img.width(), img.height()) == gui.SCREENSHOT_SIZE


def test_screenshot_command_line(tmp_path, repo_root):
    out = tmp_path / "cli_shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "main.py", "--screenshot", str(out), "resources/sample.png", "--mask",
                        "resources/sample_mask.png"], cwd=repo_root, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == gui.SCREENSHOT_SIZE
    bad = subprocess.run([sys.executable, "main.py", "--screenshot", str(tmp_path / "x.png"),
                          str(tmp_path / "nope.png")],
                         cwd=repo_root, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
