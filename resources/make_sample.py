"""Draws the bundled sample image (resources/sample.png) and its mask: a procedural brick wall with a
painted scrawl to remove. Written by us, so it carries no third-party licence (CC0, like all of
resources/). Deterministic: ``python resources/make_sample.py`` recreates the same files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

H, W = 320, 448


def brick_wall(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((H, W, 3), np.float32)
    mortar = np.array([0.72, 0.70, 0.66], np.float32)
    img[:] = mortar
    bh, bw, gap = 32, 64, 5
    for row in range(H // bh + 1):
        off = (bw // 2) * (row % 2)
        for col in range(-1, W // bw + 2):
            y0, x0 = row * bh + gap // 2, col * bw + off + gap // 2
            base = np.array([0.55, 0.24, 0.16], np.float32) * rng.uniform(0.8, 1.15)
            base += rng.normal(0, 0.02, 3).astype(np.float32)
            cv2.rectangle(img, (x0, y0), (x0 + bw - gap, y0 + bh - gap), base.tolist(), -1)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 1.2)
    img *= (1.0 + 0.10 * grain)[:, :, None]
    img += rng.normal(0, 0.015, img.shape).astype(np.float32)
    shade = np.linspace(1.05, 0.9, W, dtype=np.float32)[None, :, None]
    return np.clip(img * shade, 0, 1)


def scrawl(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    pts = np.array([[120, 200], [160, 140], [210, 190], [250, 120], [300, 180], [330, 130]], np.int32)
    cv2.polylines(m, [pts], False, 255, 11)
    cv2.circle(m, (90, 90), 22, 255, 9)
    return m


def main() -> None:
    rng = np.random.default_rng(20261123)
    wall = brick_wall(rng)
    strokes = scrawl(rng)
    painted = wall.copy()
    painted[strokes > 0] = [0.10, 0.35, 0.85]  # blue spray paint
    here = Path(__file__).parent
    cv2.imwrite(str(here / "sample.png"), cv2.cvtColor((painted * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    mask = cv2.dilate(strokes, np.ones((5, 5), np.uint8))
    cv2.imwrite(str(here / "sample_mask.png"), mask)


if __name__ == "__main__":
    main()
