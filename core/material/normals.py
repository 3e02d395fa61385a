"""Tangent-space normal maps: encoding, OpenGL vs DirectX, unit length after inpainting.

Stored values v in [0, 1] encode n = 2 v - 1. OpenGL (+Y up: the green channel grows towards the top of the
image) and DirectX (-Y: towards the bottom) differ only in the sign of the green channel. Inpainting never
converts: the maps are saved in the convention they came in; the convention matters for shading, which
works in OpenGL space.
"""
from __future__ import annotations

import itertools

import cv2
import numpy as np

from core.material.names import DX, GL


def decode(values: np.ndarray) -> np.ndarray:
    """Stored [0, 1] values (H x W x >=3) -> vectors in [-1, 1] (H x W x 3), as stored (not renormalised)."""
    return values[..., :3].astype(np.float32) * 2.0 - 1.0


def encode(vectors: np.ndarray) -> np.ndarray:
    return (np.clip(vectors, -1.0, 1.0) * 0.5 + 0.5).astype(np.float32)


def to_opengl(vectors: np.ndarray, convention: str) -> np.ndarray:
    """Vectors in the map's convention -> OpenGL (+Y up) vectors, the space the shading works in."""
    if convention == DX:
        vectors = vectors * np.array([1.0, -1.0, 1.0], np.float32)
    return vectors


def unit(vectors: np.ndarray, min_z: float = 1e-3) -> np.ndarray:
    """Renormalise to unit length, keeping z > 0 (tangent-space normals face out of the surface).

    A model can predict any three numbers; a vector that is zero or points into the surface has no useful
    direction, so it falls back to the flat normal (0, 0, 1)."""
    v = vectors.astype(np.float64, copy=True)
    v[..., 2] = np.maximum(v[..., 2], min_z)
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    flat = np.zeros_like(v)
    flat[..., 2] = 1.0
    out = np.where(length > 1e-6, v / np.maximum(length, 1e-12), flat)
    return out.astype(np.float32)


def quantise_unit(vectors: np.ndarray, top: int) -> np.ndarray:
    """Unit vectors -> integer codes (0..top) whose decoded length is as close to 1 as the depth allows.

    Plain rounding of each component can leave 8-bit normals up to ~0.7% off unit length; of the 8 codes
    around the exact value (floor or ceil per channel) we keep the one whose decoded length is nearest 1,
    which moves the direction by less than one code step."""
    exact = (np.clip(vectors, -1.0, 1.0) * 0.5 + 0.5) * top
    lo = np.floor(exact)
    best, best_err = None, None
    for offs in itertools.product((0.0, 1.0), repeat=3):
        cand = np.minimum(lo + np.array(offs), top)
        dec = cand / top * 2.0 - 1.0
        # Ties (and near-ties below one part in 1e6) go to the code nearest the exact value.
        err = np.abs(np.linalg.norm(dec, axis=-1) - 1.0) + 1e-6 * np.abs(cand - exact).sum(axis=-1)
        if best is None:
            best, best_err = cand, err
        else:
            better = err < best_err
            best = np.where(better[..., None], cand, best)
            best_err = np.where(better, err, best_err)
    return best


def length_error(vectors: np.ndarray) -> float:
    """Largest | |n| - 1 | over the given vectors (N x 3 or H x W x 3)."""
    v = vectors.reshape(-1, 3).astype(np.float64)
    if v.size == 0:
        return 0.0
    return float(np.abs(np.linalg.norm(v, axis=1) - 1.0).max())


def _squared_curls(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the squared curl read as OpenGL and as DirectX (see ``convention_scores``)."""
    n = decode(values).astype(np.float32)
    nz = np.maximum(n[..., 2], 0.05)
    p = cv2.GaussianBlur(-n[..., 0] / nz, (0, 0), 1.0)  # blur: JPEG noise has no curl structure
    q = cv2.GaussianBlur(-n[..., 1] / nz, (0, 0), 1.0)
    dp_drow = cv2.Sobel(p, cv2.CV_32F, 0, 1, ksize=3)
    dq_dx = cv2.Sobel(q, cv2.CV_32F, 1, 0, ksize=3)
    return (dp_drow + dq_dx) ** 2, (dp_drow - dq_dx) ** 2


def convention_scores(values: np.ndarray) -> tuple[float, float]:
    """How far the normals are from an integrable surface when read as OpenGL, and as DirectX.

    A normal map is the gradient of a height field h: with rows growing downwards, OpenGL stores
    p = -nx/nz = dh/dx and q = -ny/nz = -dh/drow, DirectX q = +dh/drow. Mixed second derivatives agree on a
    real surface, so the curl dp/drow + s dq/dx (s = +1 for OpenGL, -1 for DirectX) vanishes only under the
    right convention. Returns the mean squared curl for each (lower = more likely)."""
    gl, dx = _squared_curls(values)
    return float(np.mean(gl)), float(np.mean(dx))


CURL_HALO = 8  # rows a pixel's curl depends on, on either side: the blur's 4 and Sobel's 1, with room to spare
SCORE_BANDS = 16  # bands of rows ``convention_scores_in_bands`` looks at, at most
SCORE_BAND_ROWS = 256


def convention_scores_in_bands(read_rows, height: int) -> tuple[float, float]:
    """``convention_scores`` of a map that is read a band of rows at a time: ``read_rows(y0, y1)`` gives its
    stored values of rows [y0, y1) (float, h x W x >=3). Each band is read with CURL_HALO rows more on either side,
    so its curls are the whole map's there. A map of up to SCORE_BANDS x SCORE_BAND_ROWS rows is read whole (the
    same scores as ``convention_scores``, but for the order of summation); a taller one in that many bands spread
    evenly over it (an 8192 px map: half of its rows), so nothing of the map's size is ever held as floats."""
    starts = list(range(0, height, SCORE_BAND_ROWS))
    if len(starts) > SCORE_BANDS:
        starts = [starts[round(i * (len(starts) - 1) / (SCORE_BANDS - 1))] for i in range(SCORE_BANDS)]
    sums, count = np.zeros(2), 0
    for y0 in starts:
        y1 = min(height, y0 + SCORE_BAND_ROWS)
        r0, r1 = max(0, y0 - CURL_HALO), min(height, y1 + CURL_HALO)
        gl, dx = _squared_curls(read_rows(r0, r1))
        sums += [float(gl[y0 - r0:y1 - r0].sum(dtype=np.float64)), float(dx[y0 - r0:y1 - r0].sum(dtype=np.float64))]
        count += gl[y0 - r0:y1 - r0].size
    return float(sums[0] / count), float(sums[1] / count)


def detect_convention(values: np.ndarray | None, margin: float = 1.25,
                      scores: tuple[float, float] | None = None) -> tuple[str, bool]:
    """(convention, confident) from the pixels alone (or from their ``scores``, ``convention_scores_in_bands``);
    OpenGL when the content cannot tell (confident False).

    Surfaces whose relief runs along one axis only (straight grooves) give both readings the same curl."""
    gl, dx = scores if scores is not None else convention_scores(values)
    if gl * margin < dx:
        return GL, True
    if dx * margin < gl:
        return DX, True
    return GL, False
