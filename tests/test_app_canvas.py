"""Canvas and mask tools: strokes set exactly the expected pixels, eraser, brush keys, rectangle/lasso,
undo/redo exactness and memory bound, zoom/pan, the compare views."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.mask_tools import Tool
from app.history import History, Patch, Step
from app_helpers import drag, segment_distance, send_mouse


@pytest.fixture
def opened(window, rgb_file):
    path, _ = rgb_file
    assert window.open_path(path)
    window.canvas.set_brush_size(8)
    window.canvas.set_hardness(100)
    return window


def test_brush_stroke_sets_expected_pixels(opened):
    c, doc = opened.canvas, opened.doc
    p0, p1 = (10.3, 20.2), (40.7, 24.1)
    drag(c, [p0, (25.0, 22.0), p1])
    d = np.minimum(segment_distance(doc.shape, p0, (25.0, 22.0)), segment_distance(doc.shape, (25.0, 22.0), p1))
    m = doc.mask_bool()
    assert m[d <= 3.9].all()
    assert not m[d >= 4.1].any()
    assert len(doc.history) == 1  # one drag = one step


def test_eraser_clears_painted_pixels(opened):
    c, doc = opened.canvas, opened.doc
    drag(c, [(10.5, 20.5), (40.5, 20.5)])
    assert doc.mask_bool()[20, 20]
    c.set_tool(Tool.ERASER)
    assert opened.action("tool_eraser").isChecked()
    drag(c, [(5.5, 20.5), (45.5, 20.5)])
    d = segment_distance(doc.shape, (5.5, 20.5), (45.5, 20.5))
    assert not doc.mask_bool()[d <= 3.9].any()
    assert not doc.mask.any()  # the eraser is as wide as the brush: nothing left


def test_soft_brush_keeps_coverage_but_threshold_decides(opened):
    c, doc = opened.canvas, opened.doc
    c.set_hardness(0)
    drag(c, [(28.0, 24.0)])
    cov = doc.mask
    assert cov.max() > 200 and 0 < cov[cov > 0].min() < 128  # a soft edge
    assert doc.mask_bool().sum() == (cov > 127).sum()


def test_bracket_keys_change_brush_size_and_hardness(opened, qtbot):
    c = opened.canvas
    c.set_brush_size(40)
    qtbot.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size > 40
    assert opened.size_slider.value() == c.brush_size
    big = c.brush_size
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    assert c.brush_size < big
    c.set_hardness(50)
    qtbot.keyClick(c, Qt.Key.Key_BraceRight, Qt.KeyboardModifier.ShiftModifier)
    assert c.hardness == 60
    assert opened.settings.value("brush/hardness") in (60, "60")


def test_undo_redo_restore_exact_masks(opened):
    c, doc = opened.canvas, opened.doc
    states = [doc.mask.copy()]
    drag(c, [(5.5, 5.5), (30.5, 12.5)])
    states.append(doc.mask.copy())
    c.set_hardness(30)
    drag(c, [(20.5, 30.5), (50.5, 40.5)])
    states.append(doc.mask.copy())
    c.set_tool(Tool.ERASER)
    drag(c, [(15.5, 8.5), (25.5, 35.5)])
    states.append(doc.mask.copy())
    opened.invert_mask()
    states.append(doc.mask.copy())
    assert len(doc.history) == 4
    for want in reversed(states[:-1]):
        opened.action("undo").trigger()
        assert np.array_equal(doc.mask, want)
    assert not opened.action("undo").isEnabled()
    for want in states[1:]:
        opened.action("redo").trigger()
        assert np.array_equal(doc.mask, want)
    # a new edit after undo forgets the redo branch
    opened.undo()
    drag(c, [(1.5, 1.5)])
    assert not doc.history.can_redo()


def test_history_is_bounded_and_stores_diffs():
    h = History(budget_bytes=4000)
    rng = np.random.default_rng(0)
    for i in range(50):
        old = rng.integers(0, 255, (10, 10), dtype=np.uint8)
        new = rng.integers(0, 255, (10, 10), dtype=np.uint8)
        h.push(Step(f"s{i}", mask=Patch.capture((0, 0, 10, 10), old, new)))
    assert h.nbytes <= 4000 and 0 < len(h) < 50
    assert h.undo_label() == "s49"
    # a stroke on a big mask stores only its rectangle, compressed
    from app.document import Document
    from core.io import ImageData

    doc = Document(ImageData(np.zeros((2000, 2000, 3), np.uint8)))
    doc.begin_mask_edit()
    doc.will_change((100, 200, 120, 260))
    doc.mask[100:120, 200:260] = 255
    doc.end_mask_edit("stroke")
    assert doc.history.top().mask.rect == (100, 200, 120, 260)
    assert doc.history.nbytes < 2000


def test_rectangle_and_lasso_fill_and_subtract(opened):
    c, doc = opened.canvas, opened.doc
    c.set_tool(Tool.RECT)
    drag(c, [(10.0, 10.0), (20.0, 15.0), (30.0, 25.0)])
    m = doc.mask_bool()
    assert m[10:25, 10:30].all() and m.sum() == 15 * 20
    drag(c, [(12.0, 12.0), (16.0, 16.0)], modifiers=Qt.KeyboardModifier.AltModifier)
    assert not doc.mask_bool()[12:16, 12:16].any() and doc.mask_bool().sum() == 300 - 16
    c.set_tool(Tool.LASSO)
    opened.clear_mask()
    drag(c, [(30.0, 5.0), (50.0, 5.0), (50.0, 25.0), (30.0, 25.0), (30.0, 5.0)])
    m = doc.mask_bool()
    assert m[7:23, 32:48].all() and not m[:, :28].any() and not m[28:, :].any()
    assert doc.history.undo_label() == "Lasso"


def test_tools_locked_while_busy_but_view_works(opened):
    c, doc = opened.canvas, opened.doc
    c.set_editable(False)
    drag(c, [(10.5, 10.5), (30.5, 10.5)])
    assert not doc.mask.any()
    before = c.scale()
    c.zoom_in()
    assert c.scale() > before


def test_zoom_around_cursor_fit_and_actual_size(opened):
    c = opened.canvas
    anchor = c.image_to_widget(QPointF(12.0, 30.0))
    ev = QWheelEvent(anchor, c.mapToGlobal(anchor), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    s0 = c.scale()
    QApplication.sendEvent(c, ev)
    assert c.scale() > s0 * 1.3
    back = c.widget_to_image(anchor)
    assert abs(back.x() - 12.0) < 1e-6 and abs(back.y() - 30.0) < 1e-6
    c.actual_size()
    assert abs(c.zoom_percent() - 100.0) < 1e-6
    assert opened.zoom_label.text() == "100 %"
    c.fit()
    h, w = opened.doc.shape
    r = c.image_to_widget_rect(QRectF_(0, 0, w, h))
    assert r.left() >= 0 and r.top() >= 0 and r.right() <= c.width() and r.bottom() <= c.height()


def QRectF_(*a):
    from PySide6.QtCore import QRectF

    return QRectF(*a)


def test_pan_with_middle_button_and_space(opened, qtbot):
    c = opened.canvas
    start = c.image_to_widget(QPointF(20, 20))
    drag_to = start + QPointF(37, -11)
    send_mouse(c, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.MiddleButton, Qt.MouseButton.MiddleButton)
    send_mouse(c, QEvent.Type.MouseMove, drag_to, Qt.MouseButton.NoButton, Qt.MouseButton.MiddleButton)
    send_mouse(c, QEvent.Type.MouseButtonRelease, drag_to, Qt.MouseButton.MiddleButton, Qt.MouseButton.NoButton)
    p = c.widget_to_image(drag_to)
    assert abs(p.x() - 20) < 1e-6 and abs(p.y() - 20) < 1e-6
    # Space + left drag pans and does not paint
    QApplication.sendEvent(c, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " "))
    drag(c, [(10.0, 10.0), (30.0, 10.0)])
    QApplication.sendEvent(c, QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " "))
    assert not opened.doc.mask.any()


def test_hold_tab_shows_original_and_split_handle_drags(opened):
    c = opened.canvas
    QApplication.sendEvent(c, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier))
    assert c.showing_original()
    QApplication.sendEvent(c, QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier))
    assert not c.showing_original()
    opened.action("split").trigger()
    assert c.split() == 0.5
    h, w = opened.doc.shape
    drag(c, [(w * 0.5, h * 0.5), (w * 0.25, h * 0.5)])
    assert abs(c.split() - 0.25) < 1e-6
    assert not opened.doc.mask.any()  # dragging the handle does not paint
    c.grab()  # paints the split view without error


def test_mask_visibility_toggle(opened):
    opened.action("show_mask").trigger()
    assert not opened.canvas.mask_visible
    opened.action("show_mask").trigger()
    assert opened.canvas.mask_visible
