"""Reference images: more pictures of the same material that an engine which supports them
(``Capabilities.supports_references``) may learn from besides the open image, and the open image's share
of what is learnt.

The list lives for the session (it is not saved): files are read through ``core.io`` like any opened
image (8/16-bit, float, gray, alpha), kept in their native form and converted to the open image's channel
count only when a run starts (``to_channels``: only the conversions that lose nothing; any other mismatch
goes to the engine as it is, and the engine's message says what is wrong).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from app import dialogs
from app.imaging import RgbaBuffer, rgba_premultiplied, to_display8
from core.errors import UserError
from core.io import ImageData, load_image, to_float

THUMB = 48
DEFAULT_SHARE = 50  # percent


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
    buf = RgbaBuffer(img.width, img.height)
    rgba_premultiplied(to_display8(img.pixels, img.float_lo, img.float_hi), buf.array)
    small = buf.qimage.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
    return QIcon(QPixmap.fromImage(small))


class ReferenceList(QWidget):
    """The list with thumbnails, Add… / Remove, and the own-image share."""

    changed = Signal()

    def __init__(self, last_folder=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_folder = last_folder or (lambda: str(Path.home()))
        self._images: list[ImageData] = []
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.setToolTip("Other images of the same kind of material the model learns from")
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add reference images (several at once)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected reference images")
        self.share = QSpinBox()
        self.share.setRange(0, 100)
        self.share.setSuffix(" %")
        self.share.setValue(DEFAULT_SHARE)
        self.share.setToolTip("How much of the training comes from the open image; the references share the rest")
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
        share_row.addRow("Own image share", self.share)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.note)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        lay.addLayout(share_row)

        self.add_button.clicked.connect(self.ask_add)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self._blocked: str | None = None
        self._update_buttons()

    # -- the list -------------------------------------------------------------------------------------------
    def count(self) -> int:
        return len(self._images)

    def images(self) -> list[ImageData]:
        return list(self._images)

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
            item = QListWidgetItem(_thumbnail(img), f"{img.path.name}\n{img.describe()}")
            item.setToolTip(str(img.path))
            self.list.addItem(item)
            self._images.append(img)
        self._changed()
        return True

    def remove_selected(self) -> None:
        rows = sorted((self.list.row(it) for it in self.list.selectedItems()), reverse=True)
        for row in rows:
            self.list.takeItem(row)
            del self._images[row]
        if rows:
            self._changed()

    def clear(self) -> None:
        self.list.clear()
        self._images.clear()
        self._changed()

    # -- what a run gets ------------------------------------------------------------------------------------
    def set_blocked(self, reason: str | None) -> None:
        """``reason`` why the references do not apply to the open document (None: they do)."""
        self._blocked = reason
        self._update_buttons()

    def options(self, channels: int | None) -> dict:
        """The engine options for the list: ``references`` (float32, in the open image's channel count where
        that loses nothing) and ``own_share``; nothing when the list is empty or does not apply."""
        if not self._images or self._blocked:
            return {}
        refs = [to_float(img) for img in self._images]
        if channels is not None:
            refs = [to_channels(r, channels) for r in refs]
        return {"references": refs, "own_share": self.share.value() / 100.0}

    def set_busy(self, busy: bool) -> None:
        self.setEnabled(not busy)

    def _changed(self) -> None:
        self._update_buttons()
        self.changed.emit()

    def _update_buttons(self) -> None:
        rows = min(len(self._images), 3)  # the list grows to three rows, then scrolls
        self.list.setFixedHeight(rows * (THUMB + 8) + 2 * self.list.frameWidth())
        self.list.setVisible(rows > 0)
        free = self._blocked is None
        self.list.setEnabled(free)
        self.add_button.setEnabled(free)
        self.share.setEnabled(free and bool(self._images))
        self.remove_button.setEnabled(free and bool(self.list.selectedItems()))
        if self._blocked:
            self.note.setText(self._blocked)
        elif not self._images:
            self.note.setText("Other images of the same material the model may learn from too.")
        else:
            self.note.setText("")
        self.note.setVisible(bool(self.note.text()))
