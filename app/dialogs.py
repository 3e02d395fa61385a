"""Every dialog the window opens, in one place (tests replace these functions to answer them)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from core.io import READ_EXTENSIONS, WRITE_EXTENSIONS


def _filter(exts: set[str], label: str) -> str:
    pats = " ".join(f"*{e}" for e in sorted(exts))
    return f"{label} ({pats});;All files (*)"


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    box = QMessageBox(QMessageBox.Icon.Warning if not details else QMessageBox.Icon.Critical, title, message,
                      QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def ask_unsaved(parent: QWidget | None, name: str) -> str:
    """'save', 'discard' or 'cancel'."""
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                      f"“{name}” has changes that are not saved. Save them first?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")


def open_image_path(parent: QWidget | None, folder: str, title: str = "Open image") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, _filter(READ_EXTENSIONS, "Images"))
    return path or None


def save_image_path(parent: QWidget | None, suggested: str, title: str = "Save image as") -> str | None:
    ext = Path(suggested).suffix.lower()
    filters = [f"Same format (*{ext})"] if ext in WRITE_EXTENSIONS else []
    filters.append(_filter(WRITE_EXTENSIONS, "Images"))
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, ";;".join(filters))
    return path or None


def open_folder_path(parent: QWidget | None, folder: str, title: str) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, title, folder)
    return path or None


def open_image_paths(parent: QWidget | None, folder: str, title: str) -> list[str]:
    """Several image files at once (an empty list when cancelled)."""
    paths, _ = QFileDialog.getOpenFileNames(parent, title, folder, _filter(READ_EXTENSIONS, "Images"))
    return list(paths)
