"""ESDiff: the method's parts one by one (MPT, i-MPT, Hankel LR, DC, samplers), training, weights files,
the engine's event stream and the CLI's error path. Tiny networks and images only; the shipped weights are
checked by one test that is skipped when they are absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.engines.base import InpaintRequest, Preview, Progress, Result
from core.errors import Cancelled, UserError
from core.fewshot.common import TrainDone, TrainRequest, load_weights, save_weights, shipped_weights
from core.fewshot.esdiff_model import ScoreUNet, build_model, impt, impt_views, mpt, view_weights, virtual_mask
from core.fewshot.esdiff_sampling import data_consistency, ddrm, make_context, make_score_fn, pc, sigmas
from core.lowrank import hankel_project, tiled_map
from core.fewshot.esdiff_train import EsdiffTrainable, train_esdiff

TINY = {"nf": 8, "mult": [1, 2]}


def _rgb(h=32, w=32, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, h, w), generator=g)


def _tiny_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model({"channels": 12, **TINY})
    return save_weights(tmp_path / "tiny.safetensors", "esdiff", model.state_dict(), {"channels": 12, **TINY})


def _case(h=40, w=48):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(np.sin(xx / 3.0) + 1) / 2, (np.cos(yy / 4.0) + 1) / 2, (xx + yy) / (h + w)], axis=2)
    mask = np.zeros((h, w), bool)
    mask[12:26, 16:30] = True
    return img.astype(np.float32), mask


# ---- MPT ----------------------------------------------------------------------------------------------------
def test_mpt_round_trip_exact():
    x = _rgb()
    m = virtual_mask((1, 1, 32, 32), torch.Generator().manual_seed(1))
    assert 0.0 <= float(m.min()) and float(m.max()) < 1.0
    x12 = mpt(x, m)
    assert x12.shape == (1, 12, 32, 32)
    views = impt_views(x12, m)
    for k in range(4):
        torch.testing.assert_close(views[:, k], x, atol=1e-5, rtol=0)
    torch.testing.assert_close(impt(x12, m, view_weights(x)), x, atol=1e-5, rtol=0)


def test_impt_guard_near_one():
    x = _rgb(8, 8)
    m = torch.full((1, 1, 8, 8), 1.0)  # a mask that reaches 1: the guard keeps the inverse finite
    out = impt_views(mpt(x, m) + 0.01, m)
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError):
        virtual_mask((1, 1, 4, 4), m_max=1.0)


def test_view_weights_are_softmax():
    w = view_weights(_rgb())
    assert w.shape == (1, 4)
    assert torch.all((w > 0) & (w < 1))
    torch.testing.assert_close(w.sum(dim=1), torch.ones(1))


# ---- LR, DC ---------------------------------------------------------------------------------------------------
def _tail_energy(x: torch.Tensor, k: int, win=8) -> float:
    """Share of the Hankel matrix's energy beyond its k leading singular values."""
    s = torch.linalg.svdvals(torch.nn.functional.unfold(x.double(), win)[0])
    return float((s[k:] ** 2).sum() / (s ** 2).sum())


def test_hankel_projection_reduces_rank():
    x = _rgb(24, 24, seed=3)
    y = hankel_project(x, rank=20)
    assert y.shape == x.shape
    # row2im averaging makes the result only approximately low-rank: the tail energy drops by a lot
    assert _tail_energy(y, 20) < 0.2 * _tail_energy(x, 20)
    # a projection: a low-rank (here constant-per-channel) image is kept
    flat = torch.ones(1, 3, 24, 24) * torch.tensor([0.2, 0.5, 0.7]).view(1, 3, 1, 1)
    torch.testing.assert_close(hankel_project(flat, rank=20), flat, atol=1e-5, rtol=0)


def test_lr_then_dc_keeps_known_pixels():
    x = _rgb(32, 32, seed=4)
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:20, 10:22] = 1
    out = data_consistency(hankel_project(torch.rand(1, 3, 32, 32), rank=10), x, hole)
    assert torch.equal(out[:, :, hole[0, 0] == 0], x[:, :, hole[0, 0] == 0])


def test_rank_schedule_rises_geometrically_from_start_to_end():
    ctx = make_context(_rgb(), torch.zeros(1, 1, 32, 32), torch.Generator().manual_seed(0), rank=40, rank_start=5)
    ranks = [ctx.rank_at(i, 10) for i in range(10)]
    assert ranks[0] == 5 and ranks[-1] == 40 and ranks == sorted(ranks)
    # the rank doubles every third step (5 -> 10 -> 20 -> 40 over 9 steps), not in equal increments
    assert [ranks[i] for i in (3, 6)] == [10, 20]
    assert make_context(_rgb(), torch.zeros(1, 1, 32, 32), torch.Generator(), rank=40).rank_at(0, 8) == 40


def test_scheduled_low_rank_recovers_scattered_pixels_far_better_than_rank_115():
    """Half the pixels of a striped (Barbara-like) texture missing at random: repeated consolidation with the
    rising-rank schedule and two rounds per step fills them almost exactly; HKGM's fixed rank 115 of 192
    hardly constrains the Hankel matrix and stays near the mid-gray start. No network: the estimate is fixed."""
    h = w = 48
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    stripes = 0.5 + 0.4 * torch.sin(0.9 * xx + 0.35 * yy)
    truth = torch.stack([stripes, 0.8 * stripes + 0.1, 1.0 - stripes])[None].float()
    hole = (torch.rand((1, 1, h, w), generator=torch.Generator().manual_seed(3)) < 0.5).float()
    known = truth * (1 - hole)

    def psnr_after(steps: int, **lr) -> float:
        ctx = make_context(known, hole, torch.Generator().manual_seed(0), **lr)
        rgb = torch.where(hole > 0.5, torch.full_like(truth, 0.5), truth)
        for i in range(steps):
            rgb, _ = ctx.consolidate(mpt(rgb, ctx.vmask), i, steps)
        assert torch.equal(rgb[(1 - hole).bool().expand_as(rgb)], truth[(1 - hole).bool().expand_as(truth)])
        return float(-10 * torch.log10(((rgb - truth) ** 2).mean()))

    scheduled = psnr_after(20, rank=40, rank_start=5, lr_iters=2)
    hkgm = psnr_after(20, rank=115)
    assert scheduled > 35.0 and scheduled > hkgm + 10.0, (scheduled, hkgm)


def test_nonlocal_consolidation_recovers_scattered_pixels_with_a_falling_threshold():
    """The nonlocal LR variant (Context.nonlocal_sigma): thresholds fall from the first error size to the
    last over all rounds, and repeated consolidation fills half-missing stripes almost exactly."""
    from core.nonlocal_lowrank import threshold

    h = w = 48
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    stripes = 0.5 + 0.4 * torch.sin(0.9 * xx + 0.35 * yy)
    truth = torch.stack([stripes, 0.8 * stripes + 0.1, 1.0 - stripes])[None].float()
    hole = (torch.rand((1, 1, h, w), generator=torch.Generator().manual_seed(3)) < 0.5).float()
    ctx = make_context(truth * (1 - hole), hole, torch.Generator().manual_seed(0), lr_iters=2,
                       nonlocal_sigma=(0.12, 0.01))
    taus = [t for i in range(10) for t in ctx.thresholds_at(i, 10)]
    assert len(taus) == 20 and taus == sorted(taus, reverse=True)
    assert taus[0] == pytest.approx(threshold(0.12)) and taus[-1] == pytest.approx(threshold(0.01))
    rgb = torch.where(hole > 0.5, torch.full_like(truth, 0.5), truth)
    for i in range(10):
        rgb, _ = ctx.consolidate(mpt(rgb, ctx.vmask), i, 10)
    keep = (1 - hole).bool().expand_as(rgb)
    assert torch.equal(rgb[keep], truth[keep])
    psnr = float(-10 * torch.log10(((rgb - truth) ** 2).mean()))
    assert psnr > 35.0, psnr


def test_tiled_map_identity():
    x = torch.rand(2, 3, 100, 90)
    torch.testing.assert_close(tiled_map(lambda t: t, x, 64, 16), x)


def test_tiled_map_in_chunks_matches_one_batch():
    """Big regions are processed a few tiles at a time (bounded memory); the result must not depend on it."""
    x = torch.rand(2, 3, 150, 130)
    calls = []

    def fn(t: torch.Tensor) -> torch.Tensor:  # per-tile non-linear, so a wrong tile order would show
        calls.append(t.shape[0])
        return t ** 2 + t.mean(dim=(1, 2, 3), keepdim=True)

    whole = tiled_map(fn, x, 64, 16, chunk=10_000)
    n_tiles = calls[0]
    calls.clear()
    chunked = tiled_map(fn, x, 64, 16, chunk=4)
    torch.testing.assert_close(chunked, whole)
    assert max(calls) <= 4 and sum(calls) == n_tiles and len(calls) > 1


# ---- samplers ----------------------------------------------------------------------------------------------------
def _sampling_setup(seed: int):
    torch.manual_seed(0)
    model = ScoreUNet(12, 8, (1, 2)).eval()
    known = _rgb(32, 32, seed=5)
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 10:22, 6:28] = 1
    gen = torch.Generator().manual_seed(seed)
    ctx = make_context(known, hole, gen, lr=True, rank=60, lr_every=2)
    noise = torch.randn((1, 12, 32, 32), generator=gen)
    return make_score_fn(model), noise, ctx, gen, known, hole


@pytest.mark.parametrize("sampler", [pc, ddrm])
def test_samplers_keep_known_pixels_and_are_deterministic(sampler):
    outs = []
    for _ in range(2):
        score, noise, ctx, gen, known, hole = _sampling_setup(7)
        with torch.inference_mode():
            steps = list(sampler(score, noise, ctx, sigmas(4), gen))
        assert len(steps) == 4 and steps[-1].t == 0.0
        out = steps[-1].denoised
        keep = hole[0, 0] == 0
        assert torch.equal(out[:, :, keep], known[:, :, keep])
        assert torch.isfinite(out).all() and float(out.min()) >= 0 and float(out.max()) <= 1
        outs.append(out)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    score, noise, ctx, gen, _, _ = _sampling_setup(8)
    with torch.inference_mode():
        other = list(sampler(score, noise, ctx, sigmas(4), gen))[-1].denoised
    assert not torch.equal(other, outs[0])


def test_sigmas():
    s = sigmas(10)
    assert len(s) == 11 and s[0] == pytest.approx(378.0) and s[-2] == pytest.approx(0.01) and s[-1] == 0.0


# ---- training and weights -------------------------------------------------------------------------------------
def test_training_lowers_loss():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    imgs = [np.stack([(np.sin(xx / (3 + k)) + 1) / 2, (np.cos(yy / 5) + 1) / 2,
                      0.3 + 0.1 * rng.random((48, 48))], 2).astype(np.float32) for k in range(2)]
    req = TrainRequest(images=imgs, out=Path("unused"), seed=0,
                       options={"batch": 4, "crop": 32, "lr": 2e-3, "warmup": 1, "bf16": False, **TINY})
    t = EsdiffTrainable(req)
    losses = [t.train_step(i)["loss"] for i in range(60)]
    assert np.mean(losses[-15:]) < 0.8 * np.mean(losses[:15])


def test_trainer_writes_loadable_weights(tmp_path):
    img = np.random.default_rng(0).random((40, 40, 3)).astype(np.float32)
    out = tmp_path / "w.safetensors"
    req = TrainRequest(images=[img], out=out, steps=3, seed=0,
                       options={"batch": 2, "crop": 32, "bf16": False, **TINY})
    events = list(train_esdiff(req))
    assert isinstance(events[-1], TrainDone) and events[-1].steps == 3
    state, config, meta = load_weights(out, "esdiff")
    model = build_model(config)
    model.load_state_dict(state)  # round trip through safetensors
    assert config["nf"] == 8 and meta["engine"] == "esdiff"
    with pytest.raises(UserError):
        load_weights(out, "grig")
    with pytest.raises(UserError, match="unknown esdiff training option"):  # a typo is not silently ignored
        EsdiffTrainable(TrainRequest(images=[img], out=out, options={"crops": 32}))


def test_weights_round_trip(tmp_path):
    p = _tiny_weights(tmp_path)
    state, config, _ = load_weights(p, "esdiff")
    torch.manual_seed(0)
    ref = build_model({"channels": 12, **TINY}).state_dict()
    for k, v in ref.items():
        assert torch.equal(state[k], v)


@pytest.mark.skipif(not shipped_weights("esdiff").is_file(), reason="shipped esdiff weights not built")
def test_shipped_weights_load():
    state, config, _ = load_weights(None, "esdiff")
    build_model(config).load_state_dict(state)


# ---- the engine -------------------------------------------------------------------------------------------------
def _engine():
    from core.engines.registry import Registry, register_builtin

    return register_builtin(Registry()).get("esdiff")


@pytest.mark.parametrize("channels", [3, 1, 4])
def test_engine_event_stream(tmp_path, channels):
    w = _tiny_weights(tmp_path)
    img, mask = _case()
    if channels == 1:
        img = img[:, :, :1].copy()
    elif channels == 4:
        img = np.concatenate([img, np.full(img.shape[:2] + (1,), 0.8, np.float32)], 2)
    req = InpaintRequest(img, mask, seed=3, sampler="ddrm", steps=3, options={"weights": str(w)})
    events = list(_engine().run(req))
    previews = [e for e in events if isinstance(e, Preview)]
    results = [e for e in events if isinstance(e, Result)]
    assert len(previews) == 3 and len(results) == 1
    assert previews[0].image.shape[2] == channels
    out = results[0].image
    assert out.shape == img.shape
    assert np.array_equal(out[~mask], img[~mask])
    assert np.all(np.isfinite(out))
    again = [e for e in _engine().run(req) if isinstance(e, Result)][0].image
    assert np.array_equal(out, again)


def test_engine_cancel_within_one_step(tmp_path):
    w = _tiny_weights(tmp_path)
    img, mask = _case()
    req = InpaintRequest(img, mask, sampler="pc", steps=50, options={"weights": str(w)})
    n = 0
    with pytest.raises(Cancelled):
        for ev in _engine().run(req):
            if isinstance(ev, Preview):
                n += 1
                req.cancel.set()
    assert n == 1


def test_engine_missing_and_corrupt_weights(tmp_path):
    img, mask = _case()
    with pytest.raises(UserError, match="no esdiff weights"):
        list(_engine().run(InpaintRequest(img, mask, options={"weights": str(tmp_path / "none.safetensors")})))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="damaged"):
        list(_engine().run(InpaintRequest(img, mask, options={"weights": str(bad)})))


def test_cli_missing_weights_exit_2(tmp_path, capsys):
    import cv2

    from core.cli import main

    img, mask = _case()
    cv2.imwrite(str(tmp_path / "img.png"), (img * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "mask.png"), mask.astype(np.uint8) * 255)
    out = tmp_path / "out.png"
    code = main(["inpaint", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "--out", str(out),
                 "--engine", "esdiff", "--weights", str(tmp_path / "missing.safetensors"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:")
    assert not out.exists()


def test_engine_starts_low_on_scattered_holes(tmp_path):
    """Isolated missing pixels: DDRM starts at a low noise level from Navier-Stokes; a real hole (a box) starts
    low from content-aware fill, or high from Telea without the PatchMatch library. Both are reported in the
    result's info."""
    from core.engines.esdiff import (DDRM_START, DDRM_START_PATCH, DDRM_START_SCATTERED, REFINE_ROUNDS,
                                     SCATTERED_LR)
    from core.engines.patchmatch import available

    w = _tiny_weights(tmp_path)
    img, box = _case()
    scattered = np.random.default_rng(0).random(box.shape) < 0.5
    infos = {}
    for name, mask in (("scattered", scattered), ("box", box)):
        req = InpaintRequest(img, mask, seed=0, sampler="ddrm", steps=2, options={"weights": str(w)})
        infos[name] = [e for e in _engine().run(req) if isinstance(e, Result)][0].info
    assert infos["scattered"]["start_sigma"] == DDRM_START_SCATTERED and infos["scattered"]["init"] == "ns"
    if available():
        assert infos["box"]["start_sigma"] == DDRM_START_PATCH and infos["box"]["init"] == "patchmatch"
    else:
        assert infos["box"]["start_sigma"] == DDRM_START and infos["box"]["init"] == "telea"
    # and the low-rank schedule of SCATTERED_LR, where a box keeps HKGM's fixed rank
    assert {k: infos["scattered"]["lr"][k] for k in SCATTERED_LR} == SCATTERED_LR
    assert infos["box"]["lr"]["rank_start"] is None and infos["box"]["lr"]["lr_iters"] == 1
    # the sampler keeps the Hankel step; scattered pixels then get the nonlocal refinement, a box none
    assert infos["scattered"]["lr"]["kind"] == "hankel" and infos["box"]["lr"]["kind"] == "hankel"
    assert infos["scattered"]["refine_rounds"] == REFINE_ROUNDS and infos["box"]["refine_rounds"] == 0
    req = InpaintRequest(img, scattered, seed=0, sampler="ddrm", steps=2,
                         options={"weights": str(w), "lowrank": "nonlocal", "refine_rounds": 3})
    events = list(_engine().run(req))
    info = [e for e in events if isinstance(e, Result)][0].info
    assert info["lr"]["kind"] == "nonlocal" and info["refine_rounds"] == 3
    refine = [e for e in events if isinstance(e, Progress) and e.stage == "refine"]
    assert [(e.step, e.total) for e in refine] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert sum(isinstance(e, Preview) and e.stage == "refine" for e in events) == 3
    # an explicit option wins over the default
    req = InpaintRequest(img, scattered, seed=0, sampler="ddrm", steps=2,
                         options={"weights": str(w), "sigma_max": 0.5, "init": "telea"})
    info = [e for e in _engine().run(req) if isinstance(e, Result)][0].info
    assert info["start_sigma"] == 0.5 and info["init"] == "telea"
    req = InpaintRequest(img, scattered, seed=0, sampler="ddrm", steps=2, options={"weights": str(w), "rank": 60})
    assert [e for e in _engine().run(req) if isinstance(e, Result)][0].info["lr"]["rank"] == 60


def test_engine_refuses_bad_low_rank_options(tmp_path):
    w = _tiny_weights(tmp_path)
    img, box = _case()
    for opts in ({"rank": "many"}, {"rank": 0}, {"rank_start": 500}, {"lr_iters": -1}, {"lowrank": "svd"},
                 {"refine_rounds": 2.5}, {"refine_rounds": -1}, {"refine_rounds": "many"}, {"refine_rounds": True}):
        req = InpaintRequest(img, box, seed=0, sampler="ddrm", steps=2, options={"weights": str(w), **opts})
        with pytest.raises(UserError, match="option"):
            list(_engine().run(req))


def _textured_box(make_texture) -> tuple[np.ndarray, np.ndarray]:
    """A 64 x 64 texture and a 24-px box hole in it."""
    mask = np.zeros((64, 64), bool)
    mask[20:44, 20:44] = True
    return make_texture(64, 64), mask


def test_hole_fill_starts_from_content_aware_fill(tmp_path, make_texture):
    """On a hole, DDRM starts low (DDRM_START_PATCH) from the best PatchMatch fill: the result stays close to that
    textured guess, where the Telea start (a smooth guess, high noise) wanders far from it."""
    from core.engines.esdiff import PATCH_POOL
    from core.engines.patchmatch import available, ranked_fills

    if not available():
        pytest.skip("PatchMatch library not installed")
    w = _tiny_weights(tmp_path)
    img, mask = _textured_box(make_texture)

    def run(options):
        req = InpaintRequest(img, mask, seed=0, sampler="ddrm", steps=3, options={"weights": str(w), **options})
        res = [e for e in _engine().run(req) if isinstance(e, Result)][0]
        return res.composed(), res.info

    out, info = run({})
    assert info["init"] == "patchmatch"
    guess = ranked_fills(img, mask, 1, PATCH_POOL, seed=0)[0]
    telea, _ = run({"init": "telea", "sigma_max": 1.0})
    near, far = np.abs(out - guess)[mask].mean(), np.abs(telea - guess)[mask].mean()
    assert near < 0.08 and near < 0.5 * far, (near, far)


def test_hole_fills_from_patchmatch_take_few_steps_with_the_start_detail_restored(tmp_path, make_texture,
                                                                                  monkeypatch):
    """Holes from a PatchMatch start sample at most PATCH_DDRM_STEPS (an explicit steps wins; scattered holes keep
    the preset's), and the start's faded detail is raised first (option detail; off leaves the start as it is)."""
    import core.engines.esdiff as esdiff_engine
    from core.engines.esdiff import PATCH_DDRM_STEPS, PRESET_TABLE
    from core.engines.patchmatch import available

    if not available():
        pytest.skip("PatchMatch library not installed")
    w = _tiny_weights(tmp_path)
    img, mask = _textured_box(make_texture)
    raised = []
    real = esdiff_engine.restore_detail

    def spy(image, m, *a, **k):
        out = real(image, m, *a, **k)
        raised.append(float(np.abs(out - image)[m].mean()))
        return out

    monkeypatch.setattr(esdiff_engine, "restore_detail", spy)

    def run(m, steps=None, **options):
        req = InpaintRequest(img, m, seed=0, sampler="ddrm", steps=steps, preset="fast",
                             options={"weights": str(w), **options})
        return [e for e in _engine().run(req) if isinstance(e, Result)][0]

    assert PRESET_TABLE["fast"].steps > PATCH_DDRM_STEPS
    assert run(mask).info["steps"] == PATCH_DDRM_STEPS
    assert len(raised) == 1 and raised[0] > 0.002  # the start's detail was raised, once
    assert run(mask, steps=7).info["steps"] == 7
    scattered = np.random.default_rng(0).random(mask.shape) < 0.3
    assert run(scattered).info["steps"] == PRESET_TABLE["fast"].steps
    assert len(raised) == 2  # the box again; never the scattered pixels' Navier-Stokes start
    run(mask, detail="off")
    run(mask, detail="final")
    assert len(raised) == 3
