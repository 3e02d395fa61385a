"""Material benchmark (issue 5): joint internal diffusion vs per-map internal diffusion vs Telea per map.

    python -m bench.material [--preset fast] [--materials acg_rock058,des19_parquet_floor] [--size 256] [--seeds 0,1,2]
                             [--methods "joint internal,telea per map"]

On a centre crop (native pixels, no resampling) of every map set in ../shared/data/svbrdf, with one
reproducible free-form stroke mask per material and seed (the seed also seeds the engine), it repairs the set
three ways and prints:
per-map hole PSNR (stored values, [0, 1]); the render error -- PSNR inside the hole of the material rendered
(core.material.shading, GGX) under the fixed lights ``BENCH_LIGHTS``, against the renders of the original
maps; the render's sharpness in the hole (bench.common.sharpness_ratio, 1.0 = as detailed as the truth's render,
so a blur shows as a low number); the largest deviation of the saved normals from unit length in the hole;
seconds per material. With several seeds, the summary averages each material over its masks and counts wins
both on those means and case by case: one mask decides a single-case ranking by a few dB.
Beside the methods, a reference (``shifted truth (oracle)``, no engine): the hole filled with the material's own maps,
shifted together by five offsets and seam-harmonised as the engines' fills are -- a fill as realistic and
coherent as can be, in the wrong phase. It shows what a texture-preserving fill can expect from render PSNR; a
smooth fill is not charged for guessing where each grain lies (the README's material section).
Writes bench/out/material.json and a contact sheet bench/out/material_sheet.png (maps and renders).
No model cache: every internal run trains from zero, with the same seed and preset.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace

import numpy as np

from bench.common import (DATA, OUT, Timer, add_option_argument, contact_sheet, hole_psnr, parse_options, print_table,
                          sharpness_ratio, shifted_truths, show_hole)
from core import runtime
from core.io import ImageData
from core.masks import stroke_mask_for_bench
from core.material import BENCH_LIGHTS, MapSet, load_map_set, render, run_material, shading_inputs
from core.material import normals as nm
from core.material.inpaint import MaterialRepair

ORACLE = "shifted truth (oracle)"
METHODS = {  # name -> (engine, separate); the oracle is a reference, not an engine
    "joint internal": ("internal", False),
    "per-map internal": ("internal", True),
    "telea per map": ("telea", True),
    ORACLE: (None, False),
}
SHEET_LABELS = {"truth": "truth", "joint internal": "joint", "per-map internal": "per-map", "telea per map": "telea",
                ORACLE: "oracle"}
SHORT = {"basecolor": "base", "normal": "normal", "roughness": "rough", "metallic": "metal", "specular": "spec",
         "gloss": "gloss", "height": "height", "ao": "ao", "other": "other"}


def crop_set(ms: MapSet, size: int) -> MapSet:
    h, w = ms.height, ms.width
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    maps = []
    for m in ms.maps:
        img = m.image
        px = np.ascontiguousarray(img.pixels[y:y + s, x:x + s])
        maps.append(replace(m, image=ImageData(px, img.path, img.float_lo, img.float_hi)))
    return MapSet(maps, ms.folder)


def shifted_truth_sets(truth: MapSet, mask: np.ndarray) -> list[MapSet]:
    """The oracle reference: every map's hole filled with the maps themselves, all shifted together by each of
    bench.common.ORACLE_SHIFTS (the material's own texture, coherent across maps, in the wrong phase), then
    seam-harmonised with the columns and trimmed means the internal engine gets in material mode."""
    import torch

    from core.engines.seam_options import SeamFixer, seam_settings

    rep = MaterialRepair(truth, mask)
    known = rep.filled.copy()
    hole = torch.from_numpy(mask[None, None].astype(np.float32))

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()

    fixers = []  # one per job, built once: the same known pixels for every shift
    for job in rep.jobs:
        plain, trimmed = rep.seam_columns(job)
        k = tensor(known[:, :, job.columns])
        settings = seam_settings({"seam_channels": plain, "seam_trimmed": trimmed}, len(job.columns))
        fixers.append((job.columns, SeamFixer(settings, k, hole, k.amin((2, 3), keepdim=True),
                                              k.amax((2, 3), keepdim=True))))
    out = []
    for shifted in shifted_truths(known, mask):
        for cols, fix in fixers:
            shifted[:, :, cols] = fix(tensor(shifted[:, :, cols]))[0].numpy().transpose(1, 2, 0)
        rep.filled[:] = shifted
        out.append(rep.finish().mapset)
    return out


def renders(ms: MapSet) -> list[np.ndarray]:
    inp = shading_inputs(ms)
    return [render(inp, light) for light in BENCH_LIGHTS]


def render_psnr(result: MapSet, truth_renders: list[np.ndarray], mask: np.ndarray) -> float:
    """One PSNR over all lights: the mean squared error in the hole, pooled over the lights."""
    err = np.mean([np.mean((r[mask] - t[mask]) ** 2) for r, t in zip(renders(result), truth_renders)])
    return float(10 * np.log10(1.0 / max(err, 1e-12)))


def render_sharpness(result: MapSet, truth_renders: list[np.ndarray], mask: np.ndarray) -> float:
    """The sharpness ratio of the renders in the hole, averaged over the lights."""
    return float(np.mean([sharpness_ratio(r, t, mask) for r, t in zip(renders(result), truth_renders)]))


def normal_unit_error(ms: MapSet, mask: np.ndarray) -> float:
    m = ms.get("normal")
    if m is None or not m.is_normal:
        return float("nan")
    top = np.iinfo(m.image.dtype).max if m.image.dtype != np.float32 else None
    px = m.image.pixels[mask][:, :3].astype(np.float64)
    return nm.length_error(px / top * 2 - 1 if top else px * 2 - 1)


def save_outputs(records: list[dict], sheet_rows: list, methods: list[str], json_path: str):
    """JSON + contact sheet, rewritten after every material so that a stopped run still leaves its results."""
    labels = ["hole"] + [f"{SHEET_LABELS[lab]} {col}" for lab in ["truth", *methods]
                         for col in ("base", "normal", "rough", "light 0", "light 3")]
    sheet = contact_sheet(sheet_rows, labels, OUT / "material_sheet.png", tile=128)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as fh:
        json.dump(records, fh, indent=1)
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fast", choices=["fast", "balanced", "best"])
    ap.add_argument("--materials", default="", help="comma-separated folder names (default: all)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds: one mask (and engine seed) per seed")
    ap.add_argument("--train-steps", type=int, default=None, help="override the preset's training steps")
    add_option_argument(ap, "init=telea or strength=0.5")
    ap.add_argument("--json", default=str(OUT / "material.json"))
    args = ap.parse_args(argv)
    options = {"cache": False, "preview_every": 0, **parse_options(args.option)}
    runtime.tune_allocator()
    runtime.set_threads()
    root = DATA / "svbrdf"
    if not root.is_dir():
        raise SystemExit(f"benchmark data not found: {root} (set REWEAVE_DATA)")
    names = [n for n in args.materials.split(",") if n] or sorted(p.name for p in root.iterdir() if p.is_dir())
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r} (use {', '.join(METHODS)})")

    try:
        seeds = [int(v) for v in args.seeds.split(",") if v.strip()] or [0]
    except ValueError:
        raise SystemExit(f"--seeds wants comma-separated whole numbers, got {args.seeds!r}") from None
    truths = {name: crop_set(load_map_set(root / name), args.size) for name in names}  # read once, used per seed
    truth_renders_of = {name: renders(truth) for name, truth in truths.items()}
    records, sheet_rows = [], []
    for seed, (i, name) in itertools.product(seeds, enumerate(names)):
        truth, truth_renders = truths[name], truth_renders_of[name]
        mask = stroke_mask_for_bench(truth.height, truth.width, seed + i)
        rows = {"truth": truth}
        for method in methods:
            engine, separate = METHODS[method]
            with Timer() as tm:
                results = (shifted_truth_sets(truth, mask) if engine is None else
                           [run_material(truth, mask, engine, separate, seed=seed, preset=args.preset,
                                         train_steps=args.train_steps, options=options).mapset])
            rec = {"material": name, "seed": seed, "method": method, "hole": float(mask.mean()), "seconds": tm.seconds,
                   "render_psnr": float(np.mean([render_psnr(ms, truth_renders, mask) for ms in results])),
                   "render_sharpness": float(np.mean([render_sharpness(ms, truth_renders, mask) for ms in results])),
                   "normal_unit_err": max(normal_unit_error(ms, mask) for ms in results), "maps": {}}
            for k, ref in enumerate(truth.maps):
                rec["maps"][SHORT[ref.kind]] = float(np.mean([hole_psnr(ms.maps[k].values(), ref.values(), mask)
                                                              for ms in results]))
            records.append(rec)
            rows[method] = results[0]
            maps_txt = "  ".join(f"{k} {v:5.2f}" for k, v in rec["maps"].items())
            print(f"  {name:24s} seed {seed} {method:17s} render {rec['render_psnr']:6.2f} dB "
                  f"sharp {rec['render_sharpness']:.2f} | {maps_txt} | "
                  f"|n|-1 <= {rec['normal_unit_err']:.4f} | {tm.seconds:6.1f} s", flush=True)
        base = truth.get("basecolor")
        row = [show_hole(base.values()[:, :, :3] if base else renders(truth)[0], mask)]
        for label, ms in rows.items():
            nrm, rough = ms.get("normal"), ms.get("roughness") or ms.get("gloss")
            row += [ms.get("basecolor").values() if ms.get("basecolor") else np.zeros_like(row[0]),
                    nrm.values()[:, :, :3] if nrm else np.zeros_like(row[0]),
                    rough.values() if rough else np.zeros_like(row[0]),
                    renders(ms)[0], renders(ms)[3]]
        sheet_rows.append(row)
        save_outputs(records, sheet_rows, methods, args.json)

    kinds = [k for k in SHORT.values() if any(k in r["maps"] for r in records)]

    def cell(v):  # a map left exactly as it was (uniform maps are filled with their constant)
        return "-" if v is None else ("exact" if v >= 100 else v)

    table = [[r["material"], r["seed"], r["method"], *[cell(r["maps"].get(k)) for k in kinds], r["render_psnr"],
              r["render_sharpness"], r["normal_unit_err"], r["seconds"]] for r in records]
    print()
    print_table(["material", "seed", "method", *[f"{k} PSNR" for k in kinds], "render PSNR", "render sharpness",
                 "max||n|-1|", "s"], table,
                title=f"Material repair, {args.size}x{args.size} crops, preset {args.preset}, stroke masks "
                      f"({time.strftime('%Y-%m-%d %H:%M')}, {runtime.physical_cores()} cores)")
    summary = []
    for method in methods:
        sel = [r for r in records if r["method"] == method]
        summary.append([method, len(sel), float(np.mean([r["render_psnr"] for r in sel])),
                        float(np.mean([r["render_sharpness"] for r in sel])),
                        float(np.nanmax([r["normal_unit_err"] for r in sel])),
                        float(np.mean([r["seconds"] for r in sel]))])
    if len(seeds) > 1:
        means = [[name, method, float(np.mean([r["render_psnr"] for r in records
                                               if r["material"] == name and r["method"] == method]))]
                 for name in names for method in methods]
        print()
        print_table(["material", "method", f"render PSNR, mean of {len(seeds)} masks"], means, title="Per material")
    print()
    print_table(["method", "n", "mean render PSNR", "render sharpness", "max||n|-1|", "s/material"], summary,
                title="Summary")
    groups_by = (("materials (mean over the masks)", lambda r: r["material"]),
                 ("cases (material x mask)", lambda r: (r["material"], r["seed"])))

    def wins(method: str, rivals: list[str], key) -> tuple[int, int]:
        groups: dict = {}
        for r in records:
            groups.setdefault(key(r), {}).setdefault(r["method"], []).append(r["render_psnr"])
        return sum(all(np.mean(by[method]) > np.mean(by[k]) for k in rivals) for by in groups.values()), len(groups)

    peers = [m for m in methods if m not in ("joint internal", ORACLE)]
    if "joint internal" in methods and peers:
        print()
        for label, key in groups_by:
            print("joint internal has the best render PSNR (against {}) on {}/{} {}".format(
                ", ".join(peers), *wins("joint internal", peers, key), label))
    if ORACLE in methods and "telea per map" in methods:
        won, n = wins(ORACLE, ["telea per map"], groups_by[0][1])
        print(f"the shifted truth (the material's own texture, the oracle) beats Telea on {won}/{n} materials")
    print(f"contact sheet: {save_outputs(records, sheet_rows, methods, args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
