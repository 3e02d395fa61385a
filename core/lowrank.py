"""The Hankel low-rank step shared by ESDiff's sampler and the internal engine, and overlapping-tile mapping.

``hankel_project`` projects an image onto block-Hankel matrices of bounded rank (im2row with 8x8 windows, as
in the ESDiff paper and HKGM); ``lowrank_complete`` alternates that projection with data consistency, which
fills scattered missing pixels from the image's own repeating structure; ``tiled_map`` applies a function
over overlapping 64x64 tiles, a bounded number at a time, blended linearly.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from core.tiling import blend_window, tile_starts

HANKEL_WIN = 8
HANKEL_RANK = 115  # HKGM's constant (192 columns for an RGB 8x8 window)
TILE, OVERLAP = 64, 16


# ---- the Hankel low-rank projection ---------------------------------------------------------------------
def eigh64(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices, computed in float64 (on this CPU
    ~5x faster than float32 for the Hankel Gram matrices, and stable), returned in float32. MPS has neither
    float64 nor eigh: there the small matrices go to the CPU and back, explicitly; elsewhere nothing moves."""
    if gram.device.type == "mps":
        vals, vecs = torch.linalg.eigh(gram.cpu().double())
        return vals.to(gram.device, torch.float32), vecs.to(gram.device, torch.float32)
    vals, vecs = torch.linalg.eigh(gram.double())
    return vals.float(), vecs.float()


def hankel_project(x: torch.Tensor, rank: int = HANKEL_RANK, win: int = HANKEL_WIN) -> torch.Tensor:
    """Project (B, C, H, W) onto block-Hankel matrices of rank <= ``rank``: im2row with win x win windows
    (rows = window positions, columns = C*win*win), keep the leading ``rank`` right singular vectors (via
    the eigenvectors of the small Gram matrix), and average the overlapping windows back (row2im)."""
    b, c, h, w = x.shape
    if h < win or w < win or rank >= c * win * win:
        return x
    cols = F.unfold(x.float(), win)  # (B, C*win*win, L)
    _, vecs = eigh64(cols @ cols.transpose(1, 2))  # (B, D, D); ascending eigenvalues
    v = vecs[:, :, -rank:]  # (B, D, k)
    low = v @ (v.transpose(1, 2) @ cols)
    ones = F.fold(torch.ones_like(cols[:1]), (h, w), win)
    return (F.fold(low, (h, w), win) / ones).to(x.dtype)


def _tiles(h: int, w: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    return [(y, x) for y in tile_starts(h, tile, overlap) for x in tile_starts(w, tile, overlap)]


TILE_CHUNK = 64  # tiles per call of fn: a 256x256 region is 25 tiles; a 2048x2048 one ~1,800 (GBs at once)


def tiled_map(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int = TILE,
              overlap: int = OVERLAP, chunk: int = TILE_CHUNK) -> torch.Tensor:
    """Apply ``fn`` (batch in, same shape out) over overlapping tiles, batched ``chunk`` tiles at a time
    (so memory stays bounded on big regions), blended linearly."""
    b, c, h, w = x.shape
    if h <= tile and w <= tile:
        return fn(x)
    th, tw = min(h, tile), min(w, tile)
    starts = _tiles(h, w, tile, overlap)
    per = max(1, chunk // max(1, b))
    win = torch.from_numpy(blend_window(th, tw, overlap)).to(x.device)
    out = wsum = None
    for i in range(0, len(starts), per):
        part = starts[i:i + per]
        res = fn(torch.cat([x[:, :, y:y + th, z:z + tw] for y, z in part], dim=0))
        if out is None:
            win = win.to(res.dtype)
            out = torch.zeros((b, res.shape[1], h, w), device=x.device, dtype=res.dtype)
            wsum = torch.zeros((1, 1, h, w), device=x.device, dtype=res.dtype)
        for k, (y, z) in enumerate(part):
            out[:, :, y:y + th, z:z + tw] += res[k * b:(k + 1) * b] * win
            wsum[:, :, y:y + th, z:z + tw] += win
    return out / wsum


def lowrank_complete(x: torch.Tensor, known: torch.Tensor, hole: torch.Tensor, rank: int, rounds: int,
                     tile: int = TILE, overlap: int = OVERLAP) -> torch.Tensor:
    """``rounds`` of (tiled Hankel projection to ``rank``, known pixels restored); (B, C, H, W), hole 1 = fill.
    The result is clamped to [0, 1] and equals ``known`` outside the hole."""
    for _ in range(max(0, rounds)):
        x = tiled_map(lambda t: hankel_project(t, rank), x, tile, overlap)
        x = torch.where(hole > 0.5, x.clamp(0.0, 1.0), known)
    return torch.where(hole > 0.5, x.clamp(0.0, 1.0), known)
