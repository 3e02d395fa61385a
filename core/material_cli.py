"""`inpaint-material`: repair every map of a material folder with one mask (merged into core.cli).

    python main.py inpaint-material DIR --mask MASK --out OUTDIR [--engine NAME] [--preset P] [--seed N]
                   [--normal-convention auto|gl|dx] [--separate]

Everything a user could get wrong (unreadable or mixed-size maps, no recognisable map, a mask of another
size, an unknown engine, an output folder that cannot take the maps) is checked before any work, so a bad
call exits 2 with one ``error:`` line and writes nothing. On success the output folder is printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path



def add_args(p: argparse.ArgumentParser) -> None:
    from core.cli import _add_engine_args

    p.description = "Repair all maps of a PBR/SVBRDF material (one mask) jointly"
    p.add_argument("folder", help="folder holding the maps (diffuse/basecolor, normal, roughness, ...)")
    p.add_argument("--mask", required=True, help="white = repair, same size as the maps")
    p.add_argument("--out", required=True, help="output folder (created); maps keep their names and formats")
    _add_engine_args(p)
    p.add_argument("--separate", action="store_true", help="inpaint each map on its own (for comparison)")
    p.add_argument("--normal-convention", default="auto", choices=["auto", "gl", "dx"],
                   help="normal map convention: OpenGL (+Y up), DirectX (-Y), or auto (name, then content)")


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, check_engine_args, run_engine_cli
    from core.engines.registry import default_registry
    from core.io import load_mask
    from core.material import MaterialRepair, check_output, load_map_set, save_map_set

    default_registry().capabilities(args.engine)  # unknown engine: fail before reading anything
    mask_path = Path(args.mask)
    mapset = load_map_set(args.folder, args.normal_convention, exclude=[mask_path])
    mask = load_mask(mask_path, (mapset.height, mapset.width))
    check_output(mapset, args.out)
    repair = MaterialRepair(mapset, mask, args.engine, args.separate)  # validates mask and channel counts
    check_engine_args(args.engine, args)
    if not args.quiet:
        print(f"material: {mapset.describe()}", file=sys.stderr)
        for m in mapset.maps:
            if m.convention_source == "default":
                print(f"note: {m.name}: OpenGL convention assumed (the content does not tell); "
                      "use --normal-convention dx if it is DirectX", file=sys.stderr)
    for job in repair.jobs:
        label = f"{job.label}: " if job.label else ("joint: " if len(mapset.maps) > 1 else "")
        repair.set_result(job, run_engine_cli(args.engine, job.image, repair.mask, args, label=label,
                                              options=repair.engine_options(job)))
    save_map_set(repair.finish().mapset, args.out)
    print(args.out)
    return EXIT_OK


COMMANDS = {"inpaint-material": (add_args, run)}

if __name__ == "__main__":  # convenience: python -m core.material_cli DIR --mask ... --out ...
    from core.cli import main

    raise SystemExit(main(["inpaint-material", *sys.argv[1:]]))
