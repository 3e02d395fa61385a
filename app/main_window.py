"""The main window: the composition of Reweave's pieces.

    canvas            app.canvas          the image, the mask layers' overlays, previews, zoom and pan
                      app.mask_tools      its mask tools: brush, eraser, rectangle, lasso (on either layer)
                      app.compare         its compare views: hold Tab, the split line
    Inpaint dock      app.inpaint_dock    engine settings (references: app.references), Inpaint/Stop,
                                          progress, loss curve, variants
    material view     app.material_view   map tabs and the Material dock (lit preview), material mode only
    modes             app.modes           what differs between one image and a map set (open, show, save, run)
    files             app.files           open, save, mask import/export, recent files, drag and drop
    run session       app.run_session     starting a run, its events, results and variants
    actions           app.actions         every action, menu and toolbar entry, declared as tables

The window builds them, lays them out, keeps the layout, brush and theme in the settings, and offers the
verbs that the actions, ``app.gui`` and scripts call (``open_path``, ``inpaint``, ``save``, ``undo``...).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QSizePolicy, QToolBar, QVBoxLayout, QWidget
from superqt import QLabeledSlider

from app import theme
from app.actions import MAIN_TOOLBAR, TOOLS, TOOLS_TOOLBAR, ActionSet, UiState, build_menus
from app.canvas import Canvas
from app.mask_tools import MAX_BRUSH, Tool
from app.document import Document
from app.history import MASK, SOURCE
from app.files import FileActions
from app.inpaint_dock import InpaintDock
from app.material_view import MaterialView
from app.modes import DocumentMode, ImageMode, MaterialMode
from app.run_session import RunSession
from app.worker import RunController
from core.engines.registry import Registry, default_registry

APP_NAME = "Reweave"


class MainWindow(QMainWindow):
    busy_changed = Signal(bool)
    document_changed = Signal()

    def __init__(self, registry: Registry | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.registry = registry or default_registry()
        self.settings = settings or QSettings(APP_NAME, APP_NAME)
        self.doc: Document | None = None
        self.train_dialog = None
        self.theme_mode = "system"
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)

        self.canvas = Canvas(self)
        self.controller = RunController(self)
        self.inpaint_dock = InpaintDock(self.registry, self.settings, self)
        self.panel = self.inpaint_dock.panel
        self.material_view = MaterialView(self)
        self.image_mode = ImageMode(self)
        self.material_mode = MaterialMode(self, self.material_view)
        self.mode: DocumentMode = self.image_mode
        self.files = FileActions(self)
        self.session = RunSession(self, self.controller, self.inpaint_dock)

        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.material_view.tabs)
        cl.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inpaint_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.material_view.dock)

        self.action_set = ActionSet(self)
        self.action("train").setVisible(any(e.capabilities.retrainable for e in self.registry.entries()))
        self._theme_actions = build_menus(self, self.action_set, self.files.recent_menu, self.set_theme)
        self._make_toolbars()
        self._make_status_bar()
        self._connect()
        self._restore_settings()
        self.update_actions()

    # ==== construction ======================================================================================
    def action(self, name: str) -> QAction:
        """The action called ``name`` in ``app.actions.ACTIONS``."""
        return self.action_set[name]

    def _make_toolbars(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.action_set.fill(tb, MAIN_TOOLBAR)
        tb.addSeparator()
        self.size_slider = QLabeledSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(1, 300)
        self.size_slider.setFixedWidth(190)
        self.size_slider.setToolTip("Brush size in image pixels  ([ and ])")
        self.hard_slider = QLabeledSlider(Qt.Orientation.Horizontal)
        self.hard_slider.setRange(0, 100)
        self.hard_slider.setFixedWidth(150)
        self.hard_slider.setToolTip("Brush hardness: 100 = sharp edge  (Shift+[ and Shift+])")
        for label, w in (("Size", self.size_slider), ("Hardness", self.hard_slider)):
            lab = QLabel(f"  {label} ")
            lab.setProperty("role", "muted")
            tb.addWidget(lab)
            tb.addWidget(w)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

        tools = QToolBar("Tools", self)
        tools.setObjectName("tools_toolbar")
        tools.setMovable(False)
        self.action_set.fill(tools, TOOLS_TOOLBAR)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        self.info_label = QLabel("")
        self.pos_label = QLabel("")
        self.zoom_label = QLabel("")
        self.pos_label.setMinimumWidth(200)
        for w in (self.pos_label, self.info_label, self.zoom_label):
            sb.addPermanentWidget(w)

    def _connect(self) -> None:
        c = self.canvas
        c.brush_changed.connect(self._on_brush_changed)
        c.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z:.0f} %"))
        c.cursor_moved.connect(self._on_cursor)
        tool_actions = {self.action_set.specs[name].arg: self.action(name) for name in TOOLS}
        c.tool_changed.connect(lambda t: tool_actions[Tool(t)].setChecked(True))
        c.layer_changed.connect(self._on_layer_changed)
        self.size_slider.valueChanged.connect(c.set_brush_size)
        self.hard_slider.valueChanged.connect(c.set_hardness)
        self.material_view.map_shown.connect(self._on_map_shown)
        self.inpaint_dock.inpaint_button.clicked.connect(self.inpaint)
        self.inpaint_dock.stop_button.clicked.connect(self.stop)
        self.panel.changed.connect(self.update_actions)
        app = QApplication.instance()
        hints = app.styleHints() if app is not None else None
        if hints is not None and hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: self.theme_mode == "system" and self.set_theme("system"))

    # ==== settings and theme ================================================================================
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1320, 860)
        st = s.value("window/state")
        if isinstance(st, QByteArray) and not st.isEmpty():
            self.restoreState(st)
        self.canvas.set_brush_size(int(s.value("brush/size", 40)))
        self.canvas.set_hardness(int(s.value("brush/hardness", 100)))
        self._on_brush_changed(self.canvas.brush_size, self.canvas.hardness)
        self.set_source_visible(s.value("view/show_source", True, type=bool))
        self.theme_mode = str(s.value("view/theme", "system"))
        for a in self._theme_actions.actions():
            a.setChecked(a.data() == self.theme_mode)
        self.files.rebuild_recent()
        self.material_mode.leave()  # a saved layout may show the Material dock; only a map set does

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("brush/size", self.canvas.brush_size)
        s.setValue("brush/hardness", self.canvas.hardness)
        s.setValue("view/theme", self.theme_mode)
        s.sync()

    def set_theme(self, mode: str) -> None:
        self.theme_mode = mode if mode in theme.MODES else "system"
        app = QApplication.instance()
        if app is not None:
            theme.apply_theme(app, self.theme_mode)
        for obj, name in self.action_set.icons + self.inpaint_dock.icons:
            obj.setIcon(theme.icon(name))
        self.settings.setValue("view/theme", self.theme_mode)
        self.canvas.update()
        self.inpaint_dock.loss_plot.update()

    # ==== the document ======================================================================================
    def show_document(self, doc: Document, mode: DocumentMode) -> None:
        """Make ``doc`` (opened by ``mode``) the one being edited."""
        if mode is not self.mode:
            self.mode.leave()
        self.mode, self.doc = mode, doc
        self.session.forget()
        self.canvas.set_document(doc)
        doc.history_changed.connect(self.update_actions)
        doc.dirty_changed.connect(lambda d: self.setWindowModified(d))
        doc.mask_changed.connect(lambda _r: self.update_actions())
        doc.history_changed.connect(self._on_layers_edited)
        self.panel.set_image_channels(mode.channels(doc))
        self.panel.set_reference_kind(mode.reference_kind)
        self._on_layers_edited()
        mode.enter(doc)
        self.show_title(doc.path.name if doc.path else "Untitled")
        self.info_label.setText(mode.describe(doc))
        self.statusBar().showMessage(f"Opened {doc.path}" if doc.path else "New image", 5000)
        self.update_actions()
        self.document_changed.emit()

    def show_title(self, name: str) -> None:
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")
        self.setWindowModified(False)

    def _on_map_shown(self, _index: int) -> None:
        self.canvas.set_document(self.doc, keep_view=True)
        self.info_label.setText(self.mode.describe(self.doc))

    # ==== verbs (the actions' handlers; also what gui.py and scripts call) ==================================
    def open_path(self, path: str | Path, mask_path: str | Path | None = None, confirm: bool = True) -> bool:
        """Open an image, or a folder as a material; on any error a message box, and nothing changes."""
        return self.files.open_path(path, mask_path, confirm)

    def save(self) -> bool:
        return self.doc is not None and self.mode.save()

    def save_as(self, path: str | Path | None = None) -> bool:
        return self.doc is not None and self.mode.save_as(path)

    def import_mask(self, path: str | Path | None = None) -> bool:
        return self.files.import_mask(path)

    def export_mask(self, path: str | Path | None = None) -> bool:
        return self.files.export_mask(path)

    def import_source(self, path: str | Path | None = None) -> bool:
        return self.files.import_mask(path, SOURCE)

    def export_source(self, path: str | Path | None = None) -> bool:
        return self.files.export_mask(path, SOURCE)

    def undo(self) -> None:
        if self.doc is not None and not self.is_busy():
            self.doc.undo()

    def redo(self) -> None:
        if self.doc is not None and not self.is_busy():
            self.doc.redo()

    def clear_mask(self) -> None:
        if self.doc is not None and not self.is_busy():
            self.doc.clear_layer("Clear mask")

    def invert_mask(self) -> None:
        if self.doc is not None and not self.is_busy():
            self.doc.set_mask(np.where(self.doc.mask_bool(), 0, 255).astype(np.uint8), "Invert mask")

    def clear_source(self) -> None:
        if self.doc is not None and not self.is_busy():
            self.doc.clear_layer("Clear source area", SOURCE)

    def set_source_layer(self, on: bool) -> None:
        """The tools paint the sampling area (on) or the hole mask; its overlay shows while it is painted."""
        self.canvas.set_layer(SOURCE if on else MASK)
        if on and not self.canvas.source_visible:
            self.set_source_visible(True)

    def set_source_visible(self, on: bool) -> None:
        self.action("show_source").setChecked(on)
        self.canvas.set_source_visible(on)
        self.settings.setValue("view/show_source", on)

    def set_split(self, on: bool) -> None:
        self.action("split").setChecked(on)
        self.canvas.set_split(0.5 if on else None)

    def inpaint(self) -> bool:
        return self.session.start()

    def stop(self) -> None:
        self.session.stop()

    def is_busy(self) -> bool:
        return self.controller.is_running()

    def show_train_dialog(self):
        """The (one) dialog that trains a few-shot engine on a folder; its weights join the engine panel."""
        from app.fewshot_training import TrainDialog

        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self.registry, self.settings, self)
            self.train_dialog.weights_ready.connect(lambda engine, path: self.panel.add_weights(engine, path))
        self.train_dialog.show()
        self.train_dialog.raise_()
        return self.train_dialog

    # ==== state shown elsewhere =============================================================================
    def set_busy(self, busy: bool) -> None:
        self.canvas.set_editable(not busy)
        self.panel.set_busy(busy)
        self.update_actions()
        self.busy_changed.emit(busy)

    def update_actions(self) -> None:
        busy, doc = self.is_busy(), self.doc
        history = doc.history if doc is not None else None
        can_undo = history is not None and not busy and history.can_undo()
        can_redo = history is not None and not busy and history.can_redo()
        reason = self.panel.unsupported_reason()
        can_run = doc is not None and not busy and reason is None
        self.action_set.update(UiState(has_doc=doc is not None, busy=busy, can_undo=can_undo, can_redo=can_redo,
                                     undo_label=history.undo_label() if can_undo else "",
                                     redo_label=history.redo_label() if can_redo else "", can_run=can_run))
        self.inpaint_dock.set_run_state(busy, can_run, reason)

    def _on_layer_changed(self, layer: str) -> None:
        on = layer == SOURCE
        self.action("source_layer").setChecked(on)
        self.statusBar().showMessage("The tools paint the sampling area: where the fill may take its material "
                                     "from (S: back to the mask)" if on else "The tools paint the mask", 5000)

    def _on_layers_edited(self) -> None:
        """After an edit, undo or redo: the panel's note on the sampling area follows whether there is one."""
        self.panel.set_source_painted(self.doc is not None and self.doc.has_source())

    def _on_brush_changed(self, size: int, hardness: int) -> None:
        for slider, v in ((self.size_slider, size), (self.hard_slider, hardness)):
            if slider.maximum() < v:
                slider.setMaximum(min(MAX_BRUSH, v))
            if slider.value() != v:
                slider.blockSignals(True)
                slider.setValue(v)
                slider.blockSignals(False)
        self.settings.setValue("brush/size", size)
        self.settings.setValue("brush/hardness", hardness)

    def _on_cursor(self, xy) -> None:
        if xy is None or self.doc is None:
            self.pos_label.setText("")
            return
        x, y = xy
        px = self.doc.image.pixels[y, x]
        vals = " ".join(f"{v:.3g}" if isinstance(v, np.floating) else str(int(v)) for v in px[:4])
        self.pos_label.setText(f"x {x}  y {y}   {vals}")

    # ==== window events =====================================================================================
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.files.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.files.drop(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_busy():
            self.controller.stop()
            self.controller.wait(10.0)
        if self.train_dialog is not None:
            self.train_dialog.shutdown()  # a stopped training keeps its checkpoint
        if not self.files.confirm_discard():
            event.ignore()
            return
        self._save_settings()
        event.accept()
