"""Patch statistics: how far a fill's texture is from a reference texture, compared as distributions of patches.

The pieces are those of the patch sliced Wasserstein distance (Karras et al., "Progressive growing of GANs",
ICLR 2018, section 5): a Laplacian pyramid, the 7x7 neighbourhoods around chosen pixels of each level, and the
sliced Wasserstein distance between two sets of them. ``bench.metrics.patch_swd`` compares a result's hole with
the truth's; ``texture_mismatch`` here needs no truth: it compares the hole with the known ring around it, so an
engine can rank its own candidate fills (a fill whose patches look like its surroundings' scores low).
"""
from __future__ import annotations

import cv2
import numpy as np

PATCH = 7
LEVELS = 3
PROJECTIONS = 256
QUANTILES = 128
SEED = 1234  # fixed projections: the same inputs always give the same figure


def as_hwc(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a[:, :, None] if a.ndim == 2 else a


def _down(img: np.ndarray) -> np.ndarray:
    out = cv2.pyrDown(img)
    return out.reshape(out.shape[0], out.shape[1], img.shape[2])


def _up(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = cv2.pyrUp(img, dstsize=(shape[1], shape[0]))
    return out.reshape(shape[0], shape[1], img.shape[2])


def laplacian_levels(img: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """[band 1/1, band 1/2, ..., Gaussian 1/2^(levels-1)] of an H x W x C float image."""
    gauss = [as_hwc(img)]
    for _ in range(levels - 1):
        gauss.append(_down(gauss[-1]))
    bands = [gauss[i] - _up(gauss[i + 1], gauss[i].shape[:2]) for i in range(levels - 1)]
    return bands + [gauss[-1]]


def mask_levels(mask: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """A mask at each pyramid level: a pixel belongs when any of the pixels it covers does."""
    out = [mask.astype(bool)]
    for _ in range(levels - 1):
        m = out[-1]
        h, w = (m.shape[0] + 1) // 2, (m.shape[1] + 1) // 2
        padded = np.zeros((2 * h, 2 * w), bool)
        padded[:m.shape[0], :m.shape[1]] = m
        out.append(padded.reshape(h, 2, w, 2).any(axis=(1, 3)))
    return out


def patches_at(img: np.ndarray, centres: tuple[np.ndarray, np.ndarray], size: int = PATCH) -> np.ndarray:
    """(N, size*size*C) neighbourhoods centred on ``centres`` (reflect padding at the border)."""
    r = size // 2
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    ys, xs = centres
    dy, dx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return padded[ys[:, None] + dy.ravel()[None], xs[:, None] + dx.ravel()[None]].reshape(len(ys), -1)


def normalised_pair(a: np.ndarray, ref: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Both patch sets with each image channel scaled by ``ref``'s mean and std, so no channel dominates."""
    rv = ref.reshape(len(ref), -1, channels)
    mean, std = rv.mean(axis=(0, 1)), np.maximum(rv.std(axis=(0, 1)), 1e-6)
    a = ((a.reshape(len(a), -1, channels) - mean) / std).reshape(len(a), -1)
    return a, ((rv - mean) / std).reshape(len(ref), -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, projections: int = PROJECTIONS,
                       quantiles: int = QUANTILES) -> float:
    """Mean absolute difference of the two sets' quantiles along random unit directions."""
    dirs = rng.standard_normal((a.shape[1], projections)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    qs = (np.arange(quantiles) + 0.5) / quantiles
    pa = np.quantile(a @ dirs, qs, axis=0)
    pb = np.quantile(b @ dirs, qs, axis=0)
    return float(np.mean(np.abs(pa - pb)))


def ring_around(mask: np.ndarray, width: int) -> np.ndarray:
    """The known pixels within ``width`` px of the hole."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1,) * 2)
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool) & ~mask


def texture_mismatch(image: np.ndarray, mask: np.ndarray, ring: int = 24, max_patches: int = 4096,
                     projections: int = 64) -> float:
    """How unlike its surroundings a filled hole looks: the patch sliced Wasserstein distance between the hole's
    patches and those of the known ring ``ring`` px wide around it, on the same pyramid as bench.metrics.patch_swd
    (0 = the same patch statistics). Needs no truth, so an engine can rank candidate fills of the same hole: over
    PatchMatch fills with different seeds it ranks like the distance to the truth (docs/engines/internal.md).
    At most ``max_patches`` patches per set and level, drawn at random with a fixed seed, keep it well under a
    second for any hole."""
    rng = np.random.default_rng(SEED)
    mask = mask.astype(bool)
    around = ring_around(mask, ring)
    scores = []
    for level, hole, known in zip(laplacian_levels(image), mask_levels(mask), mask_levels(around)):
        known = known & ~hole
        sets = []
        for m in (hole, known):
            ys, xs = np.nonzero(m)
            if len(ys) > max_patches:
                pick = rng.choice(len(ys), max_patches, replace=False)
                ys, xs = ys[pick], xs[pick]
            sets.append((ys, xs))
        if len(sets[0][0]) == 0 or len(sets[1][0]) == 0:
            continue
        filled, context = normalised_pair(patches_at(level, sets[0]), patches_at(level, sets[1]), level.shape[2])
        scores.append(sliced_wasserstein(filled, context, rng, projections))
    return float(np.mean(scores)) if scores else 0.0


def _level_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` at a pyramid level's size: the pixels mostly inside it."""
    if mask.shape == shape:
        return mask
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) > 0.5


def _spread(values: np.ndarray) -> np.ndarray:
    """Per-channel median absolute deviation of N x C values: the typical detail, not the few strong edges."""
    return np.median(np.abs(values - np.median(values, axis=0)), axis=0)


DETAIL_LEVELS = 2  # the bands restored: 1/1 and 1/2 scale (the grain); coarser ones carry colour and layout
DETAIL_MAX_GAIN = 2.5
DETAIL_MATCHES = ("spread", "capped", "ranks")


def _ranked_band(hole: np.ndarray, ring: np.ndarray, max_gain: float) -> np.ndarray:
    """N x C band values of the hole with each channel's magnitudes mapped, rank for rank, onto the ring's
    magnitudes (signs kept), each at most ``max_gain`` times its own."""
    out = np.empty_like(hole)
    for c in range(hole.shape[1]):
        mag = np.abs(hole[:, c])
        ranks = np.empty(len(mag), np.float64)
        ranks[np.argsort(mag, kind="stable")] = np.linspace(0.0, 1.0, len(mag))
        target = np.sort(np.abs(ring[:, c]))
        mapped = np.interp(ranks, np.linspace(0.0, 1.0, len(target)), target)
        out[:, c] = np.sign(hole[:, c]) * np.minimum(mapped, max_gain * mag)
    return out


def restore_detail(image: np.ndarray, mask: np.ndarray, levels: int = DETAIL_LEVELS, ring: int = 24,
                   max_gain: float = DETAIL_MAX_GAIN, match: str = "spread") -> np.ndarray:
    """``image`` with the detail of its filled hole brought up to its surroundings', band by band.

    A PatchMatch fill is a vote: where the copied patches disagree, their average is a low-contrast blend of
    the texture (round pebbles come back grey and flat). On the finest ``levels`` bands of a Laplacian pyramid
    the hole's interior is matched to the known ring, per channel:

    - ``"spread"``: scaled so that its typical detail (median absolute deviation, so that a few strong edges in
      the ring do not turn a flat fill into noise) matches the ring's -- only ever up, by at most ``max_gain``;
    - ``"capped"``: the same gain, but never more than what brings the band's standard deviation to the ring's,
      so that a band whose strong edges are already right is not raised with its faint grain;
    - ``"ranks"``: each value's magnitude mapped onto the ring's distribution of magnitudes, rank for rank, at most
      ``max_gain`` times its own (up or down).

    The hole's edge (1 px at each level) and the known pixels are left as they are; measurements in
    docs/engines/internal.md and docs/experiments.md."""
    if match not in DETAIL_MATCHES:
        raise ValueError(f"match must be one of {DETAIL_MATCHES}, not {match!r}")
    img = as_hwc(image)
    mask = mask.astype(bool)
    around = ring_around(mask, ring)
    gauss = [img]
    for _ in range(levels):
        gauss.append(_down(gauss[-1]))
    out = gauss[-1]
    for i in reversed(range(levels)):
        shape = gauss[i].shape[:2]
        band = gauss[i] - _up(gauss[i + 1], shape)
        inner = cv2.erode(_level_mask(mask, shape).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        known = _level_mask(around, shape)
        if inner.sum() > 16 and known.sum() > 16:
            ring_band, hole_band = band[known], band[inner]
            if match == "ranks":
                band[inner] = _ranked_band(hole_band, ring_band, max_gain)
            else:
                gain = _spread(ring_band) / (_spread(hole_band) + 1e-6)
                if match == "capped":
                    gain = np.minimum(gain, ring_band.std(axis=0) / (hole_band.std(axis=0) + 1e-6))
                band[inner] *= np.clip(gain, 1.0, max_gain)
        out = _up(out, shape) + band
    result = img.copy()
    result[mask] = np.clip(out[mask], 0.0, 1.0)
    return result.reshape(np.shape(image)) if np.ndim(image) == 2 else result
