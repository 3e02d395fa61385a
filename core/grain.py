"""The image's own grain laid over a smooth fill: what a network that gets colour and layout right, but not texture,
is missing.

A fill from a small generator (GRIG) has the right colours and the right large shapes -- its low-pass hole PSNR
beats Telea's -- but no texture: the fine bands of the hole are nearly flat, and an artist sees a smudge. This
module splits the region into a *base* (a Gaussian blur of sigma ``sigma``) and *grain* (the rest), and rebuilds the
hole's grain from blocks of the known pixels' grain, image quilting style (Efros and Freeman, SIGGRAPH 2001): block
by block in raster order over the hole, of ``count`` random known blocks the one whose base is closest to the fill's
base there (so dark grain goes where the fill is dark, a ridge's grain along the ridge) and whose grain agrees best
with the blocks already laid in their overlap is chosen, and overlaps are cross-faded. The fill's base is kept, so
colour and layout stay the network's; only bands finer than ``sigma`` change.
"""
from __future__ import annotations

import cv2
import numpy as np

# Measured on GRIG's fills (bench.quality's 4 textures and 2 Kodak images, strokes and box; 3 seeds each), low-pass
# dB / patch SWD against GRIG alone: sigma 2, 16-px blocks: SWD 0.27-0.40 from 0.35-0.61; sigma 3: 0.20-0.37;
# sigma 5, 24-px blocks (the default): textures strokes 21.83 / 0.447 -> 22.33 / 0.140, box 21.24 / 0.608 ->
# 21.16 / 0.143, Kodak strokes 18.88 / 0.349 -> 18.97 / 0.198, box 16.79 / 0.512 -> 16.86 / 0.301; sigma 6-8 no
# better on the photos. Without the known grain around the hole in the overlap term, texture strokes lost 1.6 dB.
GRAIN_SIGMA = 5.0  # px: bands finer than this are rebuilt, coarser ones are the fill's own
BLOCK = 24  # px, the side of a quilted block
OVERLAP = 6  # px shared by neighbouring blocks (cross-faded)
CANDIDATES = 64  # random known blocks compared per block
OVERLAP_WEIGHT = 1.0  # the overlap agreement against the base match
BASE_STRIDE = 4  # px between the points where bases are compared (a blur of sigma GRAIN_SIGMA changes slowly)
NEAR_SHARE = 0.5  # of the candidates drawn from known blocks near the block (a photo's texture is local) ...
NEAR_RADIUS = 32  # ... at most this far (px, each axis)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    out = cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(x.shape)


def _stops(first: int, last: int, size: int, block: int, overlap: int) -> list[int]:
    """Block starts, ``block - overlap`` apart, whose blocks cover ``first`` .. ``last`` (within 0 .. size)."""
    y = max(0, min(first - overlap, size - block))
    stops = [y]
    while y + block - 1 < last and y < size - block:
        y = min(y + block - overlap, size - block)
        stops.append(y)
    return stops


def add_grain(region: np.ndarray, hole: np.ndarray, seed: int = 0, allowed: np.ndarray | None = None,
              sigma: float = GRAIN_SIGMA, block: int = BLOCK, overlap: int = OVERLAP,
              count: int = CANDIDATES) -> np.ndarray:
    """``region`` (float32 h x w x C, the hole filled) with the hole's bands finer than ``sigma`` rebuilt from the
    grain of known pixels (``allowed``: where grain may come from; default the pixels outside the hole). A new
    array; pixels outside the hole are ``region``'s. Unchanged when no block of known pixels fits."""
    region = np.asarray(region, np.float32)
    h, w, c = region.shape
    if not hole.any() or min(h, w) <= block:
        return region.copy()
    base = _blur(region, sigma)  # the fill's layout, kept in the hole
    # the known pixels' own base and grain: a blur that leaves the hole out (normalised by the known pixels'
    # weight), so the grain next to the hole is not the fill's
    known = (~hole).astype(np.float32)
    weight = _blur(known, sigma).reshape(h, w, 1)
    known_base = _blur(region * known[:, :, None], sigma) / np.maximum(weight, 1e-6)
    grain = np.where(hole[:, :, None], 0.0, region - known_base).astype(np.float32)
    source = ~hole if allowed is None else allowed & ~hole
    fits = cv2.erode(source.astype(np.uint8), np.ones((block, block), np.uint8), anchor=(0, 0),
                     borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)[:h - block + 1, :w - block + 1]
    ys, xs = np.nonzero(fits)
    if ys.size == 0:
        return region.copy()
    rng = np.random.default_rng(seed)
    gy, gx = (g.ravel() for g in np.mgrid[BASE_STRIDE // 2:block:BASE_STRIDE, BASE_STRIDE // 2:block:BASE_STRIDE])
    every_other = np.zeros((block, block), bool)
    every_other[::2, ::2] = every_other[1::2, 1::2] = True
    ramp = np.minimum(1.0, (np.arange(block) + 1.0) / (overlap + 1.0)).astype(np.float32)
    feather = np.minimum(ramp, ramp[::-1])
    weight2d = np.outer(feather, feather)[:, :, None]
    acc = np.zeros((h, w, c), np.float32)
    wsum = np.zeros((h, w, 1), np.float32)
    laid = np.zeros((h, w), bool)
    hy, hx = np.nonzero(hole)
    for y in _stops(int(hy.min()), int(hy.max()), h, block, overlap):
        for x in _stops(int(hx.min()), int(hx.max()), w, block, overlap):
            if not hole[y:y + block, x:x + block].any():
                continue
            pick = rng.integers(0, ys.size, count)
            cy, cx = ys[pick], xs[pick]
            # part of the candidates from near the block (a photo's texture is local): random offsets, kept where a
            # known block fits
            k = int(count * NEAR_SHARE)
            ny = np.clip(y + rng.integers(-NEAR_RADIUS, NEAR_RADIUS + 1, k), 0, fits.shape[0] - 1)
            nx = np.clip(x + rng.integers(-NEAR_RADIUS, NEAR_RADIUS + 1, k), 0, fits.shape[1] - 1)
            ok = fits[ny, nx]
            cy[:k][ok], cx[:k][ok] = ny[ok], nx[ok]
            # the base is smooth: compared on a sparse grid of the block
            cand_base = known_base[cy[:, None] + gy, cx[:, None] + gx]  # K, n, C
            cost = ((cand_base - base[y + gy, x + gx]) ** 2).mean(axis=(1, 2))
            # what the block must agree with: the known grain around the hole, the blocks already laid in it
            # (every other pixel of them)
            sl = (slice(y, y + block), slice(x, x + block))
            inside = hole[sl]
            laid_here = laid[sl] & inside
            dy, dx = np.nonzero((~inside | laid_here) & every_other)
            if dy.size:
                have = np.where(laid_here[dy, dx, None], acc[y + dy, x + dx] / np.maximum(wsum[y + dy, x + dx], 1e-6),
                                grain[y + dy, x + dx])
                cand_grain = grain[cy[:, None] + dy, cx[:, None] + dx]  # K, n, C
                cost = cost + OVERLAP_WEIGHT * ((cand_grain - have) ** 2).mean(axis=(1, 2))
            best = int(np.argmin(cost))
            patch = grain[cy[best]:cy[best] + block, cx[best]:cx[best] + block]
            acc[y:y + block, x:x + block] += weight2d * patch
            wsum[y:y + block, x:x + block] += weight2d
            laid[y:y + block, x:x + block] = True
    out = region.copy()
    covered = hole & (wsum[:, :, 0] > 0)
    out[covered] = base[covered] + acc[covered] / wsum[covered]
    return out
