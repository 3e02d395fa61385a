"""The plumbing every engine shares, in one place: an engine implements only its model step.

``RegionEngine.run`` parses the request's options into the engine's options class (core.engines.options),
checks the image and the mask, picks the region the engine works on (the hole's bounding box grown by the
engine's margin) and hands a ``RegionJob`` to the engine's ``fill``. ``fill`` is a generator: it yields
Progress, Loss and Preview events and ``job.result(region, variant, info)`` per variant. The job converts
between the region's arrays and (padded) tensors and composes every preview and result with the request's
known pixels, so known pixels come back bit for bit and no engine copies the whole image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Generator, Iterator

import numpy as np

from core.engines.base import Capabilities, Event, InpaintRequest, Preview, Progress, Result, checked_inputs
from core.engines.options import EngineOptions, parse_options
from core.errors import Cancelled
from core.masks import Box, context_margin, grow_box, hole_bbox


def pick_region(mask: np.ndarray, margin: int | Callable[[Box], int] = context_margin, multiple: int = 1) -> Box:
    """The hole's bounding box grown by ``margin`` (px, or a function of the box), clipped to the image and
    sized to a multiple of ``multiple`` where the image allows it (core.masks.grow_box)."""
    box = hole_bbox(mask)
    return grow_box(box, margin(box) if callable(margin) else int(margin), mask.shape, multiple=multiple)


def pad_to_multiple(t, multiple: int):
    """A (..., H, W) tensor padded at the bottom and the right to multiples of ``multiple`` -- reflected, or
    replicated when it is too small to reflect -- and its size before: ``(padded, (H, W))``."""
    import torch.nn.functional as F

    h, w = t.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        t = F.pad(t, (0, pw, 0, ph), mode=mode)
    return t, (h, w)


@dataclass
class RegionJob:
    """One request's region, as an engine's ``fill`` sees it."""

    engine: str
    request: InpaintRequest
    image: np.ndarray  # float32 H x W x C: the request's whole image (a reference, not a copy)
    mask: np.ndarray  # bool H x W
    box: Box  # the region
    pad: int = 1  # ``tensor`` pads to a multiple of this
    device: object = None  # torch.device for ``tensor`` (the engine sets it); None = the CPU
    info: dict = field(default_factory=dict)  # put into every result's info

    @property
    def channels(self) -> int:
        return self.image.shape[2]

    @property
    def variants(self) -> int:
        return max(1, int(self.request.variants))

    @cached_property
    def roi(self) -> np.ndarray:
        """The region's pixels (a view of the request's image)."""
        return self.image[self.box.slices()]

    @cached_property
    def hole(self) -> np.ndarray:
        """The region's mask (True = fill)."""
        return self.mask[self.box.slices()]

    def tensor(self, a: np.ndarray, pad: bool = True):
        """An h x w x C array (the region's size) -> a float32 (1, C, H, W) tensor on the job's device, padded to a
        multiple of ``self.pad`` unless ``pad`` is False."""
        import torch

        a = np.asarray(a, np.float32)
        t = torch.from_numpy(np.ascontiguousarray((a if a.ndim == 3 else a[:, :, None]).transpose(2, 0, 1)))[None]
        if self.device is not None:
            t = t.to(self.device)
        return pad_to_multiple(t, self.pad)[0] if pad and self.pad > 1 else t

    def array(self, t) -> np.ndarray:
        """A (C, H, W) tensor, padded or not -> the region's h x w x C float32 array (padding dropped)."""
        return t[:, :self.box.height, :self.box.width].permute(1, 2, 0).float().cpu().numpy()

    def compose(self, region: np.ndarray) -> np.ndarray:
        """``region`` inside the hole, the request's pixels elsewhere: a float32 h x w x C array."""
        return np.where(self.hole[:, :, None], region, self.roi).astype(np.float32, copy=False)

    def preview(self, region: np.ndarray, stage: str, step: int, total: int, variant: int = 0) -> Preview:
        return Preview(self.compose(region), self.box, stage, step, total, variant)

    def result(self, region: np.ndarray, variant: int, info: dict | None = None) -> Result:
        b = self.box
        return Result(self.compose(region), b, variant,
                      {"engine": self.engine, **self.info, **(info or {}), "region": (b.y0, b.x0, b.y1, b.x1)},
                      base=self.image)


def sampling_events(steps: Iterator, job: RegionJob,
                    to_region: Callable[[object], np.ndarray]) -> Generator[Event, None, object]:
    """Progress and a Preview (of variant 0) for every step a sampler yields; stops within one step.

    ``steps`` is a sampler's step generator (each step has ``i``, ``total`` and the ``denoised`` batch);
    ``to_region`` turns one denoised sample into the region's pixels. Returns the last ``denoised`` batch
    (``final = yield from sampling_events(...)``). The sampler is closed however this ends.
    """
    final = None
    try:
        for st in steps:
            if job.request.cancelled():
                raise Cancelled()
            final = st.denoised
            yield Progress("sample", st.i + 1, st.total, f"step {st.i + 1}/{st.total}")
            yield job.preview(to_region(st.denoised[0]), "sample", st.i + 1, st.total)
    finally:
        steps.close()
    return final


def refine_events(x, known, hole, taus: list[float], job: RegionJob,
                  to_region: Callable[[object], np.ndarray] | None = None) -> Generator[Event, None, object]:
    """The nonlocal low-rank refinement of scattered holes (``core.nonlocal_lowrank``), one round per
    threshold in ``taus``: a Progress per round (stage "refine") and a Preview of variant 0 when
    ``to_region`` is given; stops between rounds when cancelled. ``x``, ``known``: (B, C, H, W) tensors,
    ``hole`` (B or 1, 1, H, W), 1 = fill. Returns the refined batch (``x = yield from refine_events(...)``)."""
    import torch

    from core.nonlocal_lowrank import nonlocal_complete

    n = len(taus)
    with torch.inference_mode():
        for r, tau in enumerate(taus):
            if job.request.cancelled():
                raise Cancelled()
            yield Progress("refine", r, n, f"low-rank refinement {r + 1}/{n}")
            x = nonlocal_complete(x, known, hole, [tau])
            if to_region is not None:
                yield job.preview(to_region(x[0]), "refine", r + 1, n)
    yield Progress("refine", n, n, "low-rank refinement done")
    return x


class RegionEngine:
    """The base of every engine: ``run`` is the plumbing (see the module docstring), ``fill`` the model step."""

    name: str = ""
    Options: type[EngineOptions] = EngineOptions
    min_side: int = 1  # smaller images are refused
    region_multiple: int = 1  # the region's sides are made multiples of this where the image allows
    pad: int = 1  # ``RegionJob.tensor`` pads to a multiple of this

    def __init__(self, capabilities: Capabilities) -> None:
        self.capabilities = capabilities

    def margin(self, box: Box) -> int:
        """Context kept around the hole's box."""
        return context_margin(box)

    def region(self, mask: np.ndarray, opts) -> Box:
        """The region the engine works on for ``mask`` (bool H x W, validated) and its parsed options."""
        return pick_region(mask, self.margin, self.region_multiple)

    def reads(self, mask: np.ndarray, options: dict) -> Box | None:
        """The part of the image a run reads; None = all of it. A caller may hand the engine only that part,
        cropped (with the mask and any sampling area), and get the same fill."""
        from core.masks import validate_mask

        return self.region(validate_mask(mask, mask.shape[:2]), parse_options(self.Options, options, self.name))

    def fill(self, job: RegionJob, opts) -> Iterator[Event]:
        raise NotImplementedError

    def run(self, request: InpaintRequest) -> Iterator[Event]:
        opts = parse_options(self.Options, request.options, self.name)
        image, mask = checked_inputs(request, self.name, self.min_side)
        job = RegionJob(self.name, request, image, mask, self.region(mask, opts), self.pad)
        yield from self.fill(job, opts)
