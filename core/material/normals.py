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


def convention_scores(values: np.ndarray) -> tuple[float, float]:
    """How far the normals are from an integrable surface when read as OpenGL, and as DirectX.

    A normal map is the gradient of a height field h: with rows growing downwards, OpenGL stores
    p = -nx/nz = dh/dx and q = -ny/nz = -dh/drow, DirectX q = +dh/drow. Mixed second derivatives agree on a
    real surface, so the curl dp/drow + s dq/dx (s = +1 for OpenGL, -1 for DirectX) vanishes only under the
    right convention. Returns the mean squared curl for each (lower = more likely)."""
    n = decode(values).astype(np.float32)
    nz = np.maximum(n[..., 2], 0.05)
    p = cv2.GaussianBlur(-n[..., 0] / nz, (0, 0), 1.0)  # blur: JPEG noise has no curl structure
    q = cv2.GaussianBlur(-n[..., 1] / nz, (0, 0), 1.0)
    dp_drow = cv2.Sobel(p, cv2.CV_32F, 0, 1, ksize=3)
    dq_dx = cv2.Sobel(q, cv2.CV_32F, 1, 0, ksize=3)
    gl = float(np.mean((dp_drow + dq_dx) ** 2))
    dx = float(np.mean((dp_drow - dq_dx) ** 2))
    return gl, dx


def detect_convention(values: np.ndarray, margin: float = 1.25) -> tuple[str, bool]:
    """(convention, confident) from the pixels alone; OpenGL when the content cannot tell (confident False).

    Surfaces whose relief runs along one axis only (straight grooves) give both readings the same curl."""
    gl, dx = convention_scores(values)
    if gl * margin < dx:
        return GL, True
    if dx * margin < gl:
        return DX, True
    return GL, False
