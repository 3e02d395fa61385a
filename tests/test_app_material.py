"""Material mode in the window: opening a map folder offscreen, map switching with one shared mask, the lit
preview and its light, a joint repair through the worker (every map, known pixels exact, one undo step),
saving the set."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt

from app.lit_preview import Light, preview_mapset
from core.io import load_image
from core.material import render, shading_inputs
from app_helpers import fake_registry, make_window, select_engine, send_mouse, texture_u8, write_png


@pytest.fixture
def material_dir(tmp_path):
    d = tmp_path / "Brick_2K"
    d.mkdir()
    h, w = 40, 48
    maps = {
        "Brick_BaseColor.png": texture_u8(h, w, 3, seed=1),
        "Brick_NormalGL.png": np.dstack([np.full((h, w), 128, np.uint8), np.full((h, w), 128, np.uint8),
                                         np.full((h, w), 255, np.uint8)]),
        "Brick_Roughness.png": texture_u8(h, w, 1, seed=2),
    }
    for name, px in maps.items():
        write_png(d / name, px)
    return d, maps


def test_open_material_folder_tabs_shared_mask_and_lit_preview(qtbot, settings, errors, answers, material_dir):
    folder, maps = material_dir
    w = make_window(qtbot, settings)
    assert w.open_path(folder)  # a folder opens in material mode
    assert w.mode is w.material_mode and not errors
    assert w.material_view.tabs.isVisibleTo(w) and w.material_view.tabs.count() == 3
    assert w.material_view.dock.isVisibleTo(w)
    assert "Base colour" in w.material_view.tabs.tabText(0)
    m = np.zeros((40, 48), bool)
    m[10:20, 12:30] = True
    w.doc.set_mask(m, "mask")
    w.material_view.tabs.setCurrentIndex(2)
    assert w.doc.image is w.doc.mapset.maps[2].image and w.doc.image.channels == 1
    assert np.array_equal(w.doc.mask_bool(), m)  # the mask is shared by every map
    assert w.canvas._image.qimage.width() == 48
    # the lit preview: with no repair yet both sides show the original, under the same light
    lit = w.material_view.lit
    assert lit.current_caption.text() == "Current (no repair yet)"
    original, current = lit.frame("original"), lit.frame("current")
    assert original is not None and np.array_equal(original, current)
    w.close()


def test_joint_repair_changes_every_map_and_undoes_as_one_step(qtbot, settings, errors, answers, material_dir,
                                                              tmp_path):
    folder, maps = material_dir
    reg, engine = fake_registry(with_builtin=True)
    w = make_window(qtbot, settings, reg)
    select_engine(w, "fake")
    w.open_path(folder)
    m = np.zeros((40, 48), bool)
    m[10:20, 12:30] = True
    w.doc.set_mask(m, "mask")
    w.material_view.tabs.setCurrentIndex(1)
    frames = []
    w.controller.preview.connect(frames.append)
    with qtbot.waitSignal(w.controller.finished, timeout=20000):
        assert w.inpaint()
    assert not errors, errors
    assert engine.requests[-1].image.shape[2] >= 4  # the maps went in stacked, as one request
    assert frames  # previews of the map on screen
    for mm in w.doc.mapset.maps:
        orig = maps[mm.name]
        px = mm.image.pixels
        assert np.array_equal(px[~m], orig.reshape(px.shape)[~m]), mm.name
    base = w.doc.mapset.maps[0].image.pixels
    assert not np.array_equal(base[m], maps["Brick_BaseColor.png"][m])
    assert w.doc.is_dirty() and not w.doc.mask.any()
    # the lit preview now shows the result beside the original, both under the light the user drags
    lit = w.material_view.lit
    qtbot.waitUntil(lambda: lit.current_caption.text() == "Result", timeout=2000)
    assert not np.array_equal(lit.frame("original"), lit.frame("current"))
    _drag_light(qtbot, lit, lit.current_view, (0.5, -0.3))
    _assert_same_light(lit, w.doc)
    w.undo()
    for mm in w.doc.mapset.maps:
        assert np.array_equal(mm.image.pixels, maps[mm.name].reshape(mm.image.pixels.shape)), mm.name
    assert np.array_equal(w.doc.mask_bool(), m)
    qtbot.waitUntil(lambda: lit.current_caption.text() == "Current (no repair yet)", timeout=2000)
    assert np.array_equal(lit.frame("original"), lit.frame("current"))
    w.redo()
    # saving: into another folder, same names; never over the input folder
    out = tmp_path / "repaired"
    assert w.save_as(out)  # material mode: the maps go into a folder
    assert sorted(p.name for p in out.iterdir()) == sorted(maps)
    assert np.array_equal(load_image(out / "Brick_BaseColor.png").pixels, w.doc.mapset.maps[0].image.pixels)
    assert not w.doc.is_dirty()
    assert not w.save_as(folder)
    assert errors and errors[-1][0] == "Cannot save the material"
    w.close()


def test_bad_material_folder_is_one_message(qtbot, settings, errors, answers, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    write_png(d / "wall_diffuse.png", texture_u8(32, 32))
    write_png(d / "wall_normal.png", texture_u8(16, 16))
    w = make_window(qtbot, settings)
    assert not w.files.open_in(w.material_mode, d)
    assert len(errors) == 1 and "same size" in errors[0][1]
    assert w.doc is None or w.mode is not w.material_mode
    w.close()


def _drag_light(qtbot, lit, view, to: tuple[float, float]) -> None:
    """Press at the centre of ``view``'s render and drag to the disc point ``to`` (x right, y up)."""
    before = {k: lit.frame(k) for k in ("original", "current")}
    light = lit.light
    t = view.target()
    send_mouse(view, QEvent.Type.MouseButtonPress, t.center())
    end = t.center() + QPointF(to[0] * t.width() / 2, -to[1] * t.height() / 2)
    for f in (0.25, 0.5, 0.75, 1.0):
        send_mouse(view, QEvent.Type.MouseMove, t.center() + (end - t.center()) * f, Qt.MouseButton.NoButton)
    send_mouse(view, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: lit.light != light and all(not np.array_equal(lit.frame(k), before[k])
                                                       for k in before), timeout=2000)  # both renders changed


def _assert_same_light(lit, doc) -> None:
    """Each view shows its maps rendered under the panel's one light, and draws that light."""
    direction = lit.light.direction()
    for key, mapset in (("original", doc.original_mapset()), ("current", doc.mapset)):
        expected = np.rint(np.clip(render(shading_inputs(preview_mapset(mapset)), direction), 0, 1) * 255)
        assert np.array_equal(lit.frame(key)[:, :, :3], expected.astype(np.uint8)), key
    assert lit.original_view.light == lit.current_view.light == lit.light


def test_lit_preview_light_follows_a_drag_in_either_view(qtbot, settings, errors, answers, material_dir):
    folder, _ = material_dir
    w = make_window(qtbot, settings)
    w.open_path(folder)
    lit = w.material_view.lit
    assert lit.light == Light(45.0, 55.0)
    _drag_light(qtbot, lit, lit.original_view, (-0.5, -0.4))
    assert 180 < lit.light.azimuth < 270 and 30 < lit.light.elevation < 60  # down-left, fairly high
    assert f"azimuth {lit.light.azimuth:.0f}°" in lit.light_label.text()
    _assert_same_light(lit, w.doc)
    _drag_light(qtbot, lit, lit.current_view, (0.0, 2.0))  # beyond the rim: grazing light from the top
    assert lit.light.azimuth == 90.0 and lit.light.elevation == 5.0
    _assert_same_light(lit, w.doc)
    w.close()


def test_trackball_light():
    assert Light.from_disc_point(0, 0).elevation == 90.0
    x, y, z = Light.from_disc_point(0.6, 0.0).direction()
    assert abs(x - 0.6) < 1e-3 and abs(y) < 1e-6 and abs(z - 0.8) < 1e-3  # a point of the hemisphere
    assert Light.from_disc_point(-1, 0).azimuth == 180.0
    assert Light(30.0, 40.0).disc_point() == Light.from_disc_point(*Light(30.0, 40.0).disc_point()).disc_point()


def test_big_material_is_previewed_on_a_downscaled_copy(qtbot, settings, errors, answers, tmp_path):
    from app.lit_preview import PREVIEW_SIDE

    d = tmp_path / "Big"
    d.mkdir()
    write_png(d / "Big_BaseColor.png", texture_u8(600, 520, 3, seed=3))
    write_png(d / "Big_Roughness.png", texture_u8(600, 520, 1, seed=4))
    w = make_window(qtbot, settings)
    assert w.open_path(d)
    lit = w.material_view.lit
    h, wd = lit.preview_size()
    assert max(h, wd) == PREVIEW_SIDE and abs(wd / h - 520 / 600) < 0.01
    assert 0 < lit.render_ms < 1000  # measured for every update (both renders)
    w.close()
