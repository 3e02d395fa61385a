"""The internal engine's prior: its gray fold, its training set and resumable training."""
import numpy as np
import pytest
import torch

from core.diffusion.unet import TinyUNet
from core.engines import internal_prior
from core.engines.internal_prior import fold_to_gray
from core.engines.prior_data import GENERATORS, procedural_texture


def test_gray_fold_computes_what_the_rgb_model_computes_on_the_gray_image_repeated():
    torch.manual_seed(0)
    rgb = TinyUNet(3)
    gray = TinyUNet(1)
    gray.load_state_dict(fold_to_gray(rgb.state_dict()))
    y, x_t = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32)
    m = (torch.rand(2, 1, 32, 32) > 0.5).float()
    t = torch.tensor([10, 700])
    with torch.no_grad():
        want = rgb(x_t.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1), m, t).mean(1, keepdim=True)
        got = gray(x_t, y, m, t)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_load_prior_serves_rgb_and_gray_only_and_refuses_a_damaged_file(tmp_path, monkeypatch):
    path = tmp_path / "prior.safetensors"
    monkeypatch.setattr(internal_prior, "prior_path", lambda channels: path)
    assert internal_prior.load_prior(3) is None  # no file: no prior
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in TinyUNet(3).state_dict().items()}, str(path))
    assert internal_prior.load_prior(3)["head.0.weight"].shape[1] == 3 + 3 + 1 + 16
    assert internal_prior.load_prior(1)["out.weight"].shape[0] == 1
    assert internal_prior.load_prior(7) is None
    path.write_bytes(b"not a safetensors file")
    assert internal_prior.load_prior(3) is None


@pytest.mark.parametrize("kind", range(len(GENERATORS)))
def test_procedural_textures_are_deterministic_textured_and_in_range(kind):
    a, b = procedural_texture(kind, 3, 96), procedural_texture(kind, 3, 96)
    assert a.shape == (96, 96, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert a.std() > 0.01  # not a flat colour
    assert not np.array_equal(a, procedural_texture(kind, 4, 96))


def test_prior_training_resumes_where_it_stopped(tmp_path, monkeypatch):
    from core.engines import prior_data

    tiles = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    monkeypatch.setattr(prior_data, "training_tiles", lambda seed=0: tiles)
    out = tmp_path / "p.safetensors"
    assert internal_prior.main(["--out", str(out), "--steps", "6", "--minutes", "0"]) == 0
    first = torch.load(str(out) + ".ckpt", weights_only=True)
    assert first["step"] == 1  # the time budget (0 min) stops it after one step
    assert internal_prior.main(["--out", str(out), "--steps", "6", "--minutes", "10", "--resume"]) == 0
    second = torch.load(str(out) + ".ckpt", weights_only=True)
    assert second["step"] == 6
