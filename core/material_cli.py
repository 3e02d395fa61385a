"""`inpaint-material`: repair every map of a material folder with one mask.

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

from core.cli_common import EXIT_OK, EngineSettings, add_engine_args, check_engine_settings, run_engine


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = "Repair all maps of a PBR/SVBRDF material (one mask) jointly"
    p.add_argument("folder", help="folder holding the maps (diffuse/basecolor, normal, roughness, ...)")
    p.add_argument("--mask", required=True, help="white = repair, same size as the maps")
    p.add_argument("--out", required=True, help="output folder (created); maps keep their names and formats")
    add_engine_args(p)
    p.add_argument("--separate", action="store_true", help="inpaint each map on its own (for comparison)")
    p.add_argument("--normal-convention", default="auto", choices=["auto", "gl", "dx"],
                   help="normal map convention: OpenGL (+Y up), DirectX (-Y), or auto (name, then content)")


def inpaint_material(folder: str, mask: str, out: str, settings: EngineSettings, separate: bool = False,
                     normal_convention: str = "auto", quiet: bool = False) -> int:
    """Repair the maps in ``folder`` where ``mask`` is white (jointly, or each on its own with ``separate``)
    and write them into ``out`` under the same names."""
    from core.engines.registry import default_registry
    from core.io import load_mask
    from core.material import MaterialRepair, check_output, load_map_set, save_map_set

    default_registry().capabilities(settings.engine)  # unknown engine: fail before reading anything
    mask_path = Path(mask)
    mapset = load_map_set(folder, normal_convention, exclude=[mask_path])
    hole = load_mask(mask_path, (mapset.height, mapset.width))
    check_output(mapset, out)
    repair = MaterialRepair(mapset, hole, settings.engine, separate)  # validates mask and channel counts
    check_engine_settings(settings)
    if not quiet:
        print(f"material: {mapset.describe()}", file=sys.stderr)
        for m in mapset.maps:
            if m.convention_source == "default":
                print(f"note: {m.name}: OpenGL convention assumed (the content does not tell); "
                      "use --normal-convention dx if it is DirectX", file=sys.stderr)
    for job in repair.jobs:
        label = f"{job.label}: " if job.label else ("joint: " if len(mapset.maps) > 1 else "")
        repair.set_result(job, run_engine(job.image, repair.mask, settings, quiet, label=label,
                                          options=repair.engine_options(job)))
    save_map_set(repair.finish().mapset, out)
    print(out)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return inpaint_material(args.folder, args.mask, args.out, EngineSettings.from_args(args), args.separate,
                            args.normal_convention, args.quiet)
