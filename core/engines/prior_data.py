"""The internal engine's prior training set: licence-clean photos and textures drawn by our own code.

Two sources, both free of third-party rights:
- the photos and maps the shipped few-shot weights use (Kodak kodim01-06, released for unrestricted use;
  ambientCG Rock058 / Metal055A maps, CC0), read from the shared data folder, never copied;
- procedural textures drawn here from a seed (bricks, tiles, planks, cells, weaves, stripes, noise), so the
  prior also sees regular structure -- the kind of hole an artist fills most -- which eight photos lack.

Every picture is cut into tiles of one size at several scales (whole, 1/2, 1/4: a 64-px training crop then holds
64-256 px of the original's structure) and normalised by its own mean and std, as the engine normalises the
region it trains on. A third of the tiles are made gray (R = G = B), so the prior knows gray images too: the
one-channel prior is folded from the RGB one (``internal_prior.fold_to_gray``).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

DATA = Path(os.environ.get("REWEAVE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
PHOTO_FILES = [
    "kodak/kodim01.png", "kodak/kodim02.png", "kodak/kodim03.png",
    "kodak/kodim04.png", "kodak/kodim05.png", "kodak/kodim06.png",
    "svbrdf/acg_rock058/diffuse.png", "svbrdf/acg_metal055a/diffuse.png",
    "svbrdf/acg_rock058/normal.png", "svbrdf/acg_metal055a/roughness.png",
]
TILE = 256
SCALES = (1.0, 0.5, 0.25)
GRAY_SHARE = 1 / 3


def _grain(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    g = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma)
    return g / max(float(g.std()), 1e-6)


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    base = rng.uniform(0.15, 0.85, 3)
    return np.clip(base + rng.normal(0, rng.uniform(0.03, 0.2), (n, 3)), 0, 1).astype(np.float32)


def bricks(rng: np.random.Generator, size: int) -> np.ndarray:
    bh, bw = int(rng.integers(12, 48)), 0
    bw = int(bh * rng.uniform(1.5, 3.5))
    gap = int(rng.integers(2, 7))
    mortar, stones = _palette(rng, 1)[0], _palette(rng, 6)
    img = np.empty((size, size, 3), np.float32)
    img[:] = mortar
    offset = rng.uniform(0.3, 0.7)
    for row in range(size // bh + 2):
        shift = int(bw * offset) * (row % 2)
        for col in range(-1, size // bw + 2):
            y0, x0 = row * bh, col * bw + shift
            colour = stones[rng.integers(len(stones))] * rng.uniform(0.85, 1.15)
            cv2.rectangle(img, (x0, y0), (x0 + bw - gap, y0 + bh - gap), colour.tolist(), -1)
    return img


def tiles(rng: np.random.Generator, size: int) -> np.ndarray:
    side = int(rng.integers(10, 64))
    gap = int(rng.integers(1, 5))
    grout, faces = _palette(rng, 1)[0], _palette(rng, 2 if rng.random() < 0.5 else 5)
    img = np.empty((size, size, 3), np.float32)
    img[:] = grout
    checker = rng.random() < 0.5
    for i in range(size // side + 1):
        for j in range(size // side + 1):
            k = (i + j) % len(faces) if checker else int(rng.integers(len(faces)))
            cv2.rectangle(img, (j * side, i * side), ((j + 1) * side - gap, (i + 1) * side - gap),
                          faces[k].tolist(), -1)
    return img


def planks(rng: np.random.Generator, size: int) -> np.ndarray:
    width = int(rng.integers(16, 56))
    woods = _palette(rng, 4)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.empty((size, size, 3), np.float32)
    grain = _grain(rng, size, size, 1.0)
    for k in range(size // width + 1):
        rows = slice(k * width, (k + 1) * width)
        freq = rng.uniform(0.05, 0.3)
        rings = 0.5 + 0.5 * np.sin(freq * y[rows] + 3 * np.sin(x[rows] * rng.uniform(0.005, 0.03)) + rng.uniform(0, 6))
        colour = woods[rng.integers(len(woods))]
        img[rows] = colour * (0.8 + 0.25 * rings[..., None] + 0.05 * grain[rows, :, None])
        img[k * width:k * width + 2] *= 0.6
    return img


def cells(rng: np.random.Generator, size: int) -> np.ndarray:
    """Voronoi cells with dark borders: cobbles, scales, cracked mud."""
    n = int(rng.integers(12, 160))
    pts = rng.uniform(0, size, (n, 2)).astype(np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    d = np.stack([(y - py) ** 2 + (x - px) ** 2 for py, px in pts])
    order = np.sort(d, axis=0)
    nearest = np.argmin(d, axis=0)
    edge = np.sqrt(order[1]) - np.sqrt(order[0])
    colours = _palette(rng, n)
    img = colours[nearest]
    border = np.clip(edge / rng.uniform(1.5, 6.0), 0, 1)
    shade = 0.75 + 0.25 * np.clip(1 - np.sqrt(order[0]) / (size / np.sqrt(n)), 0, 1)
    return img * (border * shade)[..., None] + (1 - border[..., None]) * 0.5 * colours.mean(0)


def weave(rng: np.random.Generator, size: int) -> np.ndarray:
    period = int(rng.integers(6, 24))
    a, b = _palette(rng, 2)
    y, x = np.mgrid[0:size, 0:size]
    over = ((y // period) + (x // period)) % 2 == 0
    phase_y = np.sin(np.pi * (y % period) / period) ** 2
    phase_x = np.sin(np.pi * (x % period) / period) ** 2
    return np.where(over[..., None], a * (0.6 + 0.4 * phase_x)[..., None], b * (0.6 + 0.4 * phase_y)[..., None])


def stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(5, 40)
    a, b = _palette(rng, 2)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = x * np.cos(angle) + y * np.sin(angle) + 4 * _grain(rng, size, size, 8)
    t = (0.5 + 0.5 * np.sin(2 * np.pi * u / period)) ** rng.uniform(0.5, 3)
    return a * t[..., None] + b * (1 - t[..., None])


def noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fractal noise, thresholded or not: stone, plaster, moss, sand."""
    field = sum(_grain(rng, size, size, s) * s ** rng.uniform(0.2, 0.9) for s in (1, 2, 4, 8, 16))
    field = (field - field.mean()) / max(float(field.std()), 1e-6)
    if rng.random() < 0.4:
        field = np.tanh(3 * field)
    a, b = _palette(rng, 2)
    t = (0.5 + 0.25 * field)[..., None]
    return a * t + b * (1 - t)


GENERATORS = (bricks, tiles, planks, cells, weave, stripes, noise)


def procedural_texture(kind: int, seed: int, size: int = TILE) -> np.ndarray:
    """One texture (size x size x 3, float32 in [0, 1]) of generator ``kind``, with fine grain and a light gradient."""
    rng = np.random.default_rng([kind, seed])
    img = GENERATORS[kind % len(GENERATORS)](rng, size).astype(np.float32)
    if rng.random() < 0.5:  # rotate by a right angle or a random one, so structure has every orientation
        m = cv2.getRotationMatrix2D((size / 2, size / 2), float(rng.uniform(0, 360)), 1.0)
        img = cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REFLECT)
    img *= (1 + rng.uniform(0.02, 0.12) * _grain(rng, size, size, rng.uniform(0.6, 1.5)))[..., None]
    ramp = np.linspace(1 - rng.uniform(0, 0.15), 1, size, dtype=np.float32)
    img *= ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
    return np.clip(img, 0, 1)


def _tiles_of(img: np.ndarray, tile: int) -> list[np.ndarray]:
    out = []
    for scale in SCALES:
        h, w = img.shape[:2]
        sh, sw = int(round(h * scale)), int(round(w * scale))
        if min(sh, sw) < tile:
            continue
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA) if scale != 1.0 else img
        for y in range(0, sh - tile + 1, tile):
            for x in range(0, sw - tile + 1, tile):
                out.append(small[y:y + tile, x:x + tile])
    return out


def training_tiles(n_procedural: int = 420, seed: int = 0, tile: int = TILE) -> np.ndarray:
    """(N, 3, tile, tile) float32, each tile normalised by its own mean and std: photos at three scales and
    ``n_procedural`` procedural textures; a third of them gray."""
    from core.io import load_image, to_float

    pictures = []
    for rel in PHOTO_FILES:
        path = DATA / rel
        if not path.is_file():
            raise SystemExit(f"error: {path} is missing (set REWEAVE_DATA to the shared data folder)")
        img = to_float(load_image(str(path)))
        img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[:, :, :3]
        pictures += _tiles_of(img, tile)
    pictures += [procedural_texture(i, seed + i // len(GENERATORS), tile) for i in range(n_procedural)]
    rng = np.random.default_rng(seed)
    out = []
    for img in pictures:
        if rng.random() < GRAY_SHARE:
            img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
        mean = img.reshape(-1, 3).mean(0)
        std = np.maximum(img.reshape(-1, 3).std(0), 1e-3)
        out.append(((img - mean) / std).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)
