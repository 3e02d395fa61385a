"""The image's own texture laid over a smooth fill: what a network that gets colour and layout right, but not
texture, is missing.

A fill from a small generator (GRIG) has the right colours and the right large shapes -- its low-pass hole PSNR
beats Telea's -- but no texture: the fine bands of the hole are nearly flat, and an artist sees a smudge. This
module splits the region into a *base* (a Gaussian blur of sigma ``sigma``) and *grain* (the rest), and rebuilds the
hole's grain from blocks of the known pixels' grain, image quilting style (Efros and Freeman, SIGGRAPH 2001): block
by block in raster order over the hole, of ``count`` random known blocks the one whose base is closest to the fill's
base there (so dark grain goes where the fill is dark, a ridge's grain along the ridge) and whose grain agrees best
with the blocks already laid in their overlap is chosen, and overlaps are cross-faded. The fill's base is kept, so
colour and layout stay the network's; only bands finer than ``sigma`` change.

Grain alone cannot mend structure finer than the network's layout: where a stroke crosses a brick wall's 6-px
mortar joint the network blends brick and mortar into a band of their mean colour, and the grain laid over it does
not hide it. ``rebuild_blocks`` therefore quilts *whole* blocks of known pixels, each chosen by the same two terms
(its base against the fill's; its agreement, now in full colour, with what surrounds it), among random candidates
and the best-aligned blocks of an exhaustive search near the block (so a lattice's joints line up), and then puts
back only the fill's coarsest bands (sigma ``keep_sigma``): the network decides the layout, the image every detail.
Where a block's shade differs from the pixels it meets at the hole's edge (each brick its own red), that mismatch is
spread a few pixels into the hole, so the edge does not show.
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
# rebuild_blocks, on the same cases (3 seeds, with the detail step after it), low-pass dB / SWD against add_grain's
# 22.51 / 0.105, 21.22 / 0.122, 18.76 / 0.121, 16.77 / 0.218: 22.95 / 0.081, 21.07 / 0.097, 19.25 / 0.098, 16.76 /
# 0.206. Without the search (random candidates only) the joints of the bundled brick wall did not line up; 32-px
# blocks: Kodak strokes 18.31 dB; the mend and keeping the fill's bands only deep inside the hole: within 0.05 dB /
# 0.004 (the mend is kept for what it does at 100 %: no lighter band along a stroke across shaded bricks).
SEARCH = 32  # px around a block searched exhaustively for the best-aligned known blocks (rebuild_blocks)
MEND_SIGMA = 3.0  # px: how far each block's mismatch at the hole's edge is spread into the hole (rebuild_blocks)
MEND_LIMIT = 0.2  # larger mismatches are a misplaced edge, not a shade: left out
KEEP_SIGMA = 12.0  # px: rebuild_blocks keeps the fill's bands coarser than this


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


def _fits(source: np.ndarray, block: int) -> np.ndarray:
    """Where a block's top-left corner may lie so that the whole block is in ``source``."""
    h, w = source.shape
    return cv2.erode(source.astype(np.uint8), np.ones((block, block), np.uint8), anchor=(0, 0),
                     borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)[:h - block + 1, :w - block + 1]


def can_copy(hole: np.ndarray, allowed: np.ndarray | None = None, block: int = BLOCK) -> bool:
    """Whether a whole block of known pixels (within ``allowed``, when given) fits beside ``hole``: what the grain
    and the blocks copy from. Without one they leave the fill as it is."""
    source = ~hole if allowed is None else allowed & ~hole
    return min(hole.shape) > block and bool(_fits(source, block).any())


def _quilt(content: np.ndarray, known_base: np.ndarray, base: np.ndarray, hole: np.ndarray, source: np.ndarray,
           seed: int, block: int, overlap: int, count: int, search: int, reach: bool = False
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """Blocks of ``content`` (h x w x C, zero in the hole) laid over the hole in raster order: of ``count``
    candidates (random known blocks, half of them near the block; with ``search`` > 0 the near half is instead the
    blocks within ``search`` px whose content best agrees with what is around the block, found exhaustively), the
    one whose ``known_base`` is closest to ``base`` there and whose content agrees best with the known pixels and the
    blocks already laid in its overlap. Returns the feathered sum of the blocks and its weight (h x w x 1), or None
    when no known block fits."""
    h, w, c = content.shape
    fits = _fits(source, block)
    ys, xs = np.nonzero(fits)
    if ys.size == 0:
        return None
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
    lum = np.ascontiguousarray(content.mean(axis=2)) if search else None  # what the search compares
    squares = lum * lum if search else None
    # candidates are gathered by flat index (a block's corner plus each pixel's offset): np.take on rows is several
    # times faster than two-axis fancy indexing
    flat_content, flat_known_base = content.reshape(h * w, c), np.ascontiguousarray(known_base).reshape(h * w, c)
    grid = gy * w + gx
    fh, fw = fits.shape
    # where blocks may lie when the search finds none near a block: all the known blocks, when they come from a
    # sampling area (a restricted source, which may lie away from the hole); otherwise random ones near it
    far = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1) if reach else None
    hy, hx = np.nonzero(hole)
    for y in _stops(int(hy.min()), int(hy.max()), h, block, overlap):
        for x in _stops(int(hx.min()), int(hx.max()), w, block, overlap):
            if not hole[y:y + block, x:x + block].any():
                continue
            sl = (slice(y, y + block), slice(x, x + block))
            inside = hole[sl]
            laid_here = laid[sl] & inside
            have = np.where(laid_here[:, :, None], acc[sl] / np.maximum(wsum[sl], 1e-6), content[sl])
            pick = rng.integers(0, ys.size, count)
            cy, cx = ys[pick], xs[pick]
            k = int(count * NEAR_SHARE)
            near = None
            if search:
                corners = (max(0, y - search), min(fh, y + search + 1), max(0, x - search), min(fw, x + search + 1))
                if far and not fits[corners[0]:corners[1], corners[2]:corners[3]].any():
                    corners = far  # a sampling area away from the hole: search all of it
                near = _searched(lum, squares, have.mean(axis=2), (~inside | laid_here), fits, corners, k)
            if near is not None and near[0].size:
                n = near[0].size
                cy[:n], cx[:n] = near
            else:  # part of the candidates from near the block (a photo's texture is local), kept where one fits
                ny = np.clip(y + rng.integers(-NEAR_RADIUS, NEAR_RADIUS + 1, k), 0, fh - 1)
                nx = np.clip(x + rng.integers(-NEAR_RADIUS, NEAR_RADIUS + 1, k), 0, fw - 1)
                ok = fits[ny, nx]
                cy[:k][ok], cx[:k][ok] = ny[ok], nx[ok]
            # the base is smooth: compared on a sparse grid of the block
            corner = cy * w + cx
            cand_base = np.take(flat_known_base, corner[:, None] + grid, axis=0)  # K, n, C
            cost = ((cand_base - base[y + gy, x + gx]) ** 2).mean(axis=(1, 2))
            # what the block must agree with: the known pixels around the hole, the blocks already laid in it (every
            # other pixel of them)
            dy, dx = np.nonzero((~inside | laid_here) & every_other)
            if dy.size:
                cand = np.take(flat_content, corner[:, None] + (dy * w + dx), axis=0)  # K, n, C
                cost = cost + OVERLAP_WEIGHT * ((cand - have[dy, dx]) ** 2).mean(axis=(1, 2))
            best = int(np.argmin(cost))
            acc[sl] += weight2d * content[cy[best]:cy[best] + block, cx[best]:cx[best] + block]
            wsum[sl] += weight2d
            laid[sl] = True
    return acc, wsum


def _searched(lum: np.ndarray, squares: np.ndarray, have: np.ndarray, seen: np.ndarray, fits: np.ndarray,
              corners: tuple[int, int, int, int], k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``k`` known blocks with their corner in ``corners`` (y0, y1, x0, x1, half-open) whose brightness
    (``lum``, h x w; ``squares`` its square) is closest to ``have``'s (block x block) on the ``seen`` pixels -- the
    sum of squared differences by two correlations, sum m I^2 - 2 sum m T I, the template's own term being the same
    for all; brightness alone, a third of the work, as it only shortlists candidates that are then compared in full
    colour -- as (rows, cols); None when nothing is seen yet or no block fits there."""
    block = seen.shape[0]
    y0, y1, x0, x1 = corners
    if not seen.any() or y1 <= y0 or x1 <= x0:
        return None
    m = seen.astype(np.float32)
    win = (slice(y0, y1 + block - 1), slice(x0, x1 + block - 1))
    ssd = cv2.matchTemplate(squares[win], m, cv2.TM_CCORR) - 2.0 * cv2.matchTemplate(lum[win], have * m, cv2.TM_CCORR)
    ssd = np.where(fits[y0:y1, x0:x1], ssd, np.inf).ravel()
    order = np.argpartition(ssd, min(k, ssd.size - 1))[:k]
    order = order[np.isfinite(ssd[order])]
    ry, rx = np.divmod(order, x1 - x0)
    return ry + y0, rx + x0


def _bases(region: np.ndarray, hole: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The fill's base (a blur of sigma ``sigma``) and the known pixels' own: a blur that leaves the hole out,
    normalised by the known pixels' weight, so that the base next to the hole is not the fill's."""
    h, w, _ = region.shape
    known = (~hole).astype(np.float32)
    weight = _blur(known, sigma).reshape(h, w, 1)
    return _blur(region, sigma), _blur(region * known[:, :, None], sigma) / np.maximum(weight, 1e-6)


def add_grain(region: np.ndarray, hole: np.ndarray, seed: int = 0, allowed: np.ndarray | None = None,
              sigma: float = GRAIN_SIGMA, block: int = BLOCK, overlap: int = OVERLAP,
              count: int = CANDIDATES) -> np.ndarray:
    """``region`` (float32 h x w x C, the hole filled) with the hole's bands finer than ``sigma`` rebuilt from the
    grain of known pixels (``allowed``: where grain may come from; default the pixels outside the hole). A new
    array; pixels outside the hole are ``region``'s. Unchanged when no block of known pixels fits."""
    region = np.ascontiguousarray(region, np.float32)  # strided views are several times slower to gather from
    h, w, c = region.shape
    if not hole.any() or min(h, w) <= block:
        return region.copy()
    base, known_base = _bases(region, hole, sigma)
    grain = np.where(hole[:, :, None], 0.0, region - known_base).astype(np.float32)
    source = ~hole if allowed is None else allowed & ~hole
    laid = _quilt(grain, known_base, base, hole, source, seed, block, overlap, count, 0)
    if laid is None:
        return region.copy()
    acc, wsum = laid
    out = region.copy()
    covered = hole & (wsum[:, :, 0] > 0)
    out[covered] = base[covered] + acc[covered] / wsum[covered]
    return out


def rebuild_blocks(region: np.ndarray, hole: np.ndarray, seed: int = 0, allowed: np.ndarray | None = None,
                   sigma: float = GRAIN_SIGMA, keep_sigma: float = KEEP_SIGMA, search: int = SEARCH,
                   mend: float = MEND_SIGMA, block: int = BLOCK, overlap: int = OVERLAP,
                   count: int = CANDIDATES) -> np.ndarray:
    """``region`` (float32 h x w x C, the hole filled) with the hole rebuilt from whole blocks of known pixels
    (``allowed``: where they may come from), chosen by their base (sigma ``sigma``) against the fill's and by their
    agreement with their surroundings, ``search`` px around each block searched exhaustively; then the fill's
    bands coarser than ``keep_sigma`` are put back. A new array; pixels outside the hole are ``region``'s.
    Unchanged when no block of known pixels fits."""
    region = np.ascontiguousarray(region, np.float32)  # strided views are several times slower to gather from
    h, w, c = region.shape
    if not hole.any() or min(h, w) <= block:
        return region.copy()
    base, known_base = _bases(region, hole, sigma)
    content = np.where(hole[:, :, None], 0.0, region).astype(np.float32)
    source = ~hole if allowed is None else allowed & ~hole
    laid = _quilt(content, known_base, base, hole, source, seed, block, overlap, count, search,
                  reach=allowed is not None)
    if laid is None:
        return region.copy()
    acc, wsum = laid
    # what follows changes only the hole, from pixels within a few sigma of it: done on that box
    hy, hx = np.nonzero(hole)
    reach = int(np.ceil(3 * max(keep_sigma, mend))) + 3
    box = (slice(max(0, hy.min() - reach), hy.max() + reach + 1), slice(max(0, hx.min() - reach), hx.max() + reach + 1))
    region_b, hole_b, wsum_b = region[box], hole[box], wsum[box]
    laid_b = acc[box] / np.maximum(wsum_b, 1e-6)
    covered = hole_b & (wsum_b[:, :, 0] > 0)
    quilted = np.where(covered[:, :, None], laid_b, region_b)
    if mend:
        # each block's own pixels just outside the hole against the image's there: their differences, spread into
        # the hole by a normalised blur, carry each brick's or leaf's shade across the hole's edge
        ring = ~hole_b & (wsum_b[:, :, 0] > 0) & cv2.dilate(hole_b.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        diff = np.where(ring[:, :, None], region_b - laid_b, 0.0).astype(np.float32)
        ring &= np.abs(diff).max(axis=2) < MEND_LIMIT
        diff[~ring] = 0.0
        num = _blur(diff, mend)
        den = _blur(ring.astype(np.float32), mend).reshape(ring.shape + (1,))
        depth = cv2.distanceTransform(hole_b.astype(np.uint8), cv2.DIST_L2, 5)
        fade = np.clip(1.0 - depth / (3.0 * mend), 0.0, 1.0)[:, :, None]
        quilted += np.where(covered[:, :, None], fade * num / np.maximum(den, 1e-4), 0.0)
    # the fill's coarsest bands back: its layout and level, without the blend of structure finer than keep_sigma
    levelled = quilted + _blur(region_b - quilted, keep_sigma)
    out = region.copy()
    out[box][covered] = levelled[covered]
    return out
