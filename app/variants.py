"""Result variants as thumbnails to pick from."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from app.imaging import RgbaBuffer

THUMB = 72


class VariantStrip(QListWidget):
    picked = Signal(int)  # variant index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setSpacing(4)
        self.setFixedHeight(THUMB + 34)
        self.setToolTip("Pick a variant; it replaces the applied result (one undo step)")
        self.currentRowChanged.connect(self._on_row)
        self._quiet = False

    def add_variant(self, index: int, rgba: np.ndarray) -> None:
        pm = QPixmap.fromImage(RgbaBuffer.from_array(rgba).qimage.copy())
        pm = pm.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        icon = QIcon(pm)
        icon.addPixmap(pm, QIcon.Mode.Selected)  # else the style tints the picked thumbnail with the highlight
        item = QListWidgetItem(icon, f"#{index + 1}")
        item.setData(Qt.ItemDataRole.UserRole, index)
        self._quiet = True
        self.addItem(item)
        if self.count() == 1:
            self.setCurrentRow(0)
        self._quiet = False

    def _on_row(self, row: int) -> None:
        if not self._quiet and row >= 0:
            self.picked.emit(int(self.item(row).data(Qt.ItemDataRole.UserRole)))
