"""Shared pieces of the benchmarks: test images, metrics, peers, contact sheets."""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from core.io import load_image, to_float

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("REWEAVE_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "bench" / "out"


def centre_crop(img: np.ndarray, size: int = 256) -> np.ndarray:
    h, w = img.shape[:2]
    if min(h, w) < size:
        scale = size / min(h, w)
        img = cv2.resize(img, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
        img = img.reshape(img.shape[0], img.shape[1], -1)
        h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[y:y + size, x:x + size])


def test_images(category: str, limit: int | None = None, size: int = 256) -> list[tuple[str, np.ndarray]]:
    """(name, float32 HxWxC crop) for the images of ``DATA/category``, sorted by name."""
    folder = DATA / category
    if not folder.is_dir():
        raise SystemExit(f"benchmark data not found: {folder} (set REWEAVE_DATA)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".tif", ".tiff"})
    if limit:
        # spread the subset over the sorted list rather than taking the first few
        idx = np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)
        files = [files[i] for i in sorted(set(idx))]
    return [(p.stem, centre_crop(to_float(load_image(p)), size)) for p in files]


def hole_psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    err = np.mean((result[mask] - truth[mask]) ** 2)
    return float(10 * np.log10(1.0 / max(err, 1e-12)))


def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    va, vb = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))


def hole_ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """SSIM (Gaussian 11x11, sigma 1.5), averaged over channels and over the hole's pixels."""
    maps = [_ssim_map(result[:, :, c].astype(np.float32), truth[:, :, c].astype(np.float32))
            for c in range(truth.shape[2])]
    return float(np.mean(np.stack(maps, -1)[mask]))


def full_psnr(result: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((result - truth) ** 2), 1e-12)))


def full_ssim(result: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([_ssim_map(result[:, :, c], truth[:, :, c]).mean() for c in range(truth.shape[2])]))


# Shifts (fractions of the height, width) of the shifted-truth reference: far enough that the copy's texture is
# not the hole's own, several so that one lucky alignment does not decide a case.
ORACLE_SHIFTS = ((1 / 3, 1 / 3), (1 / 2, 0), (0, 1 / 2), (1 / 2, 1 / 2), (1 / 4, 3 / 4))


def shifted_truths(truth: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The truth with its hole filled by the truth itself, shifted (wrapped) by each of ``ORACLE_SHIFTS``.

    A reference, not a method: the fill has the image's own texture -- the exact statistics, sharpness about
    1.0, and on a map set every map shifted together, so perfectly coherent -- but not the hole's phase. What it
    scores is what a realistic, texture-preserving fill can expect from a pixel-wise metric (PSNR) when it does
    not guess where each grain lies; a smooth fill (Telea) is not charged for that guess."""
    h, w = mask.shape
    out = []
    for fy, fx in ORACLE_SHIFTS:
        rolled = np.roll(truth, (int(round(fy * h)), int(round(fx * w))), axis=(0, 1))
        out.append(np.where(mask.reshape(h, w, *([1] * (truth.ndim - 2))), rolled, truth))
    return out


def harmonised(fill: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``fill`` (H, W, C in [0, 1]) seam-harmonised against ``truth``'s known pixels as the engines do by default
    (core.seam, plain local means, all channels), so that references are compared on the same footing."""
    import torch

    from core.seam import harmonize

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a.reshape(mask.shape + (-1,)).transpose(2, 0, 1),
                                                     dtype=np.float32))[None]
    out = harmonize(t(fill), t(truth), t(mask.astype(np.float32))[:, :1], lo=torch.zeros(()), hi=torch.ones(()))
    return out[0].numpy().transpose(1, 2, 0).reshape(fill.shape)


def _grad_mag(img: np.ndarray) -> np.ndarray:
    g = img.mean(axis=2).astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def sharpness_ratio(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude inside the hole, result / truth (1.0 = as detailed as the truth).

    Measured on the hole eroded by 2 px so that the seam with the known pixels does not count."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if inner.sum() < 16:
        inner = mask
    return float(_grad_mag(result)[inner].mean() / max(_grad_mag(truth)[inner].mean(), 1e-6))


def patchmatch_fill(image: np.ndarray, mask: np.ndarray):
    """PatchMatch as the patchmatch engine runs it (core.engines.patchmatch), or None without its native library."""
    from core.engines import patchmatch

    if not patchmatch.available():
        return None
    return patchmatch.patchmatch_fill(image, mask)


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def to_rgb8(img: np.ndarray) -> np.ndarray:
    img = np.clip(img, 0, 1)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.rint(img[:, :, :3] * 255).astype(np.uint8)


def contact_sheet(rows: list[list[np.ndarray]], labels: list[str], path: Path, tile: int = 160) -> Path:
    """rows of float images (same columns per row) -> one PNG with a label bar on top."""
    cols = len(labels)
    bar = 22
    sheet = np.full((bar + len(rows) * tile, cols * tile, 3), 255, np.uint8)
    for j, label in enumerate(labels):
        cv2.putText(sheet, label[:18], (j * tile + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            t = cv2.resize(to_rgb8(img), (tile, tile), interpolation=cv2.INTER_AREA)
            sheet[bar + i * tile: bar + (i + 1) * tile, j * tile:(j + 1) * tile] = t
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def show_hole(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image.copy()
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    out[mask] = [1.0, 0.0, 1.0]
    return out


def print_table(headers: list[str], rows: list[list], title: str = "") -> str:
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def add_option_argument(ap, example: str = "init=telea") -> None:
    """The benchmarks' repeatable ``--option KEY=VALUE`` (an internal-engine request option); see parse_options."""
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help=f"an internal-engine request option, e.g. {example} (repeatable)")


def parse_options(pairs: list[str]) -> dict:
    """``["init=telea", "strength=0.5", "bf16=false"]`` -> ``{"init": "telea", "strength": 0.5, "bf16": False}``
    (core.fewshot_cli.parse_options, the rule train-fewshot uses; a malformed pair ends the benchmark)."""
    from core.errors import UserError
    from core.fewshot_cli import parse_options as parse

    try:
        return parse(pairs)
    except UserError as e:
        raise SystemExit(str(e)) from None
