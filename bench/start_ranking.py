"""Does texture_mismatch pick the better PatchMatch fill? The internal engine's start is ranked by it.

    python -m bench.start_ranking [--seeds 8] [--textures 4] [--kodak 2]

On the cases of bench.quality, every case is filled by PatchMatch with ``--seeds`` seeds; printed per case: the
patch SWD to the truth of seed 0, of the fill texture_mismatch ranks first (no truth needed), and of the best in
hindsight, with the correlation of the two scores over the seeds; then the means (and the low-pass PSNR).
"""
from __future__ import annotations

import argparse
import zlib

import numpy as np

from bench.metrics import lowpass_psnr, patch_swd
from bench.quality import bench_cases, make_masks
from core.engines.patchmatch import patchmatch_fill
from core.patch_stats import texture_mismatch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--textures", type=int, default=4)
    ap.add_argument("--kodak", type=int, default=2)
    args = ap.parse_args(argv)
    rows = []
    for _, name, truth in bench_cases(args.textures, args.kodak, 256):
        h, w = truth.shape[:2]
        for kind, mask in make_masks(["strokes", "box"], h, w, zlib.crc32(name.encode()) % 1000).items():
            fills = [patchmatch_fill(truth, mask, seed=s) for s in range(args.seeds)]
            swd = np.array([patch_swd(f, truth, mask) for f in fills])
            lp = np.array([lowpass_psnr(f, truth, mask) for f in fills])
            score = np.array([texture_mismatch(f, mask) for f in fills])
            pick = int(score.argmin())
            corr = float(np.corrcoef(score, swd)[0, 1])
            rows.append((swd[0], swd[pick], swd.min(), lp[0], lp[pick]))
            print(f"  {name:14s} {kind:7s} SWD seed 0 {swd[0]:.3f}  ranked first {swd[pick]:.3f}  best {swd.min():.3f}"
                  f"  correlation {corr:+.2f}", flush=True)
    m = np.mean(rows, axis=0)
    print(f"\nmean SWD: seed 0 {m[0]:.4f}, ranked first {m[1]:.4f}, best in hindsight {m[2]:.4f}; "
          f"low-pass PSNR: seed 0 {m[3]:.2f} dB, ranked first {m[4]:.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
