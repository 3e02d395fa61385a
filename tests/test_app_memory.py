"""The window's memory on large images (issue #26): edits cost what they touch, not the image.

A brush drag saves only the layer's tiles it reaches (one undo step holding the stroke's rectangle), whole-layer
scans are replaced by running counts, the opened pixels are kept only where an inpaint changed them, the mask
overlays share the layers' memory, and an engine gets float pixels of the part of the image it reads only.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from app.brush import fill_polygon, fill_rect, stamp_segment
from app.document import Document
from app.history import MASK, SOURCE, LayerEdit, Originals, changed_rect
from app.image_run import ImageEngine, whole_float
from core.engines.base import InpaintRequest, Result, last_result
from core.engines.registry import default_registry
from core.io import ImageData, to_float
from core.masks import Box


def _scan_bounds(layer: np.ndarray):
    rows, cols = np.flatnonzero(layer.any(axis=1)), np.flatnonzero(layer.any(axis=0))
    return None if rows.size == 0 else (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)


def _contains(outer, inner) -> bool:
    return inner is None or (outer is not None and outer[0] <= inner[0] and outer[1] <= inner[1]
                             and inner[2] <= outer[2] and inner[3] <= outer[3])


def _peak_bytes(fn) -> int:
    """The most memory (tracemalloc: numpy's buffers included) ``fn`` held at once beyond what it started with."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# ---- the undo record of a drag ----------------------------------------------------------------------------------
def test_layer_edit_restores_exactly_what_a_random_drag_overwrote():
    rng = np.random.default_rng(3)
    layer = rng.integers(0, 256, (300, 257), dtype=np.uint8)
    start = layer.copy()
    edit = LayerEdit(MASK, layer, tile=16)
    for _ in range(40):
        y0, x0 = int(rng.integers(-10, 300)), int(rng.integers(-10, 257))
        rect = (y0, x0, y0 + int(rng.integers(1, 40)), x0 + int(rng.integers(1, 40)))
        edit.save(rect)
        layer[max(0, rect[0]):rect[2], max(0, rect[1]):rect[3]] = rng.integers(0, 256, dtype=np.uint8)
    rect, before, after = edit.finish()
    assert rect == changed_rect(start, layer)
    ys, xs = slice(rect[0], rect[2]), slice(rect[1], rect[3])
    assert np.array_equal(before, start[ys, xs]) and np.array_equal(after, layer[ys, xs])


def test_a_brush_drag_on_a_large_layer_copies_only_its_rectangle():
    side = 4096
    doc = Document(ImageData(np.zeros((side, side, 3), np.uint8)))
    doc.mask[1000:1100, 1000:1100] = 200  # painted before: the drag goes over part of it
    doc._stats[MASK].recount(doc.mask)
    before = doc.mask.copy()
    points = [(900.0 + 12 * i, 1050.0 + 3 * i) for i in range(30)]

    def drag():
        doc.begin_mask_edit(MASK)
        for a, b in zip(points, points[1:]):
            stamp_segment(doc.mask, a, b, 40, 0.6, prepare=doc.will_change)
        assert doc.end_mask_edit("Brush stroke")

    held = _peak_bytes(drag)
    assert held < side * side // 20  # a press-to-release drag holds well under a twentieth of the 16 MB layer
    step = doc.history.top()
    expected = changed_rect(before, doc.mask)
    assert step.mask.rect == expected and step.mask.shape == (expected[2] - expected[0], expected[3] - expected[1])
    after = doc.mask.copy()
    assert doc.undo() and np.array_equal(doc.mask, before)
    assert doc.redo() and np.array_equal(doc.mask, after)


def test_rect_and_lasso_tools_save_only_their_rectangle():
    doc = Document(ImageData(np.zeros((2048, 2048, 3), np.uint8)))
    doc.begin_mask_edit(MASK)
    rect = fill_rect(doc.mask, (100.0, 200.0), (140.0, 230.0), prepare=doc.will_change)
    assert doc._edit.bounds == rect and len(doc._edit.tiles) <= 4
    assert doc.end_mask_edit("Rectangle")
    doc.begin_mask_edit(MASK)
    fill_polygon(doc.mask, [(120.0, 210.0), (135.0, 215.0), (125.0, 228.0)], erase=True, prepare=doc.will_change)
    assert doc.end_mask_edit("Subtract lasso")
    assert doc.history.top().mask.rect[0] >= 210 and doc.history.top().mask.rect[2] <= 229
    assert doc.undo() and doc.mask[212:226, 122:133].min() == 255


# ---- running counts instead of scans ------------------------------------------------------------------------------
def test_layer_counts_and_bounds_follow_every_kind_of_edit():
    rng = np.random.default_rng(5)
    doc = Document(ImageData(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)))

    def check():
        for name in (MASK, SOURCE):
            layer = doc.layer(name)
            assert doc._has(name) == bool((layer > 127).any()), name
            assert _contains(doc.layer_bounds(name), _scan_bounds(layer)), name
            assert doc._stats[name].inked == np.count_nonzero(layer)

    check()
    for i in range(12):
        name = (MASK, SOURCE)[i % 2]
        doc.begin_mask_edit(name)
        a = (float(rng.uniform(0, 160)), float(rng.uniform(0, 120)))
        b = (float(rng.uniform(0, 160)), float(rng.uniform(0, 120)))
        stamp_segment(doc.layer(name), a, b, float(rng.uniform(2, 30)), float(rng.uniform(0, 1)),
                      erase=i % 5 == 4, prepare=doc.will_change)
        doc.end_mask_edit("stroke")
        check()
    hole = doc.mask_bool()
    if hole.any():
        box = Box(*_scan_bounds(hole))
        doc.apply_pixels((box.y0, box.x0, box.y1, box.x1), np.zeros((box.height, box.width, 3), np.uint8), "fill")
        check()
    cleared = doc.source.copy() if doc.source.any() else None
    doc.clear_layer("Clear source area", SOURCE)
    check()
    assert doc.layer_bounds(SOURCE) is None and not doc.source.any()
    if cleared is not None:
        assert doc.history.undo_label() == "Clear source area" and doc.undo()
        assert np.array_equal(doc.source, cleared) and doc.redo()
    doc.set_mask(np.ones(doc.shape, bool), "Fill the mask")
    check()
    while doc.undo():
        check()
    while doc.redo():
        check()


# ---- the opened pixels, kept where they changed -------------------------------------------------------------------
def test_originals_keep_overlapping_changes_and_give_back_the_opened_image():
    rng = np.random.default_rng(9)
    px = rng.integers(0, 65535, (90, 110, 4), dtype=np.uint16)
    opened = px.copy()
    kept = Originals()
    for _ in range(8):
        y0, x0 = int(rng.integers(0, 80)), int(rng.integers(0, 100))
        rect = (y0, x0, min(90, y0 + int(rng.integers(1, 40))), min(110, x0 + int(rng.integers(1, 40))))
        kept.keep(px, rect)
        px[rect[0]:rect[2], rect[1]:rect[3]] = rng.integers(0, 65535, dtype=np.uint16)
    assert np.array_equal(kept.whole(px), opened)
    assert np.array_equal(kept.region(px, (10, 20, 60, 90)), opened[10:60, 20:90])
    assert kept.differs(px) and kept.nbytes < opened.nbytes * 3


def test_document_keeps_no_second_copy_of_the_image():
    px = np.zeros((1024, 1024, 4), np.uint16)
    held = _peak_bytes(lambda: Document(ImageData(px)))
    assert held < px.nbytes // 2  # the two 1 MB layers, not the 8 MB pixels again
    doc = Document(ImageData(px))
    doc.apply_pixels((10, 20, 30, 60), np.full((20, 40, 4), 7, np.uint16), "fill")
    assert doc.originals.nbytes == 20 * 40 * 8
    assert not doc.original_region((0, 0, 1024, 1024)).any()


# ---- the request --------------------------------------------------------------------------------------------------
@pytest.fixture
def big16():
    rng = np.random.default_rng(2)
    h, w = 1024, 1536
    yy, xx = np.mgrid[0:h, 0:w]
    px = np.empty((h, w, 4), np.uint16)
    for c in range(4):
        px[:, :, c] = (20000 + 15000 * np.sin(xx / (7.0 + c) + yy / 11.0)).astype(np.uint16)
    px += rng.integers(0, 500, px.shape, dtype=np.uint16)
    px[:, :, 3] = 65535  # opaque: what the screen shows is the colour itself
    mask = np.zeros((h, w), bool)
    mask[500:530, 700:760] = True
    return ImageData(px), mask


def test_the_engine_gets_floats_of_the_region_it_reads_and_fills_as_on_the_whole(big16):
    img, mask = big16
    engine = default_registry().get("telea")
    wrapped = ImageEngine(engine, img)
    request = InpaintRequest(image=img.pixels, mask=mask, preset="fast")
    inner, box = wrapped.engine_request(request)
    assert box is not None and inner.image.dtype == np.float32
    assert inner.image.shape == (box.height, box.width, 4) and box.height * box.width < mask.size // 50
    assert np.array_equal(inner.image, to_float(img, box)) and inner.gray is False
    assert np.array_equal(np.concatenate(list(inner.whole_rows())), to_float(img))  # band by band, all of it
    held = _peak_bytes(lambda: last_result(wrapped.run(request)))
    assert held < img.pixels.nbytes // 2  # no whole-image float (25 MB here): the region and a band of rows
    result = last_result(wrapped.run(request))
    assert result.base is None and result.box.y0 >= box.y0 and result.box.x1 <= box.x1
    whole = last_result(engine.run(InpaintRequest(image=to_float(img), mask=mask, preset="fast")))
    rect = Box(500, 700, 530, 760)
    assert np.array_equal(result.crop(rect), whole.crop(rect))


@pytest.mark.parametrize("name,overrides", [("patchmatch", {}),
                                            ("internal", {"train_steps": 3, "steps": 2,
                                                          "options": {"cache": False}})])
def test_every_cropping_engine_fills_as_on_the_whole_image(name, overrides, torch_threads_1):
    rng = np.random.default_rng(4)
    px = np.clip(rng.normal(120, 30, (700, 760, 3)), 0, 255).astype(np.uint8)
    img = ImageData(px)
    mask = np.zeros((700, 760), bool)
    mask[300:320, 400:430] = True
    kw = {"preset": "fast", "seed": 3, **overrides}
    wrapped = ImageEngine(default_registry().get(name), img)
    inner, box = wrapped.engine_request(InpaintRequest(image=px, mask=mask, **kw))
    assert box is not None and box.height * box.width < mask.size * 0.7
    cropped = last_result(wrapped.run(InpaintRequest(image=px, mask=mask, **kw)))
    whole = last_result(default_registry().get(name).run(InpaintRequest(image=to_float(img), mask=mask, **kw)))
    rect = Box(300, 400, 320, 430)
    assert np.array_equal(cropped.crop(rect), whole.crop(rect))


def test_an_engine_that_reads_everything_gets_one_whole_float(big16):
    img, mask = big16

    class ReadsAll:
        name = "all"
        capabilities = None

        def run(self, request):
            self.request = request
            yield Result(request.image[500:530, 700:760].copy(), Box(500, 700, 530, 760), base=request.image)

    inner = ReadsAll()
    held = _peak_bytes(lambda: last_result(ImageEngine(inner, img).run(InpaintRequest(image=img.pixels,
                                                                                       mask=mask))))
    whole = img.height * img.width * 4 * 4
    assert whole <= held < whole * 1.25  # one whole float and the bands' small change
    assert np.array_equal(inner.request.image, to_float(img)) and inner.request.gray is False
    assert np.array_equal(whole_float(img), to_float(img))


def test_gray_is_decided_on_the_whole_image(big16):
    img, mask = big16
    gray = img.pixels.copy()
    gray[:, :, 1] = gray[:, :, 2] = gray[:, :, 0]
    engine = ImageEngine(default_registry().get("telea"), ImageData(gray))
    inner, _ = engine.engine_request(InpaintRequest(image=gray, mask=mask))
    assert inner.gray is True
    gray[5, 5, 1] += 3000  # one tinted pixel far from the hole, outside the region
    inner, box = engine.engine_request(InpaintRequest(image=gray, mask=mask))
    assert not (box.y0 <= 5 < box.y1 and box.x0 <= 5 < box.x1) and inner.gray is False


# ---- the window ---------------------------------------------------------------------------------------------------
def test_window_on_a_16bit_image_paints_inpaints_and_compares_within_its_memory(qtbot, window, tmp_path, errors,
                                                                                big16):
    from app_helpers import drag, select_engine, wait_idle, write_png

    img, _ = big16
    path = write_png(tmp_path / "big16.png", img.pixels)
    assert window.open_path(path)
    doc, c = window.doc, window.canvas
    assert doc.image.dtype == np.uint16
    request_seen = []
    window.controller.started.connect(lambda: request_seen.append(window.controller._run.request))
    c.set_brush_size(30)
    held = _peak_bytes(lambda: drag(c, [(700.0, 510.0), (730.0, 515.0), (760.0, 520.0)]))
    assert held < doc.mask.nbytes // 4  # press, moves, release: no copy of the 1.5 MB layer
    painted = doc.mask.copy()
    assert len(doc.history) == 1 and doc.history.top().mask.rect == changed_rect(np.zeros_like(painted), painted)
    # the overlay is drawn from the layer itself: the stroke's middle is tinted pink on screen
    shot = c.grab().toImage()
    p = c.image_to_widget(QPointF(730.0, 515.0)).toPoint()
    dpr = shot.devicePixelRatio()
    tinted = shot.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
    c.overlays[MASK].visible = False
    plain = c.grab().toImage().pixelColor(int(p.x() * dpr), int(p.y() * dpr))
    c.overlays[MASK].visible = True
    assert tinted.red() - tinted.green() > plain.red() - plain.green() + 40
    select_engine(window, "telea")
    with qtbot.waitSignal(window.controller.finished, timeout=30000):
        assert window.inpaint()
    wait_idle(qtbot, window)
    assert not errors
    req = request_seen[-1]
    assert req.image is doc.image.pixels  # the native pixels, not a float copy
    assert not doc.has_mask()
    hole = painted > 127
    assert np.array_equal(doc.image.pixels[~hole], img.pixels[~hole])
    assert (doc.image.pixels[hole] != img.pixels[hole]).any()
    y0, x0, y1, x1 = changed_rect(np.zeros_like(painted), painted)
    assert doc.originals.nbytes == (y1 - y0) * (x1 - x0) * 8  # the hole's box only, kept as it was opened
    # holding Tab shows the opened pixels in the hole again (at 100 %: one screen pixel per image pixel)
    c.zoom_at(1.0 / c.devicePixelRatioF(), c.image_to_widget(QPointF(730.5, 515.5)), absolute=True)
    c.leaveEvent(None)  # no brush outline over the pixels looked at

    def shown_at(x: int, y: int) -> tuple[int, int, int]:
        shot = c.grab().toImage()
        q = c.image_to_widget(QPointF(x + 0.5, y + 0.5)) * shot.devicePixelRatio()
        color = shot.pixelColor(int(q.x()), int(q.y()))
        return color.red(), color.green(), color.blue()

    QApplication.sendEvent(c, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier))
    assert c.showing_original()
    then = shown_at(730, 515), shown_at(600, 300)
    QApplication.sendEvent(c, QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier))
    now = shown_at(730, 515), shown_at(600, 300)
    assert then[0] == tuple(int(v) for v in img.pixels[515, 730, :3] >> 8)
    assert now[0] == tuple(int(v) for v in doc.image.pixels[515, 730, :3] >> 8) != then[0]
    assert then[1] == now[1]  # outside what the inpaint changed: the same picture
    # undo and redo: exact, and the result is the same merge of the engine's fill
    result = doc.image.pixels.copy()
    window.undo()
    assert np.array_equal(doc.image.pixels, img.pixels) and np.array_equal(doc.mask, painted)
    window.redo()
    assert np.array_equal(doc.image.pixels, result) and not doc.has_mask()
