"""Nonlocal low-rank completion: groups of similar windows, each truncated by a hard singular-value threshold.

Why: the Hankel step (``core.lowrank``) bounds the rank of the matrix of *all* 8x8 windows of a 64x64 tile.
A tile mixes edges, texture and flat areas, so a rank that keeps its detail barely constrains its missing
pixels. A group of windows that look alike (block matching within a search square around a reference
window) is a row subset of the same Hankel matrix whose rank is far lower, so a hard threshold on the
group's singular values removes interpolation error while keeping the structure the group shares. This
is the self-similarity that fills scattered missing pixels (the paper's Table II protocol).

One round (``nonlocal_project``), per image:
  1. reference windows every STRIDE pixels (plus the last row and column);
  2. for each, the GROUP most similar windows (squared distance on the current estimate) among the
     (2 * SEARCH + 1)^2 positions around it, computed for all references at once per vertical offset
     with a box filter;
  3. each group (GROUP x C*PATCH^2) is centred on its mean window and its singular values below ``tau``
     are zeroed (via the eigenvectors of the small GROUP x GROUP Gram matrix);
  4. windows are averaged back where groups overlap; pixels no group covers keep their value.
``nonlocal_complete`` alternates rounds with hard data consistency. The threshold is THRESH * sigma *
sqrt(GROUP), where sigma is the size of the error still to remove: the caller lowers it along the run,
so coarse errors go first and detail is kept at the end.

The constants were chosen on training images only (kodim01/kodim05, 50 % and 80 % random pixels); the
measurements and the schedule the ESDiff engine uses are beside ``core.engines.esdiff.NONLOCAL_SIGMA``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.lowrank import eigh64, tiled_map

PATCH = 8
SEARCH = 8  # search radius: 17 x 17 candidate positions per reference window
STRIDE = 6
GROUP = 40
THRESH = 3.0  # the threshold in units of sigma * sqrt(GROUP)
NL_TILE, NL_OVERLAP = 256, 32  # larger regions go in tiles, so memory stays bounded (~0.3 GB per tile)


def threshold(sigma: float) -> float:
    """The singular-value threshold for an error of size ``sigma`` (images in [0, 1])."""
    return THRESH * sigma * GROUP ** 0.5


def thresholds(rounds: int, first: float, last: float) -> list[float]:
    """``rounds`` thresholds for an error size falling geometrically from ``first`` to ``last``."""
    if rounds <= 1:
        return [threshold(last)] * max(0, rounds)
    return [threshold(first * (last / first) ** (r / (rounds - 1))) for r in range(rounds)]


def _grid(n: int, stride: int, device: torch.device) -> torch.Tensor:
    g = list(range(0, n, stride))
    if g[-1] != n - 1:
        g.append(n - 1)
    return torch.tensor(g, device=device)


def match_windows(x: torch.Tensor, patch: int = PATCH, radius: int = SEARCH, stride: int = STRIDE,
                  group: int = GROUP) -> torch.Tensor:
    """Block matching on one image (C, H, W): (n_ref, group) indices of the most similar windows, as flat
    positions y * (W - patch + 1) + x of their top-left corners, the reference itself first."""
    c, h, w = x.shape
    hp, wp = h - patch + 1, w - patch + 1
    ry, rx = _grid(hp, stride, x.device), _grid(wp, stride, x.device)
    y0, x0 = ry[:, None], rx[None, :]
    xp = F.pad(x[None], (radius, radius, radius, radius))[0]
    n = 2 * radius + 1
    dxs = torch.arange(-radius, radius + 1, device=x.device)[:, None, None]
    group = min(group, n * n)
    dists = []
    for dy in range(-radius, radius + 1):  # one vertical offset at a time: n shifted copies in memory
        rows = xp[:, radius + dy:radius + dy + h]
        shifted = torch.stack([rows[:, :, radius + dx:radius + dx + w] for dx in range(-radius, radius + 1)])
        d = ((shifted - x[None]) ** 2).sum(1, keepdim=True)
        # A box filter rather than an integral image: float32 cumulative sums over a tile lose the small
        # differences that rank candidates, and MPS has no float64.
        box = F.avg_pool2d(F.avg_pool2d(d, (1, patch), 1)[..., rx], (patch, 1), 1)[:, 0, ry]  # separable
        inside = (y0 + dy >= 0) & (y0 + dy < hp) & (x0 + dxs >= 0) & (x0 + dxs < wp)
        dists.append(torch.where(inside, box, torch.inf))
    dist = torch.cat(dists)  # (n * n, ny, nx); offset k is (k // n - radius, k % n - radius)
    dist[(n * n) // 2] = -1.0  # the reference window always belongs to its own group
    _, k = dist.topk(group, dim=0, largest=False)
    py = ry[None, :, None] + k // n - radius
    px = rx[None, None, :] + k % n - radius
    return (py * wp + px).reshape(group, -1).T.contiguous()


def group_lowrank(x: torch.Tensor, index: torch.Tensor, tau: float, patch: int = PATCH) -> torch.Tensor:
    """Hard-threshold each group's centred singular values at ``tau``; windows averaged back. (C, H, W)."""
    c, h, w = x.shape
    cols = F.unfold(x[None].float(), patch)[0]  # (C * patch^2, positions)
    groups = cols[:, index].permute(1, 2, 0)  # (n_ref, group, D)
    mean = groups.mean(1, keepdim=True)
    centred = groups - mean
    vals, vecs = eigh64(centred @ centred.transpose(1, 2))  # singular values^2 and left singular vectors
    keep = (vals.clamp_min(0.0) > tau * tau).to(vecs.dtype)
    low = vecs @ (keep[..., None] * (vecs.transpose(1, 2) @ centred)) + mean
    flat = index.reshape(-1)
    total = torch.zeros_like(cols).index_add_(1, flat, low.reshape(-1, low.shape[-1]).T)
    count = torch.zeros_like(cols[:1]).index_add_(1, flat, torch.ones_like(flat, dtype=cols.dtype)[None])
    num = F.fold(total[None], (h, w), patch)[0]
    den = F.fold(count.expand(cols.shape[0], -1)[None], (h, w), patch)[0]
    return torch.where(den > 0, num / den.clamp_min(1e-8), x.float()).to(x.dtype)


def nonlocal_project(x: torch.Tensor, tau: float, patch: int = PATCH, radius: int = SEARCH,
                     stride: int = STRIDE, group: int = GROUP) -> torch.Tensor:
    """One round on a batch (B, C, H, W): block matching on each image, then ``group_lowrank``."""
    if x.shape[-2] < patch or x.shape[-1] < patch:
        return x
    out = [group_lowrank(im, match_windows(im, patch, radius, stride, group), tau, patch) for im in x]
    return torch.stack(out)


def nonlocal_complete(x: torch.Tensor, known: torch.Tensor, hole: torch.Tensor, taus: list[float],
                      tile: int = NL_TILE, overlap: int = NL_OVERLAP) -> torch.Tensor:
    """One round per threshold in ``taus`` of (nonlocal projection, known pixels restored), on tiles of
    ``tile`` pixels; (B, C, H, W), hole 1 = fill. The result equals ``known`` outside the hole."""
    for tau in taus:
        x = tiled_map(lambda t: nonlocal_project(t, tau), x, tile, overlap, chunk=1)
        x = torch.where(hole > 0.5, x.clamp(0.0, 1.0), known)
    return torch.where(hole > 0.5, x.clamp(0.0, 1.0), known)
