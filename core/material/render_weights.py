"""How much each map's texture shows in the material's look: the weights of a map set's shared patch correspondence.

A joint fill copies every map from one source pixel, so its patch distance must say how much a mismatch in each
map matters. Weighing the maps equally (each scaled to the same spread) lets a map that barely shows -- a nearly
flat normal map on a metal plate, a metalness map that is constant but for noise -- pull the copies away from
the maps that make the look, and weighing by spread alone lets the loudest map decide. What matters is the
render: a map's weight here is how much the renders change (RMS over the known pixels, under lights from every
side) when that map's texture is blurred away, everything else kept.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from core.io import ImageData, to_float
from core.masks import Box
from core.material.mapset import MapSet
from core.material.shading import render, shading_inputs

# Lights from eight sides at 30 degrees above the surface, and one from straight above: the light a texture artist
# may put anywhere, not the benchmark's four.
_ELEVATION = np.radians(30.0)
SENSITIVITY_LIGHTS: tuple[tuple[float, float, float], ...] = tuple(
    (float(np.cos(a) * np.cos(_ELEVATION)), float(np.sin(a) * np.cos(_ELEVATION)), float(np.sin(_ELEVATION)))
    for a in np.radians(np.arange(0.0, 360.0, 45.0))) + ((0.0, 0.0, 1.0),)
TEXTURE_SIGMA = 3.0  # px: what is blurred away is the texture a patch copy carries
MAX_SIDE = 256  # the weights are a statistic of the region: a crop of this side is enough


def _as_map_values(m, values: np.ndarray):
    """``m`` with its stored values replaced by ``values`` (float [0, 1], m's channels), as 16-bit pixels."""
    px = np.rint(np.clip(values, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return replace(m, image=ImageData(px.reshape(values.shape[:2] + (-1,)), m.image.path))


def map_render_weights(mapset: MapSet, box: Box, known: np.ndarray) -> list[float]:
    """One weight per map of ``mapset``: the RMS change of the renders (sRGB, [0, 1]) over the ``known`` pixels of
    ``box`` (bool, the box's shape) when that map is blurred by TEXTURE_SIGMA. A map whose texture does not show
    (or a constant map) gets 0."""
    h, w = box.y1 - box.y0, box.x1 - box.x0
    ch, cw = min(h, MAX_SIDE), min(w, MAX_SIDE)
    # the centre crop, or a corner's where a large hole leaves the centre with fewer known pixels
    origins = [((h - ch) // 2, (w - cw) // 2), (0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw)]
    cy, cx = max(origins, key=lambda o: int(known[o[0]:o[0] + ch, o[1]:o[1] + cw].sum()))
    y0, x0 = box.y0 + cy, box.x0 + cx
    keep = known[cy:cy + ch, cx:cx + cw]
    if not keep.any():
        return [0.0] * len(mapset.maps)
    near = Box(y0, x0, y0 + ch, x0 + cw)
    maps = [_as_map_values(m, to_float(m.image, near)) for m in mapset.maps]
    crop = shading_inputs(MapSet(maps, mapset.folder))  # decoded once for all the lights
    base = [render(crop, light)[keep] for light in SENSITIVITY_LIGHTS]
    weights = []
    for j, m in enumerate(maps):
        v = m.values()
        blurred = cv2.GaussianBlur(v, (0, 0), TEXTURE_SIGMA, borderType=cv2.BORDER_REFLECT)
        flat = shading_inputs(MapSet([*maps[:j], _as_map_values(m, blurred), *maps[j + 1:]], mapset.folder))
        sq = [np.mean((render(flat, light)[keep] - b) ** 2) for light, b in zip(SENSITIVITY_LIGHTS, base)]
        weights.append(float(np.sqrt(np.mean(sq))))
    return weights
