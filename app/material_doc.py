"""Material mode's document: a whole map set with one shared mask, and the engine adapter that repairs it.

``MaterialDocument`` is a ``Document`` whose ``image`` is the map being looked at; switching maps keeps the
mask and the undo history, which therefore cover every map: a repair is one step holding a diff per map.
``MaterialEngine`` wraps ``core.material.inpaint_material`` in the engine interface the worker drives (with the
reference map sets of the engine panel), and turns its per-map previews into previews of the map on screen.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Iterator, Sequence

import numpy as np

from app.document import Document
from app.history import MASK, Originals, Patch, Rect, Step
from core.engines.base import Capabilities, InpaintRequest, Preview
from core.io import ImageData
from core.material import KIND_TITLES, MapSet, MaterialPreview, inpaint_material

_tokens = itertools.count(10**9)


class MaterialDocument(Document):
    def __init__(self, mapset: MapSet, mask: np.ndarray | None = None) -> None:
        self.mapset = mapset
        self.current = 0
        super().__init__(mapset.maps[0].image, mask)
        # every map's opened pixels, kept where a repair changed them (the compare views and the lit preview)
        self.map_originals = [self.originals] + [Originals() for _ in mapset.maps[1:]]

    @property
    def path(self):
        return self.mapset.folder

    def map_titles(self) -> list[str]:
        return [f"{KIND_TITLES.get(m.kind, m.kind)} · {m.name}" for m in self.mapset.maps]

    def total_channels(self) -> int:
        return sum(m.image.channels for m in self.mapset.maps)

    def original_mapset(self) -> MapSet:
        """The maps as they were opened: a map no repair has touched shares its pixels, a repaired one is a copy
        with its opened pixels put back (the maps' other fields are shared)."""
        maps = [m if not kept.patches else
                replace(m, image=ImageData(kept.whole(m.image.pixels), m.image.path, m.image.float_lo,
                                           m.image.float_hi))
                for m, kept in zip(self.mapset.maps, self.map_originals)]
        return MapSet(maps, self.mapset.folder)

    def differs_from_original(self) -> bool:
        """Whether any map's pixels differ from the opened ones (a repair applied and not undone)."""
        return any(kept.differs(m.image.pixels) for m, kept in zip(self.mapset.maps, self.map_originals))

    def show_map(self, index: int) -> None:
        """Look at another map: same mask, same history; the canvas must be told (set_document)."""
        self.current = index
        self.image = self.mapset.maps[index].image
        self.originals = self.map_originals[index]

    def apply_maps(self, repaired: MapSet, rect: Rect, label: str) -> Step:
        """Write every repaired map's ``rect`` and clear the mask there, as one undo step."""
        ys, xs = slice(rect[0], rect[2]), slice(rect[1], rect[3])
        patches: dict[int, Patch] = {}
        for i, (m, new) in enumerate(zip(self.mapset.maps, repaired.maps)):
            self.map_originals[i].keep(m.image.pixels, rect)
            target = m.image.pixels[ys, xs]
            patches[i] = Patch.capture(rect, target, new.image.pixels[ys, xs])
            target[...] = new.image.pixels[ys, xs]
        old_mask = self.mask[ys, xs].copy()
        step = Step(label, mask=Patch.capture(rect, old_mask, np.zeros_like(old_mask)),
                    image_token_before=self._token, image_token_after=next(_tokens), extra={"maps": patches})
        self._write_layer(MASK, rect, np.zeros_like(old_mask))
        self._push(step)
        self._set_token(step.image_token_after)
        self.image_changed.emit(rect)
        self.mask_changed.emit(rect)
        return step

    def _apply(self, step: Step, which: str) -> None:
        maps = step.extra.get("maps")
        if maps:
            for i, patch in maps.items():
                patch.write(self.mapset.maps[i].image.pixels, which)
            self._set_token(step.image_token_before if which == "old" else step.image_token_after)
            self.image_changed.emit(next(iter(maps.values())).rect)
        super()._apply(step, which)


class MaterialEngine:
    """An engine-shaped adapter: ``run(request)`` repairs the whole map set with the chosen engine, learning from
    (or copying) ``references``, other map sets stacked like this one by the core. The request's options (the
    own share among them) reach every run as they are."""

    name = "material"

    def __init__(self, doc: MaterialDocument, engine: str, separate: bool, registry,
                 references: Sequence[MapSet] = ()) -> None:
        self.doc = doc
        self.engine = engine
        self.separate = separate
        self.registry = registry
        self.references = list(references)
        self.capabilities = Capabilities(title="Material", description="joint map-set repair")

    def run(self, request: InpaintRequest) -> Iterator[object]:
        fields = dict(seed=request.seed, preset=request.preset, sampler=request.sampler, steps=request.steps,
                      train_steps=request.train_steps, device=request.device, options=request.options,
                      cancel=request.cancel)
        for ev in inpaint_material(self.doc.mapset, request.mask, self.engine, self.separate, self.registry,
                                   references=self.references, **fields):
            if isinstance(ev, MaterialPreview):
                shown = self.doc.current  # read each time: the user may switch maps while it runs
                if shown in ev.maps:
                    yield Preview(ev.maps[shown], ev.box, ev.stage, ev.step, ev.total)
            else:
                yield ev  # Progress, Loss, MaterialResult
