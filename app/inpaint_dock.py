"""The Inpaint panel on the right: the engine's settings, Inpaint and Stop, the stage and time left, the
training loss curve (for engines that train on the open image) and the strip of result variants.

Only widgets and how they are laid out; what a run shows in them is ``app.run_session``'s job.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QDockWidget, QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from app import theme
from app.engine_panel import EnginePanel
from app.loss_plot import LossPlot
from app.variants import VariantStrip
from core.engines.registry import Registry

INPAINT_TIP = "Fill the masked area  (Ctrl+Enter)"


def _heading(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setProperty("role", "heading")
    return lab


class InpaintDock(QDockWidget):
    def __init__(self, registry: Registry, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("Inpaint", parent)
        self.setObjectName("inpaint_dock")
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.setMinimumWidth(300)
        self.panel = EnginePanel(registry, settings)
        self.inpaint_button = QPushButton("  Inpaint")
        self.inpaint_button.setObjectName("primary")
        self.inpaint_button.setToolTip(INPAINT_TIP)
        self.stop_button = QPushButton(" Stop")
        self.stop_button.setToolTip("Stop the engine; the image and mask stay as they are  (Esc)")
        self.icons = [(self.inpaint_button, "mdi6.auto-fix"), (self.stop_button, "mdi6.stop-circle-outline")]
        for button, name in self.icons:
            button.setIcon(theme.icon(name))
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
        lay.addWidget(_heading("Engine"))
        lay.addWidget(self.panel)
        lay.addSpacing(6)
        lay.addLayout(buttons)
        lay.addLayout(stage_row)
        lay.addWidget(self.progress)
        lay.addSpacing(4)
        self.training_heading = _heading("Training")
        lay.addWidget(self.training_heading)
        lay.addWidget(self.loss_plot)
        lay.addWidget(_heading("Variants"))
        lay.addWidget(self.variants)
        lay.addWidget(self.variants_hint)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.panel.changed.connect(self._show_training_section)
        self._show_training_section()

    def _show_training_section(self) -> None:
        """The loss curve only for engines that train on the open image."""
        trains = self.panel.capabilities().trains_per_image
        self.training_heading.setVisible(trains)
        self.loss_plot.setVisible(trains)

    def set_run_state(self, busy: bool, can_run: bool, reason: str | None) -> None:
        """Inpaint when a run can start (else its tooltip gives the engine's ``reason``); Stop while running."""
        self.inpaint_button.setEnabled(can_run)
        self.inpaint_button.setToolTip(reason or INPAINT_TIP)
        self.stop_button.setEnabled(busy)

    def show_stage(self, stage: str, eta: str = "") -> None:
        self.stage_label.setText(stage)
        self.eta_label.setText(eta)

    def show_ready(self) -> None:
        self.show_stage("Ready")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def clear_results(self) -> None:
        self.variants.clear()
        self.loss_plot.clear()
