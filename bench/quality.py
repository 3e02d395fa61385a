"""Quality benchmark: our engines beside the classical peers, in one run.

    python -m bench.quality [--presets fast,balanced] [--textures 4] [--kodak 2] [--masks strokes,box]

On 256x256 centre crops of ../shared/data/textures and ../shared/data/kodak, with a reproducible free-form
stroke mask (15-25% of the image) and a centre box (25%), it prints hole PSNR, SSIM (over the hole), the
sharpness ratio (mean gradient magnitude in the hole, result / truth; 1.0 = as detailed as the truth) and
seconds per image, per method and mask kind, and writes a contact sheet to bench/out/quality_sheet.png.
No model cache: every internal run trains from zero.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.common import (OUT, Timer, add_option_argument, contact_sheet, hole_psnr, hole_ssim, parse_options,
                          patchmatch_fill, print_table, sharpness_ratio, show_hole, test_images)
from core import runtime
from core.engines.base import InpaintRequest, last_result
from core.engines.classical import cv_inpaint
from core.engines.internal import InternalEngine
from core.engines.registry import default_registry
from core.engines.model_cache import ModelCache
from core.masks import centre_box_mask, stroke_mask_for_bench


def make_masks(kinds: list[str], h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    out = {}
    if "strokes" in kinds:
        out["strokes"] = stroke_mask_for_bench(h, w, seed)
    if "box" in kinds:
        out["box"] = centre_box_mask(h, w, 0.25)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="fast,balanced")
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the preset's)")
    ap.add_argument("--textures", type=int, default=4, help="how many texture images (0 = none, -1 = all)")
    ap.add_argument("--kodak", type=int, default=2, help="how many Kodak images (0 = none, -1 = all)")
    ap.add_argument("--masks", default="strokes,box")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--json", default=str(OUT / "quality.json"))
    add_option_argument(ap)
    args = ap.parse_args(argv)
    options = {"cache": False, "preview_every": 0, **parse_options(args.option)}
    runtime.tune_allocator()
    runtime.set_threads()

    cases = []
    for cat, n in (("textures", args.textures), ("kodak", args.kodak)):
        if n:
            cases += [(cat, name, img) for name, img in test_images(cat, None if n < 0 else n, args.size)]
    kinds = args.masks.split(",")
    presets = [p for p in args.presets.split(",") if p]
    engine = InternalEngine(default_registry().capabilities("internal"), cache=ModelCache(None))
    methods = ["telea", "ns", "patchmatch"] + [f"internal-{p}" for p in presets]

    records = []
    sheet_rows = []
    for ci, (cat, name, truth) in enumerate(cases):
        h, w = truth.shape[:2]
        for kind, mask in make_masks(kinds, h, w, args.seed + ci).items():
            row = {"input": show_hole(truth, mask)}
            for method in methods:
                with Timer() as tm:
                    if method in ("telea", "ns"):
                        res = truth.copy()
                        res[mask] = cv_inpaint(truth, mask, method)[mask]
                    elif method == "patchmatch":
                        res = patchmatch_fill(truth, mask)
                    else:
                        req = InpaintRequest(truth.copy(), mask, seed=args.seed, preset=method.split("-", 1)[1],
                                             sampler=args.sampler, steps=args.steps, options=dict(options))
                        res = last_result(engine.run(req)).image
                if res is None:  # a peer that is not installed
                    continue
                rec = dict(category=cat, image=name, mask=kind, method=method, hole=float(mask.mean()),
                           psnr=hole_psnr(res, truth, mask), ssim=hole_ssim(res, truth, mask),
                           sharpness=sharpness_ratio(res, truth, mask), seconds=tm.seconds)
                records.append(rec)
                print(f"  {cat}/{name} {kind:7s} {method:18s} PSNR {rec['psnr']:6.2f}  SSIM {rec['ssim']:.3f}  "
                      f"sharp {rec['sharpness']:.2f}  {rec['seconds']:6.1f} s", flush=True)
                row[method] = res
            row["truth"] = truth
            sheet_rows.append(row)

    present = [m for m in methods if any(r["method"] == m for r in records)]
    table = []
    for cat in ("textures", "kodak", "all"):
        for kind in kinds:
            for m in present:
                sel = [r for r in records if r["method"] == m and r["mask"] == kind and (cat == "all" or r["category"] == cat)]
                if not sel:
                    continue
                table.append([cat, kind, m, len(sel), float(np.mean([r["psnr"] for r in sel])),
                              float(np.mean([r["ssim"] for r in sel])), float(np.mean([r["sharpness"] for r in sel])),
                              float(np.mean([r["seconds"] for r in sel]))])
    print()
    print_table(["set", "mask", "method", "n", "hole PSNR", "SSIM", "sharpness", "s/image"], table,
                title=f"Quality, {args.size}x{args.size} crops ({time.strftime('%Y-%m-%d %H:%M')}, "
                      f"{runtime.physical_cores()} cores)")
    OUT.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(records, fh, indent=1)
    columns = ["input"] + present + ["truth"]
    blank = np.zeros((args.size, args.size, 3), np.float32)
    sheet = contact_sheet([[row.get(c, blank) for c in columns] for row in sheet_rows], columns,
                          OUT / "quality_sheet.png")
    print(f"\ncontact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
