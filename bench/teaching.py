"""Does pointing the model at the right material pay? Fills with and without a sampling area and a reference.

    python -m bench.teaching [--textures 4] [--kodak 2] [--preset fast] [--size 256] [--methods A,B]
                             [--seeds 0,1,2]

Cases where the hole's own neighbourhood is a poor teacher, built from ../shared/data:
- ``pasted``: a patch of another image pasted right beside the hole (a person standing next to the wall);
  the sampling area is everything but the patch;
- ``border``: the hole lies in one texture against the border of another (an object's edge); the sampling area
  is the hole's side.
The truth in the hole is always the first texture. Methods: PatchMatch and the internal engine, each without
and with the sampling area, and each with a reference image -- another crop of the same texture file, away from
the case's crop -- instead. Figures as bench.quality (hole PSNR, low-pass PSNR, patch SWD) and
seconds, each the mean over ``--seeds`` (the seed of the fill and of the model); a contact sheet of the first
seed's fills at bench/out/teaching_sheet.png.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import DATA, OUT, Timer, contact_sheet, hole_psnr, print_table, show_hole
from bench.metrics import lowpass_psnr, patch_swd
from core import runtime
from core.engines.base import InpaintRequest, last_result
from core.engines.internal import InternalEngine
from core.engines.model_cache import ModelCache
from core.engines.patchmatch import available as patchmatch_available
from core.engines.patchmatch import patchmatch_fill
from core.engines.registry import default_registry
from core.io import load_image, to_float


def _files(category: str, limit: int) -> list:
    files = sorted(p for p in (DATA / category).iterdir() if p.suffix.lower() in {".png", ".jpg", ".tif"})
    idx = np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)
    return [files[i] for i in sorted(set(idx))]


def _rgb(path) -> np.ndarray:
    img = to_float(load_image(path))
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[:, :, :3]


def _centre(img: np.ndarray, size: int) -> np.ndarray:
    y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[y:y + size, x:x + size].copy()


def make_cases(category: str, limit: int, size: int) -> list[dict]:
    """The cases of one image folder; the other texture of each case is the next file in the list."""
    files = _files(category, limit + 1)
    cases = []
    for i, path in enumerate(files[:limit]):
        full, other_full = _rgb(path), _rgb(files[(i + 1) % len(files)])
        truth, other = _centre(full, size), _centre(other_full, size)
        # the reference: a corner of the same file, away from the centre crop (Kodak's corners are other
        # things, so photos get no reference case)
        top = (full.shape[0] - size) // 2  # the rows above the centre crop
        reference = full[:top].copy() if category == "textures" and top >= 96 else None
        c, hs = size // 2, size // 4  # the hole: a box of a quarter side at the centre
        mask = np.zeros((size, size), bool)
        mask[c - hs // 2:c + hs // 2, c - hs // 2:c + hs // 2] = True
        # pasted: the other image's patch right of the hole, 4 px away, half the crop tall
        image = truth.copy()
        paste = np.zeros_like(mask)
        x0 = c + hs // 2 + 4
        paste[c - size // 4:c + size // 4, x0:x0 + size // 3] = True
        image[paste] = other[paste]
        cases.append(dict(kind="pasted", name=path.stem, image=image, truth=image.copy(), mask=mask,
                          source=~paste, reference=reference))
        if category == "textures":
            # border: the other texture from 4 px right of the hole to the right edge
            image = truth.copy()
            right = np.zeros_like(mask)
            right[:, x0:] = True
            image[right] = other[right]
            cases.append(dict(kind="border", name=path.stem, image=image, truth=image.copy(), mask=mask,
                              source=~right, reference=reference))
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--textures", type=int, default=4)
    ap.add_argument("--kodak", type=int, default=2)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds; every figure is the mean over them (one "
                                                  "fill is noisy: a texture's SWD moves by about 0.02 between seeds)")
    ap.add_argument("--methods", default="", help="comma-separated method names to run (default: all)")
    args = ap.parse_args(argv)
    runtime.tune_allocator()
    runtime.set_threads()
    if not patchmatch_available():
        raise SystemExit("bench.teaching needs the PatchMatch library (pip install pypatchmatch)")
    engine = InternalEngine(default_registry().capabilities("internal"), cache=ModelCache(None))
    cases = make_cases("textures", args.textures, args.size) + make_cases("kodak", args.kodak, args.size)

    seeds = [int(s) for s in args.seeds.split(",")]

    def internal(case, seed, **options) -> np.ndarray:
        req = InpaintRequest(case["image"].copy(), case["mask"], seed=seed, preset=args.preset,
                             options={"cache": False, "preview_every": 0, **options})
        return last_result(engine.run(req)).image

    methods = {
        "patchmatch": lambda cs, seed: patchmatch_fill(cs["image"], cs["mask"], seed=seed),
        "patchmatch + area": lambda cs, seed: patchmatch_fill(cs["image"], cs["mask"], seed=seed,
                                                              source=cs["source"]),
        "patchmatch + reference": lambda cs, seed: (patchmatch_fill(cs["image"], cs["mask"], seed=seed,
                                                                    references=[cs["reference"]])
                                                    if cs["reference"] is not None else None),
        f"internal-{args.preset}": lambda cs, seed: internal(cs, seed),
        f"internal-{args.preset} + area": lambda cs, seed: internal(cs, seed, source=cs["source"]),
        f"internal-{args.preset} + reference": lambda cs, seed: (internal(cs, seed, references=[cs["reference"]])
                                                                 if cs["reference"] is not None else None),
    }
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",")]
        unknown = [m for m in wanted if m not in methods]
        if unknown:
            raise SystemExit(f"unknown method(s) {unknown}; known: {list(methods)}")
        methods = {m: methods[m] for m in wanted}
    records, rows = [], []
    for cs in cases:
        truth, mask = cs["truth"], cs["mask"]  # the image itself: only its hole is measured
        row = {"input": show_hole(cs["image"], mask)}
        for name, fill in methods.items():
            runs = []
            for seed in seeds:
                with Timer() as tm:
                    res = fill(cs, seed)
                if res is None:
                    break
                runs.append(dict(seconds=tm.seconds, psnr=hole_psnr(res, truth, mask),
                                 lowpass=lowpass_psnr(res, truth, mask), swd=patch_swd(res, truth, mask)))
                row.setdefault(name, res)  # the sheet shows the first seed's fill
            if not runs:
                continue
            rec = dict(kind=cs["kind"], image=cs["name"], method=name,
                       **{k: float(np.mean([r[k] for r in runs])) for k in runs[0]})
            records.append(rec)
            print(f"  {cs['kind']:6s} {cs['name']:14s} {name:28s} PSNR {rec['psnr']:6.2f}  low-pass "
                  f"{rec['lowpass']:6.2f}  SWD {rec['swd']:.3f}  {rec['seconds']:5.1f} s", flush=True)
        row["truth"] = truth
        rows.append(row)

    table = []
    for kind in ("pasted", "border"):
        for name in methods:
            sel = [r for r in records if r["kind"] == kind and r["method"] == name]
            if sel:
                table.append([kind, name, len(sel)] + [float(np.mean([r[k] for r in sel]))
                                                       for k in ("psnr", "lowpass", "swd", "seconds")])
    print()
    print_table(["case", "method", "n", "hole PSNR", "low-pass PSNR", "patch SWD", "s/image"], table,
                title=f"Sampling area and reference, {args.size}x{args.size}, seeds {args.seeds} "
                      f"({time.strftime('%Y-%m-%d %H:%M')}, "
                      f"{runtime.physical_cores()} cores)")

    def by_case(method):
        return {(r["kind"], r["image"]): r for r in records if r["method"] == method}

    plain, area = by_case(f"internal-{args.preset}"), by_case(f"internal-{args.preset} + area")
    ref = by_case(f"internal-{args.preset} + reference")
    if plain and area:
        better = sum(area[k]["swd"] < plain[k]["swd"] for k in area)
        slower = np.mean([area[k]["seconds"] for k in area]) / np.mean([plain[k]["seconds"] for k in area])
        print(f"\nsampling area: SWD below the plain fill's on {better}/{len(area)} cases; time x{slower:.2f}")
    if plain and ref:
        def mean(recs, key):
            return float(np.mean([recs[k][key] for k in ref]))

        print(f"reference: SWD {mean(ref, 'swd'):.3f} vs {mean(plain, 'swd'):.3f}, low-pass {mean(ref, 'lowpass'):.2f} "
              f"vs {mean(plain, 'lowpass'):.2f} dB; time x{mean(ref, 'seconds') / mean(plain, 'seconds'):.2f}")
    columns = ["input"] + list(methods) + ["truth"]
    blank = np.zeros((args.size, args.size, 3), np.float32)
    sheet = contact_sheet([[row.get(c, blank) for c in columns] for row in rows], columns,
                          OUT / "teaching_sheet.png")
    print(f"\ncontact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
