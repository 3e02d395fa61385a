"""Material mode in the window: opening a map folder offscreen, map switching with one shared mask, the lit
preview and its light, a joint repair through the worker (every map, known pixels exact, one undo step),
saving the set."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF

from core.io import load_image
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
    # the lit preview exists and the light follows a drag
    sp = w.material_view.shaded
    assert sp._image is not None
    before = sp.light
    c = sp._target().center()
    send_mouse(sp, QEvent.Type.MouseButtonPress, c + QPointF(-30, 20))
    qtbot.waitUntil(lambda: sp.light != before, timeout=2000)
    assert sp.light[0] < 0 and sp.light[1] < 0
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
    w.undo()
    for mm in w.doc.mapset.maps:
        assert np.array_equal(mm.image.pixels, maps[mm.name].reshape(mm.image.pixels.shape)), mm.name
    assert np.array_equal(w.doc.mask_bool(), m)
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
