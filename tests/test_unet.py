"""The tiny UNet of Cherel et al.: its size, and that it maps any channel count back to itself."""
from __future__ import annotations

import pytest
import torch

from core.diffusion.unet import TinyUNet, count_parameters, timestep_embedding


@pytest.mark.parametrize("channels, expected", [(3, 165_187), (12, 172_972)])
def test_parameter_count_matches_the_paper(channels, expected):
    assert count_parameters(TinyUNet(channels)) == expected


def test_parameter_count_grows_with_channels():
    counts = [count_parameters(TinyUNet(c)) for c in (1, 3, 10)]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("channels", [1, 3, 10])
@pytest.mark.parametrize("size", [(8, 8), (24, 40), (48, 32)])
def test_output_shape(channels, size):
    torch.manual_seed(0)
    h, w = size
    model = TinyUNet(channels).eval()
    b = 2
    x_t = torch.randn(b, channels, h, w)
    y = torch.randn(b, channels, h, w)
    mask = (torch.rand(b, 1, h, w) > 0.5).float()
    t = torch.tensor([0, 999])
    with torch.no_grad():
        out = model(x_t, y, mask, t)
    assert out.shape == (b, channels, h, w)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_output_depends_on_timestep_and_mask():
    torch.manual_seed(0)
    model = TinyUNet(3).eval()
    x_t, y = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16)
    m0, m1 = torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16)
    with torch.no_grad():
        a = model(x_t, y, m0, torch.tensor([10]))
        b = model(x_t, y, m0, torch.tensor([900]))
        c = model(x_t, y, m1, torch.tensor([10]))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, c)


def test_timestep_embedding():
    e = timestep_embedding(torch.tensor([0, 1, 500]))
    assert e.shape == (3, 16)
    # sin(0) = 0 for the first half, cos(0) = 1 for the second
    assert torch.equal(e[0, :8], torch.zeros(8)) and torch.equal(e[0, 8:], torch.ones(8))
    assert not torch.allclose(e[1], e[2])


def test_the_skip_estimate_is_the_noisy_input_plus_the_output_scaled_by_the_noise_level():
    """With the skip the same weights estimate x0 as sqrt(abar) x_t + sqrt(1 - abar) F: at low noise an untrained
    model hands back about x_t (a start it was given), at high noise about its own output."""
    from core.diffusion.schedule import linear_schedule

    abar = linear_schedule().alphas_cumprod
    torch.manual_seed(0)
    plain = TinyUNet(3).eval()
    skip = TinyUNet(3, abar).eval()
    skip.load_state_dict(plain.state_dict())  # the buffer is not part of the weights
    assert set(skip.state_dict()) == set(plain.state_dict())
    x_t, y, m = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.ones(2, 1, 16, 16)
    t = torch.tensor([2, 900])
    with torch.no_grad():
        f, est = plain(x_t, y, m, t), skip(x_t, y, m, t)
    a = abar[t].float().view(2, 1, 1, 1)
    assert torch.allclose(est, a.sqrt() * x_t + (1 - a).sqrt() * f, atol=1e-5)
    assert (est[0] - x_t[0]).abs().mean() < 0.05 < (f[0] - x_t[0]).abs().mean()
