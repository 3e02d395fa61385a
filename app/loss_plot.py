"""A small training-loss curve drawn with QPainter: raw values faint, a running average bold, log scale."""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(90)
        self.steps: list[int] = []
        self.values: list[float] = []
        self.smooth: list[float] = []
        self.total: int | None = None
        self._ema = 0.0
        self.setToolTip("Training loss on the known pixels (log scale)")

    def sizeHint(self) -> QSize:
        return QSize(240, 96)

    def clear(self) -> None:
        self.steps, self.values, self.smooth, self.total = [], [], [], None
        self._ema = 0.0
        self.update()

    def add(self, step: int, value: float, total: int | None = None) -> None:
        if not math.isfinite(value) or value <= 0:
            return
        self.total = total or self.total
        self.steps.append(step)
        self.values.append(value)
        # exponential average with bias correction, so the first points are not pulled towards the first value
        self._ema = 0.85 * self._ema + 0.15 * value
        self.smooth.append(self._ema / (1.0 - 0.85 ** len(self.values)))
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(theme.color("mid"), 1))
        p.setBrush(theme.color("base"))
        p.drawRoundedRect(r, 4, 4)
        plot = r.adjusted(8, 18, -8, -8)
        p.setPen(theme.color("muted"))
        font = p.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        if len(self.values) < 2:
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "Loss curve appears while the model trains")
            return
        logs = [math.log10(v) for v in self.values]
        lo, hi = min(logs), max(logs)
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        x_max = max(self.total or 0, self.steps[-1])
        x_min = self.steps[0]

        def pt(step: int, value: float) -> QPointF:
            fx = (step - x_min) / max(1, x_max - x_min)
            fy = (math.log10(value) - lo) / (hi - lo)
            return QPointF(plot.left() + fx * plot.width(), plot.bottom() - fy * plot.height())

        for series, col, width in ((self.values, QColor(theme.ACCENT), 1.0), (self.smooth, QColor(theme.ACCENT), 2.0)):
            path = QPainterPath(pt(self.steps[0], series[0]))
            for s, v in zip(self.steps[1:], series[1:]):
                path.lineTo(pt(s, v))
            c = QColor(col)
            c.setAlpha(90 if width < 2 else 255)
            p.setPen(QPen(c, width))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        p.setPen(theme.color("muted"))
        p.drawText(r.adjusted(8, 3, -8, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                   f"loss {self.smooth[-1]:.4f}")
        p.drawText(r.adjusted(8, 3, -8, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                   f"step {self.steps[-1]}" + (f" / {self.total}" if self.total else ""))
