"""Running an engine on the open image without a whole-image float copy.

The window's request carries the document's native pixels (no copy, ``request.image`` is
``doc.image.pixels``) and the whole mask. ``ImageEngine`` wraps the registry's engine; its ``run`` works on the
worker thread, before the engine's first step:

- it asks the engine which part of the image a run reads (``RegionEngine.reads``: the hole's box and its
  context) and converts only that part to float32, cropping the mask and a sampling area to it -- the same
  request the command line's ``core.cli_common.run_on_image`` makes, so the same fill;
- an engine that reads the whole image (``reads`` is None, or has none) gets one whole float copy, filled in
  bands of rows so that the conversion needs no second one;
- whether the image is gray (core.engines.gray) is decided on every known pixel of the whole image, band by
  band, and handed to the engine (``request.gray``), so it never copies the known pixels itself; an engine
  handed a part gets the whole image's float rows band by band too (``request.whole_rows``: the internal
  engine's model-cache fingerprint);
- the boxes of its previews and results are moved back to the image's coordinates.

Everything it reads of the document is read at the start (``whole_rows`` reads the pixels when the engine asks:
the internal engine does as it plans, before its first event), so the window may apply a first result while the
engine still makes other variants.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import numpy as np

from core.engines.base import Engine, InpaintRequest, Preview, Result
from core.engines.gray import is_gray_in_rows
from core.io import ImageData, probing_bands, row_bands, to_float
from core.masks import Box

BAND_ROWS = 64  # rows converted at a time: the temporaries of a band of an 8192 px wide RGBA image are 8 MB


def whole_float(img: ImageData) -> np.ndarray:
    """``core.io.to_float`` of the whole image (the same values), built band by band into one array."""
    out = np.empty((img.height, img.width, img.channels), np.float32)
    for y0, y1 in row_bands(img.height, BAND_ROWS):
        out[y0:y1] = to_float(img, Box(y0, 0, y1, img.width)).reshape(y1 - y0, img.width, img.channels)
    return out


def gray_in_bands(img: ImageData, mask: np.ndarray, converted: np.ndarray | None = None) -> bool:
    """core.engines.gray's decision on the whole image, from bands of rows (of ``converted``, the whole image
    as float when there is one, else converted band by band)."""
    def bands():
        for y0, y1 in probing_bands(img.height, BAND_ROWS):
            rows = converted[y0:y1] if converted is not None else to_float(img, Box(y0, 0, y1, img.width))
            yield rows, mask[y0:y1]
    return is_gray_in_rows(bands())


def _moved(box: Box, dy: int, dx: int) -> Box:
    return Box(box.y0 + dy, box.x0 + dx, box.y1 + dy, box.x1 + dx)


class ImageEngine:
    """An engine-shaped adapter: ``engine`` run on the part of ``image`` it reads (see the module docstring)."""

    def __init__(self, engine: Engine, image: ImageData) -> None:
        self.engine = engine
        self.image = image
        self.name = engine.name
        self.capabilities = engine.capabilities
        self.read_box: Box | None = None  # of the last run: the part converted (None: the whole image)

    def __getattr__(self, attr: str):  # the wrapped engine's own attributes stay reachable
        return getattr(self.engine, attr)

    def engine_request(self, request: InpaintRequest) -> tuple[InpaintRequest, Box | None]:
        """The request the engine gets -- float32 pixels of the part it reads -- and that part (None: all)."""
        img = self.image
        mask = np.asarray(request.mask, bool)
        options = dict(request.options)
        reads = getattr(self.engine, "reads", None)
        box = reads(mask, options) if reads is not None else None
        if box is not None and (box.height, box.width) == mask.shape:
            box = None
        gray = request.gray
        if box is None:
            image = whole_float(img)
            if gray is None and img.channels in (3, 4):
                gray = gray_in_bands(img, mask, image)
            return replace(request, image=image, mask=mask, options=options, gray=gray), None
        if gray is None and img.channels in (3, 4):
            gray = gray_in_bands(img, mask)
        source = options.get("source")
        if isinstance(source, np.ndarray) and source.shape[:2] == mask.shape:
            options["source"] = source[box.slices()]
        image = to_float(img, box).reshape(box.height, box.width, img.channels)

        def whole_rows():  # what the engine computes on all of the image (its model cache's fingerprint)
            return (to_float(img, Box(y0, 0, y1, img.width)) for y0, y1 in row_bands(img.height))

        return replace(request, image=image, mask=mask[box.slices()], options=options, gray=gray,
                       whole_rows=whole_rows), box

    def run(self, request: InpaintRequest) -> Iterator[object]:
        inner, box = self.engine_request(request)
        self.read_box = box
        events = self.engine.run(inner)
        try:
            if box is None:
                for ev in events:
                    yield replace(ev, base=None) if isinstance(ev, Result) else ev
                return
            for ev in events:
                if isinstance(ev, Preview):
                    ev = replace(ev, box=_moved(ev.box, box.y0, box.x0))
                elif isinstance(ev, Result):
                    info = ev.info
                    if "region" in info:
                        y0, x0, y1, x1 = info["region"]
                        info = {**info, "region": (y0 + box.y0, x0 + box.x0, y1 + box.y0, x1 + box.x0)}
                    ev = replace(ev, box=_moved(ev.box, box.y0, box.x0), info=info, base=None)
                yield ev
        finally:
            events.close()
