"""Files: opening images and material folders, saving, the import and export of the mask layers (the
hole mask and the sampling area), the recent-files menu, the unsaved-changes prompt and drag and drop.

Which mode a source opens in is decided here, from the source alone: a folder (or several dropped files)
is a material's map set, anything else one image. Everything else that differs between the two -- how to
read them, how to save them -- is the mode's (``app.modes``).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMenu

from app import dialogs
from app.history import MASK, SOURCE
from app.modes import DocumentMode
from core.errors import UserError
from core.io import READ_EXTENSIONS, load_image, mask_from_pixels, mask_to_image, save_image

if TYPE_CHECKING:
    from app.main_window import MainWindow

MAX_RECENT = 10
LAYER_NAMES = {MASK: "mask", SOURCE: "source area"}  # in messages, undo labels and suggested file names


def read_layer(path: str | Path, shape: tuple[int, int], layer: str = MASK):
    """A mask layer from any image file of the image's size (white = in the layer), as bool H x W;
    a UserError naming the layer when the file cannot be read or has another size."""
    img = load_image(path)
    if (img.height, img.width) != tuple(shape):
        raise UserError(f"{path} is {img.width}x{img.height} but the image is {shape[1]}x{shape[0]}; "
                        f"the {LAYER_NAMES[layer]} must have the same size")
    return mask_from_pixels(img.pixels)


class FileActions:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.settings = window.settings
        self.recent_menu = QMenu("Open &Recent", window)

    # -- folders and recent files ---------------------------------------------------------------------------
    def last_folder(self) -> str:
        return str(self.settings.value("files/last_folder", str(Path.home())))

    def remember(self, path: Path) -> None:
        self.settings.setValue("files/last_folder", str(path.parent))
        recent = [p for p in self.recent_files() if Path(p) != path]
        self.settings.setValue("files/recent", [str(path)] + recent[:MAX_RECENT - 1])
        self.rebuild_recent()

    def recent_files(self) -> list[str]:
        v = self.settings.value("files/recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(p) for p in (v or [])]

    def rebuild_recent(self) -> None:
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
        self.rebuild_recent()

    # -- opening --------------------------------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """Before replacing or closing the document: True when it is fine to go on."""
        doc = self.window.doc
        if doc is None or not doc.is_dirty():
            return True
        answer = dialogs.ask_unsaved(self.window, doc.path.name if doc.path else "Untitled")
        if answer == "save":
            return self.window.save()
        return answer == "discard"

    def ask_open(self) -> None:
        if not self.confirm_discard():
            return
        path = dialogs.open_image_path(self.window, self.last_folder())
        if path:
            self.open_path(path, confirm=False)

    def ask_open_material(self) -> None:
        if not self.confirm_discard():
            return
        folder = dialogs.open_folder_path(self.window, self.last_folder(), "Open material folder")
        if folder:
            self.open_in(self.window.material_mode, folder, confirm=False)

    def open_path(self, path: str | Path, mask_path: str | Path | None = None, confirm: bool = True) -> bool:
        """Open an image, or a folder as a material (and optionally its mask)."""
        w = self.window
        mode = w.material_mode if Path(path).is_dir() else w.image_mode
        return self.open_in(mode, path, mask_path, confirm)

    def open_in(self, mode: DocumentMode, source, mask_path: str | Path | None = None, confirm: bool = True) -> bool:
        """Open ``source`` in ``mode``. On any error: a message box, and the current document stays."""
        w = self.window
        if w.is_busy():
            w.statusBar().showMessage("Stop the engine before opening another image", 4000)
            return False
        if confirm and not self.confirm_discard():
            return False
        try:
            doc = mode.load(source, mask_path)
        except UserError as exc:
            dialogs.show_error(w, mode.open_error, str(exc))
            return False
        except MemoryError:
            dialogs.show_error(w, "Out of memory", mode.too_large(source))
            return False
        w.show_document(doc, mode)
        remembered = mode.recent_path(source, doc)
        if remembered is not None:
            self.remember(remembered)
        return True

    # -- the mask layers -------------------------------------------------------------------------------------
    def import_mask(self, path: str | Path | None = None, layer: str = MASK) -> bool:
        """Replace a layer by a file's (one undo step); on any error a message, and the layer stays."""
        w = self.window
        if w.doc is None:
            return False
        what = LAYER_NAMES[layer]
        if path is None:
            path = dialogs.open_image_path(w, self.last_folder(), f"Import {what}")
            if not path:
                return False
        try:
            mask = read_layer(path, w.doc.shape, layer)
        except UserError as exc:
            dialogs.show_error(w, f"Cannot import the {what}", str(exc))
            return False
        w.doc.set_mask(mask, f"Import {what}", layer)
        empty = "" if mask.any() else " (it holds no white: the layer is empty)"
        w.statusBar().showMessage(f"{what.capitalize()} imported from {Path(path).name}{empty}", 4000)
        return True

    def export_mask(self, path: str | Path | None = None, layer: str = MASK) -> bool:
        w = self.window
        if w.doc is None:
            return False
        what = LAYER_NAMES[layer]
        if path is None:
            stem = w.doc.path.stem if w.doc.path else "image"
            folder = w.doc.path.parent if w.doc.path else Path(self.last_folder())
            suffix = "source" if layer == SOURCE else "mask"
            path = dialogs.save_image_path(w, str(folder / f"{stem}_{suffix}.png"), f"Export {what}")
            if not path:
                return False
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(".png")
        try:
            save_image(p, mask_to_image(w.doc.layer(layer) > 127))
        except UserError as exc:
            dialogs.show_error(w, f"Cannot export the {what}", str(exc))
            return False
        w.statusBar().showMessage(f"{what.capitalize()} exported to {p}", 4000)
        return True

    # -- drag and drop --------------------------------------------------------------------------------------
    @staticmethod
    def _dropped_files(event) -> list[Path]:
        md = event.mimeData()
        if not md.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()]

    def drag_enter(self, event: QDragEnterEvent) -> None:
        files = self._dropped_files(event)
        p = files[0] if files else None
        if p is not None and (p.suffix.lower() in READ_EXTENSIONS or p.is_file() or p.is_dir()):
            event.acceptProposedAction()

    def drop(self, event: QDropEvent) -> None:
        """One file or folder opens; Shift+drop imports it as the mask; several files open as one material.
        The work happens after the drop returns (dialogs may open)."""
        files = self._dropped_files(event)
        if not files:
            return
        p = files[0]
        event.acceptProposedAction()
        if len(files) > 1:  # several maps of one material
            QTimer.singleShot(0, lambda: self.open_in(self.window.material_mode, files))
        elif event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self.window.doc is not None:
            QTimer.singleShot(0, lambda: self.import_mask(p))
        else:
            QTimer.singleShot(0, lambda: self.open_path(p))
