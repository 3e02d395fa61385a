"""`inpaint` and `engines`: fill the white part of a mask in one image, and list the registered engines.

    python main.py inpaint IMAGE --mask MASK --out OUT [--engine NAME] [--preset P] [--seed N] [...]
    python main.py engines

Everything a user could get wrong (an unknown engine or a device this machine lacks, an unreadable image, a
mask of another size or an empty one, an output that cannot be written, engine settings the engine does
not take) is checked before any work, so a bad call exits 2 with one ``error:`` line and writes nothing.
"""
from __future__ import annotations

import argparse

from core.cli_common import EXIT_OK, EngineSettings, add_engine_args, check_engine_settings, run_engine
from core.errors import UserError


def add_inpaint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")
    p.add_argument("--mask", required=True)
    p.add_argument("--out", required=True)
    add_engine_args(p)


def inpaint(image: str, mask: str, out: str, settings: EngineSettings, quiet: bool = False) -> int:
    """Fill ``mask``'s white part of ``image`` and write ``out`` (same size, channels and bit depth)."""
    from core import runtime
    from core.engines.registry import default_registry
    from core.io import check_writable, load_image, load_mask, merge_result, save_image, to_float
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
    result = run_engine(to_float(img), hole, settings, quiet)
    print(save_image(out, merge_result(img, result.image, hole)))
    return EXIT_OK


def run_inpaint(args: argparse.Namespace) -> int:
    return inpaint(args.image, args.mask, args.out, EngineSettings.from_args(args), args.quiet)


def engines() -> int:
    """Print every registered engine with what its capabilities declare."""
    from core.engines.registry import default_registry

    for entry in default_registry().entries():
        c = entry.capabilities
        flags = []
        if c.trains_per_image:
            flags.append("trains on the image")
        if c.needs_weights:
            flags.append("pretrained weights")
        if c.instant:
            flags.append("instant")
        if c.samplers:
            flags.append("samplers " + "/".join(c.samplers) + f" (default {c.default_sampler})")
        if c.presets:
            flags.append("presets " + "/".join(c.presets))
        if c.supports_seed:
            flags.append("seed")
        if c.supports_variants:
            flags.append("variants")
        if c.harmonizes_seams:
            flags.append("seam harmonisation")
        if c.recipes:
            flags.append("recipes " + "/".join(c.recipes))
        flags.append("channels " + ("any" if c.max_channels is None else f"<= {c.max_channels}"))
        flags.append("devices " + "/".join(c.devices))
        print(f"{entry.name:10s} {c.title}\n{'':10s} {'; '.join(flags)}")
    return EXIT_OK


def run_engines(_args: argparse.Namespace) -> int:
    return engines()
