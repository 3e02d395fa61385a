"""Repair a map set: one mask, every map, with any registered engine -- jointly or map by map.

Joint (the default, Cherel et al.'s SVBRDF recipe): the modelled channels of all maps are stacked and one
engine run fills them together, so a groove in the normal map and its dark line in the base colour land in
the same place. Separate: one run per map, for comparison. Either way the event stream is the engine's
(progress, loss) plus ``MaterialPreview`` events that carry per-map previews and a final ``MaterialResult``
with the repaired ``MapSet`` (known pixels exact, normals unit length).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

import numpy as np

from core.engines.base import Loss, Preview, Progress, Result
from core.errors import UserError
from core.masks import Box, validate_mask
from core.material import normals as nm
from core.material.mapset import ChannelPlan, MapSet, merge_maps, plan_channels, unstack


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


def inpaint_material(mapset: MapSet, mask: np.ndarray, engine: str = "internal", separate: bool = False,
                     registry=None, **request_args) -> Iterator[MaterialEvent]:
    """Event stream of one repair. ``request_args``: InpaintRequest fields (seed, preset, steps, train_steps,
    sampler, device, options, cancel). Closing the generator stops the engine within one step."""
    from core.engines.base import InpaintRequest
    from core.engines.registry import default_registry

    registry = registry or default_registry()
    caps = registry.capabilities(engine)
    mask = validate_mask(mask, (mapset.height, mapset.width))
    plan = plan_channels(mapset, ~mask)
    # Channels that are constant or copies on the known pixels need no model: unstack fills them.
    groups = ([(None, plan, list(range(len(mapset.maps))))] if not separate else
              [(i, _split_for_map(plan, i), [i]) for i in range(len(mapset.maps))])
    for _i, sub, _idx in groups:
        if caps.max_channels is not None and sub.n_model > caps.max_channels:
            raise UserError(f"engine '{engine}' takes at most {caps.max_channels} channels; this material "
                            f"stacks {sub.n_model} (try --separate or the internal engine)")
    eng = registry.get(engine)

    stacked_all = np.empty((mapset.height, mapset.width, plan.n_model), np.float32)
    for m, row in zip(mapset.maps, plan.entries):
        vals = m.values()
        for c, e in enumerate(row):
            if e[0] == "model":
                stacked_all[:, :, e[1]] = vals[:, :, c]
    filled = stacked_all.copy()
    info: dict = {"engine": engine, "mode": "separate" if separate else "joint", "channels": plan.n_model,
                  "runs": []}
    for gi, (i, sub, idx) in enumerate(groups):
        cols = [e[1] for j in idx for e in plan.entries[j] if e[0] == "model"]
        if not cols:
            continue
        label = "" if i is None else mapset.maps[i].name
        sub_maps = MapSet([mapset.maps[j] for j in idx], mapset.folder)
        request = InpaintRequest(image=np.ascontiguousarray(stacked_all[:, :, cols]), mask=mask, **request_args)
        result = None
        for ev in eng.run(request):
            if isinstance(ev, Progress):
                yield Progress(ev.stage, ev.step, ev.total, f"{label}: {ev.message}" if label else ev.message)
            elif isinstance(ev, Loss):
                yield ev
            elif isinstance(ev, Preview):
                per_map = dict(zip(idx, unstack(ev.image, sub_maps, sub)))
                yield MaterialPreview(_tidy_normals(mapset, per_map), ev.box, ev.stage, ev.step, ev.total, label)
            elif isinstance(ev, Result) and ev.variant == 0:
                result = ev
        if result is None:
            raise RuntimeError(f"engine {engine} finished without a result")
        filled[:, :, cols] = result.image
        info["runs"].append({"maps": [mapset.maps[j].name for j in idx], **result.info})
    repaired = merge_maps(mapset, unstack(filled, mapset, plan), mask)
    yield MaterialResult(repaired, info)


def run_material(mapset: MapSet, mask: np.ndarray, engine: str = "internal", separate: bool = False,
                 **request_args) -> MaterialResult:
    """Drain ``inpaint_material`` and return its result (for callers that want no progress)."""
    out = None
    for ev in inpaint_material(mapset, mask, engine, separate, **request_args):
        if isinstance(ev, MaterialResult):
            out = ev
    assert out is not None
    return out
