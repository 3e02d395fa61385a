"""Whole photos with several holes, as an artist paints them: does a fill keep the colour around each hole?

    python -m bench.full_size [--kodak 4] [--methods internal-fast,patchmatch,telea] [--option KEY=VALUE ...]

bench.quality works on 256-px crops with one hole each. Here each Kodak photo is used whole (768 x 512): two
ellipses and one brush stroke at places drawn from a fixed seed per image, so one run reaches across the picture
and the internal engine's regions and training cover most of it. Figures as bench.quality (hole PSNR, low-pass
PSNR, patch SWD) and seconds; a contact sheet of every hole at bench/out/full_size_sheet.png.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from bench.common import (DATA, OUT, Timer, add_option_argument, contact_sheet, hole_psnr, parse_options, print_table,
                          show_hole)
from bench.metrics import lowpass_psnr, patch_swd
from core.engines.base import InpaintRequest, last_result
from core.engines.internal import InternalEngine
from core.engines.model_cache import ModelCache
from core.engines.registry import default_registry
from core.io import load_image, to_float


def painted_mask(height: int, width: int, seed: int) -> np.ndarray:
    """Two filled ellipses (20-50 px half axes) and one stroke (7-12 px wide, 60-160 px long), away from the edges."""
    rng = np.random.default_rng(seed)
    m = np.zeros((height, width), np.uint8)
    for _ in range(2):
        centre = (int(rng.integers(80, width - 80)), int(rng.integers(80, height - 80)))
        axes = (int(rng.integers(20, 50)), int(rng.integers(15, 35)))
        cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    x0, y0 = int(rng.integers(40, width - 200)), int(rng.integers(40, height - 200))
    x1, y1 = x0 + int(rng.integers(60, 160)), y0 + int(rng.integers(20, 140))
    cv2.line(m, (x0, y0), (x1, y1), 255, int(rng.integers(7, 13)))
    return m > 0


def hole_tiles(image: np.ndarray, mask: np.ndarray, size: int = 120) -> list[tuple[slice, slice]]:
    """A window of ``size`` px around each hole (connected part of the mask), for the contact sheet."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    out = []
    for k in range(1, n):
        x, y, w, h = stats[k, :4]
        cy = int(np.clip(y + h // 2, size // 2, image.shape[0] - size // 2))
        cx = int(np.clip(x + w // 2, size // 2, image.shape[1] - size // 2))
        out.append((slice(cy - size // 2, cy + size // 2), slice(cx - size // 2, cx + size // 2)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=int, default=4, help="how many Kodak photos (spread over the folder)")
    ap.add_argument("--methods", default="internal-fast,patchmatch,telea")
    ap.add_argument("--seed", type=int, default=0)
    add_option_argument(ap, "keep_colour=false")
    args = ap.parse_args(argv)
    options = parse_options(args.option)

    files = sorted((DATA / "kodak").glob("*.png"))
    picks = sorted(set(np.linspace(0, len(files) - 1, min(args.kodak, len(files))).round().astype(int)))
    registry = default_registry()
    internal = InternalEngine(registry.capabilities("internal"), cache=ModelCache(None))

    def run(method: str, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if method.startswith("internal-"):
            engine, preset, opts = internal, method.split("-", 1)[1], {"cache": False, "preview_every": 0, **options}
        else:
            engine, preset, opts = registry.get(method), "fast", {}
        return last_result(engine.run(InpaintRequest(image.copy(), mask, seed=args.seed, preset=preset,
                                                     options=opts))).image

    methods = [m for m in args.methods.split(",") if m]
    records, sheet_rows = [], []
    for i in picks:
        image = to_float(load_image(files[i]))[:, :, :3]
        mask = painted_mask(image.shape[0], image.shape[1], 100 + int(i))
        results = {}
        for method in methods:
            with Timer() as tm:
                results[method] = out = run(method, image, mask)
            rec = dict(image=files[i].stem, method=method, seconds=tm.seconds,
                       psnr=hole_psnr(out, image, mask), lowpass=lowpass_psnr(out, image, mask),
                       swd=patch_swd(out, image, mask))
            records.append(rec)
            print(f"  {rec['image']:8s} {method:16s} PSNR {rec['psnr']:6.2f}  low-pass {rec['lowpass']:6.2f}  "
                  f"SWD {rec['swd']:.3f}  {rec['seconds']:5.1f} s", flush=True)
        marked = show_hole(image, mask)
        for ys, xs in hole_tiles(image, mask):
            sheet_rows.append([marked[ys, xs]] + [results[m][ys, xs] for m in methods] + [image[ys, xs]])

    rows = [[m] + [float(np.mean([r[k] for r in records if r["method"] == m]))
                   for k in ("psnr", "lowpass", "swd", "seconds")] for m in methods]
    print_table(["method", "hole PSNR", "low-pass PSNR", "patch SWD", "s per photo"], rows,
                f"{len(picks)} whole Kodak photos, 3 holes each")
    sheet = contact_sheet(sheet_rows, ["input"] + methods + ["truth"], OUT / "full_size_sheet.png")
    print(f"contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
