"""`inpaint` and `engines`: fill the white part of a mask in one image, and list the registered engines.

    python main.py inpaint IMAGE --mask MASK --out OUT [--engine NAME] [--preset P] [--seed N]
                           [--source AREA] [--reference IMG ...] [--own-share F] [...]
    python main.py engines

The image stays in its native dtype: the engine gets float pixels of only the part it reads, and its result is
written back into the native pixels in place (core.io.merge_into).

Everything a user could get wrong (an unknown engine or a device this machine lacks, an unreadable image, a
mask of another size or an empty one, an output that cannot be written, engine settings the engine does
not take) is checked before any work, so a bad call exits 2 with one ``error:`` line and writes nothing.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from core.cli_common import EXIT_OK, EngineSettings, add_engine_args, check_engine_settings, run_on_image
from core.errors import UserError


def add_inpaint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("--mask", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--source", default=None, metavar="AREA",
                   help="sampling area: a mask whose white part is the only place the fill may copy or learn from "
                        "(engines that take one: see `engines`)")
    p.add_argument("--reference", action="append", default=[], metavar="IMG",
                   help="another image of the same material to learn from (repeatable; same channel count, any "
                        "size; engines that take them: see `engines`)")
    p.add_argument("--own-share", type=float, default=None, metavar="F",
                   help="with --reference: the open image's share of what the model learns from (0-1, default 0.5)")
    add_engine_args(p)


@dataclass(frozen=True)
class Teaching:
    """What a learning engine is pointed at: a sampling area and reference images (files)."""

    source: str | None = None
    references: tuple[str, ...] = ()
    own_share: float | None = None


def teaching_options(teaching: Teaching, image, hole: np.ndarray, caps, engine: str) -> dict:
    """``teaching`` loaded and checked against the image and the engine: the engine options it stands for."""
    from core.io import load_image, mask_from_pixels, to_float
    from core.masks import checked_source

    options: dict = {}
    if teaching.source is not None:
        if not caps.supports_source:
            raise UserError(f"engine '{engine}' takes no sampling area (--source)")
        area = mask_from_pixels(load_image(teaching.source).pixels, (image.height, image.width),
                                source=f"the source area {teaching.source}")
        options["source"] = checked_source(area, hole)
    if teaching.references or teaching.own_share is not None:
        if not caps.supports_references:
            raise UserError(f"engine '{engine}' learns from no reference images (--reference)")
        refs = []
        for path in teaching.references:
            ref = load_image(path)
            if ref.channels != image.channels:
                raise UserError(f"{path} has {ref.channels} channels but {image.path} has {image.channels}; "
                                "references must be of the same kind (gray, RGB or RGBA)")
            refs.append(to_float(ref))
        options["references"] = refs
        if teaching.own_share is not None:
            if not 0.0 <= teaching.own_share <= 1.0:
                raise UserError(f"--own-share must be between 0 and 1 (got {teaching.own_share})")
            options["own_share"] = teaching.own_share
    return options


def inpaint(image: str, mask: str, out: str, settings: EngineSettings, quiet: bool = False,
            teaching: Teaching = Teaching()) -> int:
    """Fill ``mask``'s white part of ``image`` and write ``out`` (same size, channels and bit depth)."""
    from core import runtime
    from core.engines.registry import default_registry
    from core.io import check_writable, load_image, load_mask, merge_into, save_image
    from core.masks import validate_mask

    caps = default_registry().capabilities(settings.engine)  # unknown engine -> UserError before any work
    runtime.resolve_device(settings.device)  # a device this machine lacks -> UserError, whatever the engine
    img = load_image(image)
    check_writable(out, img)  # before the work, so a bad path costs nothing
    hole = validate_mask(load_mask(mask, (img.height, img.width)), (img.height, img.width))
    check_engine_settings(settings)
    if caps.max_channels is not None and img.channels > caps.max_channels:
        raise UserError(f"engine '{settings.engine}' takes at most {caps.max_channels} channels; "
                        f"{image} has {img.channels}")
    options = teaching_options(teaching, img, hole, caps, settings.engine)
    result = run_on_image(img, hole, settings, quiet, options=options)
    print(save_image(out, merge_into(img, result.region, hole, result.box)))
    return EXIT_OK


def run_inpaint(args: argparse.Namespace) -> int:
    teaching = Teaching(args.source, tuple(args.reference), args.own_share)
    return inpaint(args.image, args.mask, args.out, EngineSettings.from_args(args), args.quiet, teaching)


# Capabilities that are a yes or no, as `engines` names them
SWITCHES = (("trains_per_image", "trains on the image"), ("needs_weights", "pretrained weights"),
            ("instant", "instant"), ("supports_seed", "seed"), ("supports_variants", "variants"),
            ("harmonizes_seams", "seam harmonisation"), ("supports_source", "sampling area"),
            ("supports_references", "reference images"))


def engines() -> int:
    """Print every registered engine with what its capabilities declare."""
    from core.engines.registry import default_registry

    for entry in default_registry().entries():
        c = entry.capabilities
        flags = [label for attr, label in SWITCHES if getattr(c, attr)]
        if c.samplers:
            flags.append("samplers " + "/".join(c.samplers) + f" (default {c.default_sampler})")
        if c.presets:
            flags.append("presets " + "/".join(c.presets))
        if c.recipes:
            flags.append("recipes " + "/".join(c.recipes))
        flags.append("channels " + ("any" if c.max_channels is None else f"<= {c.max_channels}"))
        flags.append("devices " + "/".join(c.devices))
        print(f"{entry.name:10s} {c.title}\n{'':10s} {'; '.join(flags)}")
    return EXIT_OK


def run_engines(_args: argparse.Namespace) -> int:
    return engines()
