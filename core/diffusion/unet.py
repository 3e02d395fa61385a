"""The tiny conditional UNet of Cherel et al. (internal diffusion inpainting).

Inputs, concatenated as channels: the masked image y (C), the noisy image x_t (C), the mask M (1) and a
16-channel time map (a sinusoidal embedding of t through a small MLP, tiled over the image). A 3x3 conv
lifts them to 32 channels; a recursive UNet of 3 levels (two 3x3 convs + ReLU, max-pool, the inner level,
nearest 2x upsampling, concatenation with the skip, two 3x3 convs) with a two-conv bottleneck at 1/8;
a linear 3x3 conv back to C channels predicts x0. No normalisation, attention or residuals: 165,187
parameters for RGB, 172,972 for 12 channels, as in the authors' code. H and W must be multiples of 8.

With ``skip_abar`` (the schedule's cumulative alphas) the network's output F is not x0 itself: the estimate is
sqrt(abar_t) x_t + sqrt(1 - abar_t) F -- the skip of Karras et al.'s preconditioning ("Elucidating the design
space of diffusion-based generative models", 2022) for data of unit spread, the same as predicting v (Salimans and
Ho, 2022). At low noise the estimate is then x_t plus a small correction, so a model trained for a few hundred
steps from random weights leaves a good start as it is; predicting x0 directly, such a model replaces the start's
texture by its own smooth guess (docs/material.md). The parameters are the same either way, so the choice is the
caller's to remember (the engines' model cache keys on it).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

WIDTH = 32
TIME_DIM = 16
LEVELS = 3


def timestep_embedding(t: torch.Tensor, dim: int = TIME_DIM) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class _Level(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(inplace=True))
        self.inner = inner
        self.up = nn.Sequential(nn.Conv2d(2 * WIDTH, WIDTH, 3, padding=1), nn.ReLU(inplace=True),
                                nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.down(x)
        inner = self.inner(F.max_pool2d(skip, 2))
        inner = F.interpolate(inner, scale_factor=2.0, mode="nearest")
        return self.up(torch.cat([skip, inner], dim=1))


class TinyUNet(nn.Module):
    def __init__(self, channels: int, skip_abar: torch.Tensor | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.skip = skip_abar is not None
        if skip_abar is not None:  # not in the state dict: the weights are the same kind of weights either way
            self.register_buffer("abar", skip_abar.detach().float().clone(), persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(TIME_DIM, TIME_DIM), nn.GELU(), nn.Linear(TIME_DIM, TIME_DIM))
        self.head = nn.Sequential(nn.Conv2d(2 * channels + 1 + TIME_DIM, WIDTH, 3, padding=1), nn.ReLU(inplace=True))
        body: nn.Module = nn.Sequential(nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(inplace=True),
                                        nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(inplace=True))
        for _ in range(LEVELS):
            body = _Level(body)
        self.body = body
        self.out = nn.Conv2d(WIDTH, channels, 3, padding=1)

    def forward(self, x_t: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t, y: (B, C, H, W); mask: (B, 1, H, W) with 1 = unknown; t: (B,) integer steps -> x0 estimate."""
        b, _, h, w = x_t.shape
        temb = self.time_mlp(timestep_embedding(t))[:, :, None, None].expand(b, TIME_DIM, h, w)
        z = self.head(torch.cat([y, x_t, mask.to(x_t.dtype), temb.to(x_t.dtype)], dim=1))
        out = self.out(self.body(z))
        if not self.skip:
            return out
        a = self.abar[t].view(b, 1, 1, 1)
        return a.sqrt() * x_t.float() + (1.0 - a).sqrt() * out.float()  # float: x_t's fine detail survives bf16


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
