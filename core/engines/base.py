"""The one engine interface: a request in, a stream of events out.

``engine.run(request)`` is a generator. It yields ``Progress``, ``Loss`` and ``Preview`` events while it
works and a ``Result`` per variant at the end. Previews and results carry the region the engine worked on
and its box, never a copy of the whole image (core.engines.region does that for every engine). Whoever
drives it (the CLI, the GUI's worker thread, a test) stops the work by closing the generator or by setting
``request.cancel``; engines check at every training step and every sampling step, so either takes effect
within one step.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable, Iterator, Protocol, TypeVar, Union

import numpy as np

from core.masks import Box

PRESETS = ("fast", "balanced", "best")


@dataclass
class InpaintRequest:
    image: np.ndarray  # float32 H x W x C in [0, 1]
    mask: np.ndarray  # bool H x W, True = fill
    seed: int = 0
    preset: str = "balanced"
    sampler: str | None = None  # None = the engine's default
    steps: int | None = None  # sampling steps; None = the preset's
    train_steps: int | None = None  # training steps; None = the preset's
    device: str = "auto"
    variants: int = 1
    options: dict = field(default_factory=dict)  # engine-specific extras: each engine's options class
    cancel: threading.Event = field(default_factory=threading.Event)
    # whether the first three channels agree on every known pixel of the whole image (core.engines.gray); None =
    # decide from ``image``. A caller that hands the engine only the part of the image it reads decides on all.
    gray: bool | None = None
    # ``image`` is only the part of the image the engine reads (RegionEngine.reads): this gives the whole image's
    # float32 rows, band by band from the top (each ``image``'s width and channels), for what an engine computes on
    # all of it without holding it (the internal engine's model-cache fingerprint). None = ``image`` is all of it.
    whole_rows: Callable[[], Iterable[np.ndarray]] | None = field(default=None, repr=False, compare=False)

    def cancelled(self) -> bool:
        return self.cancel.is_set()


@dataclass
class Progress:
    stage: str  # "prepare" | "train" | "sample" | ...
    step: int
    total: int
    message: str = ""


@dataclass
class Loss:
    step: int
    value: float


@dataclass
class Preview:
    """The current estimate of the region ``box`` (known pixels already composited in)."""

    image: np.ndarray  # float32 h x w x C, the region only
    box: Box
    stage: str
    step: int
    total: int
    variant: int = 0


@dataclass
class Result:
    """One filled variant: the pixels of the region ``box`` (the hole's bounding box and some context around it).
    Known pixels of the region equal the request's, bit for bit; outside ``box`` the image is the request's."""

    region: np.ndarray  # float32 h x w x C
    box: Box
    variant: int = 0
    info: dict = field(default_factory=dict)
    # the request's image (a reference, not a copy), for ``composed`` and ``image``; None = give ``base`` there
    base: np.ndarray | None = field(default=None, repr=False, compare=False)

    def crop(self, box: Box, base: np.ndarray | None = None) -> np.ndarray:
        """A new float32 array of the image's pixels in ``box``: the region's where it covers them, the base
        image's (``base``, default the request's) elsewhere."""
        b = self.box
        if b.y0 <= box.y0 and b.x0 <= box.x0 and box.y1 <= b.y1 and box.x1 <= b.x1:
            return self.region[box.y0 - b.y0:box.y1 - b.y0, box.x0 - b.x0:box.x1 - b.x0].copy()
        base = self.base if base is None else base
        if base is None:
            raise ValueError("this result holds only its region: give the base image")
        base = np.asarray(base)
        out = np.array(base[box.slices()], np.float32).reshape(box.height, box.width, -1)
        y0, x0, y1, x1 = max(b.y0, box.y0), max(b.x0, box.x0), min(b.y1, box.y1), min(b.x1, box.x1)
        if y0 < y1 and x0 < x1:
            out[y0 - box.y0:y1 - box.y0, x0 - box.x0:x1 - box.x0] = self.region[y0 - b.y0:y1 - b.y0,
                                                                                x0 - b.x0:x1 - b.x0]
        return out

    def composed(self, base: np.ndarray | None = None) -> np.ndarray:
        """The whole image with the region pasted in (a new float32 H x W x C array): for callers that want one
        (tests, benchmarks). ``base``: the image to paste into, default the request's."""
        base = self.base if base is None else base
        if base is None:
            raise ValueError("this result holds only its region: give the base image")
        h, w = np.shape(base)[:2]
        return self.crop(Box(0, 0, h, w), base)

    @property
    def image(self) -> np.ndarray:
        """``composed()``: a new whole-image array at every call."""
        return self.composed()


Event = Union[Progress, Loss, Preview, Result]


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do; panels and CLI choices are built from this, never from the class."""

    title: str
    description: str
    trains_per_image: bool = False
    needs_weights: bool = False
    retrainable: bool = False  # `train-fewshot` can train new weights for it on a folder of images
    instant: bool = False
    max_channels: int | None = None  # None = any channel count
    samplers: tuple[str, ...] = ()
    default_sampler: str | None = None
    presets: tuple[str, ...] = ()
    supports_seed: bool = False
    supports_variants: bool = False
    supports_steps: bool = False
    # options "seam" (final | steps | off), "seam_channels" and "seam_trimmed": gradient-domain seam harmonisation
    # (core.seam)
    harmonizes_seams: bool = False
    # option "recipe": where sampling starts (e.g. "patch": from a content-aware fill, "noise": from pure noise);
    # without the option the engine picks by the hole
    recipes: tuple[str, ...] = ()
    # option "source": a bool H x W sampling area, the only pixels the fill may copy or learn from
    supports_source: bool = False
    # option "references": more images (H x W x C, the image's channel count) to learn from; "own_share": the
    # open image's share of what is learnt
    supports_references: bool = False
    # option "map_groups": a stack's maps (lists of channel indices), each matched on its own by content-aware fills
    supports_map_groups: bool = False
    devices: tuple[str, ...] = ("cpu",)


class Engine(Protocol):
    name: str
    capabilities: Capabilities

    def run(self, request: InpaintRequest) -> Iterator[Event]: ...


def checked_inputs(request: InpaintRequest, engine: str, min_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The request's image as float32 H x W x C and its mask as bool H x W, or a UserError for an image
    smaller than ``min_side`` or a mask the engine cannot serve (wrong size, empty, full)."""
    from core.errors import UserError
    from core.masks import validate_mask

    image = np.asarray(request.image, np.float32)
    if image.ndim == 2:
        image = image[:, :, None]
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise UserError(f"image is {w}x{h}; the {engine} engine needs at least {min_side}x{min_side} pixels")
    return image, validate_mask(request.mask, (h, w))


@dataclass(frozen=True)
class Preset:
    """What a preset name (fast | balanced | best) stands for in one engine."""

    sampler: str  # the preset's sampler
    steps: int  # its sampling steps with that sampler
    other_steps: tuple[tuple[str, int], ...] = ()  # (sampler, steps) when the request picks another sampler
    fallback_steps: int = 50  # steps with a sampler not in ``other_steps``
    train_steps: int = 0  # engines that train per image: training steps from scratch
    warm_steps: int = 0  # ... and fine-tuning steps from a model cached for this image
    patch_candidates: int = 1  # engines that start from PatchMatch fills: the fills ranked per variant

    def steps_for(self, sampler: str) -> int:
        return self.steps if sampler == self.sampler else dict(self.other_steps).get(sampler, self.fallback_steps)


def preset_choice(table: dict[str, Preset], request: InpaintRequest, samplers, max_steps: int,
                  engine: str) -> tuple[Preset, str, int]:
    """The request's preset, sampler and sampling steps, checked: (preset, sampler name, steps)."""
    from core.errors import UserError

    if request.preset not in table:
        raise UserError(f"unknown preset '{request.preset}' (use {', '.join(PRESETS)})")
    preset = table[request.preset]
    sampler = request.sampler or preset.sampler
    if sampler not in samplers:
        raise UserError(f"unknown sampler '{sampler}' for {engine} (use {', '.join(samplers)})")
    steps = int(request.steps if request.steps is not None else preset.steps_for(sampler))
    if not 1 <= steps <= max_steps:
        raise UserError(f"steps must be between 1 and {max_steps}")
    return preset, sampler, steps


T = TypeVar("T")


def returned(steps: Generator[Any, Any, T]) -> T:
    """Run a generator to its end, dropping what it yields, and give back what it returns (a stepped computation
    such as core.engines.patchmatch.ranked_fill_steps, for a caller that shows no progress)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def last_result(events: Iterator[Event]) -> Result:
    """Drain an event stream and return its last Result (for callers that want no progress)."""
    result = None
    for ev in events:
        if isinstance(ev, Result):
            result = ev
    if result is None:
        raise RuntimeError("engine finished without a result")
    return result
