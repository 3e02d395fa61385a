"""Rasterising the mask tools into the 8-bit coverage mask: round brush segments, rectangles and lassos.

A brush of diameter ``d`` and hardness ``k`` (0..1) covers a pixel fully when its centre lies within
``k * d / 2`` of the stroke and fades linearly to nothing at ``d / 2``. Painting keeps the larger
coverage, erasing the smaller, so going over the same place twice does not build up.

Each function takes ``prepare``: called with the rectangle it is about to write, before it writes (the
document saves the layer's content there for undo, ``Document.will_change``).
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from app.history import Rect

Prepare = Callable[[Rect], None] | None


def _clip(rect: Rect, shape: tuple[int, int]) -> Rect | None:
    y0, x0, y1, x1 = rect
    y0, x0 = max(0, y0), max(0, x0)
    y1, x1 = min(shape[0], y1), min(shape[1], x1)
    if y0 >= y1 or x0 >= x1:
        return None
    return y0, x0, y1, x1


def stamp_segment(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], diameter: float,
                  hardness: float, erase: bool = False, prepare: Prepare = None) -> Rect | None:
    """Paint (or erase) a round-capped segment from ``p0`` to ``p1`` (x, y in image pixels); returns the rect
    touched."""
    r = max(0.5, diameter / 2.0)
    (ax, ay), (bx, by) = p0, p1
    rect = _clip((int(np.floor(min(ay, by) - r)), int(np.floor(min(ax, bx) - r)),
                  int(np.ceil(max(ay, by) + r)) + 1, int(np.ceil(max(ax, bx) + r)) + 1), mask.shape)
    if rect is None:
        return None
    y0, x0, y1, x1 = rect
    py = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    px = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 1e-9:
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    else:
        t = np.zeros((1, 1), np.float32)
    dist = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
    inner = r * float(np.clip(hardness, 0.0, 1.0))
    if r - inner < 1e-6:
        cover = (dist <= r).astype(np.float32)
    else:
        cover = np.clip((r - dist) / (r - inner), 0.0, 1.0)
    alpha = np.rint(cover * 255.0).astype(np.uint8)
    if prepare is not None:
        prepare(rect)
    region = mask[y0:y1, x0:x1]
    if erase:
        np.minimum(region, 255 - alpha, out=region)
    else:
        np.maximum(region, alpha, out=region)
    return rect


def fill_rect(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], erase: bool = False,
              prepare: Prepare = None) -> Rect | None:
    """Fill the pixels whose centres lie inside the rectangle spanned by two corners (x, y)."""
    xa, xb = sorted((p0[0], p1[0]))
    ya, yb = sorted((p0[1], p1[1]))
    rect = _clip((int(np.ceil(ya - 0.5)), int(np.ceil(xa - 0.5)), int(np.ceil(yb - 0.5)), int(np.ceil(xb - 0.5))),
                 mask.shape)
    if rect is None:
        return None
    if prepare is not None:
        prepare(rect)
    mask[rect[0]:rect[2], rect[1]:rect[3]] = 0 if erase else 255
    return rect


def fill_polygon(mask: np.ndarray, points: list[tuple[float, float]], erase: bool = False,
                 prepare: Prepare = None) -> Rect | None:
    """Fill a closed lasso (x, y points in image pixels)."""
    if len(points) < 3:
        return None
    pts = np.array(points, np.float64)
    rect = _clip((int(np.floor(pts[:, 1].min())), int(np.floor(pts[:, 0].min())),
                  int(np.ceil(pts[:, 1].max())) + 1, int(np.ceil(pts[:, 0].max())) + 1), mask.shape)
    if rect is None:
        return None
    y0, x0, y1, x1 = rect
    shift = 4  # sub-pixel precision for OpenCV's fixed-point polygon filler
    local = np.rint((pts - [x0 + 0.5, y0 + 0.5]) * (1 << shift)).astype(np.int32)
    stencil = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(stencil, [local], 255, lineType=cv2.LINE_8, shift=shift)
    if prepare is not None:
        prepare(rect)
    region = mask[y0:y1, x0:x1]
    region[stencil > 0] = 0 if erase else 255
    return rect
