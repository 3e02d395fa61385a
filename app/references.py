"""References: more of the same material that an engine which supports them (``Capabilities.supports_references``)
may learn from or copy besides the open document, and the open document's share of what is learnt.

Two lists, kept apart (the panel shows the one that fits the open document, ``EnginePanel.set_reference_kind``):

* ``ReferenceList``: reference *images*, for an image. Files are read through ``core.io`` like any opened image
  (8/16-bit, float, gray, alpha), kept in their native form and converted to the open image's channel count
  only when a run starts (``to_channels``: only the conversions that lose nothing; any other mismatch goes to
  the engine as it is, and the engine's message says what is wrong).
* ``MapSetList``: reference *map sets*, for a material: folders loaded with ``core.material.load_map_set``.
  A set must have a map of every kind the open material has, with the same channel counts
  (``core.material.references.align``): one that does not is refused when added, and one added for another
  material is marked and refused when a run starts. The material run gets them as ``references`` of
  ``inpaint_material`` (app.material_doc), never as the image engines' ``references`` option.

Both lists live for the session (they are not saved).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from app import dialogs
from app.imaging import RgbaBuffer, rgba_premultiplied, to_display8
from core.errors import UserError
from core.io import ImageData, load_image, to_float
from core.material import MapSet, load_map_set
from core.material.names import BASECOLOR
from core.material.references import align

THUMB = 48
DEFAULT_SHARE = 50  # percent
WARN = "#d9a23a"  # the panel's warning colour (engine_panel's note on an ignored sampling area)


def to_channels(values: np.ndarray, channels: int) -> np.ndarray:
    """Float H x W x C -> ``channels`` channels where that is obvious and lossless: gray -> RGB (the gray
    repeated), and a missing alpha made opaque (gray -> gray+alpha, gray or RGB -> RGBA, gray+alpha -> RGBA).
    Any other pair (RGB -> gray, dropping an alpha...) is returned unchanged: the engine says what is wrong."""
    have = values.shape[2]
    gray, alpha = values[:, :, :1], values[:, :, -1:]
    opaque = np.ones_like(gray)
    ways = {(1, 2): (gray, opaque), (1, 3): (gray, gray, gray), (1, 4): (gray, gray, gray, opaque),
            (2, 4): (gray, gray, gray, alpha), (3, 4): (values, opaque)}
    parts = ways.get((have, channels))
    if parts is None:
        return values
    return np.concatenate(parts, axis=2).astype(np.float32)


def _thumbnail(img: ImageData) -> QIcon:
    """A THUMB-sized icon of ``img``; a large image is sampled with a stride first (a map set's maps may be 8K)."""
    stride = max(1, min(img.height, img.width) // (4 * THUMB))
    px = img.pixels[::stride, ::stride]
    buf = RgbaBuffer(px.shape[1], px.shape[0])
    rgba_premultiplied(to_display8(px, img.float_lo, img.float_hi), buf.array)
    small = buf.qimage.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
    return QIcon(QPixmap.fromImage(small))


class _References(QWidget):
    """The list with thumbnails, Add… / Remove, and the open document's share; subclasses say what a row holds
    (``_items``, one per row) and how rows are added."""

    changed = Signal()
    empty_note = ""
    share_tip = ""

    def __init__(self, last_folder=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_folder = last_folder or (lambda: str(Path.home()))
        self._items: list = []
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.add_button = QPushButton("Add…")
        self.remove_button = QPushButton("Remove")
        self.share = QSpinBox()
        self.share.setRange(0, 100)
        self.share.setSuffix(" %")
        self.share.setValue(DEFAULT_SHARE)
        self.share.setToolTip(self.share_tip)
        self.share_label = QLabel("Own share")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setProperty("role", "muted")

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        share_row = QFormLayout()
        share_row.setContentsMargins(0, 0, 0, 0)
        share_row.addRow(self.share_label, self.share)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.note)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        lay.addLayout(share_row)

        self.add_button.clicked.connect(self.ask_add)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self._shares = True

    # -- the list -------------------------------------------------------------------------------------------
    def count(self) -> int:
        return len(self._items)

    def ask_add(self) -> None:
        raise NotImplementedError

    def remove_selected(self) -> None:
        rows = sorted((self.list.row(it) for it in self.list.selectedItems()), reverse=True)
        for row in rows:
            self.list.takeItem(row)
            del self._items[row]
        if rows:
            self._changed()

    def clear(self) -> None:
        self.list.clear()
        self._items.clear()
        self._changed()

    def _append(self, item: object, icon: QIcon, text: str, tooltip: str) -> QListWidgetItem:
        row = QListWidgetItem(icon, text)
        row.setToolTip(tooltip)
        self.list.addItem(row)
        self._items.append(item)
        return row

    # -- what a run gets ------------------------------------------------------------------------------------
    def set_shares(self, shares: bool) -> None:
        """Whether the engine divides its learning between the document and the references (one that trains);
        an engine that only copies from them (PatchMatch) has no share to set, and gets none."""
        self._shares = shares
        self._update_buttons()

    def share_option(self) -> dict:
        """``own_share`` for the engine options: only with references, and only for an engine that shares."""
        return {"own_share": self.share.value() / 100.0} if self._items and self._shares else {}

    def set_busy(self, busy: bool) -> None:
        self.setEnabled(not busy)

    def _changed(self) -> None:
        self._update_buttons()
        self.changed.emit()

    def _note(self) -> str:
        return "" if self._items else self.empty_note

    def _update_buttons(self) -> None:
        rows = min(len(self._items), 3)  # the list grows to three rows, then scrolls
        self.list.setFixedHeight(rows * (THUMB + 8) + 2 * self.list.frameWidth())
        self.list.setVisible(rows > 0)
        self.share.setEnabled(bool(self._items))
        self.share.setVisible(self._shares)
        self.share_label.setVisible(self._shares)
        self.remove_button.setEnabled(bool(self.list.selectedItems()))
        self.note.setText(self._note())
        self.note.setVisible(bool(self.note.text()))


class ReferenceList(_References):
    """Reference images for an image document."""

    empty_note = "Other images of the same material the model may learn from too."
    share_tip = "How much of the training comes from the open image; the references share the rest"

    def __init__(self, last_folder=None, parent: QWidget | None = None) -> None:
        super().__init__(last_folder, parent)
        self.list.setToolTip("Other images of the same kind of material the model learns from")
        self.add_button.setToolTip("Add reference images (several at once)")
        self.remove_button.setToolTip("Remove the selected reference images")
        self.share_label.setText("Own image share")
        self._update_buttons()

    def images(self) -> list[ImageData]:
        return list(self._items)

    def ask_add(self) -> None:
        paths = dialogs.open_image_paths(self.window(), self._last_folder(), "Add reference images")
        if paths:
            self.add_files(paths)

    def add_files(self, paths) -> bool:
        """Add every file, or -- when one cannot be read -- none: one message, the list unchanged."""
        loaded: list[ImageData] = []
        try:
            for p in paths:
                loaded.append(load_image(p))
        except UserError as exc:
            dialogs.show_error(self.window(), "Cannot add the reference image", str(exc))
            return False
        except MemoryError:
            dialogs.show_error(self.window(), "Out of memory", f"{Path(p).name} is too large to open on this machine.")
            return False
        for img in loaded:
            self._append(img, _thumbnail(img), f"{img.path.name}\n{img.describe()}", str(img.path))
        self._changed()
        return True

    def options(self, channels: int | None) -> dict:
        """The engine options for the list: ``references`` (float32, in the open image's channel count where
        that loses nothing) and ``own_share`` (``share_option``); nothing when the list is empty."""
        if not self._items:
            return {}
        refs = [to_float(img) for img in self._items]
        if channels is not None:
            refs = [to_channels(r, channels) for r in refs]
        return {"references": refs, **self.share_option()}


class MapSetList(_References):
    """Reference map sets for a material: one row per set (its base colour, the folder's name, how many maps)."""

    empty_note = "Other materials (folders of maps) the model may learn from too; each needs the kinds of map " \
                 "this one has."
    share_tip = "How much of the training comes from the open material; the reference sets share the rest"

    def __init__(self, last_folder=None, parent: QWidget | None = None) -> None:
        super().__init__(last_folder, parent)
        self.list.setToolTip("Other materials the model learns from: their maps match this material's by kind")
        self.add_button.setToolTip("Add a reference material (a folder of maps)")
        self.remove_button.setToolTip("Remove the selected reference map sets")
        self.share_label.setText("Own material share")
        self._material: MapSet | None = None
        self._mismatch: list[str | None] = []  # per row: why the set does not fit the open material
        self._update_buttons()

    def map_sets(self) -> list[MapSet]:
        return list(self._items)

    def set_material(self, mapset: MapSet | None) -> None:
        """The material open now (None: none): sets are checked against it when added, and rows added for
        another material are marked when they do not fit this one."""
        self._material = mapset
        self._mismatch = [self.mismatch(ref) for ref in self._items]
        for i, ref in enumerate(self._items):
            self._label_row(self.list.item(i), ref, self._mismatch[i])
        self._update_buttons()

    def mismatch(self, ref: MapSet) -> str | None:
        """Why ``ref`` cannot teach the open material (the core's message), or None."""
        if self._material is None:
            return None
        own = self._material.folder
        if own is not None and ref.folder is not None and Path(own).resolve() == Path(ref.folder).resolve():
            return f"{ref.folder} is the material being repaired; a reference set must be another folder"
        try:
            align(ref, self._material)
        except UserError as exc:
            return str(exc)
        return None

    def ask_add(self) -> None:
        path = dialogs.open_folder_path(self.window(), self._last_folder(), "Add a reference material (folder)")
        if path:
            self.add_folder(path)

    def add_folder(self, folder) -> bool:
        """Load ``folder`` as a map set and add it, unless it cannot be read or does not fit the open material:
        then one message, and the list unchanged."""
        title = "Cannot add the reference material"
        try:
            ref = load_map_set(folder)
        except UserError as exc:
            dialogs.show_error(self.window(), title, str(exc))
            return False
        except MemoryError:
            dialogs.show_error(self.window(), "Out of memory",
                               f"{Path(folder).name} is too large to open on this machine.")
            return False
        why = self.mismatch(ref)
        if why is not None:
            dialogs.show_error(self.window(), title, why)
            return False
        thumb = ref.get(BASECOLOR) or ref.maps[0]
        row = self._append(ref, _thumbnail(thumb.image), "", "")
        self._mismatch.append(None)
        self._label_row(row, ref, None)
        self._changed()
        return True

    def remove_selected(self) -> None:
        rows = sorted((self.list.row(it) for it in self.list.selectedItems()), reverse=True)
        for row in rows:
            del self._mismatch[row]
        super().remove_selected()

    def clear(self) -> None:
        self._mismatch.clear()
        super().clear()

    def check(self) -> None:
        """Raise the first unfit set's message (a run must not start with it)."""
        for why in self._mismatch:
            if why is not None:
                raise UserError(why)

    def _label_row(self, row: QListWidgetItem, ref: MapSet, why: str | None) -> None:
        name = Path(ref.folder).name if ref.folder is not None else "map set"
        n = len(ref.maps)
        detail = f"{n} map{'s' if n != 1 else ''} · {ref.width}×{ref.height}"
        row.setText(f"{name}\n{detail}" + ("  ·  does not fit" if why else ""))
        tip = f"{ref.folder}\n" + "\n".join(m.name for m in ref.maps)
        row.setToolTip(f"{tip}\n\n{why}" if why else tip)
        row.setData(Qt.ItemDataRole.ForegroundRole, QBrush(QColor(WARN)) if why else None)

    def _note(self) -> str:
        bad = sum(why is not None for why in self._mismatch)
        if bad:
            return (f"{bad} of these sets do not fit this material's maps (hover for why); remove them to run."
                    if bad > 1 else "One set does not fit this material's maps (hover for why); remove it to run.")
        return super()._note()
