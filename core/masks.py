"""Masks: checking the user's, finding the region to work on, and drawing synthetic training strokes."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import UserError


def validate_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return ``mask`` as bool H x W, or raise ``UserError`` for the cases an engine cannot serve."""
    if mask.shape[:2] != tuple(shape):
        raise UserError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}; "
                        "the mask must have the same size")
    m = np.asarray(mask, bool)  # no copy of a bool mask (67 MB at 8K for every engine's reads): callers only read it
    if m.ndim == 3:
        m = m.any(axis=2)
    if not m.any():
        raise UserError("mask is empty: paint (white) over what must be filled")
    if m.all():
        raise UserError("mask covers the whole image: nothing is left to learn from")
    return m


def checked_source(source, mask: np.ndarray) -> np.ndarray | None:
    """A sampling area (where a fill may copy or learn from) as bool H x W, or a UserError when it is unusable."""
    if source is None:
        return None
    src = np.asarray(source)
    if src.ndim == 3:
        src = src.any(axis=2)
    if src.shape != mask.shape:
        raise UserError(f"the source area is {src.shape[1]}x{src.shape[0]} but the image is "
                        f"{mask.shape[1]}x{mask.shape[0]}; it must have the same size")
    src = src.astype(bool)
    if not (src & ~mask).any():
        raise UserError("the source area holds no known pixels to copy from")
    return src


@dataclass(frozen=True)
class Box:
    """Half-open pixel box [y0, y1) x [x0, x1)."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def hole_bbox(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask.any(axis=1)), np.nonzero(mask.any(axis=0))
    return Box(int(ys[0][0]), int(xs[0][0]), int(ys[0][-1]) + 1, int(xs[0][-1]) + 1)


def grow_box(box: Box, margin: int, shape: tuple[int, int], multiple: int = 8) -> Box:
    """``box`` grown by ``margin`` on each side, clipped to the image, sized to a multiple where possible.

    The result always holds all of ``box``: when the image is too small for a multiple, context is given up
    (from the end, then the start), never the box itself; if even that is not enough the size stays unaligned.
    """
    h, w = shape
    y0, x0 = max(0, box.y0 - margin), max(0, box.x0 - margin)
    y1, x1 = min(h, box.y1 + margin), min(w, box.x1 + margin)

    def fit(a: int, b: int, size: int, keep_a: int, keep_b: int) -> tuple[int, int]:
        length = b - a
        target = min(size - size % multiple if size >= multiple else size,
                     int(math.ceil(length / multiple)) * multiple)
        extra = target - length
        if extra > 0:  # extend, preferring the end, then the start
            add_end = min(extra, size - b)
            b += add_end
            a -= extra - add_end
        elif extra < 0:  # shrink the context, preferring the end, then the start; keep [keep_a, keep_b)
            cut_end = min(-extra, b - keep_b)
            b -= cut_end
            cut_start = min(-extra - cut_end, keep_a - a)
            if cut_end + cut_start == -extra:
                a += cut_start
            else:  # the box itself is too long for an aligned window: keep the context, unaligned
                b += cut_end
        return max(0, a), min(size, b)

    y0, y1 = fit(y0, y1, h, box.y0, box.y1)
    x0, x1 = fit(x0, x1, w, box.x0, box.x1)
    return Box(y0, x0, y1, x1)


def context_margin(box: Box) -> int:
    """Context kept around the hole when sampling: enough for the UNet's receptive field (~100 px)."""
    return int(max(48, 0.5 * max(box.height, box.width)))


def _distance_to_known(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the distance (px) to the nearest known pixel; 0 on known pixels."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)


def hole_thickness(mask: np.ndarray) -> float:
    """Typical width of the hole in pixels (twice the largest distance to a known pixel)."""
    return float(2.0 * _distance_to_known(mask).max())


def mean_hole_distance(mask: np.ndarray) -> float:
    """Mean distance (px) from a hole pixel to the nearest known pixel: ~1 for scattered missing pixels,
    about a quarter of the width for strokes. 0 for an empty mask."""
    if not mask.any():
        return 0.0
    return float(_distance_to_known(mask)[mask.astype(bool)].mean())


SCATTERED_DIST = 2.0


def is_scattered(mask: np.ndarray, max_dist: float = SCATTERED_DIST) -> bool:
    """True when the hole is made of isolated missing pixels (dust, random pixel loss) rather than strokes
    or regions: its pixels lie on average within ``max_dist`` px of a known pixel."""
    return bool(mask.any()) and mean_hole_distance(mask) <= max_dist


def random_strokes(h: int, w: int, rng: np.random.Generator, *, n_strokes: tuple[int, int] = (1, 3),
                   vertices: tuple[int, int] = (4, 11), width: tuple[float, float] = (12, 40),
                   reach: float | None = None) -> np.ndarray:
    """Free-form brush strokes (the eraser-like masks of Yu et al.): a random walk of thick segments.

    ``reach`` is the mean segment length; the paper's code uses sqrt(H^2 + W^2) / 8.
    """
    m = np.zeros((h, w), np.uint8)
    reach = reach if reach is not None else math.hypot(h, w) / 8.0
    for _ in range(int(rng.integers(n_strokes[0], n_strokes[1] + 1))):
        y, x = float(rng.uniform(0, h)), float(rng.uniform(0, w))
        thick = max(1, int(round(rng.uniform(*width))))
        angle = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(vertices[0], vertices[1] + 1))):
            angle += rng.uniform(-math.pi / 3, math.pi / 3) + (math.pi if rng.random() < 0.3 else 0.0)
            length = max(2.0, rng.normal(reach, reach / 2))
            ny = float(np.clip(y + length * math.sin(angle), 0, h - 1))
            nx = float(np.clip(x + length * math.cos(angle), 0, w - 1))
            cv2.line(m, (int(x), int(y)), (int(nx), int(ny)), 1, thick)
            cv2.circle(m, (int(nx), int(ny)), thick // 2, 1, -1)
            y, x = ny, nx
    return m.astype(bool)


def random_box(h: int, w: int, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
    """One axis-aligned rectangle with sides drawn in ``size`` (pixels)."""
    m = np.zeros((h, w), bool)
    bh = int(np.clip(rng.uniform(*size), 2, h - 2))
    bw = int(np.clip(rng.uniform(*size), 2, w - 2))
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    m[y:y + bh, x:x + bw] = True
    return m


def stroke_mask_for_bench(h: int, w: int, seed: int, coverage: tuple[float, float] = (0.15, 0.25)) -> np.ndarray:
    """A reproducible free-form test mask covering a fraction of the image within ``coverage``."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        m = random_strokes(h, w, rng, n_strokes=(2, 4), vertices=(4, 10),
                           width=(0.05 * w, 0.11 * w), reach=math.hypot(h, w) / 7)
        if coverage[0] <= m.mean() <= coverage[1]:
            return m
    return m


def centre_box_mask(h: int, w: int, frac: float = 0.25) -> np.ndarray:
    """A centred square covering ``frac`` of the image area."""
    m = np.zeros((h, w), bool)
    side_h, side_w = int(round(h * math.sqrt(frac))), int(round(w * math.sqrt(frac)))
    y, x = (h - side_h) // 2, (w - side_w) // 2
    m[y:y + side_h, x:x + side_w] = True
    return m
