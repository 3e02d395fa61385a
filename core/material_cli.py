"""`inpaint-material`: repair every map of one material folder, or of several (a library), with a mask.

    python main.py inpaint-material FOLDER [FOLDER ...] (--mask MASK | --mask-name NAME) --out OUT
                   [--engine NAME] [--preset P] [--seed N] [--normal-convention auto|gl|dx] [--separate]

One folder: OUT is the output folder. Everything a user could get wrong (unreadable or mixed-size maps, no
recognisable map, a mask of another size, an unknown engine, an output folder that cannot take the maps) is
checked before any work, so a bad call exits 2 with one ``error:`` line and writes nothing. On success the
output folder is printed.

Several folders: each set is written to OUT/<folder name>/. What concerns the whole call (engine and its
settings, the --mask file, OUT, two sets of one name) is checked first: exit 2, nothing written. Then the
sets run one by one under one progress bar; a set that cannot be repaired (its maps, its mask, its output)
gets one ``error: <set>: <reason>`` line and is skipped, the others are still written, each with a line on
stdout. Exit 0 when every set was written, 1 when any failed. A set's maps are written all or none: staged
in a hidden folder beside (or inside) the target, then moved in.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.cli_common import EXIT_FAIL, EXIT_OK, EngineSettings, add_engine_args, check_engine_settings, run_engine
from core.errors import Cancelled, UserError

EPILOG = """\
several folders (a material library):
  each set is written to OUT/<folder name>/; the mask is either one file for every set (--mask; a set of
  another size fails) or a file of the same name inside each set's folder (--mask-name mask.png; it is not
  taken for a map). A set that cannot be repaired is reported on stderr as 'error: <set>: <reason>' and
  skipped; the other sets are still written, each reported by one line on stdout. Nothing of a failed set
  is written.
exit status: 0 every set written; 1 some set failed (the others written); 2 bad call (nothing written,
  e.g. unknown engine, missing --mask file, OUT's parent missing, two sets with one folder name, or any
  problem with the set when a single folder is given); 130 interrupted.
"""


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = "Repair all maps of a PBR/SVBRDF material (one mask) jointly; several folders: each set"
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("folders", nargs="+", metavar="FOLDER",
                   help="folder holding the maps (diffuse/basecolor, normal, roughness, ...); several: one set each")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--mask", help="white = repair, same size as the maps (with several folders: every set)")
    which.add_argument("--mask-name", metavar="NAME",
                       help="the mask is the file NAME inside each folder (e.g. mask.png)")
    p.add_argument("--out", required=True,
                   help="output folder (created); maps keep their names and formats. Several folders: "
                        "each set goes to OUT/<folder name>/")
    add_engine_args(p)
    p.add_argument("--separate", action="store_true", help="inpaint each map on its own (for comparison)")
    p.add_argument("--normal-convention", default="auto", choices=["auto", "gl", "dx"],
                   help="normal map convention: OpenGL (+Y up), DirectX (-Y), or auto (name, then content)")
    p.add_argument("--reference", action="append", default=[], metavar="FOLDER",
                   help="a reference map set (repeatable): another material of the same kinds of maps that the "
                        "engine learns from and copies as well (any size; its normal convention is detected)")


@dataclass(frozen=True)
class SetOptions:
    """How every set of a call is repaired (the flags besides folders, masks and output)."""

    settings: EngineSettings
    separate: bool = False
    normal_convention: str = "auto"
    quiet: bool = False
    references: tuple[str, ...] = ()  # reference map set folders


def _prepare(folder: str | os.PathLike, mask: str | os.PathLike, out: str | os.PathLike, opts: SetOptions,
             mask_pixels=None):
    """Load one set and its mask and check its output: a ``MaterialRepair`` ready to run, or ``UserError``.
    ``mask_pixels``: the mask file's pixels, read once for all sets (``mask`` still names it)."""
    from core.io import load_mask, mask_from_pixels
    from core.material import MaterialRepair, check_output, load_map_set

    mapset = load_map_set(folder, opts.normal_convention, exclude=[mask])
    shape = (mapset.height, mapset.width)
    hole = (mask_from_pixels(mask_pixels, shape, source=str(mask)) if mask_pixels is not None
            else load_mask(mask, shape))
    check_output(mapset, out)
    from core.cli_common import engine_options

    refs = [load_map_set(r) for r in opts.references]
    # validates mask, channel counts, references; stacks only the part of the maps the engine reads
    return MaterialRepair(mapset, hole, opts.settings.engine, opts.separate, options=engine_options(opts.settings),
                          references=refs)


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)  # above any progress bar


def _repair(repair, opts: SetOptions, prefix: str = ""):
    """Run the engine on every job of ``repair``; the repaired ``MapSet``."""
    mapset = repair.mapset
    _note(f"{prefix}material: {mapset.describe()}", opts.quiet)
    for m in mapset.maps:
        if m.convention_source == "default":
            _note(f"note: {prefix}{m.name}: OpenGL convention assumed (the content does not tell); "
                  "use --normal-convention dx if it is DirectX", opts.quiet)
    for job in repair.jobs:
        label = f"{job.label}: " if job.label else ("joint: " if len(mapset.maps) > 1 else "")
        repair.set_result(job, run_engine(job.image, repair.hole, opts.settings, opts.quiet, label=prefix + label,
                                          options=repair.job_options(job), gray=job.gray, whole_rows=job.whole_rows))
    return repair.finish(in_place=True).mapset  # written into the loaded maps: they are only saved


def save_set_whole(mapset, out: str | os.PathLike) -> list[Path]:
    """Write every map of ``mapset`` into ``out``, all or none: the maps are saved into a hidden staging
    folder first (beside ``out`` when it is new, then renamed into place; inside it when it exists, then
    moved in one by one), so a failure while writing leaves nothing of the set behind."""
    from core.material import check_output, save_map_set

    target = check_output(mapset, out)
    existed = target.exists()
    parent = target if existed else (target.parent if str(target.parent) else Path("."))
    staging = parent / f".{target.name or 'maps'}.{uuid.uuid4().hex[:8]}.partial"
    try:
        staged = save_map_set(mapset, staging)
        if not existed:
            os.rename(staging, target)
            return [target / p.name for p in staged]
        for p in staged:
            os.replace(p, target / p.name)
        return [target / p.name for p in staged]
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def inpaint_material(folder: str, mask: str, out: str, settings: EngineSettings, separate: bool = False,
                     normal_convention: str = "auto", quiet: bool = False, references: tuple[str, ...] = ()) -> int:
    """Repair the maps in ``folder`` where ``mask`` is white (jointly, or each on its own with ``separate``)
    and write them into ``out`` under the same names."""
    from core.engines.registry import default_registry

    default_registry().capabilities(settings.engine)  # unknown engine: fail before reading anything
    opts = SetOptions(settings, separate, normal_convention, quiet, tuple(references))
    repair = _prepare(folder, mask, out, opts)
    check_engine_settings(settings)
    save_set_whole(_repair(repair, opts), out)
    print(out)
    return EXIT_OK


def _set_names(folders: list[str]) -> list[str]:
    names = [Path(f).resolve().name or str(f) for f in folders]
    seen: dict[str, str] = {}
    for f, name in zip(folders, names):
        if name in seen:
            raise UserError(f"two sets are named '{name}' ({seen[name]} and {f}); their outputs would both be "
                            f"OUT/{name}: run them in separate calls")
        seen[name] = f
    return names


def _check_out_root(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise UserError(f"cannot write to {out}: it is a file, not a folder")
        if not os.access(out, os.W_OK):
            raise UserError(f"cannot write to {out}: the folder is not writable")
        return
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write to {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot create {out}: folder {parent} is not writable")


def _tidy_root(root: Path, empty: bool) -> None:
    """Remove the output folder this call created when no set went into it."""
    if empty:
        try:
            root.rmdir()
        except OSError:
            pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; try the 'fast' preset or a smaller set"
    return f"unexpected {type(exc).__name__}: {exc}"


def inpaint_materials(folders: list[str], out: str, opts: SetOptions, mask: str | None = None,
                      mask_name: str | None = None) -> int:
    """Repair several sets, each into ``out``/<folder name>/, with one ``mask`` file for all or the file
    ``mask_name`` of each folder. Returns EXIT_OK, or EXIT_FAIL when a set failed (the others written)."""
    from tqdm import tqdm

    from core.engines.registry import default_registry
    from core.io import load_image

    default_registry().capabilities(opts.settings.engine)  # unknown engine: before reading anything
    check_engine_settings(opts.settings)
    names = _set_names(folders)
    root = Path(out)
    _check_out_root(root)
    mask_pixels = load_image(mask).pixels if mask is not None else None  # unreadable: the whole call is bad
    made_root = not root.exists()
    root.mkdir(exist_ok=True)
    failed: list[str] = []
    written: list[str] = []
    bar = tqdm(total=len(folders), desc="sets", unit="set", file=sys.stderr, disable=opts.quiet,
               dynamic_ncols=True)
    current = ""
    try:
        for folder, name in zip(folders, names):
            current = name
            bar.set_postfix_str(name)
            target = root / name
            set_mask = mask if mask is not None else Path(folder) / mask_name
            try:
                repair = _prepare(folder, set_mask, target, opts, mask_pixels)
                files = save_set_whole(_repair(repair, opts, prefix=f"{name}: "), target)
            except (Cancelled, KeyboardInterrupt):
                raise
            except Exception as exc:  # any failure of one set: reported, and the library goes on
                failed.append(name)
                tqdm.write(f"error: {name}: {_reason(exc)}", file=sys.stderr)
            else:
                written.append(name)
                tqdm.write(f"{target}: {len(files)} maps ({', '.join(p.name for p in files)})", file=sys.stdout)
            bar.update(1)
    except (Cancelled, KeyboardInterrupt):
        bar.close()
        _tidy_root(root, made_root and not written)
        kept = f"the {len(written)} set(s) written before it are kept" if written else "no set was written"
        print(f"error: cancelled during {current}; nothing of it written, {kept}", file=sys.stderr)
        return 130
    bar.close()
    _tidy_root(root, made_root and not written)
    if not opts.quiet:
        print(f"{len(written)} of {len(folders)} sets written" +
              (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.mask is None and args.mask_name is None:
        raise UserError("give the mask: --mask FILE, or --mask-name NAME for a file of that name in each folder")
    opts = SetOptions(EngineSettings.from_args(args), args.separate, args.normal_convention, args.quiet,
                      tuple(args.reference))
    if len(args.folders) > 1:
        return inpaint_materials(args.folders, args.out, opts, args.mask, args.mask_name)
    folder = args.folders[0]
    mask = args.mask if args.mask is not None else str(Path(folder) / args.mask_name)
    return inpaint_material(folder, mask, args.out, opts.settings, opts.separate, opts.normal_convention,
                            opts.quiet, opts.references)
