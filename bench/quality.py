"""Quality benchmark: our engines beside the classical and patch-based peers, in one run.

    python -m bench.quality [--presets fast,balanced] [--textures 4] [--kodak 2] [--masks strokes,box]
                            [--methods telea,patchmatch,internal-fast] [--option KEY=VALUE ...]

On 256x256 centre crops of ../shared/data/textures and ../shared/data/kodak (the Kodak images no shipped
model was trained on come first: kodim07, kodim08), with a reproducible free-form stroke mask (15-25% of the
image) and a centre box (25%), it prints per method and mask kind: hole PSNR, low-pass hole PSNR (sigma 3 px:
right colour and structure?), patch SWD (right texture? bench.metrics), SSIM over the hole, the sharpness ratio
(mean gradient magnitude in the hole, result / truth; 1.0 = as detailed as the truth) and seconds per image;
beside them a reference row, the shifted truth (the image's own texture out of phase, bench.common), and a
contact sheet at bench/out/quality_sheet.png. No model cache: every internal run starts afresh.
"""
from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path

import numpy as np

from bench.common import (OUT, Timer, add_option_argument, contact_sheet, harmonised, hole_psnr, hole_ssim,
                          parse_options, patchmatch_fill, print_table, sharpness_ratio, shifted_truths, show_hole,
                          test_images)
from bench.metrics import lowpass_psnr, patch_swd
from bench.resynth import available as resynth_available, resynth_fill
from core import runtime
from core.engines.base import InpaintRequest, last_result
from core.engines.classical import cv_inpaint
from core.engines.internal import InternalEngine
from core.engines.registry import default_registry
from core.engines.model_cache import ModelCache
from core.masks import centre_box_mask, stroke_mask_for_bench


FEW_SHOT = ("grig", "esdiff")  # engines with shipped weights, run as a user would


def make_masks(kinds: list[str], h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    out = {}
    if "strokes" in kinds:
        out["strokes"] = stroke_mask_for_bench(h, w, seed)
    if "box" in kinds:
        out["box"] = centre_box_mask(h, w, 0.25)
    return out


ORACLE = "shifted truth"
# Held-out Kodak images first: the internal prior (core.engines.prior_data) and the few-shot weights saw kodim01-06.
KODAK_ORDER = ("kodim07", "kodim08", "kodim01", "kodim02", "kodim03", "kodim04", "kodim05", "kodim06")


def bench_cases(textures: int, kodak: int, size: int) -> list[tuple[str, str, np.ndarray]]:
    cases = []
    if textures:
        cases += [("textures", name, img) for name, img in test_images("textures", None if textures < 0 else textures,
                                                                      size)]
    if kodak:
        imgs = dict(test_images("kodak", None, size))
        names = [n for n in KODAK_ORDER if n in imgs] + sorted(set(imgs) - set(KODAK_ORDER))
        cases += [("kodak", n, imgs[n]) for n in (names if kodak < 0 else names[:kodak])]
    return cases


def measure(res: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    return dict(psnr=hole_psnr(res, truth, mask), lowpass=lowpass_psnr(res, truth, mask),
                swd=patch_swd(res, truth, mask), ssim=hole_ssim(res, truth, mask),
                sharpness=sharpness_ratio(res, truth, mask))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="fast,balanced")
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the preset's)")
    ap.add_argument("--textures", type=int, default=4, help="how many texture images (0 = none, -1 = all)")
    ap.add_argument("--kodak", type=int, default=2, help="how many Kodak images (0 = none, -1 = all)")
    ap.add_argument("--masks", default="strokes,box")
    ap.add_argument("--methods", default="", help="comma-separated subset of telea,ns,patchmatch,resynth "
                                                 "(Resynthesizer heal selection, bench.resynth),internal-PRESET,"
                                                 "grig,esdiff (the few-shot engines, shipped weights) "
                                                 "(default: all but the few-shot ones, with --presets; resynth "
                                                 "when installed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--json", default=str(OUT / "quality.json"))
    ap.add_argument("--sheet", default=str(OUT / "quality_sheet.png"))
    add_option_argument(ap)
    ap.add_argument("--few-shot-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a request option of the few-shot engines, e.g. sigma_max=0.05 (repeatable); --steps "
                         "applies to them too")
    args = ap.parse_args(argv)
    options = {"cache": False, "preview_every": 0, **parse_options(args.option)}
    few_shot_options = {"preview_every": 0, **parse_options(args.few_shot_option)}
    runtime.tune_allocator()
    runtime.set_threads()

    cases = bench_cases(args.textures, args.kodak, args.size)
    kinds = args.masks.split(",")
    presets = [p for p in args.presets.split(",") if p]
    registry = default_registry()
    engine = InternalEngine(registry.capabilities("internal"), cache=ModelCache(None))
    methods = ([m for m in args.methods.split(",") if m] or
               ["telea", "ns", "patchmatch"] + (["resynth"] if resynth_available() else []) +
               [f"internal-{p}" for p in presets]) + [ORACLE]

    records = []
    sheet_rows = []
    for ci, (cat, name, truth) in enumerate(cases):
        h, w = truth.shape[:2]
        # the stroke mask depends on the image's name, not its place in the list: any subset gives the same cases
        for kind, mask in make_masks(kinds, h, w, args.seed + zlib.crc32(name.encode()) % 1000).items():
            row = {"input": show_hole(truth, mask)}
            for method in methods:
                with Timer() as tm:
                    if method in ("telea", "ns"):
                        res = truth.copy()
                        res[mask] = cv_inpaint(truth, mask, method)[mask]
                    elif method == "patchmatch":
                        res = patchmatch_fill(truth, mask)
                    elif method == "resynth":
                        res = resynth_fill(truth, mask)
                    elif method == ORACLE:
                        res = None
                    elif method in FEW_SHOT:  # the registry's engine with its shipped weights and defaults
                        req = InpaintRequest(truth.copy(), mask, seed=args.seed, steps=args.steps,
                                             options=dict(few_shot_options))
                        res = last_result(registry.get(method).run(req)).image
                    else:
                        req = InpaintRequest(truth.copy(), mask, seed=args.seed, preset=method.split("-", 1)[1],
                                             sampler=args.sampler, steps=args.steps, options=dict(options))
                        res = last_result(engine.run(req)).image
                if method == ORACLE:  # the mean over the offsets; the sheet shows the first
                    fills = [harmonised(f, truth, mask) for f in shifted_truths(truth, mask)]
                    scores = [measure(f, truth, mask) for f in fills]
                    rec = {k: float(np.mean([sc[k] for sc in scores])) for k in scores[0]}
                    res, tm.seconds = fills[0], 0.0
                elif res is None:  # a peer that is not installed
                    continue
                else:
                    rec = measure(res, truth, mask)
                rec.update(category=cat, image=name, mask=kind, method=method, hole=float(mask.mean()),
                           seconds=tm.seconds)
                records.append(rec)
                print(f"  {cat}/{name} {kind:7s} {method:18s} PSNR {rec['psnr']:6.2f}  low-pass {rec['lowpass']:6.2f}  "
                      f"SWD {rec['swd']:.3f}  SSIM {rec['ssim']:.3f}  sharp {rec['sharpness']:.2f}  "
                      f"{rec['seconds']:6.1f} s", flush=True)
                row[method] = res
            row["truth"] = truth
            sheet_rows.append(row)

    present = [m for m in methods if any(r["method"] == m for r in records)]
    table = []
    for cat in ("textures", "kodak", "all"):
        for kind in kinds:
            for m in present:
                sel = [r for r in records
                       if r["method"] == m and r["mask"] == kind and (cat == "all" or r["category"] == cat)]
                if not sel:
                    continue
                table.append([cat, kind, m, len(sel)] +
                             [float(np.mean([r[k] for r in sel]))
                              for k in ("psnr", "lowpass", "swd", "ssim", "sharpness", "seconds")])
    print()
    print_table(["set", "mask", "method", "n", "hole PSNR", "low-pass PSNR", "patch SWD", "SSIM", "sharpness",
                 "s/image"], table,
                title=f"Quality, {args.size}x{args.size} crops ({time.strftime('%Y-%m-%d %H:%M')}, "
                      f"{runtime.physical_cores()} cores)")
    OUT.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(records, fh, indent=1)
    columns = ["input"] + present + ["truth"]
    blank = np.zeros((args.size, args.size, 3), np.float32)
    sheet = contact_sheet([[row.get(c, blank) for c in columns] for row in sheet_rows], columns,
                          Path(args.sheet))
    print(f"\ncontact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
