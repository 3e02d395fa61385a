"""Inpainting samplers as small pure functions with one signature (in the spirit of k-diffusion).

Every sampler is a generator function::

    sampler(denoise, noise, known, mask, schedule, timesteps, generator, clip=None, init=None) -> yields Step

- ``denoise(x_t, t) -> x0_hat``: the model with its conditioning bound in (x0-prediction).
- ``noise``: N(0, I) of the output's shape (B, C, H, W), drawn by the caller from its seeded generator.
- ``known``: the observed image (values in the hole are ignored); ``mask``: (B, 1, H, W), 1 = fill.
- ``timesteps``: integer steps from high to low noise (``schedule.spaced_timesteps``).
- ``generator``: the torch.Generator for fresh noise, so the same seed gives the same result.
- ``clip``: optional (lo, hi) tensors broadcastable to x; x0_hat is clamped to them (the data range).
- ``init``: optional first guess of the whole x0 (e.g. a classical fill of the hole). The first state is
  its forward diffusion to ``timesteps[0]``; with timesteps that start below T this is SDEdit-style
  sampling from a guess. None = the known pixels with the hole at the mean (0).

Each step yields ``Step(i, t, x, denoised)``, where ``denoised`` is the current x0 estimate with the known
pixels re-projected into it (the paper's x0_hat <- M x0_hat + (1 - M) known) -- exactly what a live preview
shows. The last Step's ``denoised`` is the result. They are generators rather than loops with a callback
so that an engine can yield its own events between steps and stop within one step by closing them;
``run_sampler`` gives the plain callback form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch

from core.diffusion.schedule import Schedule

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass
class Step:
    i: int  # index of this step, 0-based
    total: int
    t: int  # the model's timestep at this step
    x: torch.Tensor  # the state after this step (x_s)
    denoised: torch.Tensor  # x0 estimate, known pixels re-projected


def _reproject(x0: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, clip) -> torch.Tensor:
    if clip is not None:
        x0 = torch.maximum(torch.minimum(x0, clip[1]), clip[0])
    return mask * x0 + (1.0 - mask) * known


def _start(noise: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, abar: float, init=None) -> torch.Tensor:
    """x at the first timestep: the forward diffusion of the first guess plus noise."""
    guess = (1.0 - mask) * known if init is None else mask * init + (1.0 - mask) * known
    return math.sqrt(abar) * guess + math.sqrt(1.0 - abar) * noise


def ddpm(denoise: Denoiser, noise, known, mask, schedule: Schedule, timesteps: list[int],
         generator: Optional[torch.Generator], clip=None, init=None) -> Iterator[Step]:
    """Ancestral sampling with the DDPM posterior q(x_s | x_t, x0_hat); with all 1000 steps this is the
    paper's sampler, with fewer it is the same posterior between the spaced steps (DDIM with eta = 1)."""
    x = _start(noise, known, mask, schedule.abar(timesteps[0]), init)
    for i, t in enumerate(timesteps):
        s = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        x0 = _reproject(denoise(x, t), known, mask, clip)
        ab_t, ab_s = schedule.abar(t), schedule.abar(s)
        if s < 0:
            x = x0
        else:
            alpha_ts = ab_t / ab_s
            beta_ts = 1.0 - alpha_ts
            mean = (math.sqrt(ab_s) * beta_ts / (1.0 - ab_t)) * x0 + \
                   (math.sqrt(alpha_ts) * (1.0 - ab_s) / (1.0 - ab_t)) * x
            var = (1.0 - ab_s) / (1.0 - ab_t) * beta_ts
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = mean + math.sqrt(var) * z
        yield Step(i, len(timesteps), t, x, x0)


def ddim(denoise: Denoiser, noise, known, mask, schedule: Schedule, timesteps: list[int],
         generator: Optional[torch.Generator], clip=None, init=None) -> Iterator[Step]:
    """Deterministic DDIM (eta = 0): after the initial noise, no randomness."""
    x = _start(noise, known, mask, schedule.abar(timesteps[0]), init)
    for i, t in enumerate(timesteps):
        s = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        x0 = _reproject(denoise(x, t), known, mask, clip)
        ab_t, ab_s = schedule.abar(t), schedule.abar(s)
        if s < 0:
            x = x0
        else:
            eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1.0 - ab_t)
            x = math.sqrt(ab_s) * x0 + math.sqrt(1.0 - ab_s) * eps
        yield Step(i, len(timesteps), t, x, x0)


DDRM_ETA = 0.85  # the DDRM paper's setting for all experiments (eta_b = 1, noiseless measurements)


def ddrm(denoise: Denoiser, noise, known, mask, schedule: Schedule, timesteps: list[int],
         generator: Optional[torch.Generator], clip=None, init=None, eta: float = DDRM_ETA) -> Iterator[Step]:
    """DDRM (Kawar et al.) for noiseless inpainting, where H's SVD is the pixel basis itself.

    In the variance-exploding view xbar = x / sqrt(abar), sigma_t = sqrt((1 - abar) / abar):
    missing pixels: xbar_s = x0_hat + sqrt(1 - eta^2) sigma_s (xbar_t - x0_hat) / sigma_t + eta sigma_s z;
    observed pixels (sigma_y = 0 < sigma_s, eta_b = 1): xbar_s = y + sigma_s z.
    """
    def sigma(t: int) -> float:
        ab = schedule.abar(t)
        return math.sqrt((1.0 - ab) / ab) if t >= 0 else 0.0

    t0 = timesteps[0]
    # Eq. (7): observed pixels start at y + sigma_T z, missing ones at sigma_T z (same as _start).
    x = _start(noise, known, mask, schedule.abar(t0), init)
    for i, t in enumerate(timesteps):
        s = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        x0 = _reproject(denoise(x, t), known, mask, clip)
        if s < 0:
            x = x0
        else:
            sig_t, sig_s = sigma(t), sigma(s)
            xbar_t = x / math.sqrt(schedule.abar(t))
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            missing = x0 + math.sqrt(1.0 - eta ** 2) * sig_s * (xbar_t - x0) / sig_t + eta * sig_s * z
            observed = known + sig_s * z
            xbar_s = mask * missing + (1.0 - mask) * observed
            x = math.sqrt(schedule.abar(s)) * xbar_s
        yield Step(i, len(timesteps), t, x, x0)


SAMPLERS: dict[str, Callable[..., Iterator[Step]]] = {"ddpm": ddpm, "ddim": ddim, "ddrm": ddrm}


def run_sampler(sampler: Callable[..., Iterator[Step]], *args,
                callback: Optional[Callable[[Step], None]] = None, **kwargs) -> torch.Tensor:
    """Run a sampler to the end; ``callback(step)`` sees every step. Returns the final x0 (known exact)."""
    last = None
    for step in sampler(*args, **kwargs):
        if callback is not None:
            callback(step)
        last = step
    assert last is not None
    return last.denoised
