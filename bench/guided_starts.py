"""Do lattice- and line-guided PatchMatch fills pay? The internal engine's start stage, measured alone.

    python -m bench.guided_starts [--pool 4] [--textures -1] [--kodak 6]

On the cases of bench.quality (every texture and six Kodak images by default, strokes and the centre box), each
hole is filled ``--pool`` times by PatchMatch: once with plain fills only, once alternating plain and guided
fills (core.lattice or core.lines, what ``ranked_fills`` does), each pool ranked by texture_mismatch. Printed per
case: which guide was found, the low-pass hole PSNR and patch SWD of both picks; then the means per set and mask.
"""
from __future__ import annotations

import argparse
import zlib

import numpy as np

from bench.metrics import lowpass_psnr, patch_swd
from bench.quality import bench_cases, make_masks
from core.engines import patchmatch as pm
from core.patch_stats import texture_mismatch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=4)
    ap.add_argument("--textures", type=int, default=-1)
    ap.add_argument("--kodak", type=int, default=6)
    args = ap.parse_args(argv)
    if not pm.available():
        raise SystemExit("the PatchMatch library is not installed")
    rows: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for category, name, truth in bench_cases(args.textures, args.kodak, 256):
        h, w = truth.shape[:2]
        for kind, mask in make_masks(["strokes", "box"], h, w, zlib.crc32(name.encode()) % 1000).items():
            job = pm._Job.prepare(truth, mask, None, lattice=True)
            # the engine's pool: seeds 0 .. pool-1, the odd ones guided when there is a guide; plain fills at the
            # next even seeds make up the plain pool
            extra = range(args.pool, 2 * args.pool, 2) if job.regularity is not None else ()
            fills = []
            for seed in [*range(args.pool), *extra]:
                guided = seed % 2 == 1 and seed < args.pool and job.regularity is not None
                region = job.fill(seed, regular=guided)
                full = np.array(truth, np.float32)
                full[job.box.slices()] = region
                fills.append((texture_mismatch(region, job.hole), seed, guided, full))
            plain = min([f for f in fills if not f[2]][:args.pool], key=lambda f: f[:2])
            mixed = min([f for f in fills if f[1] < args.pool], key=lambda f: f[:2])
            guide = type(job.regularity).__name__.lower() if job.regularity is not None else "-"
            line = f"  {name:14s} {kind:7s} {guide:7s}"
            for key, (_, _, _, full) in (("plain", plain), ("guided pool", mixed)):
                score = (lowpass_psnr(full, truth, mask), patch_swd(full, truth, mask))
                rows.setdefault((category, kind, key), []).append(score)
                line += f"  {key} {score[0]:5.2f} dB {score[1]:.3f}"
            print(line + ("  (picked a guided fill)" if mixed[2] else ""), flush=True)
    print("\n| set | mask | pool | n | low-pass PSNR | patch SWD |\n|---|---|---|---|---|---|")
    for (category, kind, key), v in sorted(rows.items()):
        a = np.array(v)
        print(f"| {category} | {kind} | {key} | {len(a)} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
