"""The main window: menus and toolbars, the canvas, the Inpaint panel, files, settings and the status bar.

It wires the pieces together and owns the one rule that matters most: results are built with
``core.io.merge_result`` against the image as it was when the run started, so known pixels stay bit for
bit what they were, and every change to the image is one undo step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QCheckBox, QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel,
                               QMainWindow, QProgressBar, QPushButton, QScrollArea, QSizePolicy, QTabBar, QToolBar,
                               QVBoxLayout, QWidget)
from superqt import QLabeledSlider

from app import dialogs, theme
from app.canvas import MAX_BRUSH, Canvas, Tool
from app.document import Document
from app.engine_panel import EnginePanel
from app.history import Rect, Step
from app.imaging import thumbnail_array
from app.loss_plot import LossPlot
from app.material_doc import MaterialDocument, MaterialEngine
from app.material_view import ShadedPreview
from app.variants import VariantStrip
from app.worker import Outcome, PreviewFrame, RunController, describe_failure
from core.engines.base import InpaintRequest, Loss, Progress, Result
from core.engines.registry import Registry, default_registry
from core.errors import UserError
from core.io import (READ_EXTENSIONS, WRITE_EXTENSIONS, ImageData, load_image, load_mask, mask_to_image, merge_result,
                     save_image, to_float)
from core.masks import hole_bbox
from core.material import MaterialResult, check_output, load_map_set, save_map_set

APP_NAME = "Reweave"
MAX_RECENT = 10
STAGE_NAMES = {"prepare": "Preparing", "start": "Content-aware start", "train": "Training on this image",
               "sample": "Sampling", "fill": "Filling",
               "refine": "Refining (low rank)"}


@dataclass
class RunContext:
    """What a run needs to turn its results into exact, undoable image changes."""

    engine: str
    rect: Rect  # the hole's bounding box
    base: np.ndarray  # the image's native pixels in ``rect`` when the run started
    mask: np.ndarray  # bool, in ``rect``
    float_lo: np.ndarray | None
    float_hi: np.ndarray | None
    started: float = field(default_factory=time.monotonic)
    results: dict[int, Result] = field(default_factory=dict)
    step: Step | None = None  # the undo step of the applied result
    stage: str = ""
    stage_t0: float = 0.0
    stage_step0: int = 0


def _fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


class MainWindow(QMainWindow):
    busy_changed = Signal(bool)
    document_changed = Signal()

    def __init__(self, registry: Registry | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.registry = registry or default_registry()
        self.settings = settings or QSettings(APP_NAME, APP_NAME)
        self.doc: Document | None = None
        self.request_overrides: dict = {}  # merged into every request (tests and benchmarks: short runs)
        self.last_stop_latency: float | None = None
        self._run: RunContext | None = None
        self._last_run: RunContext | None = None
        self._icons: list[tuple[object, str]] = []
        self.controller = RunController(self)
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)

        self.canvas = Canvas(self)
        self.map_tabs = QTabBar()
        self.map_tabs.setDocumentMode(True)
        self.map_tabs.setExpanding(False)
        self.map_tabs.setToolTip("The maps of this material; the mask is shared by all of them")
        self.map_tabs.hide()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.map_tabs)
        cl.addWidget(self.canvas, 1)
        self.setCentralWidget(central)
        self._make_actions()
        self._make_menus()
        self._make_toolbars()
        self._make_panel()
        self._make_status_bar()
        self._connect()
        self._restore_settings()
        self._update_actions()

    # ==== construction ======================================================================================
    def _act(self, text: str, slot, shortcut=None, icon: str | None = None, tip: str = "",
             checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            seqs = shortcut if isinstance(shortcut, list) else [shortcut]
            a.setShortcuts([QKeySequence(s) for s in seqs])
        if icon:
            a.setIcon(theme.icon(icon))
            self._icons.append((a, icon))
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts())
        a.setToolTip(f"{tip or text.replace('&', '').rstrip('.')}" + (f"  ({keys})" if keys else ""))
        a.setStatusTip(tip or text.replace("&", ""))
        a.setCheckable(checkable)
        if slot is not None:
            a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        A = self._act
        self.act_open = A("&Open…", self._ask_open, QKeySequence.StandardKey.Open, "mdi6.folder-open-outline",
                          "Open an image")
        self.act_open_material = A("Open &Material Folder…", self._ask_open_material, QKeySequence("Ctrl+Alt+O"),
                                   "mdi6.texture-box", "Open a PBR/SVBRDF map set: one mask repairs every map")
        self.act_save = A("&Save", self.save, QKeySequence.StandardKey.Save, "mdi6.content-save-outline",
                          "Save the image (same format and bit depth)")
        self.act_save_as = A("Save &As…", lambda: self.save_as(), QKeySequence("Ctrl+Shift+S"),
                             "mdi6.content-save-edit-outline", "Save the image under another name")
        self.act_import_mask = A("&Import Mask…", lambda: self.import_mask(), QKeySequence("Ctrl+Shift+O"),
                                 "mdi6.tray-arrow-down", "Load a mask file (white = fill)")
        self.act_export_mask = A("&Export Mask…", lambda: self.export_mask(), QKeySequence("Ctrl+Shift+E"),
                                 "mdi6.tray-arrow-up", "Save the painted mask as an image (white = fill)")
        self.act_quit = A("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_undo = A("&Undo", self.undo, QKeySequence.StandardKey.Undo, "mdi6.undo")
        self.act_redo = A("&Redo", self.redo, [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")], "mdi6.redo")
        self.act_clear = A("&Clear Mask", self.clear_mask, [QKeySequence("Delete"), QKeySequence("Backspace")],
                           "mdi6.delete-sweep-outline", "Clear the mask")
        self.act_invert = A("&Invert Mask", self.invert_mask, QKeySequence("Ctrl+I"), "mdi6.select-inverse",
                            "Invert the mask")
        self.act_show_mask = A("Show &Mask", self.canvas.set_mask_visible, QKeySequence("H"), "mdi6.eye-outline",
                               "Show or hide the mask overlay", checkable=True)
        self.act_show_mask.setChecked(True)
        self.tool_actions: dict[Tool, QAction] = {}
        group = QActionGroup(self)
        for tool, text, key, icon, tip in (
                (Tool.BRUSH, "&Brush", "B", "mdi6.brush", "Paint what must be filled"),
                (Tool.ERASER, "&Eraser", "E", "mdi6.eraser", "Erase the mask"),
                (Tool.RECT, "&Rectangle", "R", "mdi6.selection-drag", "Fill a rectangle (Alt: subtract)"),
                (Tool.LASSO, "&Lasso", "L", "mdi6.lasso", "Fill a free-hand shape (Alt: subtract)")):
            a = A(text, lambda _=False, t=tool: self.canvas.set_tool(t), QKeySequence(key), icon, tip, checkable=True)
            group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions[Tool.BRUSH].setChecked(True)
        self.act_fit = A("&Fit to Window", self.canvas.fit, QKeySequence("Ctrl+0"), "mdi6.fit-to-screen-outline")
        self.act_100 = A("&Actual Size (100%)", self.canvas.actual_size, QKeySequence("Ctrl+1"),
                         "mdi6.numeric-1-box-outline")
        self.act_zoom_in = A("Zoom &In", self.canvas.zoom_in, [QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")],
                             "mdi6.magnify-plus-outline")
        self.act_zoom_out = A("Zoom &Out", self.canvas.zoom_out, QKeySequence.StandardKey.ZoomOut,
                              "mdi6.magnify-minus-outline")
        self.act_split = A("&Split Compare", self.set_split, QKeySequence("C"), "mdi6.compare",
                           "Drag a split line between the original and the result (hold Tab: whole original)",
                           checkable=True)
        self.act_inpaint = A("&Inpaint", self.inpaint, [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
                             "mdi6.auto-fix", "Fill the masked area")
        self.act_stop = A("S&top", self.stop, QKeySequence("Esc"), "mdi6.stop-circle-outline", "Stop the engine")
        self.act_train = A("&Train Model on Folder…", self.show_train_dialog, None, "mdi6.school-outline",
                           "Train a few-shot engine (ESDiff, GRIG) on a folder of your images, in the background")
        self.act_train.setVisible(any(e.capabilities.retrainable for e in self.registry.entries()))
        self.train_dialog = None
        self.act_bigger = A("Bigger Brush\t]", self.canvas.bigger_brush)
        self.act_smaller = A("Smaller Brush\t[", self.canvas.smaller_brush)

    def _make_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_open)
        m.addAction(self.act_open_material)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        m.addAction(self.act_save)
        m.addAction(self.act_save_as)
        m.addSeparator()
        m.addAction(self.act_import_mask)
        m.addAction(self.act_export_mask)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        m.addAction(self.act_undo)
        m.addAction(self.act_redo)
        m = mb.addMenu("&Mask")
        for a in self.tool_actions.values():
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_smaller)
        m.addAction(self.act_bigger)
        m.addSeparator()
        m.addAction(self.act_clear)
        m.addAction(self.act_invert)
        m.addAction(self.act_show_mask)
        m.addSeparator()
        m.addAction(self.act_import_mask)
        m.addAction(self.act_export_mask)
        m = mb.addMenu("&View")
        for a in (self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_split)
        tm = m.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for mode in theme.MODES:
            a = tm.addAction(mode.capitalize())
            a.setCheckable(True)
            a.setData(mode)
            self.theme_group.addAction(a)
        self.theme_group.triggered.connect(lambda a: self.set_theme(a.data()))
        self.view_menu = m
        m = mb.addMenu("&Run")
        m.addAction(self.act_inpaint)
        m.addAction(self.act_stop)
        m.addSeparator()
        m.addAction(self.act_train)

    def _make_toolbars(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        for a in (self.act_open, self.act_open_material, self.act_save, None, self.act_undo, self.act_redo, None,
                  self.act_import_mask, self.act_export_mask, self.act_clear, self.act_invert, self.act_show_mask,
                  None, self.act_fit, self.act_100, self.act_split):
            tb.addSeparator() if a is None else tb.addAction(a)
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
        for a in self.tool_actions.values():
            tools.addAction(a)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)

    def _heading(self, text: str) -> QLabel:
        lab = QLabel(text)
        lab.setProperty("role", "heading")
        return lab

    def _make_panel(self) -> None:
        self.panel = EnginePanel(self.registry, self.settings)
        self.inpaint_button = QPushButton("  Inpaint")
        self.inpaint_button.setObjectName("primary")
        self.inpaint_button.setIcon(theme.icon("mdi6.auto-fix"))
        self.inpaint_button.setToolTip("Fill the masked area  (Ctrl+Enter)")
        self.inpaint_button.clicked.connect(self.inpaint)
        self.stop_button = QPushButton(" Stop")
        self.stop_button.setIcon(theme.icon("mdi6.stop-circle-outline"))
        self.stop_button.setToolTip("Stop the engine; the image and mask stay as they are  (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self._icons += [(self.inpaint_button, "mdi6.auto-fix"), (self.stop_button, "mdi6.stop-circle-outline")]
        buttons = QHBoxLayout()
        buttons.addWidget(self.inpaint_button, 3)
        buttons.addWidget(self.stop_button, 1)

        self.stage_label = QLabel("Ready")
        self.eta_label = QLabel("")
        self.eta_label.setProperty("role", "muted")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        stage_row = QHBoxLayout()
        stage_row.addWidget(self.stage_label, 1)
        stage_row.addWidget(self.eta_label)
        self.loss_plot = LossPlot()
        self.variants = VariantStrip()
        self.variants_hint = QLabel("Results appear here. Hold Tab on the canvas to see the original.")
        self.variants_hint.setWordWrap(True)
        self.variants_hint.setProperty("role", "muted")

        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 8, 12, 12)
        lay.setSpacing(6)
        lay.addWidget(self._heading("Engine"))
        lay.addWidget(self.panel)
        lay.addSpacing(6)
        lay.addLayout(buttons)
        lay.addLayout(stage_row)
        lay.addWidget(self.progress)
        lay.addSpacing(4)
        self.training_heading = self._heading("Training")
        lay.addWidget(self.training_heading)
        lay.addWidget(self.loss_plot)
        lay.addWidget(self._heading("Variants"))
        lay.addWidget(self.variants)
        lay.addWidget(self.variants_hint)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        dock = QDockWidget("Inpaint", self)
        dock.setObjectName("inpaint_dock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(scroll)
        dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.dock = dock

        self.shaded = ShadedPreview()
        self.separate_check = QCheckBox("Repair each map separately (for comparison)")
        self.separate_check.setToolTip("Default: all maps stacked and repaired jointly by one model")
        mat = QWidget()
        ml = QVBoxLayout(mat)
        ml.setContentsMargins(12, 4, 12, 8)
        ml.addWidget(self.shaded, 1)
        ml.addWidget(self.separate_check)
        self.material_dock = QDockWidget("Material", self)
        self.material_dock.setObjectName("material_dock")
        self.material_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.material_dock.setWidget(mat)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.material_dock)
        self.material_dock.hide()
        self._shade_timer = QTimer(self)
        self._shade_timer.setSingleShot(True)
        self._shade_timer.setInterval(30)
        self._shade_timer.timeout.connect(self._refresh_shading)

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
        c.tool_changed.connect(lambda t: self.tool_actions[Tool(t)].setChecked(True))
        self.size_slider.valueChanged.connect(c.set_brush_size)
        self.hard_slider.valueChanged.connect(c.set_hardness)
        self.controller.progress.connect(self._on_progress)
        self.controller.loss.connect(self._on_loss)
        self.controller.preview.connect(self._on_preview)
        self.controller.result.connect(self._on_result)
        self.controller.other.connect(self._on_other)
        self.map_tabs.currentChanged.connect(self._on_map_tab)
        self.controller.finished.connect(self._on_finished)
        self.variants.picked.connect(self.pick_variant)
        self.panel.changed.connect(self._update_actions)
        self.panel.changed.connect(self._show_training_section)
        self._show_training_section()
        app = QApplication.instance()
        hints = app.styleHints() if app is not None else None
        if hints is not None and hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: self._theme_mode == "system" and self.set_theme("system"))

    # ==== settings ==========================================================================================
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
        self._theme_mode = str(s.value("view/theme", "system"))
        for a in self.theme_group.actions():
            a.setChecked(a.data() == self._theme_mode)
        self._rebuild_recent()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("brush/size", self.canvas.brush_size)
        s.setValue("brush/hardness", self.canvas.hardness)
        s.setValue("view/theme", self._theme_mode)
        s.sync()

    def set_theme(self, mode: str) -> None:
        self._theme_mode = mode if mode in theme.MODES else "system"
        app = QApplication.instance()
        if app is not None:
            theme.apply_theme(app, self._theme_mode)
        for obj, name in self._icons:
            obj.setIcon(theme.icon(name))
        self.settings.setValue("view/theme", self._theme_mode)
        self.canvas.update()
        self.loss_plot.update()

    # ==== files =============================================================================================
    def _last_folder(self) -> str:
        return str(self.settings.value("files/last_folder", str(Path.home())))

    def _remember(self, path: Path) -> None:
        self.settings.setValue("files/last_folder", str(path.parent))
        recent = [p for p in self.recent_files() if Path(p) != path]
        self.settings.setValue("files/recent", [str(path)] + recent[:MAX_RECENT - 1])
        self._rebuild_recent()

    def recent_files(self) -> list[str]:
        v = self.settings.value("files/recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(p) for p in (v or [])]

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for p in files:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.setStatusTip(p)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.setValue("files/recent", [])
        self._rebuild_recent()

    def _confirm_discard(self) -> bool:
        """Before replacing or closing the image: True when it is fine to go on."""
        if self.doc is None or not self.doc.is_dirty():
            return True
        name = self.doc.path.name if self.doc.path else "Untitled"
        answer = dialogs.ask_unsaved(self, name)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def _ask_open(self) -> None:
        if not self._confirm_discard():
            return
        path = dialogs.open_image_path(self, self._last_folder())
        if path:
            self.open_path(path, confirm=False)

    def open_path(self, path: str | Path, mask_path: str | Path | None = None, confirm: bool = True) -> bool:
        """Open an image (and optionally its mask). On any error: a message box, and the current image stays."""
        if self.controller.is_running():
            self.statusBar().showMessage("Stop the engine before opening another image", 4000)
            return False
        if Path(path).is_dir():
            return self.open_material(path, mask_path, confirm)
        if confirm and not self._confirm_discard():
            return False
        try:
            img = load_image(path)
            mask = load_mask(mask_path, (img.height, img.width)) if mask_path else None
        except UserError as exc:
            dialogs.show_error(self, "Cannot open", str(exc))
            return False
        except MemoryError:
            dialogs.show_error(self, "Out of memory", f"{Path(path).name} is too large to open on this machine.")
            return False
        self.set_document(Document(img, mask))
        self._remember(Path(path).resolve())
        return True

    def _ask_open_material(self) -> None:
        if not self._confirm_discard():
            return
        folder = QFileDialog.getExistingDirectory(self, "Open material folder", self._last_folder())
        if folder:
            self.open_material(folder, confirm=False)

    def open_material(self, source, mask_path: str | Path | None = None, confirm: bool = True) -> bool:
        """Open a map set (a folder, or a list of files) in material mode."""
        if self.controller.is_running():
            self.statusBar().showMessage("Stop the engine before opening another image", 4000)
            return False
        if confirm and not self._confirm_discard():
            return False
        try:
            exclude = [mask_path] if mask_path else []
            mapset = load_map_set(source, exclude=exclude)
            mask = load_mask(mask_path, (mapset.height, mapset.width)) if mask_path else None
        except UserError as exc:
            dialogs.show_error(self, "Cannot open the material", str(exc))
            return False
        except MemoryError:
            dialogs.show_error(self, "Out of memory", "This material is too large to open on this machine.")
            return False
        self.set_document(MaterialDocument(mapset, mask))
        if mapset.folder is not None:
            self._remember(Path(mapset.folder).resolve())
        return True

    def is_material(self) -> bool:
        return isinstance(self.doc, MaterialDocument)

    def _on_map_tab(self, index: int) -> None:
        if not self.is_material() or index < 0 or index == self.doc.current:
            return
        self.doc.show_map(index)
        self.canvas.set_document(self.doc, keep_view=True)
        self.info_label.setText(f"{self.doc.image.describe()} · {len(self.doc.mapset.maps)} maps")

    def _refresh_shading(self) -> None:
        self.shaded.set_mapset(self.doc.mapset if self.is_material() else None)

    def set_document(self, doc: Document) -> None:
        self.doc = doc
        self._last_run = None
        self.variants.clear()
        self.loss_plot.clear()
        self.canvas.set_document(doc)
        doc.history_changed.connect(self._update_actions)
        doc.dirty_changed.connect(lambda d: self.setWindowModified(d))
        doc.mask_changed.connect(lambda _r: self._update_actions())
        material = isinstance(doc, MaterialDocument)
        self.panel.set_image_channels(doc.total_channels() if material else doc.image.channels)
        self.map_tabs.blockSignals(True)
        while self.map_tabs.count():
            self.map_tabs.removeTab(0)
        if material:
            for title in doc.map_titles():
                self.map_tabs.addTab(title)
            self.map_tabs.setCurrentIndex(0)
            doc.image_changed.connect(lambda _r: self._shade_timer.start())
        self.map_tabs.blockSignals(False)
        self.map_tabs.setVisible(material)
        self.material_dock.setVisible(material)
        self.separate_check.setChecked(False)
        self._refresh_shading()
        name = doc.path.name if doc.path else "Untitled"
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")
        self.setWindowModified(False)
        self.info_label.setText(doc.image.describe() + (f" · {len(doc.mapset.maps)} maps" if material else ""))
        self.stage_label.setText("Ready")
        self.eta_label.setText("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.statusBar().showMessage(f"Opened {doc.path}" if doc.path else "New image", 5000)
        self._update_actions()
        self.document_changed.emit()

    def save(self) -> bool:
        if self.doc is None:
            return False
        if self.is_material():
            return self.save_material()
        p = self.doc.path
        if p is None or p.suffix.lower() not in WRITE_EXTENSIONS:
            return self.save_as()
        return self._save_to(p)

    def save_as(self, path: str | Path | None = None) -> bool:
        if self.doc is None:
            return False
        if self.is_material():
            return self.save_material(path)
        if path is None:
            current = self.doc.path or Path(self._last_folder()) / "untitled.png"
            suggested = current if current.suffix.lower() in WRITE_EXTENSIONS else current.with_suffix(".png")
            path = dialogs.save_image_path(self, str(suggested))
            if not path:
                return False
        p = Path(path)
        if not p.suffix and self.doc.path is not None:
            p = p.with_suffix(self.doc.path.suffix)
        return self._save_to(p)

    def _save_to(self, p: Path) -> bool:
        try:
            written = save_image(p, self.doc.image)
        except UserError as exc:
            dialogs.show_error(self, "Cannot save", str(exc))
            return False
        self.doc.mark_saved(written)
        self.setWindowTitle(f"{written.name}[*] — {APP_NAME}")
        self.setWindowModified(False)
        self._remember(written.resolve())
        self.statusBar().showMessage(f"Saved {written} ({self.doc.image.bit_depth})", 5000)
        return True

    def save_material(self, folder: str | Path | None = None) -> bool:
        """Write every map (same names, formats, bit depths) into a folder; the input folder is refused."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save repaired maps into folder", self._last_folder())
            if not folder:
                return False
        try:
            check_output(self.doc.mapset, folder)
            written = save_map_set(self.doc.mapset, folder)
        except UserError as exc:
            dialogs.show_error(self, "Cannot save the material", str(exc))
            return False
        self.doc.mark_saved_as_set()
        self.setWindowModified(False)
        self.statusBar().showMessage(f"Saved {len(written)} maps to {folder}", 5000)
        return True

    def import_mask(self, path: str | Path | None = None) -> bool:
        if self.doc is None:
            return False
        if path is None:
            path = dialogs.open_image_path(self, self._last_folder(), "Import mask")
            if not path:
                return False
        try:
            mask = load_mask(path, self.doc.shape)
        except UserError as exc:
            dialogs.show_error(self, "Cannot import the mask", str(exc))
            return False
        self.doc.set_mask(mask, "Import mask")
        self.statusBar().showMessage(f"Mask imported from {Path(path).name}", 4000)
        return True

    def export_mask(self, path: str | Path | None = None) -> bool:
        if self.doc is None:
            return False
        if path is None:
            stem = self.doc.path.stem if self.doc.path else "image"
            folder = self.doc.path.parent if self.doc.path else Path(self._last_folder())
            path = dialogs.save_image_path(self, str(folder / f"{stem}_mask.png"), "Export mask")
            if not path:
                return False
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(".png")
        try:
            save_image(p, mask_to_image(self.doc.mask_bool()))
        except UserError as exc:
            dialogs.show_error(self, "Cannot export the mask", str(exc))
            return False
        self.statusBar().showMessage(f"Mask exported to {p}", 4000)
        return True

    # drag and drop ------------------------------------------------------------------------------------------
    def _dropped_files(self, event) -> list[Path]:
        md = event.mimeData()
        if not md.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()]

    def _dropped_file(self, event) -> Path | None:
        files = self._dropped_files(event)
        return files[0] if files else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        p = self._dropped_file(event)
        if p is not None and (p.suffix.lower() in READ_EXTENSIONS or p.is_file() or p.is_dir()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = self._dropped_files(event)
        if not files:
            return
        p = files[0]
        event.acceptProposedAction()
        if len(files) > 1:  # several maps of one material
            QTimer.singleShot(0, lambda: self.open_material(files))
        elif event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self.doc is not None:
            QTimer.singleShot(0, lambda: self.import_mask(p))  # after the drop returns (dialogs may open)
        else:
            QTimer.singleShot(0, lambda: self.open_path(p))

    # ==== mask & history ====================================================================================
    def undo(self) -> None:
        if self.doc is not None and not self.controller.is_running():
            self.doc.undo()

    def redo(self) -> None:
        if self.doc is not None and not self.controller.is_running():
            self.doc.redo()

    def clear_mask(self) -> None:
        if self.doc is not None and not self.controller.is_running():
            self.doc.set_mask(np.zeros(self.doc.shape, np.uint8), "Clear mask")

    def invert_mask(self) -> None:
        if self.doc is not None and not self.controller.is_running():
            self.doc.set_mask(np.where(self.doc.mask_bool(), 0, 255).astype(np.uint8), "Invert mask")

    def set_split(self, on: bool) -> None:
        self.act_split.setChecked(on)
        self.canvas.set_split(0.5 if on else None)

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

    def _show_training_section(self) -> None:
        """The loss curve only for engines that train on the open image."""
        trains = self.panel.capabilities().trains_per_image
        self.training_heading.setVisible(trains)
        self.loss_plot.setVisible(trains)

    def _update_actions(self) -> None:
        busy = self.controller.is_running()
        has_doc = self.doc is not None
        for a in (self.act_save, self.act_save_as, self.act_import_mask, self.act_export_mask, self.act_fit,
                  self.act_100, self.act_zoom_in, self.act_zoom_out, self.act_split):
            a.setEnabled(has_doc)
        for a in (self.act_open, self.act_import_mask, self.act_clear, self.act_invert):
            a.setEnabled(not busy and (has_doc or a is self.act_open))
        self.act_undo.setEnabled(has_doc and not busy and self.doc.history.can_undo())
        self.act_redo.setEnabled(has_doc and not busy and self.doc.history.can_redo())
        self.act_undo.setText(f"&Undo {self.doc.history.undo_label()}" if has_doc and self.act_undo.isEnabled()
                              else "&Undo")
        self.act_redo.setText(f"&Redo {self.doc.history.redo_label()}" if has_doc and self.act_redo.isEnabled()
                              else "&Redo")
        reason = self.panel.unsupported_reason()
        can_run = has_doc and not busy and reason is None
        self.act_inpaint.setEnabled(can_run)
        self.inpaint_button.setEnabled(can_run)
        self.inpaint_button.setToolTip(reason or "Fill the masked area  (Ctrl+Enter)")
        self.act_stop.setEnabled(busy)
        self.stop_button.setEnabled(busy)

    # ==== running an engine =================================================================================
    def is_busy(self) -> bool:
        return self.controller.is_running()

    def build_request(self) -> InpaintRequest:
        """The request for the current image, mask and panel choices (plus ``request_overrides``)."""
        kw = self.panel.request_kwargs()
        extra = dict(self.request_overrides)
        options = dict(kw.pop("options", {}))
        options.update(extra.pop("options", {}))
        kw.update(extra)
        return InpaintRequest(image=to_float(self.doc.image), mask=self.doc.mask_bool(), options=options, **kw)

    def inpaint(self) -> bool:
        if self.doc is None or self.controller.is_running():
            return False
        if not self.doc.has_mask():
            dialogs.show_error(self, "Nothing to fill",
                               "Paint over what must go first (B for the brush, R for a rectangle), "
                               "or import a mask (Ctrl+Shift+O).")
            return False
        name = self.panel.engine_name()
        try:
            if self.is_material():
                engine = MaterialEngine(self.doc, name, self.separate_check.isChecked(), self.registry)
                self.registry.capabilities(name)  # unknown engine -> UserError now, not on the worker
            else:
                engine = self.registry.get(name)
            request = self.build_request()
            if self.is_material():
                request.variants = 1  # a map set is repaired once; variants are for single images
        except UserError as exc:
            dialogs.show_error(self, "Cannot inpaint", str(exc))
            return False
        except MemoryError:
            dialogs.show_error(self, "Out of memory", "There is not enough memory to start this run.")
            return False
        box = hole_bbox(request.mask)
        rect = (box.y0, box.x0, box.y1, box.x1)
        ys, xs = box.slices()
        self._run = RunContext(name, rect, self.doc.image.pixels[ys, xs].copy(), request.mask[ys, xs].copy(),
                               self.doc.image.float_lo, self.doc.image.float_hi)
        self.variants.clear()
        self.loss_plot.clear()
        self.last_stop_latency = None
        self.stage_label.setText("Starting…")
        self.eta_label.setText("")
        self.progress.setRange(0, 0)
        self.controller.start(engine, request)
        self._set_busy(True)
        return True

    def stop(self) -> None:
        if self.controller.is_running():
            self.stage_label.setText("Stopping…")
            self.stop_button.setEnabled(False)
            self.controller.stop()

    def _set_busy(self, busy: bool) -> None:
        self.canvas.set_editable(not busy)
        self.panel.set_busy(busy)
        self._update_actions()
        self.busy_changed.emit(busy)

    def _on_progress(self, ev: Progress) -> None:
        ctx = self._run
        if ctx is None:
            return
        now = time.monotonic()
        if ev.stage != ctx.stage:
            ctx.stage, ctx.stage_t0, ctx.stage_step0 = ev.stage, now, ev.step
        title = STAGE_NAMES.get(ev.stage, ev.stage.capitalize())
        self.stage_label.setText(f"{title}  {ev.step}/{ev.total}" if ev.total > 1 else title)
        self.progress.setRange(0, max(1, ev.total))
        self.progress.setValue(min(ev.step, ev.total))
        done = ev.step - ctx.stage_step0
        if done > 0 and ev.total > ev.step:
            left = (now - ctx.stage_t0) / done * (ev.total - ev.step)
            self.eta_label.setText(f"{_fmt_seconds(left)} left")
        else:
            self.eta_label.setText("")
        if ev.message:
            self.statusBar().showMessage(f"{title}: {ev.message}")

    def _on_loss(self, ev: Loss) -> None:
        total = self.progress.maximum() if self._run is not None and self._run.stage == "train" else None
        self.loss_plot.add(ev.step, ev.value, total)

    def _on_preview(self, frame: PreviewFrame) -> None:
        if self._run is None:
            return
        self.canvas.set_preview(frame.rgba, frame.box.x0, frame.box.y0)

    def _result_patch(self, ctx: RunContext, result: Result) -> np.ndarray:
        """The native pixels of ``ctx.rect`` for ``result``: engine values in the hole, exact ones elsewhere."""
        y0, x0, y1, x1 = ctx.rect
        base = ImageData(ctx.base, None, ctx.float_lo, ctx.float_hi)
        return merge_result(base, result.image[y0:y1, x0:x1], ctx.mask).pixels

    def _on_result(self, result: Result) -> None:
        ctx = self._run
        if ctx is None or self.doc is None:
            return
        ctx.results[result.variant] = result
        y0, x0, y1, x1 = ctx.rect
        m = max(8, (y1 - y0 + x1 - x0) // 8)
        h, w = self.doc.shape
        crop = result.image[max(0, y0 - m):min(h, y1 + m), max(0, x0 - m):min(w, x1 + m)]
        self.variants.add_variant(result.variant, thumbnail_array(crop))
        if ctx.step is None:
            self.canvas.set_preview(None)
            ctx.step = self.doc.apply_pixels(ctx.rect, self._result_patch(ctx, result), f"Inpaint ({ctx.engine})")

    def _on_other(self, item: object) -> None:
        ctx = self._run
        if isinstance(item, MaterialResult) and ctx is not None and self.is_material():
            self.canvas.set_preview(None)
            mode = item.info.get("mode", "joint")
            ctx.step = self.doc.apply_maps(item.mapset, ctx.rect, f"Repair material ({mode}, {ctx.engine})")

    def pick_variant(self, index: int) -> None:
        ctx = self._last_run if self._run is None else self._run
        if ctx is None or self.doc is None or index not in ctx.results or self.controller.is_running():
            return
        amend = ctx.step if self.doc.history.top() is ctx.step else None
        ctx.step = self.doc.apply_pixels(ctx.rect, self._result_patch(ctx, ctx.results[index]),
                                         f"Inpaint variant #{index + 1}", clear_mask=amend is not None, amend=amend)
        self.statusBar().showMessage(f"Variant #{index + 1}", 3000)

    def _on_finished(self, outcome: Outcome) -> None:
        ctx, self._run = self._run, None
        self.canvas.set_preview(None)
        if self.controller.stop_requested_at is not None:
            self.last_stop_latency = time.monotonic() - self.controller.stop_requested_at
        self.progress.setRange(0, 1)
        elapsed = time.monotonic() - ctx.started if ctx else 0.0
        if outcome.status == "done" and ctx is not None and (ctx.results or ctx.step is not None):
            self._last_run = ctx
            self.progress.setValue(1)
            self.stage_label.setText(f"Done in {_fmt_seconds(elapsed)}")
            self.eta_label.setText("")
            self.statusBar().showMessage("Done. Hold Tab on the canvas or use Split Compare (C) to compare; "
                                         "Ctrl+Z undoes.", 8000)
        elif outcome.status == "failed":
            self.progress.setValue(0)
            self.stage_label.setText("Failed")
            self.eta_label.setText("")
            title, message = describe_failure(outcome)
            self._set_busy(False)
            dialogs.show_error(self, title, message, "" if isinstance(outcome.error, UserError) else outcome.details)
            return
        else:
            self.progress.setValue(0)
            self.stage_label.setText("Stopped")
            self.eta_label.setText("")
            self.statusBar().showMessage("Stopped: the image and the mask are as they were.", 6000)
        self._set_busy(False)

    def show_train_dialog(self):
        """The (one) dialog that trains a few-shot engine on a folder; its weights join the engine panel."""
        from app.fewshot_training import TrainDialog

        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self.registry, self.settings, self)
            self.train_dialog.weights_ready.connect(lambda engine, path: self.panel.add_weights(engine, path))
        self.train_dialog.show()
        self.train_dialog.raise_()
        return self.train_dialog

    # ==== window ============================================================================================
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.controller.is_running():
            self.controller.stop()
            self.controller.wait(10.0)
        if self.train_dialog is not None:
            self.train_dialog.shutdown()  # a stopped training keeps its checkpoint
        if not self._confirm_discard():
            event.ignore()
            return
        self._save_settings()
        event.accept()
