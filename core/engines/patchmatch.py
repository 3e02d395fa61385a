"""PatchMatch (Barnes et al., SIGGRAPH 2009): an instant fill that copies patches from the rest of the image.

The work is done by PyPatchMatch's native library, which takes one 8-bit, 3-channel image. This module fits any
image to that:

* the library runs on a region -- the hole's bounding box grown by a wide margin, since it needs texture to copy
  from -- and only the hole's pixels are written back, so known pixels stay bit for bit;
* it matches on a 3-channel 8-bit *guide*: gray replicated to RGB, the RGB of RGB(A), or, for any other channel
  count (stacked material maps), the image projected on its 3 principal axes. The guide is stretched to the known
  pixels' range first, so that a 16-bit or float map with a narrow range keeps its detail in 8 bits;
* for gray and RGB the hole gets the library's 8-bit result mapped back to the image's range. The library blends
  the votes of overlapping patches and does not hand out its correspondence field, so the channels it did not see
  (alpha, the maps beyond the guide) are copied from the known pixel whose 3 x 3 neighbourhood in the filled
  guide is nearest to the hole pixel's: a recovered correspondence, the same for every channel, so the maps stay
  coherent with each other (these pixels are real pixels, at full precision);
* a stack of maps whose ``groups`` (each map's channels) are given is matched map by map instead: the library fills
  each map on its own guide, and one correspondence for every channel is then found against those fills (each map
  weighing the same) and voted over 3 x 3 neighbourhoods, so the maps stay coherent and each is matched on what it
  shows (a principal-axes guide hardly sees a roughness map);
* on a regular texture (bricks, tiles, a weave: ``core.lattice``) a hole at least a period wide can also be
  filled with the library's regularity guide -- the patch distance plus the distance between the pixels' phases
  on the texture's lattice -- so that copies keep the lattice's phase and lines continue across the hole; where
  no lattice is found but straight lines run through the hole (a plaid, planks: ``core.lines``), the guide is
  the lines' profile instead, so each line leaves the hole where it should; ``ranked_fills`` mixes such fills
  into its pool and lets its score choose;
* ``references`` (other images of the same channel count) are laid beside the region on the library's canvas,
  with a gap it never copies, so a fill may copy from them as from the image (at most the region's size of each:
  their centre);
* ``source`` (the pixels a fill may copy) is passed to the library as its global mask, with two corrections for
  what that mask does: it also removes its pixels as *context*, and a hole with no context around it comes out
  dark or black (measured: a flat colour came back at 55 % of its value, or 0 for a small hole). So what lies
  near the hole is never blocked. Where the source makes up most of the ring around the hole, the other pixels
  within SOURCE_GAP of it stay as plain context; where it makes up less, they join the library's hole; where
  the ring is hardly source at all, it stays unmasked and the restriction is enforced afterwards: every hole
  pixel (all channels) becomes a copy of the source pixel found as above.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Generator, Iterator

import cv2
import numpy as np

from core.engines.base import Capabilities, Event, Progress, Result, returned
from core.engines.options import EngineOptions, option
from core.engines.region import RegionEngine, RegionJob, pick_region
from core.errors import Cancelled, UserError
from core.lattice import Lattice, autocorrelation, find_lattice
from core.lines import Lines, find_lines
from core.masks import Box, checked_source, hole_bbox, validate_mask
from core.patch_stats import restore_detail, texture_mismatch

PATCH_SIZE = 5  # the library's patch radius: it compares 11 x 11 patches
RING = PATCH_SIZE  # with a source: context kept around the hole (px), a patch radius
# With a source that makes up at least this share of that ring (and less than OPEN_RING_SHARE), the ring's other
# pixels join the library's hole (filled, never copied) and the library copies from the source alone. Below it,
# the hole would lose its context, so the ring stays and every hole pixel is re-copied from the source.
MIN_SOURCE_CONTEXT = 0.25
# The library's global mask harms the fill where it comes close to the hole (a large blocked area beside a hole
# cost D006's weave 0.074 -> 0.104 of patch SWD on bench.teaching). So where the ring is mostly source (at least
# OPEN_RING_SHARE), the pixels outside the source within SOURCE_GAP px of the hole stay as unblocked context, and
# only those beyond are blocked: bench.teaching's PatchMatch + area, 10 seeds, mean SWD 0.134 -> 0.128, with no
# more copies from that band than the blocked version's (docs/engines/internal.md, "What the model learns from").
OPEN_RING_SHARE = 0.75
SOURCE_GAP = 8
# Nearest-neighbour search for the channels the library does not see: at most this many (hole pixel, candidate)
# pairs, so a large hole compares against a random subsample of the known pixels (never fewer than MIN_CANDIDATES).
PAIR_BUDGET = 40_000_000
MIN_CANDIDATES = 2048
# A map set's one correspondence is what every map of a joint fill comes from, so it searches ten times as many
# known pixels: on the 256-px material bench that is all of them, and its render SWD fell from 0.100 to 0.094
# (docs/material.md). Distances are computed this many pairs at a time, so memory stays bounded.
STACK_PAIR_BUDGET = 400_000_000
CHUNK_PAIRS = 16_000_000
# A stack's one correspondence also compares each pixel's surroundings 2 px apart, blurred (_nearest_known's
# ``coarse`` steps): bench.material's 15 cases, render low-pass PSNR / SWD 31.84 / 0.093 -> 31.86 / 0.091 for
# PatchMatch's joint fill, 31.67 / 0.091 -> 31.74 / 0.088 for the internal engine's (docs/material.md).
STACK_COARSE_STEPS = (2,)
_NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
# The regularity guide's weight against the patch distance. Measured on the 15 texture and 6 Kodak centre boxes
# (docs/engines/internal.md, "Lattice-guided starts"): 0.1 and 0.25 lowered the boxes' patch SWD alike, 0.25
# most on the long lines of brodatz_D047.
LATTICE_WEIGHT = 0.25
# A lattice guides only holes at least this wide against the texture's longer period (the hole's inscribed
# diameter / the period): thinner holes are aligned by their own borders, and the guide only pulls them off.
LATTICE_MIN_WIDTH = 1.0
# Nor does any guide act on a hole narrower than this (its inscribed diameter, px): every pixel of it lies within
# three of the library's patches of a border, and the borders align the copies; a guide only adds its own error.
# Measured with bench.guided_starts (the engine's pool of 4): on the stroke masks (28-49 px wide) the guides cost
# low-pass PSNR where they acted (D006 34.81 -> 34.10 dB, D077 29.79 -> 29.07) for a little SWD; boxes are 128 px.
GUIDED_MIN_WIDTH = 6 * (2 * PATCH_SIZE + 1)

# The library keeps its random seed in global state: seed and fill must not interleave between threads.
_native_lock = threading.Lock()


def _library():
    """PyPatchMatch's module when its native library loads, else None."""
    try:
        from patchmatch import patch_match
    except Exception:  # not installed, or a broken install (ImportError, OSError)
        return None
    return patch_match if getattr(patch_match, "patchmatch_available", False) else None


def available() -> bool:
    """Whether the native PatchMatch library can be used on this machine."""
    return _library() is not None


def region_margin(box: Box) -> int:
    """Context around the hole's box: wider than the classical fills', the texture PatchMatch copies from."""
    return max(64, box.height, box.width)


def _region(mask: np.ndarray, source: np.ndarray | None) -> Box:
    roi = pick_region(mask, region_margin)
    if source is not None:
        usable = source & ~mask
        ys, xs = roi.slices()
        if usable[ys, xs].sum() < max(int(mask.sum()), (2 * PATCH_SIZE + 1) ** 2):
            # too little source near the hole: take in the whole source area
            sb = hole_bbox(usable)
            roi = Box(min(roi.y0, sb.y0), min(roi.x0, sb.x0), max(roi.y1, sb.y1), max(roi.x1, sb.x1))
    return roi


def _guide(crop: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The 3-channel 8-bit image the library matches on, and (lo, span): guide value v stands for
    lo + span * v / 255 (meaningful for gray and RGB(A), whose guide is the image itself)."""
    c = crop.shape[2]
    if c in (1, 3, 4):
        g = np.repeat(crop, 3, axis=2) if c == 1 else crop[:, :, :3]
        vals = np.clip(g[known], 0.0, 1.0)
        lo, hi = float(vals.min()), float(vals.max())
        if hi - lo < 1.0 / 255:  # (nearly) flat: nothing to stretch
            lo, hi = 0.0, 1.0
        unit = (g - lo) / (hi - lo)
        span = hi - lo
    else:
        # Principal axes of the known pixels' channel vectors, strongest first; one common scale for the three
        # projections so that distances in the guide stay proportional to distances between the pixels.
        x = crop[known].astype(np.float64)
        mean = x.mean(axis=0)
        cov = np.atleast_2d(np.cov(x - mean, rowvar=False))
        _, vecs = np.linalg.eigh(cov)
        axes = vecs[:, ::-1][:, :3]
        proj = (crop.reshape(-1, c).astype(np.float64) - mean) @ axes
        proj = np.pad(proj, ((0, 0), (0, 3 - axes.shape[1])))
        scale = max(float(np.abs(proj.reshape(crop.shape[:2] + (3,))[known]).max()), 1e-12)
        unit = (0.5 + 0.5 * proj / scale).reshape(crop.shape[:2] + (3,))
        lo, span = 0.0, 1.0
    guide = np.rint(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)
    return np.ascontiguousarray(guide), lo, span


def _features(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, step: int = 1) -> np.ndarray:
    """The 3 x 3 neighbourhoods (``step`` px apart) of the pixels (ys, xs) of an image (8-bit or float), as float
    rows (edges clamped)."""
    h, w = img.shape[:2]
    cols = [img[np.clip(ys + step * dy, 0, h - 1), np.clip(xs + step * dx, 0, w - 1)] for dy, dx in _NEIGHBOURS]
    return np.concatenate(cols, axis=1).astype(np.float32)


def _coarse(img: np.ndarray, step: int) -> np.ndarray:
    """``img`` blurred to the scale of pixels ``step`` apart (float32, same shape)."""
    out = cv2.GaussianBlur(np.asarray(img, np.float32), (0, 0), step / 2.0 + 0.5, borderType=cv2.BORDER_REFLECT)
    return out.reshape(np.shape(img))


def _nearest_known(filled8: np.ndarray, hole: np.ndarray, allowed: np.ndarray,
                   seed: int, budget: int = PAIR_BUDGET, coarse: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """For each hole pixel (in ``np.nonzero(hole)`` order), the coordinates of the ``allowed`` pixel whose
    3 x 3 neighbourhood in the filled guide is nearest (squared distance); for each step in ``coarse``, the
    neighbourhood also holds 3 x 3 pixels that many px apart of the guide blurred to that scale, so that a pixel
    is matched with where it lies in the larger structure too. Brute force, on a subsample when the hole times the
    candidates exceeds ``budget`` pairs."""
    near_hole = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    cand = allowed & ~near_hole  # neighbourhoods of real pixels only
    if not cand.any():
        cand = allowed
    cy, cx = np.nonzero(cand)
    qy, qx = np.nonzero(hole)
    keep = min(len(cy), max(MIN_CANDIDATES, budget // max(len(qy), 1)))
    if keep < len(cy):
        pick = np.sort(np.random.default_rng(seed % 2 ** 32).choice(len(cy), keep, replace=False))
        cy, cx = cy[pick], cx[pick]
    known = _features(filled8, cy, cx)
    query = _features(filled8, qy, qx)
    for step in coarse:
        blurred = _coarse(filled8, step)
        known = np.concatenate([known, _features(blurred, cy, cx, step)], axis=1)
        query = np.concatenate([query, _features(blurred, qy, qx, step)], axis=1)
    known_sq = (known * known).sum(axis=1)
    best = np.empty(len(qy), np.int64)
    rows = max(1, min(1024, CHUNK_PAIRS // max(len(cy), 1)))
    for s in range(0, len(qy), rows):  # |q - k|^2 without the |q|^2 term, which does not change the argmin
        best[s:s + rows] = (known_sq[None, :] - 2.0 * (query[s:s + rows] @ known.T)).argmin(axis=1)
    return cy[best], cx[best]


@dataclass
class _Job:
    """One image's region, prepared once and filled once per seed."""

    image: np.ndarray  # float32 H x W x C, the whole image (a reference)
    box: Box  # the region the library works on
    hole: np.ndarray  # bool h x w
    allowed: np.ndarray | None  # bool h x w: the pixels the fill may copy, when a source restricts it
    blocked: np.ndarray | None  # uint8 h x w: the library's global mask, or None
    lib_hole: np.ndarray  # uint8 h x w: what the library fills (the hole, or more with a source)
    recopy: bool  # every hole pixel is re-copied from the source afterwards (see MIN_SOURCE_CONTEXT)
    guide: np.ndarray  # uint8 h x w x 3
    lo: float
    span: float
    # what guided fills follow, when they are asked for and apt: the known pixels' lattice, or lines through the hole
    regularity: Lattice | Lines | None = None
    # With references: the region and the references side by side (float32), what the library sees; the fields
    # above but ``hole`` are then in its coordinates, the region at its top left.
    canvas: np.ndarray | None = None
    # A stack's maps (channel indices each), each map's (guide, lo, span) and the channels' weights in the one
    # correspondence (each map scaled to the same spread, whatever its range or channel count, times the map's
    # given weight: how much it shows): see _fill_by_maps
    groups: tuple[tuple[int, ...], ...] = ()
    group_guides: tuple[tuple[np.ndarray, float, float], ...] = ()
    map_weight: np.ndarray | None = None

    @classmethod
    def prepare(cls, image: np.ndarray, mask: np.ndarray, source: np.ndarray | None,
                box: Box | None = None, lattice: bool = False, references: tuple | list = (),
                groups: tuple | list | None = None, group_weights: tuple | list | None = None) -> "_Job":
        box = box if box is not None else _region(mask, source)
        ys, xs = box.slices()
        crop, hole = image[ys, xs], mask[ys, xs]
        allowed = blocked = None
        lib_hole, recopy = hole, False
        if source is not None:
            allowed = source[ys, xs] & ~hole
            ring = cv2.dilate(hole.astype(np.uint8), np.ones((2 * RING + 1, 2 * RING + 1), np.uint8)).astype(bool)
            context = ring & ~hole
            share = allowed[context].mean()
            if share >= OPEN_RING_SHARE:
                near = cv2.dilate(hole.astype(np.uint8), np.ones((2 * SOURCE_GAP + 1,) * 2, np.uint8)).astype(bool)
                off = ~allowed & ~near
            elif share >= MIN_SOURCE_CONTEXT:
                lib_hole = hole | (context & ~allowed)
                off = ~allowed & ~lib_hole
            else:
                off, recopy = ~allowed & ~ring, True
            blocked = off.astype(np.uint8) if off.any() else None
        canvas = None
        if references:
            canvas, allowed, blocked, lib_hole = _with_references(crop, hole, allowed, blocked, lib_hole, references)
        pixels = crop if canvas is None else canvas
        known = ~_pad_to(hole, pixels.shape[:2]) & (allowed if canvas is not None else True)
        guide, lo, span = _guide(pixels, known)
        # a lattice or lines are the image's own: the references' phases on them mean nothing
        found = _regularity(guide, hole, allowed, (box.y0, box.x0)) if lattice and canvas is None else None
        maps = checked_map_groups(groups, pixels.shape[2])
        guides = tuple(_guide(np.ascontiguousarray(pixels[:, :, list(g)]), known) for g in maps)
        weight = None
        if maps:
            usable = allowed if allowed is not None else ~_pad_to(hole, pixels.shape[:2])  # what the copies come from
            weight = np.zeros(pixels.shape[2], np.float32)  # channels in no map take no part in the matching
            given = checked_map_weights(group_weights, len(maps)) or (1.0,) * len(maps)
            for g, w in zip(maps, given):
                spread = float(np.sqrt(pixels[usable][:, list(g)].var(axis=0).sum()))
                weight[list(g)] = w / max(spread, 1e-6)
        return cls(image, box, hole, allowed, blocked, lib_hole.astype(np.uint8), recopy, guide, lo, span, found,
                   canvas, maps, guides, weight)

    def _library_fill(self, guide: np.ndarray, seed: int, regular: bool) -> np.ndarray:
        """The library's 8-bit fill of ``guide`` (the job's hole, blocked pixels and, when ``regular``, its
        lattice or lines)."""
        lib = _library()
        if lib is None:
            raise RuntimeError("the PatchMatch native library is not available")
        with _native_lock:
            lib.set_random_seed(seed % 2 ** 32)
            if regular and self.regularity is not None:
                phases = self.regularity.phases(*self.hole.shape, origin=(self.box.y0, self.box.x0))
                return lib.inpaint_regularity(guide, self.lib_hole, phases, global_mask=self.blocked,
                                              patch_size=PATCH_SIZE, guide_weight=LATTICE_WEIGHT)
            return lib.inpaint(guide, self.lib_hole, global_mask=self.blocked, patch_size=PATCH_SIZE)

    def fill(self, seed: int, regular: bool = False) -> np.ndarray:
        """The region ``box`` filled with ``seed``: a new float32 h x w x C array, known pixels the image's.
        ``regular``: guided by the job's lattice or lines (when it has them)."""
        if self.groups:
            return self._fill_by_maps(seed, regular)
        filled8 = self._library_fill(self.guide, seed, regular)
        crop = self.image[self.box.slices()]
        pixels = crop if self.canvas is None else self.canvas
        hole = _pad_to(self.hole, pixels.shape[:2])
        c = crop.shape[2]
        copies = None
        if self.recopy or c not in (1, 3):
            sy, sx = _nearest_known(filled8, hole, self.allowed if self.allowed is not None else ~hole, seed)
            copies = pixels[sy, sx]
        if self.recopy or c not in (1, 3, 4):
            values = copies  # every channel from real (source) pixels
        else:
            direct = (self.lo + self.span * (filled8[hole].astype(np.float32) / 255.0)).astype(np.float32)
            values = direct[:, :1] if c == 1 else direct if c == 3 else np.concatenate([direct, copies[:, 3:]], 1)
        region = np.array(crop, np.float32)
        region[self.hole] = values
        return region

    def _fill_by_maps(self, seed: int, regular: bool) -> np.ndarray:
        """A stack's region filled map by map, then copied through one correspondence (see the module docstring)."""
        crop = self.image[self.box.slices()]
        pixels = crop if self.canvas is None else self.canvas
        hole = _pad_to(self.hole, pixels.shape[:2])
        allowed = self.allowed if self.allowed is not None else ~hole
        query = np.array(pixels, np.float32)
        for g, (guide, lo, span) in zip(self.groups, self.group_guides):
            g = list(g)
            filled8 = self._library_fill(guide, seed, regular)
            if len(g) in (1, 3):  # the library's own fill, as for an image of this map alone
                values = lo + span * (filled8[hole][:, :len(g)].astype(np.float32) / 255.0)
            else:
                sy, sx = _nearest_known(filled8, hole, allowed, seed)
                values = pixels[sy, sx][:, g]
            layer = query[:, :, g]
            layer[hole] = values
            query[:, :, g] = layer
        sy, sx = _nearest_known(query * self.map_weight, hole, allowed, seed, STACK_PAIR_BUDGET, STACK_COARSE_STEPS)
        region = np.array(crop, np.float32)
        region[self.hole] = _voted(pixels, hole, allowed, sy, sx)
        return restore_detail(region, self.hole)  # what the vote averaged away, band by band


def _voted(pixels: np.ndarray, hole: np.ndarray, allowed: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Each hole pixel's value (``np.nonzero(hole)`` order) as the mean of what its 3 x 3 neighbours' sources
    (sy, sx) say it is -- the source of the neighbour at offset d, moved back by d -- over the votes that land on
    an allowed pixel. A pixel's own source always does, so every pixel has a vote; where neighbours' sources agree
    (a copied run of texture) the vote is that texture, where they do not it averages a few real pixels, not the
    isolated copies that make per-pixel copying speckled."""
    h, w = hole.shape
    qy, qx = np.nonzero(hole)
    index = -np.ones((h, w), np.int64)
    index[qy, qx] = np.arange(len(qy))
    total = np.zeros((len(qy), pixels.shape[2]), np.float32)
    count = np.zeros(len(qy), np.float32)
    for dy, dx in _NEIGHBOURS:
        ny, nx = qy + dy, qx + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        j = np.where(inside, index[np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)], -1)
        ty, tx = sy[np.maximum(j, 0)] - dy, sx[np.maximum(j, 0)] - dx
        ok = (j >= 0) & (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        ok &= allowed[np.clip(ty, 0, h - 1), np.clip(tx, 0, w - 1)]
        total[ok] += pixels[ty[ok], tx[ok]]
        count[ok] += 1.0
    return total / count[:, None]


def checked_map_groups(groups: tuple | list | None, channels: int) -> tuple[tuple[int, ...], ...]:
    """Map groups for a stack: disjoint lists of channel indices, or a ValueError. () when there is nothing to
    match map by map: a gray, RGB or RGBA image, which the library fills as it is, or a single map."""
    if not groups:
        return ()
    try:
        out = tuple(tuple(int(k) for k in g) for g in groups if len(g))
    except (TypeError, ValueError):
        raise ValueError(f"map groups must be lists of channel indices, not {groups!r}") from None
    flat = [k for g in out for k in g]
    if len(set(flat)) != len(flat) or not all(0 <= k < channels for k in flat):
        raise ValueError(f"map groups {groups!r} are not disjoint channel indices of a {channels}-channel stack")
    return () if channels in (1, 3, 4) or len(out) < 2 else out


def checked_map_weights(weights: tuple | list | None, groups: int) -> tuple[float, ...]:
    """One non-negative weight per map group, not all zero, or a ValueError; () when none are given."""
    if weights is None or not groups:
        return ()
    try:
        out = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"map weights must be numbers, not {weights!r}") from None
    if len(out) != groups or not all(np.isfinite(w) and w >= 0 for w in out) or not any(out):
        raise ValueError(f"map weights {weights!r} must be {groups} non-negative numbers, not all zero")
    return out


def map_groups_option(groups: tuple | list | None, channels: int,
                      weights: tuple | list | None = None) -> tuple[tuple[int, ...], ...]:
    """``checked_map_groups`` for an engine's ``map_groups`` option, with its ``map_weights`` checked too
    (``checked_map_weights``): bad ones are a UserError, before any work."""
    try:
        out = checked_map_groups(groups, channels)
        if weights is not None and not out:
            raise ValueError("map weights were given without map groups")
        checked_map_weights(weights, len(out))
        return out
    except ValueError as e:
        raise UserError(str(e)) from None


def _pad_to(hole: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The region's hole in canvas coordinates (the region at the top left)."""
    if hole.shape == tuple(shape):
        return hole
    out = np.zeros(shape, bool)
    out[:hole.shape[0], :hole.shape[1]] = hole
    return out


def _with_references(crop, hole, allowed, blocked, lib_hole, references):
    """(canvas, allowed, blocked, lib_hole) in canvas coordinates: the region at the top left, each reference
    (its centre, at most the region's size: their texture, not their extent, which would only slow the library)
    to its right after a gap of a patch's width that is never copied, nor is any empty part of the canvas."""
    h, w = hole.shape
    gap = 2 * PATCH_SIZE + 1
    parts = []
    for ref in references:
        rh, rw = min(ref.shape[0], max(h, 64)), min(ref.shape[1], max(w, 64))
        y0, x0 = (ref.shape[0] - rh) // 2, (ref.shape[1] - rw) // 2
        parts.append(ref[y0:y0 + rh, x0:x0 + rw])
    height = max([h] + [p.shape[0] for p in parts])
    width = w + sum(gap + p.shape[1] for p in parts)
    canvas = np.zeros((height, width, crop.shape[2]), np.float32)
    usable = np.zeros((height, width), bool)
    canvas[:h, :w] = crop
    usable[:h, :w] = ~hole if allowed is None else allowed
    x = w
    for p in parts:
        x += gap
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        usable[:p.shape[0], x:x + p.shape[1]] = True
        x += p.shape[1]
    region_part = np.zeros((height, width), bool)
    region_part[:h, :w] = True
    off = ~usable & ~region_part  # gaps and empty canvas
    if blocked is not None:
        off[:h, :w] |= blocked.astype(bool)
    return canvas, usable, off.astype(np.uint8), _pad_to(lib_hole, (height, width))


def _regularity(guide: np.ndarray, hole: np.ndarray, allowed: np.ndarray | None,
                origin: tuple[int, int]) -> Lattice | Lines | None:
    """What guided fills of this region follow, for a hole at least GUIDED_MIN_WIDTH wide: the lattice of the guide's
    known pixels (those of the sampling area when there is one) when the hole is wide enough against its period to
    need it (LATTICE_MIN_WIDTH); else,
    when the texture has no lattice at all, a family of straight lines through the hole; else None."""
    inscribed = 2.0 * float(cv2.distanceTransform(np.pad(hole, 1).astype(np.uint8), cv2.DIST_L2, 5).max())
    if inscribed < GUIDED_MIN_WIDTH:
        return None
    known = ~hole if allowed is None else allowed
    gray = guide.astype(np.float64).mean(axis=2) / 255.0
    corr = autocorrelation(gray, known)  # shared by both searches: the one costly step
    lattice = find_lattice(gray, known, corr)
    if lattice is None:
        return find_lines(gray, known, hole, origin, corr)
    period = max(float(np.hypot(*v)) for v in (lattice.v1, lattice.v2) if v is not None)
    return lattice if inscribed >= LATTICE_MIN_WIDTH * period else None


def _checked(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[:, :, None]
    return image, validate_mask(mask, image.shape[:2])


def patchmatch_fill(image: np.ndarray, mask: np.ndarray, seed: int = 0,
                    source: np.ndarray | None = None, references: tuple | list = (),
                    groups: tuple | list | None = None, group_weights: tuple | list | None = None) -> np.ndarray:
    """Fill ``mask`` (bool H x W, True = fill) of ``image`` (float32 H x W x C in [0, 1], any C) with PatchMatch:
    a new whole image (for benchmarks and tests; the engine works on the region only).

    ``source``: bool H x W, True where the fill may copy from (default: anywhere); ``references``: more images
    (float32, the same channel count) it may copy from too, shifted to the level around the hole as the engine
    does (core.engines.train_set.level_matched); ``groups``: a stack's maps as lists of channel indices, matched
    map by map (module docstring; ignored for 1, 3 or 4 channels), ``group_weights`` how much each counts in their
    one correspondence (default: the same). Equal inputs and seeds give
    equal results. Known pixels of the result are the input's, bit for bit. Raises RuntimeError when the native
    library is unavailable (see ``available``)."""
    from core.engines.train_set import level_matched

    image, mask = _checked(image, mask)
    source = checked_source(source, mask)
    job = _Job.prepare(image, mask, source, references=level_matched(list(references), image, mask, source),
                       groups=groups, group_weights=group_weights)
    return Result(job.fill(seed), job.box, base=image).composed()


def ranked_fills(image: np.ndarray, mask: np.ndarray, count: int, pool: int, seed: int = 0,
                 source: np.ndarray | None = None, cancelled: Callable[[], bool] | None = None,
                 box: Box | None = None, lattice: bool = True, references: tuple | list = (),
                 groups: tuple | list | None = None, group_weights: tuple | list | None = None) -> list[np.ndarray]:
    """The ``count`` best of ``pool`` PatchMatch fills (seeds ``seed`` ...), best first, ranked by how much the
    hole's patches look like the ring around it (core.patch_stats.texture_mismatch). The library's fills differ
    from seed to seed, and that score ranks them much as their distance to the truth does
    (docs/engines/internal.md). ``lattice``: on a regular texture with a wide hole, every other fill of the pool
    is lattice- or line-guided (see the module docstring). Same arguments as ``patchmatch_fill``; each fill is
    returned as the pixels of ``box`` (default: the whole image)."""
    return returned(ranked_fill_steps(image, mask, count, pool, seed, source, cancelled, box, lattice, references,
                                      groups, group_weights))


def ranked_fill_steps(image: np.ndarray, mask: np.ndarray, count: int, pool: int, seed: int = 0,
                      source: np.ndarray | None = None, cancelled: Callable[[], bool] | None = None,
                      box: Box | None = None, lattice: bool = True,
                      references: tuple | list = (),
                      groups: tuple | list | None = None, group_weights: tuple | list | None = None
                      ) -> Generator[tuple[int, int], None, list[np.ndarray]]:
    """``ranked_fills`` one fill at a time: yields (fills done, fills in all) after each, so that a caller can show
    progress (at about a second a fill, a pool of 8 is a wait), and returns the ranked fills."""
    image, mask = _checked(image, mask)
    job = _Job.prepare(image, mask, checked_source(source, mask), lattice=lattice, references=references,
                       groups=groups, group_weights=group_weights)
    best: list[tuple[float, int, np.ndarray]] = []
    total = max(pool, count)
    for k in range(total):
        if cancelled is not None and cancelled():
            raise Cancelled()
        region = job.fill(seed + k, regular=k % 2 == 1)
        best.append((texture_mismatch(region, job.hole), k, region))
        best = sorted(best, key=lambda e: e[:2])[:count]
        yield k + 1, total
    want = box if box is not None else Box(0, 0, *mask.shape)
    return [Result(region, job.box, base=image).crop(want) for _, _, region in best]


@dataclass(frozen=True)
class PatchMatchOptions(EngineOptions):
    source: np.ndarray | None = option(None, "bool H x W sampling area: the fill copies only from here")
    references: tuple | None = option(None, "images of the same channel count the fill may copy from as well")
    map_groups: tuple | None = option(None, "a stack's maps as lists of channel indices: each map is matched on its "
                                            "own, all copied through one correspondence")
    map_weights: tuple | None = option(None, "how much each of map_groups counts in that correspondence (one "
                                             "non-negative number per map); None = the same")


class PatchMatchEngine(RegionEngine):
    name = "patchmatch"
    Options = PatchMatchOptions

    def region(self, mask: np.ndarray, opts: PatchMatchOptions) -> Box:
        return _region(mask, checked_source(opts.source, mask))

    def fill(self, job: RegionJob, opts: PatchMatchOptions) -> Iterator[Event]:
        n = job.variants
        yield Progress("fill", 0, n, self.capabilities.title)
        from core.engines.train_set import checked_references, level_matched  # (lazily: it brings the training code)

        source = checked_source(opts.source, job.mask)
        references = level_matched(checked_references(opts.references, job.image.shape[2]), job.image, job.mask,
                                   source)
        groups = map_groups_option(opts.map_groups, job.image.shape[2], opts.map_weights)
        pm = _Job.prepare(job.image, job.mask, source, job.box, references=references, groups=groups,
                          group_weights=opts.map_weights)
        for v in range(n):
            if job.request.cancelled():
                raise Cancelled()
            seed = job.request.seed + v
            region = pm.fill(seed)
            yield Progress("fill", v + 1, n, "done" if v + 1 == n else f"variant {v + 1}/{n}")
            yield job.result(region, v, {"seed": seed})


def register(registry) -> None:
    """Registers the engine only where the native library loads; elsewhere the app works without it."""
    if not available():
        return
    caps = Capabilities(
        title="Content-aware fill (PatchMatch)",
        description="Copies patches from the rest of the image (PatchMatch): sharp texture in about a second; "
                    "may misalign structure. Matches on 8 bits; alpha and extra maps follow the colour match.",
        instant=True,
        supports_seed=True,
        supports_variants=True,
        supports_source=True,
        supports_references=True,
        supports_map_groups=True,
        devices=("cpu",),
    )
    registry.register("patchmatch", caps, lambda: PatchMatchEngine(caps))
