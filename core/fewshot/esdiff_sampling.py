"""ESDiff's conditional sampling on a learned 12-channel VE-SDE prior.

Two samplers share one "consolidation" step, in the style of ``core.diffusion.samplers`` (generators that
yield ``Step(i, total, t, x, denoised)``; here ``t`` is sigma and ``denoised`` the RGB estimate):

- ``pc``: the paper's predictor-corrector sampler: reverse-diffusion predictor (Eq. 14) and annealed
  Langevin corrector with snr 0.075 (Eq. 15), sigma geometric from SIGMA_MAX = 378 to SIGMA_MIN = 0.01,
  with iterative i-MPT, the Hankel low-rank (LR) step and hard data consistency (DC) after predictor and
  corrector. Two network evaluations per step.
- ``ddrm``: DDRM's noiseless-inpainting update (eta 0.85) on the same prior, in sigma space (a VE state is
  already DDRM's xbar): missing pixels x_s = x0 + sqrt(1 - eta^2) sigma_s (x_t - x0) / sigma_t + eta sigma_s z,
  known pixels x_s = y + sigma_s z. One network evaluation per step (~20 in all).

Consolidation (decisions where the paper is vague). From the score s(x, sigma) we take Tweedie's estimate
x0 = x + sigma^2 s of the 12-channel tensor, and then, on that estimate rather than on the noisy state (so
the inverse's 1 / (1 - M) never amplifies noise):
  1. i-MPT: the four RGB views, averaged with the paper's softmax weights (``view_weights``);
  2. LR: Hankel low-rank projection of each 64x64 tile: im2row with 8x8 windows (a 3249 x 192 matrix for a
     64x64 RGB patch, as in the paper), truncated to its leading singular components, row2im by averaging,
     then DC; ``lr_iters`` rounds of that alternating projection per step. The paper solves a rank problem
     by ADMM with an LMaFit start, its rank unstated; HKGM's code keeps 115 components. The rank may rise
     along the run, geometrically from ``rank_start`` at the first step to ``rank`` at the last: coarse
     structure first, and as many steps at each doubling of the rank. The engine uses HKGM's fixed 115 on
     holes and 2 -> 60 with two rounds on scattered pixels (SCATTERED_LR). A nonlocal variant exists
     (``Context.nonlocal_sigma``, ``core.nonlocal_lowrank``: groups of similar 8x8 windows -- row subsets of
     the same Hankel matrix -- each hard-thresholded, the threshold falling over the run); on scattered
     pixels the engine runs it as a refinement after sampling, where it measured better than inside the
     sampler (``core.engines.esdiff``, REFINE_ROUNDS);
  3. DC: known pixels replaced by the observation (Eq. 22 with hard constraints), the hole clamped to [0, 1];
  4. iterative MPT: the consolidated RGB is re-encoded with the saved virtual mask.
The sampler then continues from the score that points at the consolidated estimate,
s' = (MPT(rgb_c) - x) / sigma^2, and hard DC is applied to the state as well (known pixels = MPT(y) plus
noise of the current sigma, so the state stays on the prior's noise level; exact at the end).

Cost decision: one LR projection of a 256x256 region (25 tiles) costs about one network evaluation on this
CPU, so on holes the engine applies it at every ``lr_every``-th step (about 10 projections per run, always
including the last step); ``lr_every=1`` is the paper's schedule, and the scattered-pixel default.

The network runs on overlapping 64x64 tiles (stride 48; a 256x256 region gives the paper's 25 patches)
batched together and blended with linear ramps, so any region size works at the trained scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from core.diffusion.samplers import DDRM_ETA
from core.fewshot.esdiff_model import impt, mpt, view_weights
from core.lowrank import HANKEL_RANK, OVERLAP, TILE, lowrank_complete, tiled_map
from core.nonlocal_lowrank import nonlocal_complete, thresholds

SIGMA_MIN = 0.01
SIGMA_MAX = 378.0
SNR = 0.075

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]


@dataclass
class Step:
    i: int
    total: int
    t: float  # sigma after this step
    x: torch.Tensor  # the 12-channel state
    denoised: torch.Tensor  # the consolidated RGB estimate (B, 3, H, W), known pixels exact


def sigmas(n: int, sigma_max: float = SIGMA_MAX, sigma_min: float = SIGMA_MIN) -> list[float]:
    """n noise levels, geometric from sigma_max to sigma_min, followed by 0 (n steps in all)."""
    if n < 1:
        raise ValueError("at least one step")
    if n == 1:
        return [sigma_max, 0.0]
    r = math.log(sigma_min / sigma_max) / (n - 1)
    return [sigma_max * math.exp(r * i) for i in range(n)] + [0.0]


# ---- data consistency (the low-rank step and tiling live in core.lowrank) ----------------------------------
def data_consistency(rgb: torch.Tensor, known: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Hard DC: observed pixels replaced by the observation exactly (hole: 1 = fill)."""
    return torch.where(hole > 0.5, rgb, known)


def make_score_fn(model: torch.nn.Module, tile: int = TILE, overlap: int = OVERLAP,
                  autocast: torch.dtype | None = None) -> ScoreFn:
    """score(x, sigma) over tiles; x is padded (reflect) to the network's multiple and cropped back."""
    mult = getattr(model, "multiple", 4)

    def run(xb: torch.Tensor, sigma: float) -> torch.Tensor:
        h, w = xb.shape[-2:]
        ph, pw = (-h) % mult, (-w) % mult
        if ph or pw:
            xb = F.pad(xb, (0, pw, 0, ph), mode="reflect" if h > ph and w > pw else "replicate")
        s = torch.full((xb.shape[0],), float(sigma), device=xb.device)
        with torch.autocast(xb.device.type, dtype=autocast, enabled=autocast is not None):
            out = model(xb, s)
        return out.float()[:, :, :h, :w]

    def score(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return tiled_map(lambda t: run(t, sigma), x, tile, overlap)

    return score


# ---- consolidation: i-MPT, LR, DC, MPT --------------------------------------------------------------------------
@dataclass
class Context:
    known: torch.Tensor  # (B, 3, H, W) observation (hole values ignored)
    hole: torch.Tensor  # (B, 1, H, W), 1 = fill
    vmask: torch.Tensor  # (B, 1, H, W) the saved virtual mask
    weights: torch.Tensor  # (B, 4) i-MPT view weights
    lr: bool = True
    rank: int = HANKEL_RANK  # the Hankel rank at the last step
    lr_every: int = 1  # apply the LR step at every lr_every-th step (it costs about one network evaluation)
    rank_start: int | None = None  # the rank at the first step (rising geometrically to ``rank``); None = fixed
    lr_iters: int = 1  # alternating (projection, DC) rounds per LR step
    tile: int = TILE
    overlap: int = OVERLAP
    init: torch.Tensor | None = None  # first guess of the hole (B, 3, H, W); None = mid-gray
    # The nonlocal variant of the LR step (core.nonlocal_lowrank): None = the Hankel step; else the error
    # size sigma (first, last) that sets its threshold, falling geometrically over all rounds of the run.
    nonlocal_sigma: tuple[float, float] | None = None

    @property
    def known12(self) -> torch.Tensor:
        return mpt(self.known, self.vmask)

    def rank_at(self, step: int, total: int) -> int:
        if self.rank_start is None or total <= 1:
            return self.rank
        # Geometric: the rank doubles in equal numbers of steps (measured ~0.2 dB above a linear rise, see
        # SCATTERED_LR), so the low ranks that fix coarse structure get as many steps as the high ones.
        return int(round(self.rank_start * (self.rank / self.rank_start) ** (step / (total - 1))))

    def thresholds_at(self, step: int, total: int) -> list[float]:
        """The nonlocal step's thresholds for the ``lr_iters`` rounds at ``step`` of ``total``."""
        n = max(1, self.lr_iters)
        return thresholds(total * n, *self.nonlocal_sigma)[step * n:(step + 1) * n]

    def consolidate(self, x0_12: torch.Tensor, step: int = 0, total: int = 1,
                    lr: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """12-channel estimate at sampling step ``step`` of ``total`` -> (consolidated RGB, its re-encoding).
        The LR step runs when ``lr`` and every ``lr_every``-th step counted back from the last one."""
        rgb = impt(x0_12, self.vmask, self.weights)
        if self.lr and lr and (total - 1 - step) % max(1, self.lr_every) == 0:
            if self.nonlocal_sigma is not None:
                rgb = nonlocal_complete(rgb, self.known, self.hole, self.thresholds_at(step, total))
            else:
                rgb = lowrank_complete(rgb, self.known, self.hole, self.rank_at(step, total),
                                       max(1, self.lr_iters), self.tile, self.overlap)
        rgb = data_consistency(rgb.clamp(0.0, 1.0), self.known, self.hole)
        return rgb, mpt(rgb, self.vmask)


def make_context(known: torch.Tensor, hole: torch.Tensor, generator: torch.Generator, use_mpt: bool = True,
                 lr: bool = True, rank: int = HANKEL_RANK, lr_every: int = 1, rank_start: int | None = None,
                 lr_iters: int = 1, nonlocal_sigma: tuple[float, float] | None = None) -> Context:
    """The sampling context; ``use_mpt=False`` ignores the perturbed views (weights one-hot on the plain
    view), the ablation of the inverse/iterative MPT."""
    from core.fewshot.esdiff_model import virtual_mask

    b = known.shape[0]
    vm = virtual_mask((b, 1) + tuple(known.shape[2:]), generator, known.device)
    if use_mpt:
        w = view_weights(known, 1.0 - hole)
    else:
        w = torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=known.device).expand(b, -1)
    return Context(known, hole, vm, w, lr, rank, lr_every, rank_start, lr_iters, nonlocal_sigma=nonlocal_sigma)


def _start(ctx: Context, noise: torch.Tensor, sigma0: float) -> torch.Tensor:
    """The first state: the guess (known pixels, the hole mid-gray or ``ctx.init``) encoded, plus noise.
    From SIGMA_MAX the guess is irrelevant; started lower (SDEdit-style), it is what the sampler refines."""
    fill = torch.full_like(ctx.known, 0.5) if ctx.init is None else ctx.init
    guess = torch.where(ctx.hole > 0.5, fill, ctx.known)
    return mpt(guess, ctx.vmask) + sigma0 * noise


def _state_dc(x: torch.Tensor, ctx: Context, sigma: float, gen: torch.Generator | None) -> torch.Tensor:
    if sigma <= 0:
        return torch.where(ctx.hole > 0.5, x, ctx.known12)
    z = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return torch.where(ctx.hole > 0.5, x, ctx.known12 + sigma * z)


def _randn(x: torch.Tensor, gen) -> torch.Tensor:
    return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def _denoised(score: ScoreFn, ctx: Context, x: torch.Tensor, sigma: float, step: int, total: int, lr: bool = True):
    """Tweedie's x0 estimate at ``sigma``, consolidated by ``Context.consolidate`` (i-MPT, the Hankel step
    when step and ``lr`` call for it, data consistency): (rgb, its 12-channel re-encoding)."""
    return ctx.consolidate(x + sigma ** 2 * score(x, sigma), step, total, lr)


def pc(score: ScoreFn, noise: torch.Tensor, ctx: Context, levels: list[float], generator: torch.Generator | None,
       snr: float = SNR, corrector: bool = True) -> Iterator[Step]:
    """Predictor-corrector sampling; ``levels`` from ``sigmas(n)`` (n steps). Yields one Step per step."""
    x = _start(ctx, noise, levels[0])
    n = len(levels) - 1
    for i in range(n):
        s_t, s_n = levels[i], levels[i + 1]
        # predictor (reverse diffusion, Eq. 14) on the consolidated score
        rgb, x0c = _denoised(score, ctx, x, s_t, i, n)
        if s_n <= 0:
            x = x0c
            yield Step(i, n, 0.0, x, rgb)
            return
        sc = (x0c - x) / s_t ** 2
        var = s_t ** 2 - s_n ** 2
        x = x + var * sc + math.sqrt(var) * _randn(x, generator)
        x = _state_dc(x, ctx, s_n, generator)
        if corrector:  # annealed Langevin at sigma s_n (Eq. 15), step from the signal-to-noise ratio
            rgb, x0c = _denoised(score, ctx, x, s_n, i, n, lr=ctx.lr_every == 1)  # LR after the predictor
            sc = (x0c - x) / s_n ** 2
            z = _randn(x, generator)
            g = sc.flatten(1).norm(dim=1).mean()
            zn = z.flatten(1).norm(dim=1).mean()
            eps = 2.0 * (snr * zn / g.clamp_min(1e-12)) ** 2
            x = x + eps * sc + torch.sqrt(2.0 * eps) * z
            x = _state_dc(x, ctx, s_n, generator)
        yield Step(i, n, s_n, x, rgb)


def ddrm(score: ScoreFn, noise: torch.Tensor, ctx: Context, levels: list[float], generator: torch.Generator | None,
         eta: float = DDRM_ETA) -> Iterator[Step]:
    """DDRM for noiseless inpainting on the VE prior, one network evaluation per step."""
    x = _start(ctx, noise, levels[0])
    n = len(levels) - 1
    c1 = math.sqrt(1.0 - eta ** 2)
    for i in range(n):
        s_t, s_n = levels[i], levels[i + 1]
        rgb, x0c = _denoised(score, ctx, x, s_t, i, n)
        if s_n <= 0:
            x = x0c
        else:
            z = _randn(x, generator)
            missing = x0c + c1 * s_n * (x - x0c) / s_t + eta * s_n * z
            x = torch.where(ctx.hole > 0.5, missing, x0c + s_n * z)
        yield Step(i, n, s_n, x, rgb)


SAMPLERS = {"pc": pc, "ddrm": ddrm}
