"""The plumbing every engine shares: typed options, the region step, results as region + box, and the CLI's
float conversion of only what an engine reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
import torch

from core import io
from core.cli_common import EngineSettings, run_engine, run_on_image
from core.engines.base import InpaintRequest, Result
from core.engines.gray import is_gray, is_gray_in_rows
from core.engines.options import EngineOptions, option, option_docs, parse_options
from core.engines.patchmatch import available as patchmatch_available
from core.engines.region import pad_to_multiple, pick_region
from core.engines.registry import default_registry
from core.errors import UserError
from core.masks import Box, hole_bbox

needs_patchmatch = pytest.mark.skipif(not patchmatch_available(), reason="PatchMatch library not available")


@dataclass(frozen=True)
class Sample(EngineOptions):
    count: int = option(3, "a whole number", lo=1, hi=10)
    level: float | None = option(None, "a number or None", lo=0.0, hi=1.0)
    mode: Literal["a", "b"] = option("a", "one of two")
    channels: tuple[int, ...] | None = option(None, "channel indices")
    flag: bool = option(False, "a switch")


def test_options_parse_into_the_dataclass_with_the_benchmarks_number_forms():
    opts = parse_options(Sample, {"count": 4.0, "level": 1, "mode": "b", "channels": [0, 2], "flag": True}, "x")
    assert opts == Sample(count=4, level=1.0, mode="b", channels=(0, 2), flag=True)
    assert isinstance(opts.count, int) and isinstance(opts.level, float)
    assert parse_options(Sample, None, "x") == Sample()
    assert parse_options(Sample, {"level": None}, "x").level is None


@pytest.mark.parametrize("bad, words", [
    ({"cont": 4}, "takes no option 'cont'"),
    ({"count": "4"}, "option count"),
    ({"count": 2.5}, "option count"),
    ({"count": True}, "option count"),
    ({"count": 11}, "from 1 to 10"),
    ({"level": "high"}, "option level"),
    ({"mode": "c"}, "option mode"),
    ({"channels": [0, 1.5]}, "option channels"),
    ({"flag": 1}, "option flag"),
])
def test_a_bad_option_is_one_clear_error(bad, words):
    with pytest.raises(UserError, match=words):
        parse_options(Sample, bad, "x")


def test_every_engine_refuses_an_unknown_option_before_any_event_and_takes_the_run_settings(make_texture):
    reg = default_registry()
    img = make_texture(48, 48)
    mask = np.zeros((48, 48), bool)
    mask[20:28, 20:28] = True
    for name in reg.names():
        with pytest.raises(UserError, match="takes no option 'bogus'"):
            next(iter(reg.get(name).run(InpaintRequest(img, mask, options={"bogus": 1}))))
        engine = reg.get(name).engine
        opts = parse_options(engine.Options, {"cache": False, "preview_every": 0}, name)
        assert opts.cache is False
        assert all(doc for doc in option_docs(engine.Options).values()), name  # every field documented


def test_result_is_the_region_and_composes_on_demand(make_texture):
    base = make_texture(20, 30)
    box = Box(5, 6, 15, 20)
    region = np.full((10, 14, 3), 0.25, np.float32)
    res = Result(region, box, 0, {}, base=base)
    whole = res.image
    assert whole.shape == base.shape and np.array_equal(whole[box.slices()], region)
    outside = np.ones(base.shape[:2], bool)
    outside[box.slices()] = False
    assert np.array_equal(whole[outside], base[outside])
    assert np.array_equal(res.crop(Box(6, 7, 8, 9)), region[1:3, 1:3])  # inside: no base needed
    bare = Result(region, box)
    assert np.array_equal(bare.crop(Box(6, 7, 8, 9)), region[1:3, 1:3])
    with pytest.raises(ValueError):
        bare.crop(Box(0, 0, 8, 9))
    assert np.array_equal(bare.composed(base), whole)


def test_pad_to_multiple_pads_bottom_right_and_reports_the_size():
    t = torch.arange(2 * 10 * 13, dtype=torch.float32).view(1, 2, 10, 13)
    p, size = pad_to_multiple(t, 8)
    assert size == (10, 13) and p.shape == (1, 2, 16, 16) and torch.equal(p[..., :10, :13], t)
    assert torch.equal(p[..., 10, :13], t[..., 8, :])  # reflected
    small, _ = pad_to_multiple(torch.ones(1, 1, 3, 3), 8)  # too small to reflect: replicated
    assert small.shape == (1, 1, 8, 8) and bool((small == 1).all())
    same, _ = pad_to_multiple(t[..., :8, :8], 8)
    assert same.shape == (1, 2, 8, 8)


@pytest.mark.parametrize("name", ["telea", "ns", "patchmatch"])
def test_results_hold_the_region_with_the_requests_known_pixels(make_texture, name):
    reg = default_registry()
    if name not in reg.names():
        pytest.skip(f"{name} not available")
    img = make_texture(200, 200)
    mask = np.zeros((200, 200), bool)
    mask[90:100, 80:110] = True
    res = [e for e in reg.get(name).run(InpaintRequest(img, mask)) if isinstance(e, Result)][0]
    b, hb = res.box, hole_bbox(mask)
    assert b.y0 <= hb.y0 and b.x0 <= hb.x0 and hb.y1 <= b.y1 and hb.x1 <= b.x1
    assert (b.height, b.width) != (200, 200) and res.region.shape == (b.height, b.width, 3)
    known = ~mask[b.slices()]
    assert res.region.dtype == np.float32 and np.array_equal(res.region[known], img[b.slices()][known])
    assert res.info["region"] == (b.y0, b.x0, b.y1, b.x1)


def test_gray_decided_in_bands_is_the_same_decision(make_texture):
    gray = np.repeat(make_texture(40, 40, 1), 3, axis=2)
    mask = np.zeros((40, 40), bool)
    mask[:10] = True  # a band of rows with no known pixel
    colour = gray.copy()
    colour[35, 5, 1] += 0.2
    for img in (gray, colour):
        bands = [(img[y:y + 10], mask[y:y + 10]) for y in range(0, 40, 10)]
        assert is_gray_in_rows(bands) == is_gray(img, mask)


# --------------------------------------------------------------------------------------------------------
# The CLI's path: native pixels, a float copy of only what the engine reads, the region merged in place
# --------------------------------------------------------------------------------------------------------
def test_native_box_conversion_and_merge_in_place(image_files):
    for name, (path, _) in image_files.items():
        img = io.load_image(path)
        box = Box(3, 5, 17, 20)
        assert np.array_equal(io.to_float(img, box), io.to_float(img)[box.slices()]), name
        mask = np.zeros(img.pixels.shape[:2], bool)
        mask[6:10, 8:12] = True
        values = np.clip(io.to_float(img, box) + 0.3, 0, 1)
        whole = io.to_float(img)
        whole[box.slices()] = values
        expected = io.merge_result(img, whole, mask).pixels
        pixels = img.pixels
        assert io.merge_into(img, values, mask, box) is img and img.pixels is pixels
        assert np.array_equal(img.pixels, expected), name


def test_masks_are_read_in_bands_as_a_whole(monkeypatch):
    rng = np.random.default_rng(0)
    px = np.zeros((70, 9, 4), np.uint8)
    px[:, :, 3] = rng.integers(0, 256, (70, 9))  # strokes on a transparent layer
    whole = io.mask_from_pixels(px)
    monkeypatch.setattr(io, "BAND_ROWS", 16)
    monkeypatch.setattr(io, "row_bands", lambda h, rows=16: [(y, min(h, y + rows)) for y in range(0, h, rows)])
    assert np.array_equal(io.mask_from_pixels(px), whole) and np.array_equal(whole, px[:, :, 3] > 127)


@pytest.mark.parametrize("name", ["telea", "patchmatch"])
def test_the_cli_hands_an_engine_only_what_it_reads_and_gets_the_same_fill(make_texture, name, monkeypatch):
    if name not in default_registry().names():
        pytest.skip(f"{name} not available")
    values = make_texture(160, 200)
    img = io.ImageData(np.rint(values * 255).astype(np.uint8))
    mask = np.zeros((160, 200), bool)
    mask[70:80, 120:150] = True
    options = {}
    if name == "patchmatch":
        source = np.zeros((160, 200), bool)
        source[:, 100:] = True
        options["source"] = source
    settings = EngineSettings(engine=name, seed=3)
    seen = []
    real = io.to_float
    monkeypatch.setattr(io, "to_float", lambda im, box=None: seen.append(box) or real(im, box))
    res = run_on_image(img, mask, settings, quiet=True, options=dict(options))
    assert seen and seen[-1] is not None and (seen[-1].height, seen[-1].width) != (160, 200)  # a crop
    whole = run_engine(real(img), mask, settings, quiet=True, options=dict(options))
    assert res.box == whole.box and res.base is None and np.array_equal(res.region, whole.region)
    assert res.info["region"] == whole.info["region"]


def test_engines_read_their_region():
    mask = np.zeros((64, 64), bool)
    mask[10:20, 10:20] = True
    reg = default_registry()
    assert reg.get("internal").reads(mask, {}) == Box(0, 0, 64, 64)  # its training context covers a small image
    big = np.zeros((1200, 1000), bool)
    big[600:610, 500:520] = True
    assert reg.get("internal").reads(big, {}) == Box(600 - 272, 500 - 272, 610 + 272, 520 + 272)
    assert reg.get("telea").reads(mask, {}) == pick_region(mask, lambda b: 53)
