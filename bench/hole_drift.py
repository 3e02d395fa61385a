"""Where a fill goes wrong: the hole's estimate at every sampler step, for one image and mask.

    python -m bench.hole_drift [--category kodak] [--index 1] [--mask box] [--preset fast] [--sampler ddrm]

Runs the internal engine on one 256x256 crop of the benchmark data (the same crop and mask as
``bench.quality``: mask seed = the image's index among the cases, textures first) and prints, for every
sampling step, the live preview's hole statistics: mean and standard deviation per pixel (over channels),
the share of hole pixels pinned at the region's darkest or brightest value (the sampler clips x0 to the
known pixels' range, so a share near 0 is healthy), and the hole PSNR so far. The truth's hole mean and
std are printed for comparison.

Why it exists: on photographs the internal engine fills big holes with blobs of the image's most salient
colour (black windows in kodim08). This shows the estimate is fine for most of the run and drifts over
the last steps -- the place to look for a fix.
"""
from __future__ import annotations

import argparse

import numpy as np

from bench.common import add_option_argument, hole_psnr, parse_options, test_images
from bench.quality import make_masks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--category", default="kodak", choices=["kodak", "textures"])
    ap.add_argument("--index", type=int, default=1, help="which of the category's images in bench.quality's run")
    ap.add_argument("--count", type=int, default=None,
                    help="how many of the category bench.quality used (default 4 textures, 2 Kodak)")
    ap.add_argument("--mask", default="box", choices=["box", "strokes"])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--textures-before", type=int, default=4,
                    help="texture cases before Kodak in bench.quality's run (its mask seeds count them)")
    add_option_argument(ap)
    args = ap.parse_args(argv)

    from core import runtime
    from core.engines.base import InpaintRequest, Preview, Result
    from core.engines.internal import InternalEngine
    from core.engines.model_cache import ModelCache
    from core.engines.registry import default_registry

    runtime.tune_allocator()
    runtime.set_threads()
    count = args.count or (2 if args.category == "kodak" else 4)
    name, truth = test_images(args.category, count, 256)[args.index]
    case = args.index + (args.textures_before if args.category == "kodak" else 0)
    mask = make_masks([args.mask], 256, 256, case)[args.mask]
    engine = InternalEngine(default_registry().capabilities("internal"), cache=ModelCache(None))
    req = InpaintRequest(truth.copy(), mask, seed=0, preset=args.preset, sampler=args.sampler,
                         options={"cache": False, "preview_every": 0, **parse_options(args.option)})
    known = truth[~mask]
    lo, hi = known.min(axis=0), known.max(axis=0)
    t_hole = truth[mask]
    print(f"{args.category}/{name}, {args.mask} mask ({mask.mean() * 100:.0f}%), preset {args.preset}")
    print(f"truth hole: mean {t_hole.mean():.3f}, std {t_hole.std():.3f}; known range per channel {lo} .. {hi}")
    print(f"{'step':>6} {'mean':>6} {'std':>6} {'at min':>7} {'at max':>7} {'PSNR':>6}")
    for ev in engine.run(req):
        if isinstance(ev, Preview) and ev.stage == "sample":
            full = truth.copy()
            full[ev.box.slices()] = ev.image
            h = full[mask]
            at_lo = float(np.mean(np.any(h <= lo + 1e-3, axis=1)))
            at_hi = float(np.mean(np.any(h >= hi - 1e-3, axis=1)))
            print(f"{ev.step:>3}/{ev.total:<2} {h.mean():6.3f} {h.std():6.3f} {at_lo:7.2f} {at_hi:7.2f} "
                  f"{hole_psnr(full, truth, mask):6.2f}", flush=True)
        elif isinstance(ev, Result):
            print(f"result: hole PSNR {hole_psnr(ev.image, truth, mask):.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
