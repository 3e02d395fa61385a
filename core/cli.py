"""The headless command line: argument parsing and the subcommands of DESIGN.md's CLI contract.

Bad input -> exit 2 with one ``error:`` line on stderr and nothing written. Progress goes to stderr;
on success the only thing printed on stdout is the output path.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from core.errors import Cancelled, UserError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# Subcommands added by other modules: name -> (add_arguments(parser), run(args) -> int)
EXTRA_COMMANDS: dict[str, tuple[Callable, Callable]] = {}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        raise UserError(message)


def _add_engine_args(p: argparse.ArgumentParser, default_engine: str = "internal") -> None:
    p.add_argument("--engine", default=default_engine, help="engine name (see `engines`)")
    p.add_argument("--sampler", default=None, help="sampler for diffusion engines: ddpm | ddim | ddrm")
    p.add_argument("--preset", default="balanced", choices=["fast", "balanced", "best"])
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the preset's)")
    p.add_argument("--train-steps", type=int, default=None, help="training steps (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--no-cache", action="store_true", help="do not reuse or store a model trained for this image")
    p.add_argument("--weights", default=None,
                   help="weights file for a pretrained engine (esdiff, grig); default: the shipped one")
    p.add_argument("--seam", default=None, choices=["final", "steps", "off"],
                   help="match the fill's colours to the hole's surroundings (engines that do: internal): "
                        "on the result (final, their default), at every sampling step, or off")
    p.add_argument("--recipe", default=None, choices=["auto", "patch", "noise"],
                   help="internal engine: start from a content-aware fill and repair it (patch), or sample from "
                        "pure noise (noise, the paper's); auto (default) picks by the hole")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="main.py", description="Reweave: inpainting that learns from the image itself")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("inpaint", help="fill the white part of MASK in IMAGE")
    p.add_argument("image")
    p.add_argument("--mask", required=True)
    p.add_argument("--out", required=True)
    _add_engine_args(p)
    sub.add_parser("engines", help="list engines and their capabilities")
    for name, (add_args, _run) in EXTRA_COMMANDS.items():
        add_args(sub.add_parser(name))
    return parser


def _load_extra_commands() -> None:
    for mod_name in ("core.material_cli", "core.fewshot_cli"):
        try:
            mod = __import__(mod_name, fromlist=["COMMANDS"])
        except ModuleNotFoundError as exc:
            if exc.name != mod_name:
                raise
            continue
        EXTRA_COMMANDS.update(mod.COMMANDS)


class ProgressBar:
    """Progress events as a tqdm bar on stderr, one bar per stage (nothing when quiet)."""

    def __init__(self, label: str = "", quiet: bool = False, leave: bool = False) -> None:
        self.label, self.quiet, self.leave = label, quiet, leave
        self._bar, self._stage = None, None

    def show(self, ev) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if ev.stage != self._stage or self._bar is None:
            self.close()
            self._stage = ev.stage
            self._bar = tqdm(total=max(ev.total, 1), desc=f"{self.label}{ev.stage}", file=sys.stderr,
                             leave=self.leave, dynamic_ncols=True)
        self._bar.total = max(ev.total, 1)
        self._bar.n = ev.step
        if ev.message:
            self._bar.set_postfix_str(ev.message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def engine_options(args: argparse.Namespace) -> dict:
    options: dict = {"cache": not args.no_cache}
    if getattr(args, "weights", None):
        options["weights"] = args.weights
    if getattr(args, "seam", None):
        options["seam"] = args.seam
    if getattr(args, "recipe", None) and args.recipe != "auto":
        options["recipe"] = args.recipe
    return options


def check_engine_args(engine_name: str, args: argparse.Namespace) -> None:
    """Engine-specific arguments, checked before any work: a pretrained engine's weights (missing or
    damaged -> UserError), a weights file or --seam for an engine that takes none."""
    from core.engines.registry import default_registry

    registry = default_registry()
    caps = registry.capabilities(engine_name)
    if caps.needs_weights:
        from core.fewshot.common import load_weights

        load_weights(args.weights, engine_name)
    elif getattr(args, "weights", None):
        raise UserError(f"engine '{engine_name}' takes no weights file (it learns from the image)")
    if getattr(args, "seam", None) and not caps.harmonizes_seams:
        able = ", ".join(n for n in registry.names() if registry.capabilities(n).harmonizes_seams)
        raise UserError(f"engine '{engine_name}' does no seam harmonisation (--seam is for: {able})")
    if getattr(args, "recipe", None) not in (None, "auto") and args.recipe not in caps.recipes:
        able = ", ".join(n for n in registry.names() if args.recipe in registry.capabilities(n).recipes)
        raise UserError(f"engine '{engine_name}' has no recipe '{args.recipe}' (--recipe is for: {able or 'none'})")


def run_engine_cli(engine_name: str, image, mask, args, label: str = "", options: dict | None = None) -> "object":
    """Run a registered engine on float image + bool mask with a progress bar; returns the last Result.
    ``options``: engine options the caller implies (the command line's own win)."""
    from core.engines.base import InpaintRequest, Progress, Result
    from core.engines.registry import default_registry

    engine = default_registry().get(engine_name)
    request = InpaintRequest(image=image, mask=mask, seed=args.seed, preset=args.preset, sampler=args.sampler,
                             steps=args.steps, train_steps=args.train_steps, device=args.device,
                             options={**(options or {}), **engine_options(args)})
    bar, result = ProgressBar(label, args.quiet), None
    try:
        for ev in engine.run(request):
            if isinstance(ev, Progress):
                bar.show(ev)
            elif isinstance(ev, Result):
                result = ev
    finally:
        bar.close()
    if result is None:
        raise RuntimeError("engine finished without a result")
    return result


def cmd_inpaint(args: argparse.Namespace) -> int:
    from core.engines.registry import default_registry
    from core.io import check_writable, load_image, load_mask, merge_result, save_image, to_float
    from core.masks import validate_mask

    from core import runtime

    registry = default_registry()
    caps = registry.capabilities(args.engine)  # unknown engine -> UserError before any work
    runtime.resolve_device(args.device)  # a device this machine lacks -> UserError, whatever the engine
    img = load_image(args.image)
    check_writable(args.out, img)  # before the work, so a bad path costs nothing
    mask = validate_mask(load_mask(args.mask, (img.height, img.width)), (img.height, img.width))
    check_engine_args(args.engine, args)
    if caps.max_channels is not None and img.channels > caps.max_channels:
        raise UserError(f"engine '{args.engine}' takes at most {caps.max_channels} channels; "
                        f"{args.image} has {img.channels}")
    result = run_engine_cli(args.engine, to_float(img), mask, args)
    out = save_image(args.out, merge_result(img, result.image, mask))
    print(out)
    return EXIT_OK


def cmd_engines(_args: argparse.Namespace) -> int:
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


def main(argv: list[str]) -> int:
    try:
        _load_extra_commands()
        args = build_parser().parse_args(argv)
        if args.command == "inpaint":
            return cmd_inpaint(args)
        if args.command == "engines":
            return cmd_engines(args)
        return EXTRA_COMMANDS[args.command][1](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (Cancelled, KeyboardInterrupt):
        print("error: cancelled; nothing written", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller image or hole, or the 'fast' preset", file=sys.stderr)
        return EXIT_FAIL
