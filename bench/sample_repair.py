"""The README's before/after crop of the bundled sample: the internal engine's one click at 100 %.

    python -m bench.sample_repair [--preset fast] [--out docs/images/sample_repair.png]

Runs the internal engine on resources/sample.png with resources/sample_mask.png (seed 0, no model cache), prints
the seconds, and writes the scrawl's neighbourhood before (the strokes drawn in blue) and after, side by side.
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from bench.common import REPO
from core import runtime
from core.engines.base import InpaintRequest, last_result
from core.engines.registry import default_registry
from core.io import load_image, load_mask, to_float

STROKE_BGR = (220, 90, 30)  # the strokes as the reader should see them: blue, not the app's overlay pink


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--out", default=str(REPO / "docs" / "images" / "sample_repair.png"))
    args = ap.parse_args(argv)
    runtime.tune_allocator()
    runtime.set_threads()
    image = to_float(load_image(REPO / "resources" / "sample.png"))
    mask = load_mask(REPO / "resources" / "sample_mask.png", image.shape[:2])
    t0 = time.perf_counter()
    result = last_result(default_registry().get("internal").run(
        InpaintRequest(image, mask, seed=0, preset=args.preset, options={"cache": False, "preview_every": 0})))
    seconds = time.perf_counter() - t0
    after = result.composed(image)
    ys, xs = np.nonzero(mask)
    y0, y1 = max(0, ys.min() - 12), min(image.shape[0], ys.max() + 13)
    x0, x1 = max(0, xs.min() - 12), min(image.shape[1], xs.max() + 13)
    to8 = lambda a: cv2.cvtColor((np.clip(a, 0, 1) * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)  # noqa: E731
    before = to8(image)
    before[mask] = STROKE_BGR
    gap = np.full((y1 - y0, 8, 3), 255, np.uint8)
    cv2.imwrite(args.out, np.concatenate([before[y0:y1, x0:x1], gap, to8(after)[y0:y1, x0:x1]], axis=1))
    print(f"{args.preset}: {seconds:.1f} s on {runtime.physical_cores()} cores; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
