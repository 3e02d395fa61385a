"""Patch projection: rebuild a fill from the image's own patches, following the fill's structure.

A small model trained for seconds gets the layout of a hole right more often than its fine texture: its samples
are a little soft, a little noisy, never quite the material. PatchMatch has the opposite strength: every pixel it
writes is a real pixel of the image, but it decides the layout by itself and misaligns structure. Projection
takes the layout from the fill and the texture from the image, as one step of Wexler et al.'s texture
optimisation ("Space-time completion of video", 2007) started from the model's answer instead of a coarse level:

1. every patch that touches the hole is matched to its nearest fully known patch (L2 over all channels);
2. each hole pixel becomes the mean of what the matched patches covering it say it is (voting);
3. repeated a few times, each round matching the previous round's result.

The nearest-neighbour search is exact over a random subsample of the known patches (at most ``max_candidates``),
done as matrix products in chunks, on whatever device the tensors are on. Known pixels are never changed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PATCH = 7
ROUNDS = 3
MAX_CANDIDATES = 12_000
QUERY_CHUNK = 2048


def _hole_window(hole: torch.Tensor, reach: int) -> tuple[int, int, int, int]:
    ys, xs = torch.nonzero(hole, as_tuple=True)
    h, w = hole.shape
    return (max(0, int(ys.min()) - reach), min(h, int(ys.max()) + reach + 1),
            max(0, int(xs.min()) - reach), min(w, int(xs.max()) + reach + 1))


def _nearest(queries: torch.Tensor, cands: torch.Tensor, cand_sq: torch.Tensor) -> torch.Tensor:
    """Index of the nearest candidate row for every query row (squared L2), in chunks of queries."""
    out = torch.empty(queries.shape[0], dtype=torch.long, device=queries.device)
    for i in range(0, queries.shape[0], QUERY_CHUNK):
        q = queries[i:i + QUERY_CHUNK]
        d = cand_sq[None, :] - 2.0 * (q @ cands.T)  # + |q|^2, the same for every candidate
        out[i:i + QUERY_CHUNK] = d.argmin(dim=1)
    return out


def project_patches(x: torch.Tensor, hole: torch.Tensor, patch: int = PATCH, rounds: int = ROUNDS,
                    max_candidates: int = MAX_CANDIDATES, seed: int = 0,
                    source: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` (B, C, H, W) fills whose known pixels are exact; ``hole`` (H, W) bool, True = filled pixel.
    ``source`` (H, W) bool, optional: where known patches may come from (default: every known pixel).
    Returns the fills with their hole pixels rebuilt from known patches (known pixels untouched)."""
    b, c, h, w = x.shape
    r = patch // 2
    if not bool(hole.any()) or min(h, w) < patch:
        return x
    allowed = ~hole if source is None else (source & ~hole)
    # candidates: patches lying wholly on allowed pixels (their centres, after an erosion by the radius)
    inside = -F.max_pool2d(-allowed[None, None].float(), patch, stride=1, padding=r)[0, 0] > 0.5
    inside[:r], inside[-r:], inside[:, :r], inside[:, -r:] = False, False, False, False
    cand_idx = torch.nonzero(inside.flatten(), as_tuple=True)[0]
    if cand_idx.numel() == 0:
        return x
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if cand_idx.numel() > max_candidates:
        pick = torch.randperm(cand_idx.numel(), generator=gen)[:max_candidates].to(cand_idx.device)
        cand_idx = cand_idx[pick]
    # queries: the patches of a window around the hole that touch it
    y0, y1, x0, x1 = _hole_window(hole, 2 * r)
    win_hole = hole[y0:y1, x0:x1]
    touches = F.max_pool2d(win_hole[None, None].float(), patch, stride=1, padding=r)[0, 0] > 0.5
    q_idx = torch.nonzero(touches.flatten(), as_tuple=True)[0]
    wh, ww = y1 - y0, x1 - x0
    ones = torch.zeros(1, 1, wh * ww, device=x.device, dtype=x.dtype)
    ones[..., q_idx] = 1.0
    counts = F.fold(ones.expand(1, patch * patch, -1), (wh, ww), patch, padding=r)
    hole_f = win_hole.to(x.dtype)
    out = x.clone()
    d = torch.arange(patch, device=x.device) - r
    offsets = (d[:, None] * w + d[None, :]).flatten()  # flat offsets of a patch's pixels, row-major as unfold's
    cand_pix = cand_idx[:, None] + offsets[None, :]  # (N, P*P)
    for i in range(b):
        cands = x[i].reshape(c, h * w)[:, cand_pix].permute(1, 0, 2).reshape(-1, c * patch * patch)
        cand_sq = (cands * cands).sum(1)
        cur = out[i:i + 1, :, y0:y1, x0:x1]
        for _ in range(rounds):
            q = F.unfold(cur, patch, padding=r)[0].T[q_idx]
            match = cands[_nearest(q, cands, cand_sq)]
            votes = torch.zeros(c * patch * patch, wh * ww, device=x.device, dtype=x.dtype)
            votes[:, q_idx] = match.T
            summed = F.fold(votes[None], (wh, ww), patch, padding=r)
            new = summed / counts.clamp_min(1.0)
            cur = cur * (1.0 - hole_f) + new * hole_f
        out[i:i + 1, :, y0:y1, x0:x1] = cur
    return out
