"""How much each map shows in the renders: the weights of a joint fill's one correspondence."""
from __future__ import annotations

import numpy as np
import pytest

from core.io import ImageData
from core.masks import Box
from core.material.mapset import MapSet, MaterialMap
from core.material.render_weights import map_render_weights


def _map(name: str, kind: str, values: np.ndarray, convention: str | None = None) -> MaterialMap:
    px = np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
    return MaterialMap(name, kind, ImageData(px if px.ndim == 3 else px[:, :, None]), convention)


def _bumpy_set(size: int = 48) -> MapSet:
    """A strongly bumped normal map, a base colour with faint grain, a constant roughness."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    nx, ny = 0.5 * np.sin(xx * 0.7), 0.5 * np.cos(yy * 0.5)
    nz = np.sqrt(np.clip(1 - nx ** 2 - ny ** 2, 0, 1))
    normal = np.stack([nx, ny, nz], axis=2) * 0.5 + 0.5
    base = 0.5 + 0.01 * rng.standard_normal((size, size, 3))
    rough = np.full((size, size), 0.6)
    return MapSet([_map("b_basecolor.png", "basecolor", base), _map("b_normal.png", "normal", normal, "GL"),
                   _map("b_roughness.png", "roughness", rough)])


def test_a_map_weighs_what_its_texture_shows_in_the_renders():
    ms = _bumpy_set()
    known = np.ones((48, 48), bool)
    known[16:32, 16:32] = False
    base, normal, rough = map_render_weights(ms, Box(0, 0, 48, 48), known)
    assert normal > 5 * base > 0  # the relief lights and shades; a 1 % grain barely shows
    assert rough == pytest.approx(0.0, abs=1e-6)  # constant: nothing to blur away


def test_weights_are_measured_on_the_given_box_and_nothing_known_gives_zeros():
    ms = _bumpy_set()
    flat_corner = MapSet([m if m.kind != "normal" else _map(m.name, "normal", np.full((48, 48, 3), [0.5, 0.5, 1.0]),
                                                                   "GL") for m in ms.maps])
    assert map_render_weights(flat_corner, Box(0, 0, 24, 24), np.ones((24, 24), bool))[1] == pytest.approx(0, abs=1e-6)
    assert map_render_weights(ms, Box(0, 0, 24, 24), np.zeros((24, 24), bool)) == [0.0, 0.0, 0.0]


def test_a_large_hole_is_measured_where_the_known_pixels_are(monkeypatch):
    """The weights come from a crop of at most MAX_SIDE px: with a hole over the box's centre, a corner's."""
    from core.material import render_weights as rw

    monkeypatch.setattr(rw, "MAX_SIDE", 24)
    known = np.zeros((48, 48), bool)
    known[:10, :10] = True  # only the top-left corner is known; the centre crop holds none of it
    base, normal, _ = map_render_weights(_bumpy_set(48), Box(0, 0, 48, 48), known)
    assert normal > base > 0
