"""Samplers: known pixels exact at every step, seeded determinism, and the timestep spacing."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.diffusion.samplers import SAMPLERS, Step, ddim, run_sampler
from core.diffusion.schedule import T, linear_schedule, spaced_timesteps

SCHEDULE = linear_schedule(T)


def _problem(channels: int = 3, b: int = 2, h: int = 16, w: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    known = torch.rand(b, channels, h, w, generator=g) * 4.0 - 2.0  # normalised data, not just [0, 1]
    mask = torch.zeros(b, 1, h, w)
    mask[:, :, 4:12, 6:18] = 1.0
    mask[1, :, 0, 0] = 1.0  # a hole pixel in a corner too
    noise = torch.randn(b, channels, h, w, generator=g)
    return known, mask, noise


def random_denoiser(seed: int = 123):
    """A 'model' that returns wild values (not even in the data range) -- the worst case for re-projection."""
    g = torch.Generator().manual_seed(seed)

    def denoise(x, t):
        return torch.randn(x.shape, generator=g) * 10.0 + x
    return denoise


def blur_denoiser(x, t):
    c = x.shape[1]
    k = torch.ones(c, 1, 3, 3) / 9.0
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("denoiser", ["random", "blur"])
@pytest.mark.parametrize("clip", [False, True])
def test_every_step_keeps_known_pixels_exact(name, denoiser, clip):
    known, mask, noise = _problem()
    den = random_denoiser() if denoiser == "random" else blur_denoiser
    bounds = (torch.full((1, 3, 1, 1), -1.0), torch.full((1, 3, 1, 1), 1.5)) if clip else None
    steps = list(SAMPLERS[name](den, noise, known, mask, SCHEDULE, spaced_timesteps(7),
                                torch.Generator().manual_seed(1), clip=bounds))
    assert len(steps) == 7
    keep = (mask == 0).expand_as(known)
    for st in steps:
        assert isinstance(st, Step) and st.total == 7
        assert st.denoised.shape == known.shape
        assert torch.equal(st.denoised[keep], known[keep]), f"{name} step {st.i}"
        assert torch.isfinite(st.denoised).all()
        if clip:
            hole = (mask == 1).expand_as(known)
            assert st.denoised[hole].min() >= -1.0 and st.denoised[hole].max() <= 1.5
    # the last step is the result: the state equals the estimate
    assert torch.equal(steps[-1].x, steps[-1].denoised)
    assert [st.i for st in steps] == list(range(7))
    assert [st.t for st in steps] == spaced_timesteps(7)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_seed_same_output_different_seed_differs(name):
    known, mask, noise = _problem()

    def run(seed):
        return run_sampler(SAMPLERS[name], blur_denoiser, noise, known, mask, SCHEDULE, spaced_timesteps(10),
                           torch.Generator().manual_seed(seed))

    a, b = run(5), run(5)
    assert torch.equal(a, b)
    hole = (mask == 1).expand_as(known)
    c = run(6)
    if name == "ddim":  # deterministic: the generator is never used
        assert torch.equal(a, c)
    else:
        assert not torch.equal(a[hole], c[hole])


def test_ddim_is_deterministic_given_the_noise():
    known, mask, noise = _problem()
    a = run_sampler(ddim, blur_denoiser, noise, known, mask, SCHEDULE, spaced_timesteps(12), None)
    b = run_sampler(ddim, blur_denoiser, noise.clone(), known, mask, SCHEDULE, spaced_timesteps(12),
                    torch.Generator().manual_seed(999))
    assert torch.equal(a, b)
    other = torch.randn(noise.shape, generator=torch.Generator().manual_seed(42))
    c = run_sampler(ddim, blur_denoiser, other, known, mask, SCHEDULE, spaced_timesteps(12), None)
    hole = (mask == 1).expand_as(known)
    assert not torch.equal(a[hole], c[hole])


def test_run_sampler_callback_sees_every_step():
    known, mask, noise = _problem()
    seen = []
    out = run_sampler(SAMPLERS["ddrm"], blur_denoiser, noise, known, mask, SCHEDULE, spaced_timesteps(5),
                      torch.Generator().manual_seed(0), callback=lambda st: seen.append((st.i, st.denoised)))
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert torch.equal(out, seen[-1][1])


def test_perfect_denoiser_recovers_the_image():
    """With an oracle that returns the truth, every sampler ends exactly at the truth (a sanity check of the
    update formulas: the last step returns x0_hat)."""
    truth = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    for name, sampler in SAMPLERS.items():
        noise = torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
        out = run_sampler(sampler, lambda x, t: truth, noise, truth, mask, SCHEDULE, spaced_timesteps(6),
                          torch.Generator().manual_seed(0))
        assert torch.allclose(out, truth, atol=1e-6), name


# --------------------------------------------------------------------------------------------------------
# Timesteps and schedule
# --------------------------------------------------------------------------------------------------------
def test_spaced_timesteps_properties():
    for n in range(1, T + 1):
        ts = spaced_timesteps(n, T)
        assert len(ts) == n, n
        assert all(isinstance(t, int) for t in ts)
        assert all(0 <= t <= T - 1 for t in ts), n
        assert all(a > b for a, b in zip(ts, ts[1:])), n  # strictly descending, hence unique
        if n >= 2:
            assert ts[-1] == 0, n
        assert ts[0] >= T - 1 - T // n, n  # starts near the top of the schedule


def test_spaced_timesteps_known_patterns():
    assert spaced_timesteps(T) == list(range(T - 1, -1, -1))
    ts20 = spaced_timesteps(20)
    assert ts20[-1] == 0 and len(set(b - a for a, b in zip(ts20[1:], ts20))) == 1  # even spacing
    assert spaced_timesteps(5000) == spaced_timesteps(T)  # clamped
    assert spaced_timesteps(0) == spaced_timesteps(1) == [T - 1]


def test_linear_schedule():
    s = linear_schedule()
    assert s.num_steps == T
    assert abs(float(s.betas[0]) - 1e-4) < 1e-12 and abs(float(s.betas[-1]) - 0.02) < 1e-12
    ab = s.alphas_cumprod
    assert bool((ab[1:] < ab[:-1]).all())
    assert s.abar(-1) == 1.0 and 0.0 < s.abar(T - 1) < 1e-4
