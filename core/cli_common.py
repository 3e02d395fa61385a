"""What the subcommands share: exit codes, the engine flags and the settings they stand for, a progress
bar on stderr, and running a registered engine on one image.

The functions here take plain values (``EngineSettings``, a frozen dataclass), not argparse's namespace:
only the command modules' ``run(args)`` read parsed flags, and they turn them into these values first.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from core.errors import UserError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class EngineSettings:
    """Which engine runs and how: the values of the flags ``add_engine_args`` declares."""

    engine: str = "internal"
    sampler: str | None = None
    preset: str = "balanced"
    steps: int | None = None
    train_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    cache: bool = True  # reuse or store a model trained for this image
    weights: str | None = None
    seam: str | None = None
    recipe: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EngineSettings:
        return cls(engine=args.engine, sampler=args.sampler, preset=args.preset, steps=args.steps,
                   train_steps=args.train_steps, seed=args.seed, device=args.device, cache=not args.no_cache,
                   weights=args.weights, seam=args.seam, recipe=args.recipe)


def add_engine_args(p: argparse.ArgumentParser, default_engine: str = "internal") -> None:
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


def engine_options(settings: EngineSettings) -> dict:
    options: dict = {"cache": settings.cache}
    if settings.weights:
        options["weights"] = settings.weights
    if settings.seam:
        options["seam"] = settings.seam
    if settings.recipe and settings.recipe != "auto":
        options["recipe"] = settings.recipe
    return options


def check_engine_settings(settings: EngineSettings) -> None:
    """Engine-specific settings, checked before any work: a pretrained engine's weights (missing or
    damaged -> UserError), a weights file or a seam mode for an engine that takes none, a recipe it lacks."""
    from core.engines.registry import default_registry

    name = settings.engine
    registry = default_registry()
    caps = registry.capabilities(name)
    if caps.needs_weights:
        from core.fewshot.common import load_weights

        load_weights(settings.weights, name)
    elif settings.weights:
        raise UserError(f"engine '{name}' takes no weights file (it learns from the image)")
    if settings.seam and not caps.harmonizes_seams:
        able = ", ".join(n for n in registry.names() if registry.capabilities(n).harmonizes_seams)
        raise UserError(f"engine '{name}' does no seam harmonisation (--seam is for: {able})")
    if settings.recipe not in (None, "auto") and settings.recipe not in caps.recipes:
        able = ", ".join(n for n in registry.names() if settings.recipe in registry.capabilities(n).recipes)
        raise UserError(f"engine '{name}' has no recipe '{settings.recipe}' (--recipe is for: {able or 'none'})")


def run_engine(image, mask, settings: EngineSettings, quiet: bool = False, label: str = "",
               options: dict | None = None, gray: bool | None = None, whole_rows=None) -> object:
    """Run the registered engine on float image + bool mask with a progress bar; returns the last Result.
    ``options``: engine options the caller implies (the settings' own win); ``gray``, ``whole_rows``: the
    InpaintRequest fields, for an image that is a crop."""
    from core.engines.base import InpaintRequest, Progress, Result
    from core.engines.registry import default_registry

    engine = default_registry().get(settings.engine)
    request = InpaintRequest(image=image, mask=mask, seed=settings.seed, preset=settings.preset,
                             sampler=settings.sampler, steps=settings.steps, train_steps=settings.train_steps,
                             device=settings.device, options={**(options or {}), **engine_options(settings)},
                             gray=gray, whole_rows=whole_rows)
    bar, result = ProgressBar(label, quiet), None
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


def run_on_image(img, mask, settings: EngineSettings, quiet: bool = False, label: str = "",
                 options: dict | None = None):
    """``run_engine`` on a loaded image (core.io.ImageData) with no more float data than the engine reads: when
    it reads only a box of the image (RegionEngine.reads), only that box is converted and handed over, with its
    part of the mask and of a sampling area. The Result's box is in the image's coordinates; it holds no base
    image (merge it with core.io.merge_into)."""
    from dataclasses import replace

    import numpy as np

    from core.engines.gray import is_gray_in_rows
    from core.engines.registry import default_registry
    from core.io import probing_bands, row_bands, to_float
    from core.masks import Box

    options = dict(options or {})
    engine = default_registry().get(settings.engine)
    reads = getattr(engine, "reads", None)
    box = reads(mask, {**options, **engine_options(settings)}) if reads is not None else None
    if box is None or (box.height, box.width) == mask.shape:
        return replace(run_engine(to_float(img), mask, settings, quiet, label, options), base=None)
    def whole_rows():  # the whole image's float rows, a band at a time (InpaintRequest.whole_rows)
        return (to_float(img, Box(y0, 0, y1, img.width)) for y0, y1 in row_bands(img.height))

    gray = None
    if img.channels in (3, 4):  # core.engines.gray decides on every known pixel, not the box's
        bands = probing_bands(img.height)
        gray = is_gray_in_rows((to_float(img, Box(y0, 0, y1, img.width)), mask[y0:y1]) for y0, y1 in bands)
    source = options.get("source")
    if isinstance(source, np.ndarray) and source.shape[:2] == mask.shape:
        options["source"] = source[box.slices()]
    result = run_engine(to_float(img, box), mask[box.slices()], settings, quiet, label, options, gray, whole_rows)
    b = result.box
    moved = Box(b.y0 + box.y0, b.x0 + box.x0, b.y1 + box.y0, b.x1 + box.x0)
    info = {**result.info, "region": (moved.y0, moved.x0, moved.y1, moved.x1)} if "region" in result.info \
        else result.info
    return replace(result, box=moved, info=info, base=None)
