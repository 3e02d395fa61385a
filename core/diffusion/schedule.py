"""The DDPM noise schedule: linear betas from 1e-4 to 0.02 over T = 1000 steps (Ho et al.; Cherel et al.)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

T = 1000


@dataclass(frozen=True)
class Schedule:
    betas: torch.Tensor  # (T,) float64 on the CPU: tiny, read as Python floats in the samplers
    alphas_cumprod: torch.Tensor  # (T,) abar_t for t = 0..T-1 (index t is the paper's step t+1)

    @property
    def num_steps(self) -> int:
        return self.betas.shape[0]

    def abar(self, t: int) -> float:
        """abar at integer step t; t = -1 means 'no noise' (abar = 1)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])


def linear_schedule(num_steps: int = T, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    return Schedule(betas, torch.cumprod(1.0 - betas, dim=0))


def spaced_timesteps(num_steps: int, total: int = T) -> list[int]:
    """``num_steps`` integer timesteps from high to low noise, evenly spaced, ending at 0.

    With num_steps = total this is every step (the paper's full ancestral sampler); with 20 it is
    DDRM's 950, 900, ..., 0 pattern scaled to start near the top of the schedule.
    """
    num_steps = max(1, min(num_steps, total))
    if num_steps == 1:
        return [total - 1]
    if num_steps == total:
        return list(range(total - 1, -1, -1))
    if total % num_steps == 0:
        skip = total // num_steps
        return list(range(total - skip, -1, -skip))
    return [int(round(v)) for v in torch.linspace(total - 1, 0, num_steps, dtype=torch.float64).tolist()]
