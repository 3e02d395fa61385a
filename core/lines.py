"""Straight lines that cross a hole (a plaid, a fence, planks, ruled paper), found from the known pixels alone.

A hole across long straight lines is where copying fills go wrong in the other way from a lattice's: the lines are
not evenly spaced, so they have no phase, yet every line that enters the hole leaves it on the far side, and a
patch copied at the wrong place stops it half-way. A family of parallel lines at angle ``a`` makes the image a
function of one coordinate, the distance ``s`` across the lines: averaging the known pixels of each ``s`` gives
the family's *profile*, and that profile read at a hole pixel's ``s`` says what the lines put there. PatchMatch's
library takes such a map (``inpaint_regularity``'s ijmap, compared at the patch centre) and adds its distance to
the patch distance, so copies land where their line belongs.

A family is kept only when all of these hold, so photos and lattices (``core.lattice``) keep their own fills:

* the masked autocorrelation has a ridge along ``a``: it stays high at every shift along the lines (a lattice's
  rows dip between periods) and stands clear of the directions beside it (a smooth photo correlates everywhere);
* the profiles measured on the two sides of the hole agree: the lines run through the hole rather than ending at
  it (a photo's edge on one side only -- the top of a door's hinge -- would otherwise be drawn across the hole).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.lattice import MIN_OVERLAP, autocorrelation

MIN_LENGTH = 8  # px: the ridge is read from this shift ...
RIDGE_SHARE = 1 / 3  # ... to this share of the region's shorter side
MIN_RIDGE = 0.15  # the mean autocorrelation along the lines
MIN_FLOOR = 0.15  # its 10th percentile: a line correlates with itself at every shift along it
MIN_PROMINENCE = 0.15  # how far the ridge stands above the directions 10 degrees either side
MIN_AGREEMENT = 0.7  # correlation of the two sides' profiles over the lines that cross the hole
MIN_BIN = 4  # known pixels a profile bin needs; emptier bins are interpolated
SIDE_BIN = 8  # ... and each side's bin, for the agreement


@dataclass(frozen=True)
class Lines:
    """A family of parallel lines: their angle (degrees; direction (sin a, cos a) in (dy, dx)) and the profile
    across them, ``profile[i]`` at distance ``s0 + i`` (px, image coordinates), scaled to [0, 0.5]."""

    angle: float
    s0: float
    profile: np.ndarray
    strength: float  # the ridge's mean autocorrelation

    def phases(self, height: int, width: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """float32 height x width x 3: each pixel's profile value in channel 0, as ``inpaint_regularity`` takes
        it (values within [0, 0.5], so its wrap-around never applies); channels 1 and 2 zero."""
        s = _across(height, width, origin, self.angle)
        idx = np.clip(np.rint(s - self.s0).astype(np.int64), 0, len(self.profile) - 1)
        out = np.zeros((height, width, 3), np.float32)
        out[:, :, 0] = self.profile[idx]
        return out


def _across(height: int, width: int, origin: tuple[int, int], angle: float) -> np.ndarray:
    """Each pixel's distance across lines at ``angle`` (the coordinate along their normal)."""
    a = np.deg2rad(angle)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    return (yy + origin[0]) * np.cos(a) - (xx + origin[1]) * np.sin(a)


def _ridges(corr: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """180 x 2: for each whole-degree direction, the autocorrelation's mean and 10th percentile along the ray
    from the centre (shifts with too little overlap left out)."""
    cy, cx = corr.shape[0] // 2, corr.shape[1] // 2
    r = np.arange(MIN_LENGTH, max(MIN_LENGTH + 1, int(min(corr.shape) * RIDGE_SHARE)))
    out = np.full((180, 2), -1.0)
    for deg in range(180):
        a = np.deg2rad(deg)
        ys, xs = np.rint(cy + r * np.sin(a)).astype(int), np.rint(cx + r * np.cos(a)).astype(int)
        ok = (ys >= 0) & (ys < corr.shape[0]) & (xs >= 0) & (xs < corr.shape[1])
        ys, xs = ys[ok], xs[ok]
        v = corr[ys, xs][overlap[ys, xs] >= MIN_OVERLAP]
        if v.size >= 4:
            out[deg] = v.mean(), np.percentile(v, 10)
    return out


def _profile(gray: np.ndarray, use: np.ndarray, bins: np.ndarray, count: int, least: int) -> np.ndarray:
    """Mean of ``gray`` over the ``use`` pixels of each bin; NaN where a bin has fewer than ``least``."""
    sums = np.bincount(bins[use], gray[use], count)
    n = np.bincount(bins[use], None, count)
    return np.where(n >= least, sums / np.maximum(n, 1), np.nan)


def find_lines(image: np.ndarray, known: np.ndarray, hole: np.ndarray, origin: tuple[int, int] = (0, 0),
               corr: tuple[np.ndarray, np.ndarray] | None = None) -> Lines | None:
    """The strongest family of straight lines in ``image``'s (float H x W x C, or H x W) ``known`` pixels that
    runs through ``hole`` (bool, same size), or None (see the module docstring). ``origin``: the image position
    of pixel (0, 0); ``corr``: ``core.lattice.autocorrelation`` of the same pixels, when already computed."""
    gray = np.asarray(image.mean(axis=2) if image.ndim == 3 else image, np.float64)
    if known.sum() < 64 or not hole.any() or gray[known].std() < 1e-4:
        return None
    corr_map, overlap = corr if corr is not None else autocorrelation(gray, known)
    ridge = _ridges(corr_map, overlap)
    mean, floor = ridge[:, 0], ridge[:, 1]
    beside = np.maximum(np.roll(mean, 10), np.roll(mean, -10))
    good = (mean >= MIN_RIDGE) & (floor >= MIN_FLOOR) & (mean - beside >= MIN_PROMINENCE)
    for deg in np.argsort(-mean):
        if not good[deg]:
            continue
        lines = _measured(gray, known, hole, origin, float(deg), float(mean[deg]))
        if lines is not None:
            return lines
    return None


def _measured(gray, known, hole, origin, angle, strength) -> Lines | None:
    """The family at ``angle`` with its profile, or None when the two sides of the hole disagree about it."""
    h, w = gray.shape
    s = _across(h, w, origin, angle)
    s0 = float(np.floor(s.min()))
    bins = np.rint(s - s0).astype(np.int64)
    count = int(bins.max()) + 1
    a = np.deg2rad(angle)
    yy, xx = np.mgrid[0:h, 0:w]
    along = yy * np.sin(a) + xx * np.cos(a)
    middle = along[hole].mean()
    before = _profile(gray, known & (along < middle), bins, count, SIDE_BIN)
    after = _profile(gray, known & (along >= middle), bins, count, SIDE_BIN)
    crossing = np.zeros(count, bool)
    crossing[np.unique(bins[hole])] = True
    both = crossing & ~np.isnan(before) & ~np.isnan(after)
    if both.sum() < 8 or before[both].std() < 1e-6 or after[both].std() < 1e-6:
        return None
    if np.corrcoef(before[both], after[both])[0, 1] < MIN_AGREEMENT:
        return None
    profile = _profile(gray, known, bins, count, MIN_BIN)
    have = ~np.isnan(profile)
    idx = np.arange(count)
    profile = np.interp(idx, idx[have], profile[have])
    lo, hi = np.percentile(profile, 1), np.percentile(profile, 99)
    scaled = np.clip((profile - lo) / max(hi - lo, 1e-6), 0.0, 1.0) * 0.5
    return Lines(angle, s0, scaled.astype(np.float32), strength)
