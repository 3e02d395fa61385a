"""GRIG few-shot GAN: networks, forged-patch labels, the residual loop, training, weights, engine, CLI.

Tiny networks and images throughout; nothing here needs the shipped weights except the one test that
checks them (skipped when they are absent).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.engines.base import InpaintRequest, Preview, Result
from core.engines.grig import GrigOptions
from core.errors import Cancelled, UserError
from core.fewshot.common import save_weights, shipped_weights
from core.fewshot.grig_disc import (FixedFeatures, PatchDiscriminator, ProjectedDiscriminator, forged_labels,
                                    hole_share, patch_targets, perceptual_loss)
from core.fewshot.grig_model import GenConfig, GRIGGenerator, iterate
from core.fewshot.grig_train import GRIGTrainer, comod_mask, diff_augment

ROOT = Path(__file__).resolve().parents[1]
TINY = GenConfig(widths=(4, 8, 8, 16), aot_blocks=1, transformer_blocks=1, heads=2)


def tiny_images(n: int = 2, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = []
    for i in range(n):
        base = 0.5 + 0.3 * np.sin(xx / (3 + i)) * np.cos(yy / 4)
        img = np.stack([base, 1 - base, 0.5 * base + 0.2], 2) + 0.03 * rng.standard_normal((size, size, 3))
        out.append(np.clip(img, 0, 1).astype(np.float32))
    return out


def tiny_trainer(**opts) -> GRIGTrainer:
    o = dict(crop=32, batch=2)
    o.update(opts)
    return GRIGTrainer(tiny_images(), seed=0, device="cpu", options=o, gen_config=TINY)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    tr = tiny_trainer()
    for i in range(3):
        tr.train_step(i)
    state, config = tr.export()
    path = tmp_path_factory.mktemp("grig") / "tiny.safetensors"
    save_weights(path, "grig", state, config)
    return path


# ---- networks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("h,w", [(32, 32), (40, 64), (64, 48)])
def test_generator_shapes(h, w):
    g = GRIGGenerator(TINY)
    out = g(torch.zeros(2, 3, h, w), torch.zeros(2, 1, h, w))
    assert out.shape == (2, 3, h, w)


def test_default_generator_size():
    n = sum(p.numel() for p in GRIGGenerator().parameters())
    assert 1_000_000 <= n <= 3_000_000


@pytest.mark.parametrize("h,w", [(32, 32), (64, 48), (96, 80)])
def test_discriminator_shapes(h, w):
    d = PatchDiscriminator(base=8)
    m = torch.zeros(1, 1, h, w)
    assert d(torch.zeros(1, 3, h, w)).shape == forged_labels(m).shape
    e = ProjectedDiscriminator(FixedFeatures((4, 8, 8)), mix=8, base=8)
    out = e(torch.zeros(2, 3, h, w))
    assert out.shape[:2] == (2, 1) and out.shape[2] >= 1 and out.shape[3] >= 1


def test_forged_labels_follow_receptive_fields():
    """A unit is labelled forged iff its receptive field touches the hole: units labelled real have exactly
    zero gradient w.r.t. every hole pixel; each forged unit has some."""
    torch.manual_seed(0)
    d = PatchDiscriminator(base=4).eval()
    h = w = 128  # receptive field 70 px
    mask = torch.zeros(1, 1, h, w)
    mask[..., 20:23, 30:34] = 1
    lab = forged_labels(mask)
    assert 0 < lab.sum() < lab.numel()
    x = torch.randn(1, 3, h, w, requires_grad=True)
    out = d(x)
    (g_real,) = torch.autograd.grad((out * (1 - lab)).sum(), x, retain_graph=True)
    assert (g_real * mask).abs().max() == 0
    for i, j in torch.nonzero(lab[0, 0])[:6].tolist():
        (g,) = torch.autograd.grad(out[0, 0, i, j], x, retain_graph=True)
        assert (g * mask).abs().sum() > 0
    # a full-hole mask forges everything; an empty one nothing
    assert forged_labels(torch.ones(1, 1, h, w)).min() == 1
    assert forged_labels(torch.zeros(1, 1, h, w)).max() == 0


def test_patch_targets_paper_rule_and_min_share():
    """min_share 0 is Eq. 4 (forged = touched, real = the rest); with 0.2 only units at least 20 % hole are
    forged, units barely touched are in neither term, and real units stay exactly those touching no hole."""
    h = w = 128
    mask = torch.zeros(1, 1, h, w)
    mask[..., 40:88, 40:88] = 1  # a 48-px box: every unit near it touches it, few are 20 % hole
    touched = forged_labels(mask)
    forged0, real0 = patch_targets(mask, 0.0)
    assert torch.equal(forged0, touched) and torch.equal(real0, 1 - touched)
    forged, real = patch_targets(mask, 0.2)
    assert torch.equal(real, real0)
    assert 0 < forged.sum() < touched.sum()
    assert torch.all(forged <= touched)
    share = hole_share(mask)
    assert torch.all(share[forged > 0] >= 0.2) and torch.all(share[(touched > 0) & (forged == 0)] < 0.2)


def test_fixed_features_are_fixed_and_perceptual_loss():
    a, b = FixedFeatures((4, 8)), FixedFeatures((4, 8))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb) and not pa.requires_grad
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert float(perceptual_loss(a, x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(perceptual_loss(a, x, -x)) > 0


def test_residual_loop_keeps_known_pixels():
    torch.manual_seed(0)
    g = GRIGGenerator(TINY)
    with torch.no_grad():
        g.out.bias.fill_(0.3)
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 10:24] = 1
    xs = list(iterate(g, img, mask, 3))
    assert len(xs) == 3
    for x in xs:
        assert torch.equal(x * (1 - mask), img * (1 - mask))
    assert not torch.equal(xs[0], xs[1])  # each iteration adds a residual


def test_masks_and_augment():
    rng = np.random.default_rng(0)
    ratios = [comod_mask(64, rng).mean() for _ in range(20)]
    assert all(0.02 < r < 0.85 for r in ratios)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    m = torch.zeros(2, 1, 32, 32)
    m[..., 10:20, 10:20] = 1
    xa, ma = diff_augment(x, m)
    assert xa.shape == x.shape and ma.shape == m.shape and 0 < ma.sum() <= m.sum()


# ---- training ------------------------------------------------------------------------------------------------
def test_training_lowers_reconstruction_loss():
    torch.manual_seed(0)
    tr = tiny_trainer(lr=1e-3, use_projected=False)  # the forged-patch D stays on; E is tested elsewhere
    imgs = torch.from_numpy(np.stack(tiny_images(4, 32, seed=5)).transpose(0, 3, 1, 2)) * 2 - 1
    mask = torch.zeros(4, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1

    def hole_l1() -> float:
        with torch.no_grad():
            x = list(iterate(tr.G, imgs, mask, 3))[-1]
        return float(((x - imgs).abs() * mask).sum() / (3 * mask.sum()))

    before = hole_l1()
    for i in range(30):
        tr.train_step(i)
    assert hole_l1() < 0.9 * before  # seeded: 0.320 -> 0.256


def test_checkpoint_round_trip_and_ablation_switches():
    tr = tiny_trainer(use_projected=False)
    out = tr.train_step(0)
    assert "e" not in out and "d" in out
    t = tr.checkpoint_tensors()
    tr2 = tiny_trainer(use_projected=False)
    tr2.load_checkpoint_tensors(t)
    for a, b in zip(tr.G.parameters(), tr2.G.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(UserError):
        tiny_trainer(crop=40)
    with pytest.raises(UserError, match="unknown grig training option"):
        tiny_trainer(use_pach=False)  # a typo is an error, not a silently ignored setting
    with pytest.raises(UserError, match="use_patch wants true or false"):
        tiny_trainer(use_patch="maybe")
    with pytest.raises(UserError, match="iterations wants a number"):
        tiny_trainer(iterations="three")


# ---- weights and engine ----------------------------------------------------------------------------------
def test_weights_round_trip(weights):
    from core.engines.grig import load_generator

    net, config = load_generator(str(weights), torch.device("cpu"))
    assert config["iterations"] == 3 and config["gen"]["widths"] == list(TINY.widths)
    ref = GRIGGenerator(TINY)
    from safetensors.torch import load_file
    ref.load_state_dict(load_file(str(weights)))
    x, m = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert net.state_dict().keys() == ref.state_dict().keys()
    assert all(torch.equal(a, ref.state_dict()[k]) for k, a in net.state_dict().items())
    with torch.no_grad():  # the engine's copy is channels_last: the same sums in another order
        assert torch.allclose(net(x, m, g1), ref.eval()(x, m, g2), atol=1e-5)


def test_bad_weights_are_user_errors(tmp_path):
    from core.engines.grig import load_generator

    with pytest.raises(UserError):
        load_generator(str(tmp_path / "missing.safetensors"), torch.device("cpu"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError):
        load_generator(str(bad), torch.device("cpu"))


def _engine():
    from core.engines.registry import Registry
    from core.engines import grig

    reg = Registry()
    grig.register(reg)
    return reg, reg.get("grig")


def _case(h=40, w=56, c=3):
    img = tiny_images(1, max(h, w))[0][:h, :w]
    if c == 1:
        img = img.mean(2, keepdims=True)
    elif c == 4:
        img = np.concatenate([img, np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w, 1)], 2)
    mask = np.zeros((h, w), bool)
    mask[12:26, 20:38] = True
    return img, mask


def test_registry_entry():
    reg, _ = _engine()
    caps = reg.capabilities("grig")
    assert caps.needs_weights and caps.retrainable and caps.supports_steps and caps.supports_seed
    assert reg.trainer("grig").__name__ == "train_grig"


@pytest.mark.parametrize("c", [1, 3, 4])
def test_engine_events_and_known_pixels(weights, c):
    _, eng = _engine()
    img, mask = _case(c=c)
    req = InpaintRequest(img, mask, seed=3, steps=2, options={"weights": str(weights)})
    events = list(eng.run(req))
    previews = [e for e in events if isinstance(e, Preview)]
    results = [e for e in events if isinstance(e, Result)]
    assert len(previews) == 2 and len(results) == 1
    assert previews[0].image.shape == (previews[0].box.height, previews[0].box.width, c)
    out = results[0].image
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.array_equal(out[~mask], img[~mask])
    assert np.all((out >= 0) & (out <= 1))
    again = [e for e in eng.run(InpaintRequest(img, mask, seed=3, steps=2, options={"weights": str(weights)}))
             if isinstance(e, Result)][0]
    assert np.array_equal(again.image, out)  # same seed -> same result


def test_engine_tiles_large_regions(weights):
    _, eng = _engine()
    img = tiny_images(1, 160)[0]
    mask = np.zeros((160, 160), bool)
    mask[20:140, 30:130] = True
    req = InpaintRequest(img, mask, steps=1, options={"weights": str(weights), "tile": 64, "overlap": 16})
    res = [e for e in eng.run(req) if isinstance(e, Result)][0]
    assert np.array_equal(res.image[~mask], img[~mask]) and np.isfinite(res.image).all()


def test_engine_cancel_and_bad_input(weights):
    _, eng = _engine()
    img, mask = _case()
    req = InpaintRequest(img, mask, steps=5, options={"weights": str(weights)})
    gen = eng.run(req)
    seen = 0
    with pytest.raises(Cancelled):
        for ev in gen:
            if isinstance(ev, Preview):
                seen += 1
                req.cancel.set()
    assert seen == 1
    with pytest.raises(UserError):
        list(eng.run(InpaintRequest(img, mask, steps=0, options={"weights": str(weights)})))
    with pytest.raises(UserError):
        list(eng.run(InpaintRequest(img, mask, options={"weights": str(weights) + ".missing"})))


def test_cli_missing_weights(tmp_path):
    import cv2

    img, mask = _case()
    cv2.imwrite(str(tmp_path / "img.png"), (img * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "m.png"), mask.astype(np.uint8) * 255)
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "inpaint", str(tmp_path / "img.png"), "--mask",
                        str(tmp_path / "m.png"), "--out", str(tmp_path / "o.png"), "--engine", "grig",
                        "--weights", str(tmp_path / "MISSING.safetensors")], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.skipif(not shipped_weights("grig").is_file(), reason="shipped grig weights not built")
def test_shipped_weights_load():
    from core.engines.grig import load_generator

    net, config = load_generator(None, torch.device("cpu"))
    n = sum(p.numel() for p in net.parameters())
    assert 1_000_000 <= n <= 3_000_000 and config["iterations"] >= 1


def test_mask_seeing_discriminator_uses_the_mask():
    d = PatchDiscriminator(base=8, sees_mask=True)
    x = torch.rand(1, 3, 48, 48) * 2 - 1
    m = torch.zeros(1, 1, 48, 48)
    with pytest.raises(ValueError):
        d(x)
    assert d(x, m).shape == forged_labels(m).shape
    m2 = m.clone()
    m2[..., 10:30, 10:30] = 1
    assert not torch.allclose(d(x, m), d(x, m2))  # same pixels, another hole: another judgement


def test_mask_seeing_discriminator_learns_flat_fills_quickly():
    """Told where the hole is, D separates mean-colour fills from the real hole content in a few steps."""
    torch.manual_seed(0)
    real = torch.from_numpy(np.stack(tiny_images(4, 48, seed=2)).transpose(0, 3, 1, 2)) * 2 - 1
    mask = torch.zeros(4, 1, 48, 48)
    mask[..., 12:36, 12:36] = 1
    fake = real * (1 - mask) + mask * (real * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True)
    d = PatchDiscriminator(base=8, sees_mask=True)
    opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    forged = forged_labels(mask)
    for _ in range(60):
        loss = F.relu(1 - d(real, mask)).mean() + (F.relu(1 - d(fake, mask)) * (1 - forged)
                                                   + F.relu(1 + d(fake, mask)) * forged).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        gap = float((d(real, mask) * forged).sum() - (d(fake, mask) * forged).sum()) / float(forged.sum())
    assert gap > 0.5


def test_trainer_with_mask_seeing_d_resumes_a_stripped_checkpoint(tmp_path):
    from core.fewshot.common import read_tensors, save_tensors
    from core.fewshot.grig_train import strip_patch_discriminator

    tr = tiny_trainer(use_projected=False)
    tr.train_step(0)
    save_tensors(tmp_path / "a.ckpt", tr.checkpoint_tensors(), {"engine": "grig", "step": "1"})
    with pytest.raises(UserError, match="does not match"):  # a 3-channel D cannot become a 4-channel one
        tiny_trainer(use_projected=False, patch_mask=True).load_checkpoint_tensors(tr.checkpoint_tensors())
    strip_patch_discriminator(str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"))
    tensors, _ = read_tensors(tmp_path / "b.ckpt", "checkpoint")
    assert not any(k.startswith(("D.", "opt_d.")) for k in tensors)
    tr2 = tiny_trainer(use_projected=False, patch_mask=True)
    tr2.load_checkpoint_tensors(tensors)
    for a, b in zip(tr.G.parameters(), tr2.G.parameters()):
        assert torch.equal(a, b)
    assert tr2.D.net[0].weight_orig.shape[1] == 4
    out = tr2.train_step(1)
    assert np.isfinite(out["d"]) and np.isfinite(out["patch_g"])


# ---- seam harmonisation ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def offset_weights(tmp_path_factory) -> Path:
    """A generator whose residual is a constant +0.1 (in [-1, 1]) everywhere: its fills drift bright, as the
    shipped one's sit off the surrounding level (a brown cast on gray plates)."""
    g = GRIGGenerator(TINY)
    with torch.no_grad():
        g.out.weight.zero_()
        g.out.bias.fill_(0.1)
    path = tmp_path_factory.mktemp("grig_offset") / "offset.safetensors"
    save_weights(path, "grig", g.state_dict(), {"gen": TINY.to_dict(), "iterations": 3, "crop": 32})
    return path


@pytest.mark.parametrize("c", [1, 3, 4])
def test_engine_seam_harmonisation_meets_the_surroundings(offset_weights, c):
    _, eng = _engine()
    img, mask = _case(c=c)
    img[..., :min(c, 3)] = 0.4  # a flat colour: the harmonised fill must meet it exactly
    fills = {}
    for mode in ("off", "final", "steps"):
        res = [e for e in eng.run(InpaintRequest(img, mask, steps=3, options={"weights": str(offset_weights),
                                                                               "seam": mode}))
               if isinstance(e, Result)][0]
        assert res.info["seam"] == mode and np.array_equal(res.image[~mask], img[~mask])
        fills[mode] = res.image[mask][:, :min(c, 3)]
    assert abs(fills["off"].mean() - 0.65) < 0.02  # the hole starts at 0.5, + 3 x 0.05: unharmonised drift
    for mode in ("final", "steps"):
        assert np.abs(fills[mode] - 0.4).max() < 0.01, mode
    if c == 4:  # alpha is Telea's, never shifted: a ramp stays within its own range
        res = [e for e in eng.run(InpaintRequest(img, mask, options={"weights": str(offset_weights)}))
               if isinstance(e, Result)][0]
        assert img[..., 3].min() <= res.image[..., 3][mask].min() and res.image[..., 3][mask].max() <= img[..., 3].max()


def test_engine_seam_options_are_checked(offset_weights):
    reg, eng = _engine()
    assert reg.capabilities("grig").harmonizes_seams
    img, mask = _case()
    for bad in ({"seam": "sometimes"}, {"seam_radius": -1}, {"seam_channels": [5]}):
        with pytest.raises(UserError):
            next(eng.run(InpaintRequest(img, mask, options={"weights": str(offset_weights), **bad})))
    # a material's single-map job names its channels: only those are shifted (here none of the colour ones)
    res = [e for e in eng.run(InpaintRequest(img, mask, options={"weights": str(offset_weights), "seam_channels": []}))
           if isinstance(e, Result)][0]
    assert res.info["seam"] == "off"


def test_full_res_decoder_option_rebuilds_the_same_weights_with_full_resolution_detail(tmp_path):
    """``full_res_decoder`` moves the last decoder conv (and its noise) after the up-sampling: same tensors (a
    resumed run keeps them), and the residual then varies at single-pixel scale, which a bilinear x2 up-sampling
    of a half-resolution map cannot."""
    from dataclasses import replace

    from core.engines.grig import load_generator

    half = GRIGGenerator(TINY)
    full = GRIGGenerator(replace(TINY, full_res_decoder=True))
    full.load_state_dict(half.state_dict())  # same shapes
    with torch.no_grad():
        for net in (half, full):
            net.up1.noise.weight.fill_(1.0)  # let the injected noise through
    x, m = torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32)

    def roughness(net):  # energy of the residual's second differences along x, relative to its first
        with torch.no_grad():
            y = net(x, m, torch.Generator().manual_seed(0))
        d1 = y[..., 1:] - y[..., :-1]
        return float((d1[..., 1:] - d1[..., :-1]).pow(2).mean() / d1.pow(2).mean())
    assert roughness(full) > 1.5 * roughness(half)
    tr = tiny_trainer(full_res_decoder=True)
    assert tr.cfg.full_res_decoder and not tiny_trainer().cfg.full_res_decoder
    state, config = tr.export()
    save_weights(tmp_path / "w.safetensors", "grig", state, config)
    net, _ = load_generator(str(tmp_path / "w.safetensors"), torch.device("cpu"))
    assert net.cfg.full_res_decoder and not net.up1.conv_first


def _noisy_plate(c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 96 x 96 plate of fine noise around 0.45 and a 36-px box hole in its middle."""
    rng = np.random.default_rng(seed)
    img = np.clip(0.45 + 0.1 * rng.normal(0, 1, (96, 96, c)), 0, 1).astype(np.float32)
    mask = np.zeros((96, 96), bool)
    mask[30:66, 30:66] = True
    return img, mask


def _fine_band(x: np.ndarray) -> np.ndarray:
    """The bands finer than the grain's split, inside the hole of ``_noisy_plate`` (its edge left out)."""
    import cv2

    from core.grain import GRAIN_SIGMA
    return (x - cv2.GaussianBlur(x, (0, 0), GRAIN_SIGMA).reshape(x.shape))[34:62, 34:62]


def _grig_result(eng, img, mask, weights, **options) -> Result:
    return [e for e in eng.run(InpaintRequest(img, mask, options={"weights": str(weights), **options}))
            if isinstance(e, Result)][0]


@pytest.mark.parametrize("c", [1, 3])
def test_engine_texture_gives_a_smooth_fill_the_images_texture(offset_weights, c):
    """The offset generator fills the hole with a flat level; with whole blocks (the default) or grain the hole gets
    the image's fine texture, with the texture step off it stays flat. Known pixels are the input's either way."""
    _, eng = _engine()
    img, mask = _noisy_plate(c, seed=0)
    out = {}
    for texture in ("blocks", "grain", "off"):
        res = _grig_result(eng, img, mask, offset_weights, texture=texture, detail=False)
        assert res.info["texture"] == texture and np.array_equal(res.image[~mask], img[~mask])
        out[texture] = res.image
    assert _fine_band(out["off"]).std() < 0.01
    assert _fine_band(out["grain"]).std() > 0.6 * _fine_band(img).std()
    assert _fine_band(out["blocks"]).std() > 0.6 * _fine_band(img).std()
    assert _grig_result(eng, img, mask, offset_weights).info["texture"] == "blocks"


def test_engine_detail_brings_the_grain_up_to_the_surroundings(offset_weights):
    """The quilted grain is cross-faded, so the hole's fine bands come out fainter than the image's; the detail step
    (the default) brings them closer to the image's spread. Known pixels stay the input's."""
    _, eng = _engine()
    img, mask = _noisy_plate(3, seed=1)
    spread = {}
    for detail in (True, False):
        res = _grig_result(eng, img, mask, offset_weights, detail=detail)
        assert res.info["detail"] is detail and np.array_equal(res.image[~mask], img[~mask])
        spread[detail] = float(_fine_band(res.image).std())
    truth = float(_fine_band(img).std())
    assert spread[False] < 0.97 * truth  # the faded grain this step is for
    assert spread[True] > spread[False] and abs(spread[True] - truth) < abs(spread[False] - truth)


def _noise_beside_stripes(width: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """Fine noise around 0.45 on the left 96 px, vertical stripes (8 px period) beyond; a 36-px box hole in the
    noise."""
    rng = np.random.default_rng(2)
    img = np.empty((96, width, 3), np.float32)
    img[:] = (0.45 + 0.2 * np.sign(np.sin(2 * np.pi * (np.arange(width) + 0.5) / 8)))[None, :, None]
    img[:, :96] = np.clip(0.45 + 0.1 * rng.normal(0, 1, (96, 96, 3)), 0, 1)
    mask = np.zeros((96, width), bool)
    mask[30:66, 30:66] = True
    return img, mask


def _stripiness(x: np.ndarray) -> float:
    """How much more the hole's inside changes across than along vertical stripes: about 1 for noise."""
    inner = x[34:62, 34:62]
    return float(np.abs(np.diff(inner, axis=1)).mean() / max(np.abs(np.diff(inner, axis=0)).mean(), 1e-6))


def test_engine_copies_only_from_the_sampling_area(offset_weights):
    """With a sampling area on the stripes the hole is rebuilt from striped blocks, though the noise is all around
    it; the area lies beyond the hole's usual region, which grows to take it in. Known pixels stay the input's."""
    _, eng = _engine()
    img, mask = _noise_beside_stripes()
    area = np.zeros_like(mask)
    area[:, 200:] = True
    assert eng.region(mask, GrigOptions()).x1 <= 200 < eng.region(mask, GrigOptions(source=area)).x1
    for texture in ("blocks", "grain"):
        plain = _grig_result(eng, img, mask, offset_weights, texture=texture, detail=False)
        fenced = _grig_result(eng, img, mask, offset_weights, texture=texture, detail=False, source=area)
        assert np.array_equal(fenced.image[~mask], img[~mask])
        assert _stripiness(plain.image) < 1.5 < 4 < _stripiness(fenced.image)


def test_engine_refuses_a_sampling_area_it_cannot_copy_from(offset_weights):
    _, eng = _engine()
    img, mask = _noise_beside_stripes()
    small = np.zeros_like(mask)
    small[5:20, 150:170] = True  # no 24-px block fits in it
    with pytest.raises(UserError, match="sampling area"):
        _grig_result(eng, img, mask, offset_weights, source=small)
    with pytest.raises(UserError, match="same size"):
        _grig_result(eng, img, mask, offset_weights, source=np.ones((10, 10), bool))
    res = _grig_result(eng, img, mask, offset_weights, source=small, texture="off")  # nothing copied: no need
    assert np.array_equal(res.image[~mask], img[~mask])
