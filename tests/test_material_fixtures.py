"""Tiny synthetic material map sets for the material tests (helpers only: no tests here).

Imported by test_material.py and test_material_cli.py; written with cv2 directly, not through core.io."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def quantise(values: np.ndarray, dtype) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.rint(np.clip(values, 0.0, 1.0) * top).astype(dtype)


def write_native(path: Path, px: np.ndarray) -> Path:
    """RGB(A)-ordered H x W x C pixels -> file, via cv2 (BGR order on disk); TGA written here."""
    if Path(path).suffix.lower() == ".tga":
        return _write_tga_bottom_up(Path(path), px)
    if px.shape[2] == 1:
        px = px[:, :, 0]
    elif px.shape[2] == 3:
        px = px[:, :, ::-1]
    elif px.shape[2] == 4:
        px = px[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(px)), path
    return Path(path)


def _write_tga_bottom_up(path: Path, px: np.ndarray) -> Path:
    """An uncompressed TGA with the format's default bottom-left origin (independent of core's writer)."""
    h, w, c = px.shape
    header = bytes([0, 0, 3 if c == 1 else 2, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    w & 255, w >> 8, h & 255, h >> 8, 8 * c, 8 if c == 4 else 0])
    body = px[::-1][:, :, {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[c]]
    path.write_bytes(header + np.ascontiguousarray(body).tobytes())
    return path


def height_field(h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """Round bumps: relief in both directions, so the normal convention can be read from it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w), np.float32)
    for _ in range(8):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 8)
        out += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return out / out.max()


def normals_from_height(height: np.ndarray, strength: float = 4.0, convention: str = "gl") -> np.ndarray:
    """Unit normals (H x W x 3) of a height field; rows grow downwards, OpenGL's +Y points up the image."""
    d_row, d_x = np.gradient(height * strength)
    n = np.stack([-d_x, d_row if convention == "gl" else -d_row, np.ones_like(height)], axis=-1)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


def write_material(folder: Path, h: int = 32, w: int = 32, seed: int = 0, names: dict | None = None) -> dict:
    """A small map set on disk. Returns name -> native pixels written.

    Default layout: 8-bit RGB base colour, 8-bit RGB OpenGL normal, gray-in-RGB 8-bit roughness,
    16-bit gray height, gray-in-RGBA metallic with an opaque alpha."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or {}
    hf = height_field(h, w, seed)
    rng = np.random.default_rng(seed)
    base = np.stack([0.3 + 0.5 * hf, 0.2 + 0.3 * hf, 0.1 + 0.1 * (1 - hf)], -1) + rng.normal(0, 0.02, (h, w, 3))
    normal = normals_from_height(hf, convention=names.get("convention", "gl")) * 0.5 + 0.5
    rough = np.repeat((0.8 - 0.5 * hf)[:, :, None], 3, axis=2)
    metal = np.concatenate([np.repeat((hf > 0.6).astype(np.float32)[:, :, None], 3, 2),
                            np.ones((h, w, 1), np.float32)], -1)
    maps = {
        names.get("basecolor", "Mat_BaseColor.png"): quantise(base, np.uint8),
        names.get("normal", "Mat_NormalGL.png"): quantise(normal, np.uint8),
        names.get("roughness", "Mat_Roughness.png"): quantise(rough, np.uint8),
        names.get("height", "Mat_Height.png"): quantise(hf[:, :, None], np.uint16),
        names.get("metallic", "Mat_Metallic.png"): quantise(metal, np.uint8),
    }
    for name, px in maps.items():
        write_native(folder / name, px)
    return maps
