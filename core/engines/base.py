"""The one engine interface: a request in, a stream of events out.

``engine.run(request)`` is a generator. It yields ``Progress``, ``Loss`` and ``Preview`` events while it
works and a ``Result`` per variant at the end. Whoever drives it (the CLI, the GUI's worker thread, a
test) stops the work by closing the generator or by setting ``request.cancel``; engines check at
every training step and every sampling step, so either takes effect within one step.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator, Protocol, Union

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
    options: dict = field(default_factory=dict)  # engine-specific extras (see each engine's docstring)
    cancel: threading.Event = field(default_factory=threading.Event)

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
    image: np.ndarray  # float32 H x W x C, the whole image; known pixels equal the request's
    variant: int = 0
    info: dict = field(default_factory=dict)


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


def whole_option(options: dict, name: str, default: int, lo: int, hi: int) -> int:
    """``options[name]`` (or ``default``) as an int in [lo, hi], else one UserError naming the option.
    Booleans, fractions and strings are refused rather than coerced."""
    from core.errors import UserError

    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not lo <= value <= hi:
        raise UserError(f"option {name} must be a whole number from {lo} to {hi} (got {value!r})")
    return int(value)


def sampling_events(steps: Iterator, request: InpaintRequest, to_region: Callable[[object], np.ndarray],
                    box: Box) -> Generator[Event, None, object]:
    """Progress and a Preview (of variant 0) for every step a sampler yields; stops within one step.

    ``steps`` is a sampler's step generator (each step has ``i``, ``total`` and the ``denoised`` batch);
    ``to_region`` turns one denoised sample into the region's pixels. Returns the last ``denoised`` batch
    (``final = yield from sampling_events(...)``). The sampler is closed however this ends.
    """
    from core.errors import Cancelled

    final = None
    try:
        for st in steps:
            if request.cancelled():
                raise Cancelled()
            final = st.denoised
            yield Progress("sample", st.i + 1, st.total, f"step {st.i + 1}/{st.total}")
            yield Preview(to_region(st.denoised[0]), box, "sample", st.i + 1, st.total)
    finally:
        steps.close()
    return final


def last_result(events: Iterator[Event]) -> Result:
    """Drain an event stream and return its last Result (for callers that want no progress)."""
    result = None
    for ev in events:
        if isinstance(ev, Result):
            result = ev
    if result is None:
        raise RuntimeError("engine finished without a result")
    return result


def refine_events(x, known, hole, taus: list[float], request: InpaintRequest,
                  to_region: Callable[[object], np.ndarray] | None = None,
                  box: Box | None = None) -> Generator[Event, None, object]:
    """The nonlocal low-rank refinement of scattered holes (``core.nonlocal_lowrank``), one round per
    threshold in ``taus``: a Progress per round (stage "refine") and a Preview of variant 0 when
    ``to_region`` is given; stops between rounds when cancelled. ``x``, ``known``: (B, C, H, W) tensors,
    ``hole`` (B or 1, 1, H, W), 1 = fill. Returns the refined batch (``x = yield from refine_events(...)``)."""
    import torch

    from core.errors import Cancelled
    from core.nonlocal_lowrank import nonlocal_complete

    n = len(taus)
    with torch.inference_mode():
        for r, tau in enumerate(taus):
            if request.cancelled():
                raise Cancelled()
            yield Progress("refine", r, n, f"low-rank refinement {r + 1}/{n}")
            x = nonlocal_complete(x, known, hole, [tau])
            if to_region is not None and box is not None:
                yield Preview(to_region(x[0]), box, "refine", r + 1, n)
    yield Progress("refine", n, n, "low-rank refinement done")
    return x
