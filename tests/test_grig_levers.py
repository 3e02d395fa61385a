"""GRIG's optional training levers: the trained ESDiff features, the patch-SWD loss, fine-tuning a weights file."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.fewshot.common import load_weights, shipped_weights
from core.fewshot.grig_levers import TrainedFeatures, patch_swd_loss
from core.fewshot.grig_train import GRIGTrainer


def _images(n: int = 2, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((size, size, 3)).astype(np.float32) for _ in range(n)]


def _hole(size: int = 48) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size)
    m[..., 16:32, 16:32] = 1.0
    return m


def test_patch_swd_loss_pays_for_texture_in_the_hole_and_reaches_it():
    torch.manual_seed(0)
    real = torch.randn(1, 3, 48, 48) * 0.3
    mask = _hole()
    textured = real.clone()
    textured[..., 16:32, 16:32] = torch.randn(1, 3, 16, 16) * 0.3  # other noise, same statistics
    flat = real.clone()
    flat[..., 16:32, 16:32] = 0.0
    flat.requires_grad_(True)
    torch.manual_seed(1)
    same = float(patch_swd_loss(textured, real, mask))
    torch.manual_seed(1)
    smooth = patch_swd_loss(flat, real, mask)
    assert float(smooth.detach()) > 5 * same
    smooth.backward()
    grad = flat.grad.abs()
    assert grad[..., 16:32, 16:32].sum() > 0
    assert grad[..., :8, :].sum() == 0  # only the hole's patches carry the fill's side of the distance


def test_patch_swd_loss_adds_nothing_without_a_hole():
    real = torch.randn(2, 3, 32, 32)
    assert float(patch_swd_loss(real + 1.0, real, torch.zeros(2, 1, 32, 32))) == 0.0


@pytest.mark.skipif(not shipped_weights("esdiff").is_file(), reason="shipped esdiff weights missing")
def test_trained_features_are_the_frozen_esdiff_encoder():
    feats = TrainedFeatures()
    assert not any(p.requires_grad for p in feats.parameters())
    state, _, _ = load_weights(None, "esdiff")
    assert torch.equal(feats.net.head.weight, state["head.weight"])
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    out = feats(x)
    assert [f.shape[1] for f in out] == list(feats.widths)
    assert [f.shape[-1] for f in out] == [32, 16, 16]
    x.requires_grad_(True)
    feats(x)[-1].square().mean().backward()  # the generator is trained through them
    assert x.grad.abs().sum() > 0


@pytest.mark.skipif(not shipped_weights("grig").is_file(), reason="shipped grig weights missing")
def test_init_fine_tunes_the_shipped_generator():
    tr = GRIGTrainer(_images(), 0, "cpu", {"init": "shipped", "crop": 32, "batch": 1})
    state, _, _ = load_weights(None, "grig")
    for name, tensor in tr.G.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    fresh = GRIGTrainer(_images(), 0, "cpu", {"crop": 32, "batch": 1}).G.state_dict()
    assert any(not torch.equal(fresh[name], state[name]) for name in fresh)


@pytest.mark.parametrize("options, words", [
    ({"features": "vgg"}, "random or esdiff"),
    ({"features": 1.0}, "a name or a path"),
    ({"swd": "lots"}, "a number"),
    ({"swd": -1.0}, "0 or more"),
    ({"init": "/nowhere/w.safetensors"}, "no grig weights"),
])
def test_bad_lever_options_are_one_message(options, words):
    with pytest.raises(UserError, match=words):
        GRIGTrainer(_images(), 0, "cpu", {**options, "crop": 32, "batch": 1})


def test_swd_option_trains_with_the_term():
    tr = GRIGTrainer(_images(), 0, "cpu", {"swd": 100.0, "crop": 64, "batch": 1})
    assert np.isfinite(tr.train_step(0)["swd"])
    assert "swd" not in GRIGTrainer(_images(), 0, "cpu", {"crop": 64, "batch": 1}).train_step(0)
