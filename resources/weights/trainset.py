"""The licence-clean images the shipped few-shot weights are trained on, gathered as links in one folder.

    python resources/weights/trainset.py build/trainset     # links to ../shared/data files, nothing copied

Kodak images (released by Eastman Kodak for unrestricted use) and ambientCG albedo maps (CC0). Never the
test images Barbara or House, and no Brodatz plate (their licence is unclear). kodim07 and kodim08 are
held out, so the Kodak rows of the benchmarks have two images that no shipped model has seen.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("REWEAVE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
FILES = [
    "kodak/kodim01.png", "kodak/kodim02.png", "kodak/kodim03.png",
    "kodak/kodim04.png", "kodak/kodim05.png", "kodak/kodim06.png",
    "svbrdf/acg_rock058/diffuse.png", "svbrdf/acg_metal055a/diffuse.png",
]
HELD_OUT_KODAK = ["kodim07.png", "kodim08.png"]


def build(folder: str | os.PathLike) -> Path:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for rel in FILES:
        src = DATA / rel
        if not src.is_file():
            raise SystemExit(f"error: {src} is missing (set REWEAVE_DATA to the shared data folder)")
        link = out / rel.replace("/", "_")
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(src.resolve())
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "build/trainset"))
