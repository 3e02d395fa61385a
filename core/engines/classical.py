"""OpenCV's classical inpainting (Telea's fast marching, Navier-Stokes): instant baselines.

They smooth rather than synthesise texture, so they serve as a preview while a model trains and as the
peers every benchmark compares against. The module shows the shape of every engine: a ``RegionEngine``
whose ``fill`` is the model step alone (core.engines.region does the rest) and an options class (here
the options every engine takes).
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from core.engines.base import Capabilities, Event, Progress
from core.engines.options import EngineOptions
from core.engines.region import RegionEngine, RegionJob
from core.masks import Box, context_margin

RADIUS = 5


def cv_inpaint(image: np.ndarray, mask: np.ndarray, method: str = "telea", radius: int = RADIUS) -> np.ndarray:
    """Float H x W x C in [0, 1] -> float, any channel count (OpenCV takes 1 or 3 at a time, 8/16-bit/float).

    OpenCV's inpaint accepts 8-bit, 16-bit (1 ch) or float 1 ch; we use 16-bit per channel to keep precision.
    """
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    m8 = mask.astype(np.uint8) * 255
    out = np.empty_like(image, dtype=np.float32)
    for c in range(image.shape[2]):
        ch16 = np.rint(np.clip(image[:, :, c], 0, 1) * 65535).astype(np.uint16)
        out[:, :, c] = cv2.inpaint(ch16, m8, radius, flag).astype(np.float32) / 65535.0
    return out


class ClassicalEngine(RegionEngine):
    Options = EngineOptions

    def __init__(self, name: str, method: str, capabilities: Capabilities) -> None:
        super().__init__(capabilities)
        self.name = name
        self.method = method

    def margin(self, box: Box) -> int:
        return context_margin(box) + RADIUS

    def fill(self, job: RegionJob, opts: EngineOptions) -> Iterator[Event]:
        yield Progress("fill", 0, 1, f"{self.capabilities.title}")
        filled = cv_inpaint(job.roi, job.hole, self.method)
        yield Progress("fill", 1, 1, "done")
        yield job.result(filled, 0)


def register(registry) -> None:
    for name, method, title in (("telea", "telea", "OpenCV Telea"), ("ns", "ns", "OpenCV Navier-Stokes")):
        caps = Capabilities(
            title=title,
            description=f"{title}: instant classical fill that smooths across the hole (no texture).",
            instant=True,
            devices=("cpu",),
        )
        registry.register(name, caps, lambda n=name, m=method, c=caps: ClassicalEngine(n, m, c))
