"""Train a few-shot engine (ESDiff, GRIG) on a folder of the user's images, in the background.

The dialog lists the engines whose capabilities say ``retrainable``; it validates the folder and the
output file with the same code as ``train-fewshot`` on the command line, runs the trainer's event stream
on a worker thread (the same ``RunController`` that drives inpainting: progress, loss curve, Stop within
one step), and when the weights are written it hands them to ``weights_ready`` so the engine panel can
offer them. A stopped run keeps its checkpoint: starting again with "Continue" resumes it.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget)

from app import dialogs, theme
from app.loss_plot import LossPlot
from app.worker import Outcome, RunController, describe_failure
from core.engines.base import Progress
from core.engines.registry import Registry
from core.errors import UserError


def default_weights_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".reweave") / "weights"


def suggested_output(engine: str, folder: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(folder).name or "images").strip("-") or "images"
    return default_weights_dir() / f"{engine}-{stem}.safetensors"


def _tool_button(icon: str, tooltip: str, slot) -> QToolButton:
    button = QToolButton()
    button.setIcon(theme.icon(icon))
    button.setToolTip(tooltip)
    button.clicked.connect(slot)
    return button


class _Trainer:
    """Adapts a trainer function to the ``run(request)`` shape that ``RunController`` drives."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer

    def run(self, request):
        return self.trainer(request)


class TrainDialog(QDialog):
    weights_ready = Signal(str, str)  # engine name, weights path

    def __init__(self, registry: Registry, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model on a folder")
        self.setModal(False)
        self.registry = registry
        self.settings = settings
        self.controller = RunController(self)
        self._t0 = 0.0
        self.last_outcome: Outcome | None = None

        intro = QLabel("Few-shot engines learn from a handful of images (5-20 of the kind you repair: "
                       "textures, photos of a place, scans). Training runs in the background; you can keep "
                       "working, and Stop keeps a checkpoint to continue later.")
        intro.setWordWrap(True)
        intro.setProperty("role", "muted")
        self.engine_combo = QComboBox()
        for e in registry.entries():
            if e.capabilities.retrainable:
                self.engine_combo.addItem(e.capabilities.title, e.name)
        self.folder_edit = QLineEdit(str(settings.value("train/folder", "")))
        self.folder_edit.setPlaceholderText("Folder of training images")
        browse = _tool_button("mdi6.folder-open-outline", "Choose the folder of training images", self._browse_folder)
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("Weights file (.safetensors)")
        out_browse = _tool_button("mdi6.content-save-outline", "Where to write the weights", self._browse_out)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(1, 24 * 60)
        self.minutes.setDecimals(0)
        self.minutes.setSuffix(" min")
        self.minutes.setValue(float(settings.value("train/minutes", 30)))
        self.minutes.setToolTip("Training stops and saves when this time is spent (a GPU just does more steps)")
        self.resume = QCheckBox("Continue from the last checkpoint of this file")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 1)
        self.status = QLabel("Ready")
        self.loss_plot = LossPlot()
        self.start_button = QPushButton("Train")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        close = QPushButton("Close")
        close.clicked.connect(self.close)

        form = QFormLayout()
        form.addRow("Engine", self.engine_combo)
        form.addRow("Images", self._row(self.folder_edit, browse))
        form.addRow("Save as", self._row(self.out_edit, out_browse))
        form.addRow("Time budget", self.minutes)
        form.addRow("", self.resume)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.stop_button, close):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addWidget(self.progress)
        lay.addWidget(self.loss_plot)
        lay.addLayout(buttons)
        self.resize(520, 420)

        self.engine_combo.currentIndexChanged.connect(self._suggest_output)
        self.folder_edit.textChanged.connect(self._suggest_output)
        self.controller.progress.connect(self._on_progress)
        self.controller.loss.connect(lambda ev: self.loss_plot.add(ev.step, ev.value, self.progress.maximum()))
        self.controller.other.connect(self._on_other)
        self.controller.finished.connect(self._on_finished)
        self._suggest_output()
        self._set_busy(False)

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        for i, w in enumerate(widgets):
            h.addWidget(w, 1 if i == 0 else 0)
        return row

    # -- choices ----------------------------------------------------------------------------------------------
    def engine_name(self) -> str:
        return str(self.engine_combo.currentData() or "")

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training images", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save weights as", self.out_edit.text(),
                                              "Weights (*.safetensors)")
        if path:
            self.out_edit.setText(path if path.endswith(".safetensors") else path + ".safetensors")

    def _suggest_output(self) -> None:
        if not self.out_edit.isModified() and self.engine_name():
            self.out_edit.setText(str(suggested_output(self.engine_name(), self.folder_edit.text())))

    # -- running ------------------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Validate (as the CLI does: one clear message, nothing written) and start training."""
        from core.fewshot_cli import TrainSettings, build_request

        if self.controller.is_running():
            return False
        out = Path(self.out_edit.text().strip()).expanduser()
        if out.parent == default_weights_dir():
            out.parent.mkdir(parents=True, exist_ok=True)
        settings = TrainSettings(engine=self.engine_name(), data=self.folder_edit.text().strip(), out=str(out),
                                 minutes=self.minutes.value(), resume=self.resume.isChecked())
        try:
            trainer, request = build_request(settings, self.registry)
        except UserError as exc:
            dialogs.show_error(self, "Cannot train", str(exc))
            return False
        self.settings.setValue("train/folder", settings.data)
        self.settings.setValue("train/minutes", self.minutes.value())
        self.loss_plot.clear()
        self.last_outcome = None
        self._t0 = time.monotonic()
        self.status.setText(f"Training {self.engine_combo.currentText()} on {len(request.images)} images…")
        self.progress.setRange(0, 0)
        self.controller.start(_Trainer(trainer), request)
        self._set_busy(True)
        return True

    def stop(self) -> None:
        if self.controller.is_running():
            self.status.setText("Stopping (saving a checkpoint)…")
            self.controller.stop()

    def _set_busy(self, busy: bool) -> None:
        for w in (self.engine_combo, self.folder_edit, self.out_edit, self.minutes, self.resume):
            w.setEnabled(not busy)
        self.start_button.setEnabled(not busy and self.engine_combo.count() > 0)
        self.stop_button.setEnabled(busy)

    def _on_progress(self, ev: Progress) -> None:
        self.progress.setRange(0, max(1, ev.total))
        self.progress.setValue(min(ev.step, ev.total))
        minutes = (time.monotonic() - self._t0) / 60
        self.status.setText(f"Step {ev.step}/{ev.total}, {minutes:.1f} of {self.minutes.value():.0f} min"
                            + (f" — {ev.message}" if ev.message else ""))

    def _on_other(self, item: object) -> None:
        from core.fewshot.common import TrainDone

        if isinstance(item, TrainDone):
            self.status.setText(f"Saved {item.path.name}: {item.steps} steps in {item.seconds / 60:.1f} min. "
                                "It is now selectable in the engine panel.")
            self.weights_ready.emit(self.engine_name(), str(item.path))

    def _on_finished(self, outcome: Outcome) -> None:
        self.last_outcome = outcome
        self.progress.setRange(0, 1)
        self._set_busy(False)
        if outcome.status == "stopped":
            self.progress.setValue(0)
            self.status.setText("Stopped. A checkpoint was kept: tick “Continue” and Train to go on.")
            self.resume.setChecked(True)
        elif outcome.status == "failed":
            self.status.setText("Failed")
            title, message = describe_failure(outcome)
            dialogs.show_error(self, title.replace("inpaint", "train"), message,
                               "" if isinstance(outcome.error, UserError) else outcome.details)
        else:
            self.progress.setValue(1)

    def closeEvent(self, event) -> None:  # closing the dialog does not stop training
        if self.controller.is_running():
            self.hide()
            event.ignore()
            return
        super().closeEvent(event)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop a running training (it checkpoints) and wait; for quitting the app."""
        if self.controller.is_running():
            self.controller.stop()
            self.controller.wait(timeout_s)
