"""Overlapping tiles: where they start, how they blend, and a fill run tile by tile.

Array operations only (numpy), so the low-rank steps and the engines can share them without importing each other.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering [0, length) with at least ``overlap`` shared pixels."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    n = int(np.ceil((length - tile) / stride)) + 1
    return [int(round(i * (length - tile) / (n - 1))) for i in range(n)]


def blend_window(h: int, w: int, overlap: int) -> np.ndarray:
    """Weights (h, w) that ramp linearly over ``overlap`` pixels at every edge, for blending tiles."""
    def ramp(n: int) -> np.ndarray:
        r = np.ones(n, np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            v = (np.arange(k, dtype=np.float32) + 0.5) / k
            r[:k], r[n - k:] = v, v[::-1]
        return r
    return np.outer(ramp(h), ramp(w))


def run_tiled(region: np.ndarray, hole: np.ndarray, tile: int, overlap: int,
              fill: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fill(tile_image, tile_hole) -> tile_result`` over overlapping tiles that touch the hole and
    blend the results; pixels outside the hole keep their values. Tiles are filled in raster order and each
    sees the fills of the tiles before it, so neighbouring tiles agree in their overlap."""
    h, w = hole.shape
    out = region.copy()
    acc = np.zeros(region.shape, np.float32)
    wsum = np.zeros((h, w, 1), np.float32)
    for y in tile_starts(h, tile, overlap):
        for x in tile_starts(w, tile, overlap):
            th = hole[y:y + tile, x:x + tile]
            if not th.any():
                continue
            res = fill(out[y:y + tile, x:x + tile], th)
            win = blend_window(*th.shape, overlap)[:, :, None]
            acc[y:y + tile, x:x + tile] += res * win
            wsum[y:y + tile, x:x + tile] += win
            done = np.where(wsum[y:y + tile, x:x + tile] > 0, acc[y:y + tile, x:x + tile] /
                            np.maximum(wsum[y:y + tile, x:x + tile], 1e-8), out[y:y + tile, x:x + tile])
            out[y:y + tile, x:x + tile] = np.where(th[:, :, None], done, region[y:y + tile, x:x + tile])
    return np.where(hole[:, :, None], out, region)
