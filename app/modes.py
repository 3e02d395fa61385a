"""Document modes: what differs between editing one image and editing a material's map set.

The window holds one mode at a time (``window.mode``) and asks it, never the document's type, how to open
a file, what to show beside the canvas, how to save, which engine runs and what a finished repair writes.
``ImageMode`` edits a single ``Document``; ``MaterialMode`` a ``MaterialDocument`` whose maps share one
mask and are repaired together.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app import dialogs
from app.document import Document
from app.engine_panel import IMAGES, MAP_SETS
from app.history import Step
from app.image_run import ImageEngine
from app.material_doc import MaterialDocument, MaterialEngine
from app.material_view import MaterialView
from core.engines.base import InpaintRequest
from core.engines.registry import Registry
from core.errors import UserError
from core.io import WRITE_EXTENSIONS, load_image, load_mask, save_image
from core.material import MaterialResult, check_output, load_map_set, save_map_set

if TYPE_CHECKING:
    from app.main_window import MainWindow
    from app.run_session import RunContext


class DocumentMode:
    """The questions the window asks of a mode; each method has the plain-image answer unless overridden."""

    name = "image"
    open_error = "Cannot open"  # the title of the message when a file cannot be opened
    # What this mode's documents take as references (app.engine_panel IMAGES or MAP_SETS): the panel shows that
    # list. The sampling area applies to every mode: it is a layer of the document, and the request's options
    # reach the engine as they are.
    reference_kind = IMAGES

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    # -- opening and showing --------------------------------------------------------------------------------
    def load(self, source, mask_path: str | Path | None) -> Document:
        """The document for ``source`` (and its mask); raises UserError or MemoryError."""
        raise NotImplementedError

    def too_large(self, source) -> str:
        return f"{Path(source).name} is too large to open on this machine."

    def recent_path(self, source, doc: Document) -> Path | None:
        """What the recent-files list remembers for this document (None: nothing)."""
        return Path(source).resolve()

    def enter(self, doc: Document) -> None:
        """Show ``doc``'s mode-specific views (called every time a document opens in this mode)."""

    def leave(self) -> None:
        """Hide this mode's views: another document is about to be shown."""

    def describe(self, doc: Document) -> str:
        """The status bar's summary of the document."""
        return doc.image.describe()

    def channels(self, doc: Document) -> int:
        """How many channels an engine gets (the panel disables engines that cannot take them)."""
        return doc.image.channels

    # -- saving ---------------------------------------------------------------------------------------------
    def save(self) -> bool:
        raise NotImplementedError

    def save_as(self, path: str | Path | None = None) -> bool:
        raise NotImplementedError

    # -- running --------------------------------------------------------------------------------------------
    def engine(self, doc: Document, name: str, registry: Registry):
        """The engine-shaped object the worker drives; raises UserError for an unknown engine. For an image:
        the engine, handed only the part of the image it reads (app.image_run)."""
        return ImageEngine(registry.get(name), doc.image)

    def adjust_request(self, request: InpaintRequest) -> InpaintRequest:
        return request

    def apply(self, doc: Document, ctx: RunContext, item: object) -> Step | None:
        """Apply a run's event other than a Result (the mode's own result); None when it is not one."""
        return None


class ImageMode(DocumentMode):
    name = "image"

    def load(self, source, mask_path: str | Path | None) -> Document:
        img = load_image(source)
        mask = load_mask(mask_path, (img.height, img.width)) if mask_path else None
        return Document(img, mask)

    def save(self) -> bool:
        p = self.window.doc.path
        if p is None or p.suffix.lower() not in WRITE_EXTENSIONS:
            return self.save_as()
        return self._save_to(p)

    def save_as(self, path: str | Path | None = None) -> bool:
        w = self.window
        if path is None:
            current = w.doc.path or Path(w.files.last_folder()) / "untitled.png"
            suggested = current if current.suffix.lower() in WRITE_EXTENSIONS else current.with_suffix(".png")
            path = dialogs.save_image_path(w, str(suggested))
            if not path:
                return False
        p = Path(path)
        if not p.suffix and w.doc.path is not None:
            p = p.with_suffix(w.doc.path.suffix)
        return self._save_to(p)

    def _save_to(self, p: Path) -> bool:
        w = self.window
        try:
            written = save_image(p, w.doc.image)
        except UserError as exc:
            dialogs.show_error(w, "Cannot save", str(exc))
            return False
        w.doc.mark_saved(written)
        w.show_title(written.name)
        w.files.remember(written.resolve())
        w.statusBar().showMessage(f"Saved {written} ({w.doc.image.bit_depth})", 5000)
        return True


class MaterialMode(DocumentMode):
    """A map set: one mask, map tabs, the lit preview; repaired jointly (or map by map) and saved as a set."""

    name = "material"
    open_error = "Cannot open the material"
    reference_kind = MAP_SETS  # other materials, their maps matched by kind (core.material.references)

    def __init__(self, window: MainWindow, view: MaterialView) -> None:
        super().__init__(window)
        self.view = view

    def load(self, source, mask_path: str | Path | None) -> Document:
        mapset = load_map_set(source, exclude=[mask_path] if mask_path else [])
        mask = load_mask(mask_path, (mapset.height, mapset.width)) if mask_path else None
        return MaterialDocument(mapset, mask)

    def too_large(self, source) -> str:
        return "This material is too large to open on this machine."

    def recent_path(self, source, doc: Document) -> Path | None:
        folder = doc.mapset.folder
        return Path(folder).resolve() if folder is not None else None

    def enter(self, doc: Document) -> None:
        self.view.show_document(doc)
        self.window.panel.reference_sets.set_material(doc.mapset)

    def leave(self) -> None:
        self.view.show_document(None)
        self.window.panel.reference_sets.set_material(None)

    def describe(self, doc: Document) -> str:
        return f"{doc.image.describe()} · {len(doc.mapset.maps)} maps"

    def channels(self, doc: Document) -> int:
        return doc.total_channels()

    def save(self) -> bool:
        return self.save_as()

    def save_as(self, path: str | Path | None = None) -> bool:
        """Write every map (same names, formats, bit depths) into a folder; the input folder is refused."""
        w = self.window
        if path is None:
            path = dialogs.open_folder_path(w, w.files.last_folder(), "Save repaired maps into folder")
            if not path:
                return False
        try:
            check_output(w.doc.mapset, path)
            written = save_map_set(w.doc.mapset, path)
        except UserError as exc:
            dialogs.show_error(w, "Cannot save the material", str(exc))
            return False
        w.doc.mark_saved_as_set()
        w.setWindowModified(False)
        w.statusBar().showMessage(f"Saved {len(written)} maps to {path}", 5000)
        return True

    def engine(self, doc: Document, name: str, registry: Registry):
        registry.capabilities(name)  # unknown engine -> UserError now, not on the worker
        references = self.window.panel.reference_map_sets()
        if references:
            self.window.panel.reference_sets.check()  # a set that fits another material: its message, now
        return MaterialEngine(doc, name, self.view.separate(), registry, references)

    def adjust_request(self, request: InpaintRequest) -> InpaintRequest:
        request.variants = 1  # a map set is repaired once; variants are for single images
        return request

    def apply(self, doc: Document, ctx: RunContext, item: object) -> Step | None:
        if not isinstance(item, MaterialResult):
            return None
        mode = item.info.get("mode", "joint")
        return doc.apply_maps(item.mapset, ctx.rect, f"Repair material ({mode}, {ctx.engine})")
