"""ESDiff benchmark: the paper's Table II protocol, holes on held-out images, and an ablation.

    python -m bench.esdiff [--quick] [--weights W.safetensors|W.safetensors.ckpt] [--pc-steps N] [--ddrm-steps N]

1. Table II protocol: Barbara and House from ../shared/data/standard as 256x256 centre crops (bench.common's
   test_images; gray images are run as gray, which the engine replicates to RGB and averages back), 50% and
   80% of the pixels removed at random (numpy seed 1234), PSNR / SSIM over the whole image. ESDiff (ddrm
   and pc, and ddrm without the nonlocal refinement), the internal engine (presets from --internal-presets,
   default fast) and OpenCV Telea / Navier-Stokes, with the paper's values beside them. The paper's numbers
   are for its full-size network trained for long on GPU; ours for the shipped CPU-sized prior.
2. Holes: a free-form stroke mask and a centre box (25%) on held-out Kodak images (kodim07, kodim08, never
   in the training set) and a few textures: hole PSNR, hole SSIM, sharpness ratio, seconds.
3. Ablation on House 50% and kodim07 strokes: MPT views on/off, Hankel LR on/off, PC vs DDRM, step counts.

A training checkpoint (``.ckpt``) can be benchmarked while training runs: its EMA is used. The contact
sheet goes to bench/out/esdiff_sheet.png. No result is ever picked by its PSNR.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.common import (OUT, Timer, contact_sheet, full_psnr, full_ssim, hole_psnr, hole_ssim, print_table,
                          sharpness_ratio, show_hole, test_images)
from core import runtime
from core.engines.base import InpaintRequest, last_result
from core.engines.classical import cv_inpaint
from core.engines.registry import default_registry
from core.masks import centre_box_mask, stroke_mask_for_bench

PAPER = {("barbara", 0.8): (29.57, 0.8937), ("barbara", 0.5): (34.35, 0.9536),
         ("house", 0.8): (32.65, 0.8791), ("house", 0.5): (38.06, 0.9539)}


def random_mask(h: int, w: int, ratio: float, seed: int = 1234) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w)) < ratio


def resolve_weights(path: str | None) -> str | None:
    """A .ckpt is turned into a temporary weights file from its EMA."""
    if not path or not path.endswith(".ckpt"):
        return path
    from core.fewshot.common import save_weights
    from core.fewshot.esdiff_train import load_checkpoint_ema

    state, config = load_checkpoint_ema(path)
    out = Path(tempfile.mkdtemp()) / "esdiff_ckpt.safetensors"
    save_weights(out, "esdiff", state, config)
    return str(out)


class Methods:
    def __init__(self, weights: str | None, seed: int) -> None:
        self.reg = default_registry()
        self.weights, self.seed = weights, seed

    def esdiff(self, img, mask, sampler: str, steps: int, **opts) -> tuple[np.ndarray, float]:
        req = InpaintRequest(img, mask, seed=self.seed, sampler=sampler, steps=steps,
                             options={"weights": self.weights, **opts})
        with Timer() as t:
            out = last_result(self.reg.get("esdiff").run(req)).image
        print(f"  esdiff {sampler} {steps} {opts or ''}: {t.seconds:.1f} s", flush=True)
        return out, t.seconds

    def internal(self, img, mask, preset: str = "fast") -> tuple[np.ndarray, float]:
        req = InpaintRequest(img, mask, seed=self.seed, preset=preset, options={"cache": False})
        with Timer() as t:
            out = last_result(self.reg.get("internal").run(req)).image
        return out, t.seconds

    def classical(self, img, mask, method: str) -> tuple[np.ndarray, float]:
        with Timer() as t:
            fill = cv_inpaint(img, mask, method)
        return np.where(mask[:, :, None], fill, img), t.seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer images, steps and ablations")
    ap.add_argument("--weights", default=None, help="weights file or training checkpoint (default: shipped)")
    ap.add_argument("--ddrm-steps", type=int, default=20)
    ap.add_argument("--pc-steps", type=int, default=None, help="default 100 (quick: 30)")
    ap.add_argument("--no-internal", action="store_true", help="skip the internal engine (slow)")
    ap.add_argument("--internal-presets", default="fast", help="comma-separated presets of the internal engine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", default="table2,holes,ablation")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: physical cores; use 1 while other jobs share the CPU)")
    args = ap.parse_args(argv)
    runtime.tune_allocator()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    else:
        runtime.set_threads()
    parts = set(args.parts.split(","))
    pc_steps = args.pc_steps or (30 if args.quick else 100)
    m = Methods(resolve_weights(args.weights), args.seed)
    sheet_rows: list[list[np.ndarray]] = []
    report: dict = {"weights": args.weights or "shipped", "pc_steps": pc_steps, "ddrm_steps": args.ddrm_steps}
    std = dict(test_images("standard"))

    if "table2" in parts:
        rows = []
        for name in ("barbara", "house"):
            truth = std[name]
            for ratio in (0.5, 0.8):
                mask = random_mask(*truth.shape[:2], ratio)
                runs = {f"esdiff ddrm {args.ddrm_steps}": m.esdiff(truth, mask, "ddrm", args.ddrm_steps),
                        f"esdiff pc {pc_steps}": m.esdiff(truth, mask, "pc", pc_steps),
                        # without the nonlocal refinement that follows sampling on scattered holes
                        f"esdiff ddrm {args.ddrm_steps} no refine": m.esdiff(truth, mask, "ddrm", args.ddrm_steps,
                                                                             refine_rounds=0)}
                if not args.no_internal and not args.quick:
                    for preset in args.internal_presets.split(","):
                        runs[f"internal {preset}"] = m.internal(truth, mask, preset)
                runs["telea"] = m.classical(truth, mask, "telea")
                runs["ns"] = m.classical(truth, mask, "ns")
                pp, ps = PAPER[(name, ratio)]
                for method, (out, sec) in runs.items():
                    rows.append([name, f"{int(ratio * 100)}%", method, full_psnr(out, truth), full_ssim(out, truth),
                                 round(sec, 1), pp, ps])
                if ratio == 0.8:
                    sheet_rows.append([show_hole(truth, mask), truth] + [runs[k][0] for k in list(runs)[:2]]
                                      + [runs["telea"][0]])
        report["table2"] = rows
        print_table(["image", "removed", "method", "PSNR", "SSIM", "s", "paper PSNR", "paper SSIM"], rows,
                    "Table II protocol (256x256 centre crops, random pixels removed, whole-image metrics)")

    if "holes" in parts:
        kodak = [(n, im) for n, im in test_images("kodak") if n in ("kodim07", "kodim08")]
        textures = test_images("textures", 2 if args.quick else 4)
        cases = kodak[:1] + textures[:1] if args.quick else kodak + textures
        rows = []
        for name, truth in cases:
            h, w = truth.shape[:2]
            for kind, mask in (("strokes", stroke_mask_for_bench(h, w, args.seed)),
                               ("box", centre_box_mask(h, w, 0.25))):
                runs = {f"esdiff ddrm {args.ddrm_steps}": m.esdiff(truth, mask, "ddrm", args.ddrm_steps),
                        f"esdiff pc {pc_steps}": m.esdiff(truth, mask, "pc", pc_steps),
                        "telea": m.classical(truth, mask, "telea")}
                for method, (out, sec) in runs.items():
                    rows.append([name, kind, method, hole_psnr(out, truth, mask), hole_ssim(out, truth, mask),
                                 sharpness_ratio(out, truth, mask), round(sec, 1)])
                sheet_rows.append([show_hole(truth, mask), truth] + [r[0] for r in runs.values()])
        report["holes"] = rows
        print_table(["image", "mask", "method", "hole PSNR", "hole SSIM", "sharpness", "s"], rows,
                    "Holes on held-out images (hole metrics)")

    if "ablation" in parts:
        rows = []
        house = std["house"]
        cases = [("house 50%", house, random_mask(*house.shape[:2], 0.5))]
        if not args.quick:
            k7 = dict(test_images("kodak"))["kodim07"]
            cases.append(("kodim07 strokes", k7, stroke_mask_for_bench(*k7.shape[:2], args.seed)))
        d = args.ddrm_steps
        variants = [(f"ddrm {d} (MPT + LR + refinement)", "ddrm", d, {}),
                    (f"ddrm {d}, MPT views off", "ddrm", d, {"mpt": False}),
                    (f"ddrm {d}, LR off", "ddrm", d, {"lr": False}),
                    (f"ddrm {d}, refinement off", "ddrm", d, {"refine_rounds": 0}),
                    (f"ddrm {d}, LR and refinement off", "ddrm", d, {"lr": False, "refine_rounds": 0}),
                    (f"ddrm {d}, nonlocal LR in the sampler (+ refinement)", "ddrm", d, {"lowrank": "nonlocal"}),
                    (f"ddrm {d}, LR every step", "ddrm", d, {"lr_every": 1}),
                    (f"ddrm {d}, HKGM's LR (rank 115)", "ddrm", d,
                     {"rank": 115, "rank_start": 115, "lr_iters": 1, "lr_every": max(1, d // 10)}),
                    ("ddrm 10", "ddrm", 10, {}), (f"pc {pc_steps}", "pc", pc_steps, {}),
                    (f"pc {pc_steps}, no corrector", "pc", pc_steps, {"corrector": False})]
        if not args.quick:
            variants.insert(8, ("ddrm 50", "ddrm", 50, {}))
        for cname, truth, mask in cases:
            for vname, sampler, steps, opts in variants:
                out, sec = m.esdiff(truth, mask, sampler, steps, **opts)
                rows.append([cname, vname, full_psnr(out, truth), hole_psnr(out, truth, mask),
                             hole_ssim(out, truth, mask), round(sec, 1)])
        report["ablation"] = rows
        print_table(["case", "variant", "PSNR", "hole PSNR", "hole SSIM", "s"], rows, "Ablation")

    if sheet_rows:
        path = contact_sheet(sheet_rows, ["input", "truth", "esdiff ddrm", "esdiff pc", "telea"],
                             OUT / "esdiff_sheet.png")
        print(f"contact sheet: {path}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ("esdiff_quick.json" if args.quick else "esdiff.json")).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
