"""The internal engine reads only a region (``InternalEngine.reads``): handed that crop it fills exactly as it fills
the whole image, and the model cache still knows the whole image."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.engines import internal, patchmatch
from core.engines.base import InpaintRequest, Result
from core.engines.model_cache import ModelCache, fingerprint, fingerprint_rows
from core.engines.region import pick_region
from core.engines.registry import Registry
from core.masks import Box, grow_box, hole_bbox

pytestmark = pytest.mark.usefixtures("torch_threads_1")


def shifted(box: Box, by: Box) -> Box:
    return Box(box.y0 + by.y0, box.x0 + by.x0, box.y1 + by.y0, box.x1 + by.x0)


def random_case(rng, with_source: bool):
    h, w = int(rng.integers(60, 1400)), int(rng.integers(60, 1400))
    mask = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 3))):
        bh, bw = int(rng.integers(1, max(2, h // 6))), int(rng.integers(1, max(2, w // 6)))
        y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        mask[y:y + bh, x:x + bw] = True
    source = None
    if with_source:
        source = np.zeros((h, w), bool)
        sh, sw = int(rng.integers(8, h // 2 + 9)), int(rng.integers(8, w // 2 + 9))
        y, x = int(rng.integers(0, max(1, h - sh))), int(rng.integers(0, max(1, w - sw)))
        source[y:y + sh, x:x + sw] = True
        if not (source & ~mask).any():
            source = None
    return mask, source


@pytest.mark.parametrize("with_source", [False, True])
def test_every_box_a_run_computes_is_the_same_on_the_crop(with_source):
    rng = np.random.default_rng(11 if with_source else 7)
    cropped_somewhere = 0
    for _ in range(300):
        mask, source = random_case(rng, with_source)
        r = internal.read_region(mask, source)
        cm = mask[r.slices()]
        cs = None if source is None else source[r.slices()]
        cropped_somewhere += (r.height, r.width) != mask.shape
        assert shifted(internal.train_region(cm), r) == internal.train_region(mask)
        assert shifted(internal.sample_region(cm), r) == internal.sample_region(mask)
        assert shifted(pick_region(cm, patchmatch.region_margin), r) == pick_region(mask, patchmatch.region_margin)
        assert shifted(patchmatch._region(cm, cs), r) == patchmatch._region(mask, source)
        if source is not None:  # the training region with a sampling area (core.engines.train_set.train_set)
            assert shifted(grow_box(hole_bbox(cs & ~cm), 32, cm.shape, 8), r) == \
                grow_box(hole_bbox(source & ~mask), 32, mask.shape, 8)
    assert cropped_somewhere > 100  # the cases do exercise crops


def test_fingerprint_from_bands_is_the_whole_images(make_texture):
    img = make_texture(300, 257, 3, seed=4)
    whole = fingerprint(img)
    banded = fingerprint_rows(img[y:y + 37] for y in range(0, 300, 37))
    assert banded.key == whole.key and banded.shape == (300, 257, 3)
    np.testing.assert_allclose(banded.thumb, whole.thumb, atol=1e-6)
    # the thumbnail is still the area average a whole-image resize gives (near matches across versions)
    ref = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)
    assert float(np.abs(whole.thumb - ref).max()) < 1e-4
    assert fingerprint(img[:299]).key != whole.key


def make_engine(cache_dir) -> internal.InternalEngine:
    reg = Registry()
    internal.register(reg)
    return internal.InternalEngine(reg.capabilities("internal"), cache=ModelCache(cache_dir))


def run(engine, image, mask, whole_rows=None) -> Result:
    req = InpaintRequest(image=image, mask=mask, seed=1, preset="fast", train_steps=8, steps=3, device="cpu",
                         options={"cache": True, "preview_every": 0, "crop": 32, "batch": 2},
                         whole_rows=whole_rows)
    return [ev for ev in engine.run(req) if isinstance(ev, Result)][-1]


@pytest.mark.parametrize("hole", [(290, 300, 14, 18), (6, 560, 10, 12)])
def test_a_crop_fills_bit_for_bit_as_the_whole_image(make_texture, tmp_path, hole):
    img = make_texture(600, 620, 3, seed=9)
    mask = np.zeros(img.shape[:2], bool)
    y, x, h, w = hole
    mask[y:y + h, x:x + w] = True
    whole_engine, crop_engine = make_engine(tmp_path / "a"), make_engine(tmp_path / "b")
    whole = run(whole_engine, img, mask)
    box = crop_engine.reads(mask, {})
    assert box.height * box.width < 0.9 * mask.size
    crop = run(crop_engine, np.ascontiguousarray(img[box.slices()]), mask[box.slices()],
               whole_rows=lambda: (img[y0:y0 + 50] for y0 in range(0, 600, 50)))
    assert shifted(crop.box, box) == whole.box
    assert np.array_equal(crop.region, whole.region)
    # the model was cached under the whole image's key either way
    assert list(crop_engine.cache._memory) == list(whole_engine.cache._memory)


@pytest.mark.parametrize("gray", [False, True])
def test_the_cli_hands_internal_a_crop_and_gets_the_whole_images_fill(make_texture, tmp_path, gray):
    """run_on_image crops for the internal engine; gray images go through core.engines.gray on the crop, and the
    model is cached under the same key as a run on the whole image (the gray image's, when gray)."""
    from core import io
    from core.cli_common import EngineSettings, run_engine, run_on_image
    from core.engines.registry import default_registry

    values = make_texture(560, 600, 3, seed=3)
    if gray:
        values = np.repeat(values.mean(axis=2, keepdims=True), 3, axis=2)
    img = io.ImageData(np.rint(values * 255).astype(np.uint8))
    mask = np.zeros((560, 600), bool)
    mask[270:284, 280:300] = True
    settings = EngineSettings(engine="internal", preset="fast", train_steps=6, steps=2, seed=2, device="cpu")
    options = {"preview_every": 0, "crop": 32, "batch": 2}
    engine = default_registry().get("internal")
    seen = []
    real = io.to_float

    def spy(im, box=None):
        seen.append(box)
        return real(im, box)

    caches = []
    for run_it in ("crop", "whole"):
        engine.cache._memory.clear()
        engine.cache.directory = tmp_path / run_it
        if run_it == "crop":
            io.to_float, saved = spy, io.to_float
            try:
                res = run_on_image(img, mask, settings, quiet=True, options=dict(options))
            finally:
                io.to_float = saved
            assert any(b is not None and b.height < 560 and b.width < 600 and b.height > 50 for b in seen)
        else:
            whole = run_engine(real(img), mask, settings, quiet=True, options=dict(options))
        caches.append(sorted(p.name for p in (tmp_path / run_it).glob("*.safetensors")))
    assert caches[0] and caches[0] == caches[1]
    assert res.box == whole.box and np.array_equal(res.region, whole.region)
    assert res.info.get("gray", False) == gray == whole.info.get("gray", False)
