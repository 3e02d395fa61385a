"""Repair a map set: one mask, every map, with any registered engine -- jointly or map by map.

Joint (the default, Cherel et al.'s SVBRDF recipe): the modelled channels of all maps are stacked and one
engine run fills them together, so a groove in the normal map and its dark line in the base colour land in
the same place. Separate: one run per map, for comparison. Either way the event stream is the engine's
(progress, loss) plus ``MaterialPreview`` events that carry per-map previews and a final ``MaterialResult``
with the repaired ``MapSet`` (known pixels exact, normals unit length).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence, Union

import numpy as np

from core.engines.base import Loss, Preview, Progress, Result
from core.errors import UserError
from core.masks import Box, grow_box, hole_bbox, validate_mask
from core.material import normals as nm
from core.material.mapset import ChannelPlan, MapSet, merge_maps, plan_channels, stack, unstack
from core.material.references import reference_stacks


# The maps' weights in a joint fill's correspondence (map_weights): measured on the renders within this many pixels
# of the hole, and none below this share of the most visible map's. At 0.1 the foam's base colour lost its texture
# (patch SWD 0.058 -> 0.53) for no gain in the render; 0.3 kept it (docs/material.md).
WEIGHTS_MARGIN = 64
MIN_MAP_WEIGHT = 0.3


@dataclass
class MaterialPreview:
    """Current estimate of region ``box`` for the maps in ``maps`` (map index -> float h x w x C)."""

    maps: dict[int, np.ndarray]
    box: Box
    stage: str
    step: int
    total: int
    label: str = ""  # "" when joint, the map's name when separate


@dataclass
class MaterialResult:
    mapset: MapSet
    info: dict = field(default_factory=dict)


MaterialEvent = Union[Progress, Loss, MaterialPreview, MaterialResult]


def _tidy_normals(mapset: MapSet, maps: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Previews show normals as they will be saved: unit length (in the stored [0, 1] encoding)."""
    for i, vals in maps.items():
        m = mapset.maps[i]
        if m.is_normal and m.image.dtype != np.float32:
            vals = vals.copy()
            vals[:, :, :3] = nm.encode(nm.unit(nm.decode(vals)))
            maps[i] = vals
    return maps


def _split_for_map(plan: ChannelPlan, i: int) -> ChannelPlan:
    """The plan of map ``i`` alone, its model channels renumbered from 0 (for a separate run)."""
    row, k = [], 0
    for e in plan.entries[i]:
        if e[0] == "model":
            row.append(("model", k))
            k += 1
        else:
            row.append(e)
    return ChannelPlan((tuple(row),), k)


@dataclass
class MaterialJob:
    """One engine run: the stacked ``columns`` of the maps ``map_indices`` (all maps when joint)."""

    label: str  # "" when joint, the map's file name when separate
    map_indices: list[int]
    columns: list[int]
    plan: ChannelPlan  # how these columns rebuild those maps
    # float32 h x w x len(columns): the engine's input, over the repair's region (``MaterialRepair.box``) only
    image: np.ndarray | None = None
    gray: bool | None = None  # InpaintRequest.gray, decided on the whole set's columns when ``image`` is a crop
    whole_rows: Callable[[], Iterator[np.ndarray]] | None = None  # InpaintRequest.whole_rows, when a crop


def _union(boxes: list[Box]) -> Box:
    return Box(min(b.y0 for b in boxes), min(b.x0 for b in boxes), max(b.y1 for b in boxes), max(b.x1 for b in boxes))


def _shifted(box: Box, by: Box) -> Box:
    return Box(box.y0 + by.y0, box.x0 + by.x0, box.y1 + by.y0, box.x1 + by.x0)


class MaterialRepair:
    """The steps of one repair, for drivers that run the engine their own way (the CLI's progress bar).

    Construction validates everything (mask, engine, channel counts) before any work. The maps are stacked
    (float32, the modelled channels) over ``box`` only: the part of the set the engine reads (``RegionEngine.reads``,
    the union over the jobs), so a small hole in 8K maps costs a small stack. Each job's request is that crop with
    the crop's mask (``hole``) and sampling area (``job_options``); results come back in the crop's coordinates
    (``set_result``). ``options``: the engine options the runs will get beyond ``engine_options`` (they can move
    the region, e.g. a sampling area)."""

    def __init__(self, mapset: MapSet, mask: np.ndarray, engine: str = "internal", separate: bool = False,
                 registry=None, options: dict | None = None, references: Sequence[MapSet] = ()) -> None:
        from core.engines.gray import CHANNEL_OPTIONS, is_gray_in_rows
        from core.engines.registry import default_registry
        from core.io import row_bands

        self.registry = registry or default_registry()
        caps = self.registry.capabilities(engine)  # unknown engine -> UserError
        self.mapset, self.engine, self.separate = mapset, engine, separate
        self.mask = validate_mask(mask, (mapset.height, mapset.width))
        self._shown: list[float] | None = None  # each map's render weight (map_weights), computed once
        # Channels that are constant or copies on the known pixels need no model: unstack fills them.
        self.plan = plan_channels(mapset, ~self.mask)
        groups = ([("", list(range(len(mapset.maps))), self.plan)] if not separate else
                  [(m.name, [i], _split_for_map(self.plan, i)) for i, m in enumerate(mapset.maps)])
        self.jobs: list[MaterialJob] = []
        for label, idx, sub in groups:
            cols = [e[1] for j in idx for e in self.plan.entries[j] if e[0] == "model"]
            if not cols:  # nothing to model (uniform map): the plan fills it
                continue
            if caps.max_channels is not None and len(cols) > caps.max_channels:
                raise UserError(f"engine '{engine}' takes at most {caps.max_channels} channels; this material "
                                f"stacks {len(cols)} (try --separate or the internal engine)")
            self.jobs.append(MaterialJob(label, idx, cols, sub))
        self.options = dict(options or {})
        if references and not caps.supports_references:
            raise UserError(f"engine '{engine}' learns from no reference map sets")
        # Reference sets stacked like this one (core.material.references): every job gets its columns of them.
        self.reference_stacks = reference_stacks(references, mapset, self.plan)
        full = Box(0, 0, mapset.height, mapset.width)
        reads = getattr(self.registry.get(engine), "reads", None)
        boxes = [reads(self.mask, self.job_options(job, crop=False)) for job in self.jobs] if reads else []
        self.box = full if not boxes or any(b is None for b in boxes) else _union(boxes)
        self.hole = self.mask[self.box.slices()]  # the engine's mask: the region's
        # The stack is the engines' input and, as results come in, holds them: one float copy of the region. A
        # joint job takes every column, so it gets the stack itself.
        self.filled = stacked = stack(mapset, self.plan, self.box)
        cropped = self.box != full
        for job in self.jobs:
            job.image = (stacked if job.columns == list(range(stacked.shape[2])) else
                         np.ascontiguousarray(stacked[:, :, job.columns]))
            if not cropped:
                continue
            job.whole_rows = self._rows_of(job.columns)
            if len(job.columns) in (3, 4) and not any(k in self.job_options(job, crop=False) for k in CHANNEL_OPTIONS):
                # core.engines.gray decides on every known pixel of the set, not the region's
                job.gray = is_gray_in_rows(zip(job.whole_rows(), (self.mask[y0:y1] for y0, y1 in
                                                                  row_bands(mapset.height))))
        self.info: dict = {"engine": engine, "mode": "separate" if separate else "joint",
                           "channels": self.plan.n_model, "runs": []}

    def _rows_of(self, columns: list[int]) -> Callable[[], Iterator[np.ndarray]]:
        """The whole set's stacked ``columns``, a band of rows at a time (InpaintRequest.whole_rows)."""
        from core.io import row_bands

        def rows() -> Iterator[np.ndarray]:
            for y0, y1 in row_bands(self.mapset.height):
                yield stack(self.mapset, self.plan, Box(y0, 0, y1, self.mapset.width))[:, :, columns]
        return rows

    def seam_columns(self, job: MaterialJob) -> tuple[list[int], list[int]]:
        """The job's columns that seam harmonisation shifts: (with plain local means, with trimmed ones).

        Normal vectors get trimmed means (core.seam.TRIM_KEEP): with plain means a groove or crack along the
        seam tilts the whole fill, and a glossy surface then sparkles. Everything else gets plain means."""
        normal_cols = {e[1] for j in job.map_indices if self.mapset.maps[j].is_normal
                       for e in self.plan.entries[j] if e[0] == "model"}
        plain = [k for k, col in enumerate(job.columns) if col not in normal_cols]
        trimmed = [k for k, col in enumerate(job.columns) if col in normal_cols]
        return plain, trimmed

    def engine_options(self, job: MaterialJob) -> dict:
        """Engine options this map set implies for ``job``; a caller's own options take precedence."""
        caps = self.registry.capabilities(self.engine)
        # The recipe is the engine's choice, as for an image: the internal engine's patch recipe starts from a
        # PatchMatch fill that copies every map from the same source pixel, so the maps stay coherent
        # (docs/material.md has the measurements against the paper's noise recipe).
        options: dict = {}
        if caps.harmonizes_seams:
            plain, trimmed = self.seam_columns(job)
            options.update(seam_channels=plain, seam_trimmed=trimmed)
        if caps.supports_map_groups:  # each map matched on what it shows, all copied from one source pixel
            options["map_groups"] = self.map_groups(job)
            if len(options["map_groups"]) > 1:
                options["map_weights"] = self.map_weights(job)
        return options

    def _model_maps(self, job: MaterialJob) -> list[tuple[int, list[int]]]:
        """The job's maps that the engine sees, each with its columns of ``job`` (a constant map has none)."""
        where = {col: k for k, col in enumerate(job.columns)}
        out = [(j, [where[e[1]] for e in self.plan.entries[j] if e[0] == "model" and e[1] in where])
               for j in job.map_indices]
        return [(j, g) for j, g in out if g]

    def map_groups(self, job: MaterialJob) -> list[list[int]]:
        """The job's maps as lists of its columns (a map of one constant value has none and is left out)."""
        return [g for _, g in self._model_maps(job)]

    def map_weights(self, job: MaterialJob) -> list[float]:
        """How much each of ``map_groups(job)`` counts in the joint fill's one correspondence: how much the map's
        texture shows in the renders around the hole (core.material.render_weights), relative to the most visible
        map's and never below MIN_MAP_WEIGHT, so that a map the renders hardly show (a height map, a foam's faint
        base colour) still keeps its own texture."""
        from core.material.render_weights import map_render_weights

        if self._shown is None:
            near = grow_box(hole_bbox(self.mask), WEIGHTS_MARGIN, self.mask.shape)
            self._shown = map_render_weights(self.mapset, near, ~self.mask[near.slices()])
        weights = [self._shown[j] for j, _ in self._model_maps(job)]
        top = max(weights, default=0.0)
        if top <= 0:
            return [1.0] * len(weights)
        return [max(w / top, MIN_MAP_WEIGHT) for w in weights]

    def job_options(self, job: MaterialJob, extra: dict | None = None, crop: bool = True) -> dict:
        """The options of ``job``'s run: ``engine_options``, then the repair's ``options``, then ``extra``; a sampling
        area (bool, the maps' size) cut to the region unless ``crop`` is False."""
        options = {**self.engine_options(job), **self.options, **(extra or {})}
        if self.reference_stacks and "references" not in options:
            options["references"] = [np.ascontiguousarray(r[:, :, job.columns]) for r in self.reference_stacks]
        source = options.get("source")
        if crop and isinstance(source, np.ndarray) and source.shape[:2] == self.mask.shape:
            options["source"] = source[self.box.slices()]
        return options

    def preview(self, job: MaterialJob, region: np.ndarray) -> dict[int, np.ndarray]:
        sub_maps = MapSet([self.mapset.maps[j] for j in job.map_indices], self.mapset.folder)
        return _tidy_normals(self.mapset, dict(zip(job.map_indices, unstack(region, sub_maps, job.plan))))

    def image_box(self, box: Box) -> Box:
        """A box of the region's coordinates (an engine's Result or Preview) in the maps' coordinates."""
        return _shifted(box, self.box)

    def set_result(self, job: MaterialJob, result: Result) -> None:
        """``result`` (its region, in the coordinates of ``job.image``) into the job's columns of ``filled``."""
        ys, xs = result.box.slices()
        self.filled[ys, xs, job.columns] = result.region
        info = dict(result.info)
        if "region" in info:
            b = self.image_box(Box(*info["region"]))
            info["region"] = (b.y0, b.x0, b.y1, b.x1)
        self.info["runs"].append({"maps": [self.mapset.maps[j].name for j in job.map_indices], **info})

    def finish(self, in_place: bool = False) -> MaterialResult:
        """The repaired map set: ``filled`` merged into copies of the maps within the hole's bounding box, or with
        ``in_place`` into the maps' own pixels (no copy; for callers that only save the result, such as the CLI)."""
        box = hole_bbox(self.mask)
        local = Box(box.y0 - self.box.y0, box.x0 - self.box.x0, box.y1 - self.box.y0, box.x1 - self.box.x0)
        repaired = merge_maps(self.mapset, unstack(self.filled[local.slices()], self.mapset, self.plan), self.mask,
                              box, in_place=in_place)
        return MaterialResult(repaired, self.info)


def inpaint_material(mapset: MapSet, mask: np.ndarray, engine: str = "internal", separate: bool = False,
                     registry=None, references: Sequence[MapSet] = (), **request_args) -> Iterator[MaterialEvent]:
    """Event stream of one repair. ``request_args``: InpaintRequest fields (seed, preset, steps, train_steps,
    sampler, device, options, cancel). Closing the generator stops the engine within one step. Previews' boxes are
    in the maps' coordinates; the result is a new MapSet (the maps given are left as they are)."""
    from core.engines.base import InpaintRequest

    repair = MaterialRepair(mapset, mask, engine, separate, registry, request_args.get("options"), references)
    eng = repair.registry.get(engine)
    for job in repair.jobs:
        result = None
        fields = {**request_args, "options": repair.job_options(job)}
        for ev in eng.run(InpaintRequest(image=job.image, mask=repair.hole, gray=job.gray, whole_rows=job.whole_rows,
                                         **fields)):
            if isinstance(ev, Progress):
                yield Progress(ev.stage, ev.step, ev.total, f"{job.label}: {ev.message}" if job.label else ev.message)
            elif isinstance(ev, Loss):
                yield ev
            elif isinstance(ev, Preview):
                yield MaterialPreview(repair.preview(job, ev.image), repair.image_box(ev.box), ev.stage, ev.step,
                                      ev.total, job.label)
            elif isinstance(ev, Result) and ev.variant == 0:
                result = ev
        if result is None:
            raise RuntimeError(f"engine {engine} finished without a result")
        repair.set_result(job, result)
    yield repair.finish()


def run_material(mapset: MapSet, mask: np.ndarray, engine: str = "internal", separate: bool = False,
                 **request_args) -> MaterialResult:
    """Drain ``inpaint_material`` and return its result (for callers that want no progress)."""
    out = None
    for ev in inpaint_material(mapset, mask, engine, separate, **request_args):
        if isinstance(ev, MaterialResult):
            out = ev
    assert out is not None
    return out
