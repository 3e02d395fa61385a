"""Material benchmark (issue 5): joint internal diffusion vs per-map internal diffusion vs Telea per map.

    python -m bench.material [--preset fast] [--materials acg_rock058,des19_parquet_floor] [--size 256]
                             [--seeds 0,1,2] [--methods "joint internal,telea per map"]

On a centre crop (native pixels, no resampling) of every map set in ../shared/data/svbrdf, with one
reproducible free-form stroke mask per material and seed (three seeds by default; the seed also seeds the
engine), it repairs the set three ways and scores every result in the hole:

- the renders (core.material.shading, GGX) under the four fixed lights ``BENCH_LIGHTS`` against the renders of
  the original maps: render PSNR, and render low-pass PSNR (both renders blurred with a Gaussian of sigma 3 px
  first, bench.metrics.lowpass), each one PSNR of the squared error pooled over the lights; render patch SWD
  (bench.metrics.patch_swd, per light, averaged); the renders' sharpness ratio (bench.common.sharpness_ratio);
- every map's stored values ([0, 1]): hole PSNR, low-pass PSNR and patch SWD, so that a regression in one map
  shows;
- the normals' mean angular error in degrees against the truth's, both fields blurred with the same sigma 3 px
  Gaussian and renormalised;
- the checks of the saved maps: the largest deviation of the filled normals from unit length, and whether the
  known pixels of every map are bit-exact.

Render PSNR alone misleads (docs/material.md): it charges a realistic texture for not putting each grain where
the truth has it and does not charge a blur. Low-pass PSNR asks whether the fill has the right colour and
large-scale shading, patch SWD whether it has the right texture, wherever the grains lie.

Beside the methods, a reference (``shifted truth (oracle)``, no engine): the hole filled with the material's own
maps, shifted together by five offsets and seam-harmonised as the engines' fills are -- a fill as realistic and
coherent as can be, in the wrong phase; its figures are the means over the five shifts.

Prints a table per case, a summary per material (the mean over the masks) and overall, a per-map table, and the
verdicts against the material targets (``verdicts``). Writes bench/out/material.json, the contact sheet
bench/out/material_sheet.png (a row per case: the input, every method's renders under the four lights, the
truth's) and bench/out/material_maps.png (base colour, normals, roughness and two renders per method).
No model cache: every internal run trains from zero, with the same seed and preset.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from dataclasses import replace

import numpy as np

from bench.common import (DATA, OUT, Timer, add_option_argument, contact_sheet, hole_psnr, parse_options, print_table,
                          sharpness_ratio, shifted_truths, show_hole)
from bench.metrics import LOWPASS_SIGMA, lowpass, patch_swd
from core import runtime
from core.io import ImageData
from core.masks import stroke_mask_for_bench
from core.material import (BENCH_LIGHTS, MapSet, ShadingInputs, load_map_set, normal_vectors, render, run_material,
                           shading_inputs)
from core.material import normals as nm
from core.material.inpaint import MaterialRepair

JOINT, PER_MAP, TELEA = "joint internal", "per-map internal", "telea per map"
ORACLE = "shifted truth (oracle)"
METHODS = {  # name -> (engine, separate); the oracle is a reference, not an engine
    JOINT: ("internal", False),
    PER_MAP: ("internal", True),
    TELEA: ("telea", True),
    ORACLE: (None, False),
    # the content-aware fill alone (not run by default): what the internal engine's patch recipe starts from
    "joint patchmatch": ("patchmatch", False),
    "per-map patchmatch": ("patchmatch", True),
}
DEFAULT_METHODS = (JOINT, PER_MAP, TELEA, ORACLE)
SHEET_LABELS = {"truth": "truth", JOINT: "joint", PER_MAP: "per-map", TELEA: "telea", ORACLE: "oracle",
                "joint patchmatch": "joint PM", "per-map patchmatch": "per-map PM"}
SHORT = {"basecolor": "base", "normal": "normal", "roughness": "rough", "metallic": "metal", "specular": "spec",
         "gloss": "gloss", "height": "height", "ao": "ao", "other": "other"}
# The targets (docs/material.md): the share of materials a "most materials" target needs (4 of 5), joint's
# render low-pass PSNR allowed below Telea's, and the normals' unit-length tolerance by storage depth.
MOST = 0.8
LOWPASS_MARGIN_DB = 0.5
UNIT_TOLERANCE = {np.dtype(np.uint8): 0.0035, np.dtype(np.uint16): 1e-4, np.dtype(np.float32): 1e-4}
EXACT_DB = 100.0  # hole_psnr of a map filled exactly (a uniform map filled with its constant) is 120 dB


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


# ---- figures: arrays in, numbers out (tests/test_bench_material.py) -----------------------------------------
def renders(ms: MapSet | ShadingInputs) -> list[np.ndarray]:
    """The material rendered under each of ``BENCH_LIGHTS`` (display sRGB, H x W x 3 in [0, 1])."""
    inp = ms if isinstance(ms, ShadingInputs) else shading_inputs(ms)
    return [render(inp, light) for light in BENCH_LIGHTS]


def pooled_psnr(results: list[np.ndarray], truths: list[np.ndarray], mask: np.ndarray,
                sigma: float | None = None) -> float:
    """One PSNR (data range 1) over several images (the lights): the hole's squared error pooled over them;
    with ``sigma``, after blurring every image with a Gaussian of ``sigma`` px (bench.metrics.lowpass)."""
    def prep(img):
        return lowpass(img, sigma) if sigma else np.asarray(img, np.float32)

    err = np.mean([np.mean((prep(r)[mask] - prep(t)[mask]) ** 2) for r, t in zip(results, truths)])
    return float(10 * np.log10(1.0 / max(float(err), 1e-12)))


def mean_swd(results: list[np.ndarray], truths: list[np.ndarray], mask: np.ndarray) -> float:
    """bench.metrics.patch_swd of each result against its truth (each light), averaged."""
    return float(np.mean([patch_swd(r, t, mask) for r, t in zip(results, truths)]))


def normal_angle_error(result: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                       sigma: float = LOWPASS_SIGMA) -> float:
    """Mean angle in degrees, over the hole, between two normal fields (H x W x 3 vectors) after blurring each
    with a Gaussian of ``sigma`` px and renormalising: the surface's orientation at the scale the low-pass PSNR
    looks at, without its grain. atan2(|a x b|, a . b) keeps small angles exact (the truth scores 0)."""
    def smooth(v):
        v = lowpass(v, sigma).astype(np.float64)
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)

    a, b = smooth(result)[mask], smooth(truth)[mask]
    angle = np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))
    return float(np.degrees(angle).mean()) if len(angle) else 0.0


def normal_unit_error(ms: MapSet, mask: np.ndarray) -> float:
    """The largest | |n| - 1 | of the saved normal map's hole pixels, decoded at their storage depth."""
    m = ms.get("normal")
    if m is None or not m.is_normal:
        return float("nan")
    top = np.iinfo(m.image.dtype).max if m.image.dtype != np.float32 else None
    px = m.image.pixels[mask][:, :3].astype(np.float64)
    return nm.length_error(px / top * 2 - 1 if top else px * 2 - 1)


def unit_tolerance(ms: MapSet) -> float:
    """The unit-length tolerance of the set's normal map at its storage depth (docs/material.md, Saving)."""
    m = ms.get("normal")
    return UNIT_TOLERANCE.get(np.dtype(m.image.dtype), 1e-4) if m is not None else float("nan")


def known_exact(result: MapSet, truth: MapSet, mask: np.ndarray) -> bool:
    """Every map's pixels outside the hole identical to the truth's (dtype and values)."""
    return all(r.image.pixels.dtype == t.image.pixels.dtype
               and np.array_equal(r.image.pixels[~mask], t.image.pixels[~mask])
               for r, t in zip(result.maps, truth.maps))


def map_scores(result: MapSet, truth: MapSet, mask: np.ndarray) -> dict[str, dict[str, float]]:
    """Per map (short kind name -> figures) on the stored values: hole PSNR, low-pass PSNR, patch SWD."""
    out = {}
    for r, t in zip(result.maps, truth.maps):
        rv, tv = r.values(), t.values()
        key = SHORT[t.kind] if SHORT[t.kind] not in out else f"{SHORT[t.kind]} {t.name}"  # two maps of one kind
        out[key] = {"psnr": hole_psnr(rv, tv, mask), "lowpass": pooled_psnr([rv], [tv], mask, LOWPASS_SIGMA),
                              "swd": patch_swd(rv, tv, mask)}
    return out


def case_scores(result: MapSet, result_renders: list[np.ndarray], truth: MapSet, truth_renders: list[np.ndarray],
                mask: np.ndarray) -> dict:
    """Every figure of one result (see the module docstring)."""
    nr, nt = result.get("normal"), truth.get("normal")
    angle = (normal_angle_error(normal_vectors(nr), normal_vectors(nt), mask)
             if nr is not None and nr.is_normal else float("nan"))
    return {"render_psnr": pooled_psnr(result_renders, truth_renders, mask),
            "render_lowpass": pooled_psnr(result_renders, truth_renders, mask, LOWPASS_SIGMA),
            "render_swd": mean_swd(result_renders, truth_renders, mask),
            "render_sharpness": float(np.mean([sharpness_ratio(r, t, mask)
                                               for r, t in zip(result_renders, truth_renders)])),
            "normal_angle": angle, "normal_unit_err": normal_unit_error(result, mask),
            "known_exact": known_exact(result, truth, mask), "maps": map_scores(result, truth, mask)}


def mean_scores(scores: list[dict]) -> dict:
    """The figures of several results of one case (the oracle's shifts) averaged; the checks take the worst."""
    out = {k: float(np.mean([s[k] for s in scores]))
           for k in ("render_psnr", "render_lowpass", "render_swd", "render_sharpness", "normal_angle")}
    out["normal_unit_err"] = float(max(s["normal_unit_err"] for s in scores))
    out["known_exact"] = all(s["known_exact"] for s in scores)
    out["maps"] = {k: {f: float(np.mean([s["maps"][k][f] for s in scores])) for f in scores[0]["maps"][k]}
                   for k in scores[0]["maps"]}
    return out


# ---- summaries and verdicts (pure, on the records) ----------------------------------------------------------
def material_means(records: list[dict], key: str) -> dict[str, dict[str, float]]:
    """material -> method -> the mean of ``key`` over that material's masks."""
    groups: dict = {}
    for r in records:
        groups.setdefault(r["material"], {}).setdefault(r["method"], []).append(r[key])
    return {m: {meth: float(np.mean(v)) for meth, v in by.items()} for m, by in groups.items()}


def case_mean(records: list[dict], method: str, key: str) -> float:
    vals = [r[key] for r in records if r["method"] == method]
    return float(np.mean(vals)) if vals else float("nan")


def verdicts(records: list[dict]) -> list[tuple[str, bool | None]]:
    """(line, passed) for each material target; passed is None where a method it needs was not run.

    1. joint has the lowest render SWD of joint / per-map / Telea on >= 4 of 5 materials (mean over the masks);
    2. joint's render low-pass PSNR, mean of all cases, within 0.5 dB of Telea's or above;
    3. joint beats per-map on both render low-pass PSNR and render SWD on >= 4 of 5 materials;
    4. saved normals unit length within the tolerance of their depth (0.0035 at 8 bits) and the known pixels
       of every map bit-exact, for every result."""
    methods = {r["method"] for r in records}
    lp, swd = material_means(records, "render_lowpass"), material_means(records, "render_swd")
    n_mat = len(lp)
    need = math.ceil(MOST * n_mat)
    out: list[tuple[str, bool | None]] = []

    rivals = [m for m in (PER_MAP, TELEA) if m in methods]
    if JOINT in methods and rivals:
        won = [m for m, by in swd.items() if all(by[JOINT] < by[k] for k in rivals if k in by)]
        out.append((f"(1) joint has the lowest render SWD of joint / {' / '.join(rivals)} on {len(won)}/{n_mat} "
                    f"materials (target >= {need}): {', '.join(sorted(won)) or 'none'}", len(won) >= need))
    else:
        out.append(("(1) joint's render SWD against per-map and Telea: not measured", None))

    if JOINT in methods and TELEA in methods:
        j, t = case_mean(records, JOINT, "render_lowpass"), case_mean(records, TELEA, "render_lowpass")
        out.append((f"(2) joint's render low-pass PSNR {j:.2f} dB vs Telea's {t:.2f} dB, mean of all cases "
                    f"({j - t:+.2f} dB, target >= {-LOWPASS_MARGIN_DB:+.1f})", j >= t - LOWPASS_MARGIN_DB))
    else:
        out.append(("(2) joint's render low-pass PSNR against Telea's: not measured", None))

    if JOINT in methods and PER_MAP in methods:
        both = [m for m in lp if lp[m][JOINT] > lp[m][PER_MAP] and swd[m][JOINT] < swd[m][PER_MAP]]
        lp_only = sum(lp[m][JOINT] > lp[m][PER_MAP] for m in lp)
        swd_only = sum(swd[m][JOINT] < swd[m][PER_MAP] for m in swd)
        out.append((f"(3) joint beats per-map on both render low-pass PSNR and render SWD on {len(both)}/{n_mat} "
                    f"materials (target >= {need}; low-pass alone {lp_only}, SWD alone {swd_only}): "
                    f"{', '.join(sorted(both)) or 'none'}", len(both) >= need))
    else:
        out.append(("(3) joint against per-map: not measured", None))

    unit = [r for r in records if not math.isnan(r["normal_unit_err"])]
    worst = max((r["normal_unit_err"] for r in unit), default=float("nan"))
    unit_ok = all(r["normal_unit_err"] <= r["unit_tol"] for r in unit)
    inexact = [f"{r['material']} seed {r['seed']} {r['method']}" for r in records if not r["known_exact"]]
    tols = sorted({r["unit_tol"] for r in unit})
    out.append((f"(4) saved normals: max | |n| - 1 | = {worst:.5f} over {len(unit)} results (tolerance "
                f"{' / '.join(f'{t:g}' for t in tols)}); known pixels bit-exact in {len(records) - len(inexact)}/"
                f"{len(records)}{': not in ' + '; '.join(inexact) if inexact else ''}",
                bool(unit_ok and not inexact) if records else None))
    return out


# ---- outputs ------------------------------------------------------------------------------------------------
def sheet_labels(methods: list[str]) -> tuple[list[str], list[str]]:
    lights = [f"L{k}" for k in range(len(BENCH_LIGHTS))]
    render_labels = ["input L0"] + [f"{SHEET_LABELS[m]} {lt}" for m in [*methods, "truth"] for lt in lights]
    map_labels = ["hole"] + [f"{SHEET_LABELS[m]} {col}" for m in ["truth", *methods]
                             for col in ("base", "normal", "rough", "L0", "L3")]
    return render_labels, map_labels


def map_row(ms: MapSet, ms_renders: list[np.ndarray], blank: np.ndarray) -> list[np.ndarray]:
    nrm, rough, base = ms.get("normal"), ms.get("roughness") or ms.get("gloss"), ms.get("basecolor")
    return [base.values()[:, :, :3] if base else blank, nrm.values()[:, :, :3] if nrm else blank,
            rough.values() if rough else blank, ms_renders[0], ms_renders[3]]


def save_outputs(records: list[dict], render_rows: list, map_rows: list, methods: list[str], json_path: str):
    """JSON + contact sheets, rewritten after every case so that a stopped run still leaves its results."""
    render_labels, map_labels = sheet_labels(methods)
    sheet = contact_sheet(render_rows, render_labels, OUT / "material_sheet.png", tile=128)
    contact_sheet(map_rows, map_labels, OUT / "material_maps.png", tile=128)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as fh:
        json.dump(records, fh, indent=1)
    return sheet


def print_tables(records: list[dict], names: list[str], methods: list[str], title: str) -> None:
    kinds = [k for k in SHORT.values() if any(k in r["maps"] for r in records)]

    def db(v):  # a map filled exactly (a uniform map takes its constant) scores 120 dB
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else ("exact" if v >= EXACT_DB else v)

    print()
    print_table(["material", "seed", "method", "render PSNR", "render LP PSNR", "render SWD", "normal angle",
                 "sharpness", "max||n|-1|", "known exact", "s"],
                [[r["material"], r["seed"], r["method"], r["render_psnr"], r["render_lowpass"], r["render_swd"],
                  r["normal_angle"], r["render_sharpness"], r["normal_unit_err"], "yes" if r["known_exact"] else "NO",
                  r["seconds"]] for r in records], title=title + ": every case")

    def groups():
        for name in names:
            yield name, [r for r in records if r["material"] == name]
        yield f"mean of {len({(r['material'], r['seed']) for r in records})} cases", records

    summary, per_map = [], []
    for label, sel in groups():
        for method in methods:
            rs = [r for r in sel if r["method"] == method]
            if not rs:
                continue
            summary.append([label, method, *[float(np.mean([r[k] for r in rs])) for k in
                                              ("render_psnr", "render_lowpass", "render_swd", "normal_angle",
                                               "render_sharpness")]])
            row = [label, method]
            for k in kinds:
                got = [r["maps"][k] for r in rs if k in r["maps"]]
                filled = [g for g in got if g["lowpass"] < EXACT_DB]  # a uniform map's exact fill left out of means
                row += ([db(float(np.mean([g["lowpass"] for g in filled]))), float(np.mean([g["swd"] for g in filled]))]
                        if filled else ["exact", 0.0] if got else ["-", "-"])
            per_map.append(row)
    print()
    print_table(["material", "method", "render PSNR", "render LP PSNR", "render SWD", "normal angle (deg)",
                 "sharpness"], summary,
                title="Summary: per material the mean over its masks (PSNR dB, higher better; SWD and angle lower "
                      "better)")
    print()
    print_table(["material", "method", *[f"{k} {f}" for k in kinds for f in ("LP", "SWD")]], per_map,
                title="Per map, stored values in the hole: low-pass PSNR (dB) and patch SWD; a map that is uniform "
                      "on the known pixels is filled exactly ('exact') and left out of the means")


def report(records: list[dict], title: str) -> None:
    """The tables, the render PSNR wins and the verdicts of a run's records."""
    names = list(dict.fromkeys(r["material"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    print_tables(records, names, methods, title)

    def wins(method: str, rivals: list[str], key) -> tuple[int, int]:
        groups: dict = {}
        for r in records:
            groups.setdefault(key(r), {}).setdefault(r["method"], []).append(r["render_psnr"])
        return sum(all(np.mean(by[method]) > np.mean(by[k]) for k in rivals) for by in groups.values()), len(groups)

    print()
    peers = [m for m in methods if m not in (JOINT, ORACLE)]
    if JOINT in methods and peers:
        for label, key in (("materials (mean over the masks)", lambda r: r["material"]),
                           ("cases (material x mask)", lambda r: (r["material"], r["seed"]))):
            print("joint internal has the best render PSNR (against {}) on {}/{} {}".format(
                ", ".join(peers), *wins(JOINT, peers, key), label))
    if ORACLE in methods and TELEA in methods:
        won, n = wins(ORACLE, [TELEA], lambda r: r["material"])
        print(f"the shifted truth (the material's own texture, the oracle) beats Telea's render PSNR on {won}/{n} "
              "materials")
    print()
    for line, passed in verdicts(records):
        print(("PASS " if passed else "FAIL " if passed is False else "---- ") + line)


def merged_records(paths: list[str]) -> list[dict]:
    """The records of saved runs, in order; a later file's record of the same (material, seed, method) replaces
    an earlier one's, so runs of one method at a time can be put together into one table."""
    merged: dict[tuple, dict] = {}
    for path in paths:
        with open(path) as fh:
            for r in json.load(fh):
                merged[(r["material"], r["seed"], r["method"])] = r
    return list(merged.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fast", choices=["fast", "balanced", "best"])
    ap.add_argument("--materials", default="", help="comma-separated folder names (default: all)")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                    help="comma-separated subset of: " + ", ".join(METHODS))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds: one mask (and engine seed) per seed")
    ap.add_argument("--train-steps", type=int, default=None, help="override the preset's training steps")
    add_option_argument(ap, "init=telea or strength=0.5")
    ap.add_argument("--json", default=str(OUT / "material.json"))
    ap.add_argument("--tables-from", default="", metavar="JSON[,JSON...]",
                    help="run nothing: print the tables and verdicts of saved runs' JSON, merged (a later file's "
                         "case of the same material, seed and method replaces an earlier one's)")
    args = ap.parse_args(argv)
    if args.tables_from:
        paths = [p for p in args.tables_from.split(",") if p]
        report(merged_records(paths), f"Material repair, from {', '.join(paths)}")
        return 0
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
    records, render_rows, map_rows = [], [], []
    t_start = time.perf_counter()
    for seed, (i, name) in itertools.product(seeds, enumerate(names)):
        truth, truth_renders = truths[name], truth_renders_of[name]
        mask = stroke_mask_for_bench(truth.height, truth.width, seed + i)
        blank = np.zeros_like(truth_renders[0])
        render_row = [show_hole(truth_renders[0], mask)]
        map_row_ = [show_hole(truth.get("basecolor").values()[:, :, :3] if truth.get("basecolor")
                              else truth_renders[0], mask), *map_row(truth, truth_renders, blank)]
        for method in methods:
            engine, separate = METHODS[method]
            with Timer() as tm:
                results = (shifted_truth_sets(truth, mask) if engine is None else
                           [run_material(truth, mask, engine, separate, seed=seed, preset=args.preset,
                                         train_steps=args.train_steps,
                                         options=options if engine != "patchmatch" else {}).mapset])
            result_renders = [renders(ms) for ms in results]
            scores = mean_scores([case_scores(ms, rr, truth, truth_renders, mask)
                                  for ms, rr in zip(results, result_renders)])
            rec = {"material": name, "seed": seed, "method": method, "hole": float(mask.mean()),
                   "seconds": tm.seconds, **scores, "unit_tol": unit_tolerance(truth)}
            records.append(rec)
            render_row += result_renders[0]
            map_row_ += map_row(results[0], result_renders[0], blank)
            maps_txt = "  ".join(f"{k} {v['lowpass']:5.1f}/{v['swd']:.3f}" for k, v in rec["maps"].items())
            print(f"  {name:22s} seed {seed} {method:22s} render {rec['render_psnr']:5.2f} dB, LP "
                  f"{rec['render_lowpass']:5.2f} dB, SWD {rec['render_swd']:.3f}, angle {rec['normal_angle']:5.2f} | "
                  f"maps LP/SWD {maps_txt} | |n|-1 <= {rec['normal_unit_err']:.4f}"
                  f"{'' if rec['known_exact'] else ' KNOWN PIXELS CHANGED'} | {tm.seconds:5.1f} s", flush=True)
        render_rows.append(render_row + truth_renders)
        map_rows.append(map_row_)
        save_outputs(records, render_rows, map_rows, methods, args.json)

    report(records, f"Material repair, {args.size}x{args.size} crops, preset {args.preset}, stroke masks, seeds "
                    f"{','.join(map(str, seeds))} ({time.strftime('%Y-%m-%d %H:%M')}, {runtime.physical_cores()} "
                    f"cores, {(time.perf_counter() - t_start) / 60:.0f} min)")
    print(f"contact sheets: {save_outputs(records, render_rows, map_rows, methods, args.json)}, "
          f"{OUT / 'material_maps.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
