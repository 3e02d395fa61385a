"""The window's actions, menus and toolbars, declared as tables.

Each row of ``ACTIONS`` says what an action is called, its keys and icon, which method of the window runs
it (a dotted path such as ``"files.ask_open"`` or ``"canvas.fit"``) and when it is enabled. ``MENUS`` and
the toolbar tuples list actions by name; ``"-"`` is a separator and ``RECENT`` / ``THEME`` mark the two
submenus that are filled at run time. ``ActionSet`` turns the tables into ``QAction``s once, and
``ActionSet.update`` re-applies every "enabled when" rule from one ``UiState``.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from app import theme
from app.mask_tools import Tool

Keys = QKeySequence.StandardKey
SEPARATOR = "-"
RECENT = "@recent"  # the "Open Recent" submenu (files.recent_menu)
THEME = "@theme"  # the "Theme" submenu, one checkable entry per theme mode


@dataclass(frozen=True)
class UiState:
    """What the enabled-when rules look at; the window builds one whenever something changes."""

    has_doc: bool = False
    busy: bool = False
    can_undo: bool = False  # an undo step exists and nothing runs
    can_redo: bool = False
    undo_label: str = ""
    redo_label: str = ""
    can_run: bool = False  # a document, nothing running, and the chosen engine takes this image


def _doc(s: UiState) -> bool:
    return s.has_doc


def _idle_doc(s: UiState) -> bool:
    return s.has_doc and not s.busy


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    handler: str  # dotted attribute path on the window
    keys: tuple = ()  # QKeySequence.StandardKey values or key strings; the first is the main one
    icon: str = ""
    tip: str = ""  # status tip and tooltip (default: the text)
    checkable: bool = False
    checked: bool = False
    arg: object = None  # when set, the handler is called with it (the tool actions)
    group: str = ""  # actions with the same group are exclusive
    enabled: Callable[[UiState], bool] | None = None  # None: always enabled
    text_when: Callable[[UiState], str] | None = None  # a text that follows the state


TOOLS = ("tool_brush", "tool_eraser", "tool_rect", "tool_lasso")

ACTIONS: tuple[ActionSpec, ...] = (
    # files
    ActionSpec("open", "&Open…", "files.ask_open", (Keys.Open,), "mdi6.folder-open-outline", "Open an image",
               enabled=lambda s: not s.busy),
    ActionSpec("open_material", "Open &Material Folder…", "files.ask_open_material", ("Ctrl+Alt+O",),
               "mdi6.texture-box", "Open a PBR/SVBRDF map set: one mask repairs every map"),
    ActionSpec("save", "&Save", "save", (Keys.Save,), "mdi6.content-save-outline",
               "Save the image (same format and bit depth)", enabled=_doc),
    ActionSpec("save_as", "Save &As…", "save_as", ("Ctrl+Shift+S",), "mdi6.content-save-edit-outline",
               "Save the image under another name", enabled=_doc),
    ActionSpec("import_mask", "&Import Mask…", "import_mask", ("Ctrl+Shift+O",), "mdi6.tray-arrow-down",
               "Load a mask file (white = fill)", enabled=_idle_doc),
    ActionSpec("export_mask", "&Export Mask…", "export_mask", ("Ctrl+Shift+E",), "mdi6.tray-arrow-up",
               "Save the painted mask as an image (white = fill)", enabled=_doc),
    ActionSpec("quit", "&Quit", "close", (Keys.Quit,)),
    # edit
    ActionSpec("undo", "&Undo", "undo", (Keys.Undo,), "mdi6.undo", enabled=lambda s: s.can_undo,
               text_when=lambda s: f"&Undo {s.undo_label}" if s.can_undo else "&Undo"),
    ActionSpec("redo", "&Redo", "redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "mdi6.redo", enabled=lambda s: s.can_redo,
               text_when=lambda s: f"&Redo {s.redo_label}" if s.can_redo else "&Redo"),
    # mask
    ActionSpec("clear", "&Clear Mask", "clear_mask", ("Delete", "Backspace"), "mdi6.delete-sweep-outline",
               "Clear the mask", enabled=_idle_doc),
    ActionSpec("invert", "&Invert Mask", "invert_mask", ("Ctrl+I",), "mdi6.select-inverse", "Invert the mask",
               enabled=_idle_doc),
    ActionSpec("show_mask", "Show &Mask", "canvas.set_mask_visible", ("H",), "mdi6.eye-outline",
               "Show or hide the mask overlay", checkable=True, checked=True),
    ActionSpec("tool_brush", "&Brush", "canvas.set_tool", ("B",), "mdi6.brush", "Paint what must be filled",
               checkable=True, checked=True, arg=Tool.BRUSH, group="tools"),
    ActionSpec("tool_eraser", "&Eraser", "canvas.set_tool", ("E",), "mdi6.eraser", "Erase the mask",
               checkable=True, arg=Tool.ERASER, group="tools"),
    ActionSpec("tool_rect", "&Rectangle", "canvas.set_tool", ("R",), "mdi6.selection-drag",
               "Fill a rectangle (Alt: subtract)", checkable=True, arg=Tool.RECT, group="tools"),
    ActionSpec("tool_lasso", "&Lasso", "canvas.set_tool", ("L",), "mdi6.lasso",
               "Fill a free-hand shape (Alt: subtract)", checkable=True, arg=Tool.LASSO, group="tools"),
    # the sampling area: a second mask layer, painted with the same tools while "source_layer" is on
    ActionSpec("source_layer", "Paint &Source Area", "set_source_layer", ("S",), "mdi6.stamper",
               "Paint where the fill may take its material from (the tools paint the teal sampling area "
               "instead of the mask; empty = anywhere)", checkable=True, enabled=_doc),
    ActionSpec("clear_source", "Clear Source Area", "clear_source", ("Shift+Delete",), "mdi6.eraser-variant",
               "Clear the sampling area: the fill may take its material from anywhere again",
               enabled=_idle_doc),
    ActionSpec("show_source", "Show Source Area", "set_source_visible", ("Shift+H",), "mdi6.eye-outline",
               "Show or hide the sampling area's overlay", checkable=True, checked=True),
    ActionSpec("import_source", "Import Source Area…", "import_source", (), "mdi6.tray-arrow-down",
               "Load a sampling area from an image file (white = the fill may take material from here)",
               enabled=_idle_doc),
    ActionSpec("export_source", "Export Source Area…", "export_source", (), "mdi6.tray-arrow-up",
               "Save the sampling area as an image (white = source)", enabled=_doc),
    ActionSpec("bigger", "Bigger Brush\t]", "canvas.bigger_brush"),
    ActionSpec("smaller", "Smaller Brush\t[", "canvas.smaller_brush"),
    # view
    ActionSpec("fit", "&Fit to Window", "canvas.fit", ("Ctrl+0",), "mdi6.fit-to-screen-outline", enabled=_doc),
    ActionSpec("actual_size", "&Actual Size (100%)", "canvas.actual_size", ("Ctrl+1",),
               "mdi6.numeric-1-box-outline", enabled=_doc),
    ActionSpec("zoom_in", "Zoom &In", "canvas.zoom_in", (Keys.ZoomIn, "Ctrl+="), "mdi6.magnify-plus-outline",
               enabled=_doc),
    ActionSpec("zoom_out", "Zoom &Out", "canvas.zoom_out", (Keys.ZoomOut,), "mdi6.magnify-minus-outline",
               enabled=_doc),
    ActionSpec("split", "&Split Compare", "set_split", ("C",), "mdi6.compare",
               "Drag a split line between the original and the result (hold Tab: whole original)",
               checkable=True, enabled=_doc),
    # run
    ActionSpec("inpaint", "&Inpaint", "inpaint", ("Ctrl+Return", "Ctrl+Enter"), "mdi6.auto-fix",
               "Fill the masked area", enabled=lambda s: s.can_run),
    ActionSpec("stop", "S&top", "stop", ("Esc",), "mdi6.stop-circle-outline", "Stop the engine",
               enabled=lambda s: s.busy),
    ActionSpec("train", "&Train Model on Folder…", "show_train_dialog", (), "mdi6.school-outline",
               "Train a few-shot engine (ESDiff, GRIG) on a folder of your images, in the background"),
)

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("open", "open_material", RECENT, SEPARATOR, "save", "save_as", SEPARATOR, "import_mask",
               "export_mask", SEPARATOR, "quit")),
    ("&Edit", ("undo", "redo")),
    ("&Mask", (*TOOLS, SEPARATOR, "smaller", "bigger", SEPARATOR, "clear", "invert", "show_mask", SEPARATOR,
               "import_mask", "export_mask", SEPARATOR, "source_layer", "clear_source", "show_source",
               "import_source", "export_source")),
    ("&View", ("fit", "actual_size", "zoom_in", "zoom_out", SEPARATOR, "split", THEME)),
    ("&Run", ("inpaint", "stop", SEPARATOR, "train")),
)
MAIN_TOOLBAR = ("open", "open_material", "save", SEPARATOR, "undo", "redo", SEPARATOR, "import_mask",
                "export_mask", "clear", "invert", "show_mask", SEPARATOR, "fit", "actual_size", "split")
TOOLS_TOOLBAR = (*TOOLS, SEPARATOR, "source_layer")


def _call(handler: Callable, spec: ActionSpec) -> Callable[[bool], None]:
    if spec.arg is not None:
        return lambda _checked=False: handler(spec.arg)
    if spec.checkable:
        return lambda checked=False: handler(checked)
    return lambda _checked=False: handler()


class ActionSet:
    """The ``QAction`` of every row of ``ACTIONS``, added to ``window`` (so their keys work everywhere)."""

    def __init__(self, window: QMainWindow, specs: tuple[ActionSpec, ...] = ACTIONS) -> None:
        self.specs = {s.name: s for s in specs}
        self.actions: dict[str, QAction] = {}
        self.icons: list[tuple[QAction, str]] = []  # re-coloured when the theme changes
        groups: dict[str, QActionGroup] = {}
        for spec in specs:
            a = QAction(spec.text, window)
            a.setShortcuts([QKeySequence(k) for k in spec.keys])
            if spec.icon:
                a.setIcon(theme.icon(spec.icon))
                self.icons.append((a, spec.icon))
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
            plain = spec.text.replace("&", "")
            a.setToolTip((spec.tip or plain.rstrip(".")) + (f"  ({keys})" if keys else ""))
            a.setStatusTip(spec.tip or plain)
            a.setCheckable(spec.checkable)
            a.setChecked(spec.checked)
            a.triggered.connect(_call(attrgetter(spec.handler)(window), spec))
            if spec.group:
                groups.setdefault(spec.group, QActionGroup(window)).addAction(a)
            window.addAction(a)
            self.actions[spec.name] = a

    def __getitem__(self, name: str) -> QAction:
        return self.actions[name]

    def update(self, state: UiState) -> None:
        for name, spec in self.specs.items():
            if spec.enabled is not None:
                self.actions[name].setEnabled(spec.enabled(state))
            if spec.text_when is not None:
                self.actions[name].setText(spec.text_when(state))

    def fill(self, target: QMenu | QToolBar, names: tuple[str, ...]) -> None:
        for name in names:
            if name == SEPARATOR:
                target.addSeparator()
            else:
                target.addAction(self.actions[name])


def build_menus(window: QMainWindow, actions: ActionSet, recent_menu: QMenu,
                on_theme: Callable[[str], None]) -> QActionGroup:
    """The menu bar from ``MENUS``; returns the theme entries' group (to check the current mode)."""
    themes = QActionGroup(window)
    for title, names in MENUS:
        menu = window.menuBar().addMenu(title)
        for name in names:
            if name == RECENT:
                recent_menu.setTitle("Open &Recent")
                menu.addMenu(recent_menu)
            elif name == THEME:
                sub = menu.addMenu("&Theme")
                for mode in theme.MODES:
                    a = sub.addAction(mode.capitalize())
                    a.setCheckable(True)
                    a.setData(mode)
                    themes.addAction(a)
            else:
                actions.fill(menu, (name,))
    themes.triggered.connect(lambda a: on_theme(a.data()))
    return themes
