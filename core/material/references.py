"""Reference map sets: other materials (or other scans of the same one) that a repair may learn from or copy.

A reference set is stacked exactly as the set being repaired (the same channel plan), so that its pixels mean
the same thing in every column: each of the set's maps is matched to the reference's map of the same kind (the
same file name first when a kind appears twice) holding the same values -- a gray roughness stored as one
channel or as RGB is one thing, an alpha missing in one of them is opaque. A reference normal map stored in
the other convention (DirectX against OpenGL) has its green channel flipped, so its bumps point the same way.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from core.errors import UserError
from core.masks import Box
from core.material.mapset import ChannelPlan, MapSet, MaterialMap
from core.material.names import BASECOLOR, NORMAL

VECTOR_KINDS = (BASECOLOR, NORMAL)  # maps whose channels are a colour or a direction
MAX_REFERENCE_SIDE = 1024  # as core.engines.train_set: a reference's centre, its texture rather than its extent


def _label(ref: MapSet) -> str:
    return str(ref.folder) if ref.folder is not None else "the reference set"


def align(ref: MapSet, mapset: MapSet) -> list[MaterialMap]:
    """For each map of ``mapset``, its counterpart in ``ref``; a UserError naming what is missing or unlike."""
    free = list(ref.maps)
    out = []
    for m in mapset.maps:
        same_kind = [r for r in free if r.kind == m.kind]
        if not same_kind:
            raise UserError(f"{_label(ref)} has no {m.kind} map to match {m.name}; a reference set needs every "
                            f"kind of map the material has")
        match = next((r for r in same_kind if r.name == m.name), same_kind[0])
        if _conversion(match, m) is None:
            raise UserError(f"{_label(ref)}: its {m.kind} map {match.name} has {match.image.channels} channel(s), "
                            f"the material's {m.name} has {m.image.channels}; a reference map must hold the same "
                            f"values (gray, gray stored as RGB, RGB or RGBA)")
        free.remove(match)
        out.append(match)
    return out


def _conversion(ref: MaterialMap, own: MaterialMap):
    """How ``ref``'s values become ``own``'s channel layout (a function of float h x w x C), or None when they
    cannot: gray and gray-in-RGB are one thing for a scalar map (roughness, height...), a missing alpha is
    opaque, an extra one dropped; colour and normal vectors need three channels on both sides."""
    have, want = ref.image.channels, own.image.channels
    if have == want:
        return lambda v: v
    vector = own.kind in VECTOR_KINDS
    if have in (3, 4) and want in (3, 4):
        if want == 3:
            return lambda v: v[:, :, :3]
        return lambda v: np.concatenate([v, np.ones_like(v[:, :, :1])], axis=2)
    if vector:
        return None
    if have in (1, 2) and want in (3, 4):  # gray -> gray stored as RGB(A)
        return lambda v: np.concatenate([np.repeat(v[:, :, :1], 3, axis=2)] +
                                        ([np.ones_like(v[:, :, :1])] if want == 4 else []), axis=2)
    if have in (3, 4) and want in (1, 2):  # gray stored as RGB -> gray
        return lambda v: np.concatenate([v[:, :, :3].mean(axis=2, keepdims=True)] +
                                        ([np.ones_like(v[:, :, :1])] if want == 2 else []), axis=2)
    if {have, want} == {1, 2}:
        return (lambda v: v[:, :, :1]) if want == 1 else (lambda v: np.concatenate([v, np.ones_like(v)], axis=2))
    return None


def reference_stack(ref: MapSet, mapset: MapSet, plan: ChannelPlan,
                    max_side: int = MAX_REFERENCE_SIDE) -> np.ndarray:
    """``ref`` stacked as ``mapset`` is by ``plan`` (float32 h x w x plan.n_model), of its centre at most
    ``max_side`` px a side (read from there only)."""
    maps = align(ref, mapset)
    h, w = ref.height, ref.width
    y0, x0 = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
    box = Box(y0, x0, min(h, y0 + max_side), min(w, x0 + max_side))
    out = np.empty((box.height, box.width, plan.n_model), np.float32)
    from core.io import to_float

    for own, r, row in zip(mapset.maps, maps, plan.entries):
        cols = [(c, e[1]) for c, e in enumerate(row) if e[0] == "model"]
        if not cols:
            continue
        vals = _conversion(r, own)(to_float(r.image, box))
        if own.kind == NORMAL and own.convention and r.convention and own.convention != r.convention \
                and vals.shape[2] >= 2:
            vals[:, :, 1] = 1.0 - vals[:, :, 1]  # DirectX <-> OpenGL: the green axis points the other way
        for c, col in cols:
            out[:, :, col] = vals[:, :, c]
    return out


def reference_stacks(refs: Sequence[MapSet], mapset: MapSet, plan: ChannelPlan) -> list[np.ndarray]:
    return [reference_stack(r, mapset, plan) for r in refs]
