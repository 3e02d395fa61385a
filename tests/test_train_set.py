"""What the internal engine learns from: a sampling area and reference images (core.engines.train_set)."""
from __future__ import annotations

import numpy as np
import pytest

from core.diffusion.training import crop_sites
from core.engines import internal
from core.engines.base import InpaintRequest, Result
from core.engines.model_cache import ModelCache
from core.engines.registry import Registry
from core.engines.train_set import checked_references, train_set
from core.errors import UserError

pytestmark = pytest.mark.usefixtures("torch_threads_1")
QUICK = {"cache": False, "preview_every": 0, "crop": 16, "batch": 4}


def engine(cache_dir=None) -> internal.InternalEngine:
    reg = Registry()
    internal.register(reg)
    return internal.InternalEngine(reg.capabilities("internal"), cache=ModelCache(cache_dir))


def request(image, mask, **options) -> InpaintRequest:
    return InpaintRequest(image=image, mask=mask, seed=0, preset="fast", train_steps=6, steps=2, device="cpu",
                          options={**QUICK, **options})


def result(events) -> Result:
    return [ev for ev in events if isinstance(ev, Result)][0]


def two_halves(h: int = 64, w: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dark stripes on the left, a bright flat right half, a hole across the border; the source is the left."""
    img = np.empty((h, w, 3), np.float32)
    img[:, : w // 2] = 0.15 + 0.1 * (np.arange(w // 2) % 4 < 2)[None, :, None]
    img[:, w // 2:] = 0.85
    mask = np.zeros((h, w), bool)
    mask[24:40, 24:40] = True
    source = np.zeros((h, w), bool)
    source[:, : w // 2 - 4] = True
    return img, mask, source


def test_crop_sites_keep_crops_mostly_inside_and_honour_shares():
    area = np.zeros((40, 40), bool)
    area[:, :20] = True
    sites = crop_sites([area, np.ones((30, 30), bool)], 10, shares=[0.25, 0.75])
    own = sites.image == 0
    assert (sites.x[own] + 10 <= 25).all() and (sites.x[own] + 10 > 20).any()  # at least half of 10 px inside
    assert sites.p[own].sum() == pytest.approx(0.25) and sites.p[~own].sum() == pytest.approx(0.75)
    assert crop_sites([area[:5]], 10) is None  # nothing fits


def test_train_set_with_a_source_learns_only_from_it():
    img, mask, source = two_halves()
    teach = train_set(img, mask, internal.train_region(mask), source, [])
    assert teach.restricted
    assert teach.own_known().max() < 0.5  # only the dark stripes
    sites = teach.sites(16)
    assert (sites.x + 16 <= 28 + 8).all()  # no crop is mostly in the bright half
    # a crop's part outside the area is hidden from the model like the hole: neither context nor taught
    ys, xs = teach.box.slices()
    np.testing.assert_array_equal(teach.holes[0], (mask | ~source)[ys, xs])


def test_a_source_steers_the_fill(monkeypatch):
    img, mask, source = two_halves()
    plain = result(engine().run(request(img, mask)))
    steered = result(engine().run(request(img, mask, source=source)))
    assert steered.info["source"] and not plain.info["source"]
    assert steered.image[mask].mean() < 0.35 < plain.image[mask].mean()
    assert np.array_equal(steered.image[~mask], img[~mask])


def test_bad_sampling_areas_are_one_clear_message():
    img, mask, source = two_halves()
    with pytest.raises(UserError, match="same size"):
        list(engine().run(request(img, mask, source=source[:32])))
    with pytest.raises(UserError, match="no known pixels"):
        list(engine().run(request(img, mask, source=mask.copy())))
    tiny = np.zeros_like(source)
    tiny[2:6, 2:6] = True
    with pytest.raises(UserError, match="too little to learn from"):
        list(engine().run(request(img, mask, source=tiny, recipe="noise")))


def test_references_join_the_training_set_and_are_checked(make_texture, monkeypatch):
    img = make_texture(48, 48, 3, seed=1)
    mask = np.zeros((48, 48), bool)
    mask[18:30, 18:30] = True
    ref = make_texture(80, 56, 3, seed=4)
    seen = []
    real = internal.train

    def spy(model, images, holes, schedule, cfg, seed, autocast=None, sites=None):
        seen.append((len(images), sites))
        return real(model, images, holes, schedule, cfg, seed, autocast, sites=sites)

    monkeypatch.setattr(internal, "train", spy)
    out = result(engine().run(request(img, mask, references=[ref], own_share=0.25)))
    (count, sites), = seen
    assert count == 2 and out.info["references"] == 1
    assert sites.p[sites.image == 1].sum() == pytest.approx(0.75)
    with pytest.raises(UserError, match="channels"):
        checked_references([make_texture(32, 32, 4)], 3)
    with pytest.raises(UserError, match="own_share"):
        list(engine().run(request(img, mask, references=[ref], own_share=2)))


def test_the_warm_start_keys_on_what_the_model_learnt_from(make_texture, tmp_path):
    img = make_texture(48, 48, 3, seed=1)
    mask = np.zeros((48, 48), bool)
    mask[18:30, 18:30] = True
    ref = make_texture(64, 64, 3, seed=4)
    eng = engine(tmp_path)
    runs = [dict(), dict(references=[ref]), dict(references=[ref]), dict()]
    warm = [result(eng.run(request(img, mask, cache=True, **o))).info["warm_start"] for o in runs]
    assert warm == [False, False, True, True]
