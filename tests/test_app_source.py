"""The sampling area (the document's second mask layer, "Source"): painted with the same tools while its
layer is on, undone and redone like the mask, imported and exported, shown as its own overlay, sent to the
engines that take it and only to them; and the reference images of the engine panel."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF

from app.history import MASK, SOURCE
from app.mask_tools import Tool
from app.references import to_channels
from app_helpers import FakeEngine, drag, make_window, select_engine, send_mouse, texture_u8, write_png
from core.engines.base import Capabilities
from core.engines.registry import Registry
from core.io import load_mask


@pytest.fixture
def opened(window, rgb_file):
    assert window.open_path(rgb_file[0])
    window.canvas.set_brush_size(8)
    window.canvas.set_hardness(100)
    return window


def _two_engines() -> tuple[Registry, dict[str, FakeEngine]]:
    """``taker`` learns from the sampling area and reference images; ``plain`` takes neither."""
    reg = Registry()
    engines = {}
    for name, caps in (("taker", Capabilities(title="Taker", description="takes all", trains_per_image=True,
                                              supports_source=True, supports_references=True)),
                       ("plain", Capabilities(title="Plain", description="takes none"))):
        engines[name] = FakeEngine(name, caps)
        reg.register(name, caps, lambda e=engines[name]: e)
    return reg, engines


def _run(qtbot, w, engine: FakeEngine):
    with qtbot.waitSignal(w.controller.finished, timeout=10000):
        assert w.inpaint()
    return engine.requests[-1]


def test_painting_on_the_source_layer_changes_only_the_source(opened):
    w, c, doc = opened, opened.canvas, opened.doc
    assert not doc.has_source() and c.layer == MASK  # off and empty by default
    w.action("source_layer").trigger()
    assert c.layer == SOURCE and w.action("source_layer").isChecked()
    drag(c, [(10.5, 20.5), (40.5, 20.5)])
    assert doc.source_bool()[20, 10:41].all() and doc.has_source()
    assert not doc.mask.any()
    assert doc.history.undo_label() == "Source area stroke" and len(doc.history) == 1
    c.set_tool(Tool.RECT)
    drag(c, [(2.0, 30.0), (12.0, 40.0)])
    assert doc.source_bool()[32, 5] and not doc.mask.any()
    # the overlays differ: the hole is pink, the sampling area teal
    src_px = c.overlays[SOURCE].pixel(20, 20)
    assert src_px[3] > 0 and src_px[1] > src_px[0]
    assert not c.overlays[MASK].pixel(20, 20).any()
    # back to the mask: the same tools paint the hole again, the source stays
    w.action("source_layer").trigger()
    assert c.layer == MASK
    source = doc.source.copy()
    c.set_tool(Tool.BRUSH)
    drag(c, [(10.5, 10.5), (20.5, 10.5)])
    assert doc.mask_bool()[10, 15] and np.array_equal(doc.source, source)
    mask_px = c.overlays[MASK].pixel(10, 15)
    assert mask_px[0] > mask_px[1]
    c.grab()  # both overlays and the layer badge paint without error


def test_undo_redo_restore_both_layers_exactly(opened):
    w, c, doc = opened, opened.canvas, opened.doc
    states = [(doc.mask.copy(), doc.source.copy())]
    drag(c, [(5.5, 5.5), (30.5, 12.5)])  # mask
    states.append((doc.mask.copy(), doc.source.copy()))
    w.set_source_layer(True)
    c.set_hardness(40)
    drag(c, [(20.5, 30.5), (50.5, 40.5)])  # source, soft
    states.append((doc.mask.copy(), doc.source.copy()))
    c.set_tool(Tool.ERASER)
    drag(c, [(30.5, 30.5), (30.5, 45.5)])  # erase part of the source
    states.append((doc.mask.copy(), doc.source.copy()))
    w.clear_source()
    states.append((doc.mask.copy(), doc.source.copy()))
    assert not doc.has_source() and doc.mask.any()
    assert len(doc.history) == 4 and doc.history.undo_label() == "Clear source area"
    for mask, source in reversed(states[:-1]):
        w.action("undo").trigger()
        assert np.array_equal(doc.mask, mask) and np.array_equal(doc.source, source)
    for mask, source in states[1:]:
        w.action("redo").trigger()
        assert np.array_equal(doc.mask, mask) and np.array_equal(doc.source, source)
    # the overlay follows an undo too
    w.undo()
    assert c.overlays[SOURCE].pixel(35, 40)[3] > 0


def test_request_carries_the_source_only_when_painted_and_taken(qtbot, settings, errors, answers, rgb_file):
    reg, engines = _two_engines()
    w = make_window(qtbot, settings, reg)
    w.open_path(rgb_file[0])
    w.doc.set_mask(np.pad(np.ones((10, 10), bool), ((5, 33), (5, 41))), "hole")
    select_engine(w, "taker")
    assert "source" not in _run(qtbot, w, engines["taker"]).options  # empty layer: today's behaviour
    assert not w.panel.source_note.isVisibleTo(w)
    w.doc.set_mask(np.pad(np.ones((10, 10), bool), ((5, 33), (5, 41))), "hole again")
    area = np.zeros(w.doc.shape, bool)
    area[25:45, 20:50] = True
    w.doc.set_mask(area, "source", SOURCE)
    req = _run(qtbot, w, engines["taker"])
    assert req.options["source"].dtype == bool and np.array_equal(req.options["source"], area)
    assert w.panel.source_note.isVisibleTo(w) and "ignores" not in w.panel.source_note.text()
    # an engine that does not take it gets no source, and the panel says so
    select_engine(w, "plain")
    assert w.panel.source_note.isVisibleTo(w) and "ignores the sampling area" in w.panel.source_note.text()
    w.doc.set_mask(np.pad(np.ones((10, 10), bool), ((5, 33), (5, 41))), "hole once more")
    assert "source" not in _run(qtbot, w, engines["plain"]).options
    assert not errors
    w.clear_source()
    assert not w.panel.source_note.isVisibleTo(w)
    w.close()


def test_patchmatch_copies_only_from_the_sampling_area(window, tmp_path, qtbot, errors):
    px = texture_u8(48, 56)
    px[:, 40:] = (10, 200, 30)  # a flat green strip on the right
    window.open_path(write_png(tmp_path / "strip.png", px))
    select_engine(window, "patchmatch")
    hole = np.zeros(window.doc.shape, bool)
    hole[15:30, 10:25] = True
    window.doc.set_mask(hole, "hole")
    area = np.zeros(window.doc.shape, bool)
    area[:, 42:] = True
    window.doc.set_mask(area, "source", SOURCE)
    with qtbot.waitSignal(window.controller.finished, timeout=20000):
        assert window.inpaint()
    assert not errors
    assert (window.doc.image.pixels[hole] == (10, 200, 30)).all()  # only the strip's colour
    assert np.array_equal(window.doc.image.pixels[~hole], px[~hole])


def test_unusable_sampling_area_is_the_engines_message_and_loses_nothing(window, rgb_file, qtbot, errors):
    window.open_path(rgb_file[0])
    select_engine(window, "patchmatch")
    hole = np.zeros(window.doc.shape, bool)
    hole[10:30, 10:30] = True
    window.doc.set_mask(hole, "hole")
    window.doc.set_mask(hole, "source inside the hole", SOURCE)  # no known pixel to copy from
    mask, source = window.doc.mask.copy(), window.doc.source.copy()
    with qtbot.waitSignal(window.controller.finished, timeout=20000):
        window.inpaint()
    assert len(errors) == 1 and "no known pixels" in errors[0][1]
    assert np.array_equal(window.doc.image.pixels, rgb_file[1])
    assert np.array_equal(window.doc.mask, mask) and np.array_equal(window.doc.source, source)


def test_source_import_export_and_a_file_of_another_size(opened, write_mask, tmp_path, errors):
    w, doc = opened, opened.doc
    m = np.zeros(doc.shape, bool)
    m[4:20, 30:50] = True
    assert w.import_source(write_mask(m, "area.png"))
    assert np.array_equal(doc.source_bool(), m) and not doc.mask.any()
    assert doc.history.undo_label() == "Import source area"
    assert w.export_source(tmp_path / "area_out")  # no extension: .png
    assert np.array_equal(load_mask(tmp_path / "area_out.png"), m)
    steps = len(doc.history)
    assert not w.import_source(write_mask(np.ones((10, 12), bool), "small.png"))
    assert len(errors) == 1 and errors[0][0] == "Cannot import the source area"
    assert "12x10" in errors[0][1] and "source area must have the same size" in errors[0][1]
    assert np.array_equal(doc.source_bool(), m) and len(doc.history) == steps and not doc.mask.any()
    w.undo()
    assert not doc.has_source()


def test_source_overlay_visibility_is_remembered(qtbot, settings, errors, answers, rgb_file):
    w = make_window(qtbot, settings)
    assert w.canvas.source_visible and w.action("show_source").isChecked()
    w.action("show_source").trigger()
    assert not w.canvas.source_visible
    w.close()
    w2 = make_window(qtbot, settings)
    assert not w2.canvas.source_visible and not w2.action("show_source").isChecked()
    w2.open_path(rgb_file[0])
    w2.action("source_layer").trigger()  # painting the layer shows it
    assert w2.canvas.source_visible
    w2.close()


def test_reference_reaches_the_request_in_the_images_channel_count(qtbot, settings, errors, answers, tmp_path,
                                                                   image_files):
    reg, engines = _two_engines()
    w = make_window(qtbot, settings, reg)
    refs = w.panel.references
    select_engine(w, "taker")
    assert w.panel.references_box.isVisibleTo(w)
    w.open_path(image_files["rgb8"][0])
    w.doc.set_mask(np.pad(np.ones((8, 8), bool), ((4, 36), (4, 28))), "hole")
    assert refs.add_files([image_files["gray16"][0]])
    assert refs.list.count() == 1 and "Reference images (1)" in w.panel.references_box.text()
    req = _run(qtbot, w, engines["taker"])
    (ref,) = req.options["references"]
    gray = image_files["gray16"][1].astype(np.float32) / 65535
    assert ref.dtype == np.float32 and ref.shape == (48, 40, 3)
    assert np.allclose(ref, np.repeat(gray.reshape(48, 40, 1), 3, axis=2))  # gray repeated into RGB
    assert req.options["own_share"] == 0.5
    refs.share.setValue(30)
    w.doc.set_mask(np.pad(np.ones((8, 8), bool), ((4, 36), (4, 28))), "hole again")
    assert _run(qtbot, w, engines["taker"]).options["own_share"] == pytest.approx(0.3)
    # an RGBA image gets the RGB reference with an opaque alpha, the gray one too
    assert refs.add_files([image_files["rgb8"][0]])
    w.open_path(image_files["rgba8"][0])
    assert refs.count() == 2  # the list lasts the session, across images
    w.doc.set_mask(np.pad(np.ones((8, 8), bool), ((4, 36), (4, 28))), "hole")
    req = _run(qtbot, w, engines["taker"])
    assert [r.shape[2] for r in req.options["references"]] == [4, 4]
    assert all((r[:, :, 3] == 1).all() for r in req.options["references"])
    # an engine that learns from no references: no section, no option
    select_engine(w, "plain")
    assert not w.panel.references_box.isVisibleTo(w)
    assert "references" not in w.panel.request_kwargs().get("options", {})
    # remove
    select_engine(w, "taker")
    refs.list.item(0).setSelected(True)
    refs.remove_selected()
    assert refs.count() == 1 and refs.list.count() == 1 and "rgb8" in refs.list.item(0).text()
    assert not errors
    w.close()


def test_a_bad_reference_file_is_one_message_and_the_list_stays(qtbot, settings, errors, answers, tmp_path,
                                                               image_files):
    reg, _ = _two_engines()
    w = make_window(qtbot, settings, reg)
    refs = w.panel.references
    assert refs.add_files([image_files["rgb8"][0]])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    assert not refs.add_files([image_files["gray8"][0], bad])
    assert len(errors) == 1 and errors[0][0] == "Cannot add the reference image" and "broken.png" in errors[0][1]
    assert refs.count() == 1 and refs.list.count() == 1
    w.close()


def test_channel_conversion_only_where_nothing_is_lost():
    rng = np.random.default_rng(0)
    gray, ga, rgb, rgba = (rng.random((5, 6, c), dtype=np.float32) for c in (1, 2, 3, 4))
    assert np.array_equal(to_channels(gray, 3), np.repeat(gray, 3, axis=2))
    out = to_channels(gray, 4)
    assert np.array_equal(out[:, :, :3], np.repeat(gray, 3, axis=2)) and (out[:, :, 3] == 1).all()
    out = to_channels(ga, 4)
    assert np.array_equal(out[:, :, :3], np.repeat(ga[:, :, :1], 3, axis=2))
    assert np.array_equal(out[:, :, 3], ga[:, :, 1])
    out = to_channels(rgb, 4)
    assert np.array_equal(out[:, :, :3], rgb) and (out[:, :, 3] == 1).all() and out.dtype == np.float32
    for values, channels in ((rgb, 1), (rgba, 3), (ga, 3), (rgb, 3), (rgb, 7)):
        assert to_channels(values, channels) is values  # left to the engine to judge


def test_material_mode_paints_a_source_and_takes_no_reference_images(qtbot, settings, errors, answers, tmp_path):
    folder = tmp_path / "Stone"
    folder.mkdir()
    write_png(folder / "Stone_BaseColor.png", texture_u8(40, 48, 3, seed=1))
    write_png(folder / "Stone_Roughness.png", texture_u8(40, 48, 1, seed=2))
    reg, engines = _two_engines()
    w = make_window(qtbot, settings, reg)
    select_engine(w, "taker")
    assert w.panel.references.add_files([write_png(tmp_path / "ref.png", texture_u8(40, 48, 3))])
    assert w.open_path(folder) and w.mode is w.material_mode
    # the panel shows the (empty) list of reference map sets instead; the image list waits, hidden
    assert not w.panel.references.isVisibleTo(w) and w.panel.reference_sets.isVisibleTo(w)
    assert w.panel.references_box.text() == "Reference map sets" and w.panel.references.count() == 1
    assert w.action("source_layer").isEnabled()
    w.set_source_layer(True)
    w.canvas.set_brush_size(6)
    drag(w.canvas, [(30.5, 20.5), (40.5, 20.5)])
    assert w.doc.has_source() and not w.doc.mask.any()
    w.material_view.tabs.setCurrentIndex(1)  # another map: the same layer
    assert w.doc.has_source()
    w.doc.set_mask(np.pad(np.ones((6, 6), bool), ((4, 30), (4, 38))), "hole")
    req = _run(qtbot, w, engines["taker"])
    assert np.array_equal(req.options["source"], w.doc.source_bool())  # every map's run takes the area
    assert "references" not in req.options and "own_share" not in req.options
    w.close()


def test_source_layer_switch_mid_drag_finishes_the_stroke(opened):
    c, doc = opened.canvas, opened.doc
    send_mouse(c, QEvent.Type.MouseButtonPress, c.image_to_widget(QPointF(10.5, 10.5)))
    opened.set_source_layer(True)  # e.g. the S key while painting
    assert doc.mask.any() and len(doc.history) == 1 and not doc.has_source()
