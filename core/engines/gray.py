"""Gray stays gray: an image whose colour channels are equal gets an exactly gray fill from every engine.

A model run on three equal channels can still put a tint into the hole (a green speck, a pink square) that any
artist sees at once on a gray plate. So when the known pixels of the first three channels agree within 1/255,
the engine is run on one gray channel (their mean, plus any further channels such as alpha) and its output --
previews and results -- is repeated back to three. Known pixels of the result are the request's own, exactly.

An image that is only nearly gray (a toned print, a scan with a faint cast: every known pixel's channels within
NEAR_GRAY of each other) keeps its colour but gets none that its known pixels do not have: each filled pixel's
chroma (its channels minus their mean) is pulled towards the known pixels' mean chroma just far enough to lie within
their range, channel by channel, its brightness kept (``limit_chroma``).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Iterator

import numpy as np

from core.engines.base import Engine, Event, InpaintRequest, Preview, Result

GRAY_TOLERANCE = 1.0 / 255.0
NEAR_GRAY = 0.1  # the largest channel spread of a known pixel for which an image counts as nearly gray
CHANNEL_OPTIONS = ("seam_channels", "seam_trimmed")  # options that name channels by index


GRAY_ROWS = 256  # rows ``is_gray`` looks at a time: the known pixels it gathers are a band's, not the image's


def is_gray(image: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the image has three or more channels whose first three agree on every known pixel."""
    h = np.shape(image)[0]
    return is_gray_in_rows((image[y:y + GRAY_ROWS], mask[y:y + GRAY_ROWS]) for y in range(0, h, GRAY_ROWS))


def is_gray_in_rows(rows: Iterable[tuple[np.ndarray, np.ndarray]]) -> bool:
    """``is_gray`` of an image given as bands of rows, (image rows, mask rows) each: what a caller that never
    holds the whole image as floats asks (the CLI, core.io.float_bands)."""
    seen = False
    for image, mask in rows:
        if image.ndim != 3 or image.shape[2] < 3:
            return False
        known = ~np.asarray(mask, bool)
        if known.any():
            r, g, b = image[:, :, 0], image[:, :, 1], image[:, :, 2]
            spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # np.ptp's, per pixel
            if float(spread[known].max()) > GRAY_TOLERANCE:
                return False
            seen = True
    return seen


def chroma_range(image: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(lowest, mean, highest) chroma of the known pixels, per channel of the first three, when the image is nearly
    gray (every known pixel's channels within NEAR_GRAY of each other); None when it is not, or nothing is known."""
    if image.ndim != 3 or image.shape[2] < 3:
        return None
    lo, hi, total, count = np.full(3, np.inf), np.full(3, -np.inf), np.zeros(3), 0
    for y in range(0, image.shape[0], GRAY_ROWS):  # a band at a time: a large image is not copied whole
        rgb = np.asarray(image[y:y + GRAY_ROWS, :, :3], np.float32)[known[y:y + GRAY_ROWS]]
        if not len(rgb):
            continue
        if float((rgb.max(axis=1) - rgb.min(axis=1)).max()) > NEAR_GRAY:
            return None
        chroma = rgb - rgb.mean(axis=1, keepdims=True)
        lo, hi = np.minimum(lo, chroma.min(axis=0)), np.maximum(hi, chroma.max(axis=0))
        total, count = total + chroma.sum(axis=0, dtype=np.float64), count + len(chroma)
    if not count:
        return None
    return lo.astype(np.float32), (total / count).astype(np.float32), hi.astype(np.float32)


def limit_chroma(pixels: np.ndarray, lo: np.ndarray, centre: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """N x C pixels (C >= 3) whose chroma is pulled towards ``centre`` just far enough to lie within [lo, hi] in
    each of the first three channels; brightness (the three channels' mean) and further channels are kept."""
    rgb = pixels[:, :3].astype(np.float32)
    mean = rgb.mean(axis=1, keepdims=True)
    off = rgb - mean - centre
    room = np.where(off > 0, hi - centre, lo - centre)  # how far each channel may go, on its side of the centre
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(off) > 1e-9, room / off, 1.0)
    scale = np.clip(ratio.min(axis=1, keepdims=True), 0.0, 1.0)
    out = np.array(pixels, np.float32)
    out[:, :3] = np.clip(mean + centre + scale * off, 0.0, 1.0)
    return out


def _near_gray_results(events: Iterator[Event], image: np.ndarray, mask: np.ndarray) -> Iterator[Event]:
    """``events`` with each Result's hole limited to the chroma its known pixels have (see the module docstring)."""
    span = chroma_range(image, ~mask)
    try:
        for ev in events:
            if span is not None and isinstance(ev, Result):
                region = np.array(ev.region, np.float32)
                hole = mask[ev.box.slices()].astype(bool)
                region[hole] = limit_chroma(region[hole], *span)
                ev = replace(ev, region=region, info={**ev.info, "near_gray": True})
            yield ev
    finally:
        events.close()


def _to_gray(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[:, :, :3].mean(axis=2, keepdims=True), image[:, :, 3:]], axis=2)


def _to_colour(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([np.repeat(gray[:, :, :1], 3, axis=2), gray[:, :, 1:]], axis=2)


class GrayAware:
    """Wraps an engine: same name and capabilities, gray images run as gray (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.capabilities = engine.capabilities

    def __getattr__(self, attr: str):  # the wrapped engine's own attributes (caches, schedules) stay reachable
        return getattr(self.engine, attr)

    def run(self, request: InpaintRequest) -> Iterator[Event]:
        image = np.asarray(request.image)
        mask = np.asarray(request.mask)
        # Images only: RGB or RGBA. A material stack's channels are planned by material mode itself (a gray map
        # counts once there), and its options name channels by index, which one gray channel would shift.
        by_index = any(k in request.options for k in CHANNEL_OPTIONS)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or mask.shape != image.shape[:2] or by_index:
            yield from self.engine.run(request)
            return
        if not (request.gray if request.gray is not None else is_gray(image, mask)):
            yield from _near_gray_results(self.engine.run(request), image, mask.astype(bool))
            return
        options = request.options
        if options.get("references"):  # references are learnt from as the image is: gray too
            options = {**options, "references": [_to_gray(np.asarray(r, np.float32)) if np.ndim(r) == 3 and
                                                 np.shape(r)[2] in (3, 4) else r for r in options["references"]]}
        whole_rows = request.whole_rows
        if whole_rows is not None:  # the whole image's rows as the engine now sees them: gray too
            def gray_rows(rows=whole_rows):
                return (_to_gray(np.asarray(r, np.float32)) for r in rows())
            whole_rows = gray_rows
        events = self.engine.run(replace(request, image=_to_gray(np.asarray(image, np.float32)), options=options,
                                         whole_rows=whole_rows))
        try:
            for ev in events:
                if isinstance(ev, Preview):
                    ev = replace(ev, image=_to_colour(ev.image))
                elif isinstance(ev, Result):
                    region = _to_colour(ev.region)
                    keep = ~mask[ev.box.slices()].astype(bool)
                    region[keep] = image[ev.box.slices()][keep]  # the request's known pixels, exactly
                    ev = replace(ev, region=region.astype(np.float32, copy=False), base=image,
                                 info={**ev.info, "gray": True})
                yield ev
        finally:
            events.close()
