"""The `internal` engine's settings: its presets, its recipes, and its request options (``InternalOptions``).

The measurements behind the numbers are in docs/engines/internal.md unless a comment gives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.diffusion.schedule import T, spaced_timesteps
from core.engines.base import Preset
from core.engines.options import option
from core.engines.seam_options import SeamOptions
from core.errors import UserError

# Step counts, so the same seed gives the same result on the same device. With the paper's recipe ('noise') fast
# samples 5 DDRM steps, not 20: a model trained for 300 steps drifts along a long chain (bench.hole_drift). With the
# patch recipe every preset samples only below strength x T (best's DDPM 1000 becomes every step below it).
# ``patch_candidates``: the patch recipe's PatchMatch fills ranked for each variant's start (first_guesses).
PRESET_TABLE: dict[str, Preset] = {
    "fast": Preset("ddrm", 5, train_steps=300, warm_steps=100, patch_candidates=4),
    "balanced": Preset("ddrm", 25, train_steps=900, warm_steps=250, patch_candidates=8),
    "best": Preset("ddpm", 1000, train_steps=6000, warm_steps=1000, patch_candidates=8),
}
PATCH_STRENGTH = 0.1  # the patch recipe: noise level of its start, as a fraction of T
# ... and at most this many DDRM steps below it, whatever the preset (an explicit --steps wins): balanced's 25 steps
# let the repair drift from the start. bench.quality, balanced with 25 / 5 steps (low-pass dB / SWD): texture
# strokes 23.48 / 0.078 -> 24.01 / 0.078, box 22.98 / 0.116 -> 23.06 / 0.113, Kodak strokes 17.99 / 0.092 ->
# 18.25 / 0.090, box 16.50 / 0.214 -> 16.48 / 0.234 (docs/engines/internal.md, Presets).
PATCH_DDRM_STEPS = 5
# Scattered holes (isolated missing pixels, core.masks.is_scattered) get their own recipe. The usual one
# failed there (kodim03 with 50% of the pixels missing: 17.9 dB whole-image PSNR, Navier-Stokes 32.1):
# - stroke masks never teach the model to fill a lone pixel from its neighbours, so the training masks
#   drop single known pixels (SCATTERED_PIXEL_RATE) on small crops, and what a step saves in pixels goes
#   into more steps (kodim03 50% / 80%: 17.9 / 14.2 -> 32.1 / 27.4 dB);
# - the diffusion chain drifts: each step feeds the model its own slightly wrong estimate, and with most
#   of every crop missing the errors compound (kodim05 80%: 18.8 dB after one step, 15.0 after 20 DDRM
#   steps; kodim01 50%: 26.9 -> 22.6). The posterior is narrow when every missing pixel has known
#   neighbours, so one step from pure noise -- the model's estimate of the mean -- is the better answer,
#   and training only the top timesteps (t >= SCATTERED_T_MIN) spends the whole budget on it.
# Measured with the fast budget (1200 steps of 8 crops of 32 px) on kodim01 / kodim05, 50% and 80% missing,
# whole-image PSNR: 27.07 / 22.49 / 25.33 / 20.18 dB against NS 25.32 / 21.64 / 23.84 / 20.02 (rate 0.1:
# 27.15 / 22.65 / 25.53 / 19.31; twice the steps: +0.7 to +1.2 dB more). No cache: the model it trains
# is a one-step estimator, no warm start for the diffusion recipe nor the other way round.
SCATTERED_PIXEL_RATE = 0.25
SCATTERED_CROP = 32
SCATTERED_STEP_FACTOR = 4
SCATTERED_T_MIN = 900
# Then, on RGB images, a few rounds of ESDiff's Hankel low-rank step with data consistency (core.lowrank) on
# the one-step estimate: the image's own repeating structure fixes what the small model misses. Same budget,
# kodim01 / kodim05, 50% / 80%: 27.13 / 22.45 / 25.32 / 19.97 -> 28.00 / 23.15 / 26.84 / 21.00 dB with 4 rounds
# at rank 30 (rank 20: 27.61 / 23.31 / 26.19 / 21.01; rank 40: 28.12 / 22.99 / 26.90 / 20.86), about 2 s for a
# 256x256 region. Other channel counts (gray, map sets) were not measured and skip it.
# The nonlocal low-rank step (core.nonlocal_lowrank; the threshold's sigma falling 0.12 -> 0.01 over
# the rounds, as ESDiff's NONLOCAL_SIGMA) replaces the Hankel one. Same images and budget, on the same one-step
# estimates: 20 rounds 28.32 / 23.74 / 29.34 / 22.53 against the 4 Hankel rounds' 27.97 / 23.15 / 26.80 / 21.04
# (kodim01 50 / 80 %, kodim05 50 / 80 %; mean +1.24 dB), for ~14 s instead of ~2 s per 256x256 region;
# 10 rounds from 0.06: 28.49 / 23.71 / 28.28 / 21.50; 20 from 0.06: 28.38 / 23.77 / 29.08 / 22.00.
SCATTERED_LOWRANK_ROUNDS = 20
SCATTERED_LOWRANK_SIGMA = (0.12, 0.01)
# Pixels per training step (batch x crop^2): larger crops for thick holes come with smaller batches, so a
# step costs the same (~160 ms on the 2-core dev CPU in fp32) whatever the hole.
PIXELS_PER_STEP = 8 * 64 * 64

RECIPES = ("patch", "noise")
STARTS = ("mean", "telea", "ns", "patchmatch")


@dataclass(frozen=True)
class InternalOptions(SeamOptions):
    """The `internal` engine's request options (and the seam options: 'final' by default, 'off' for the patch
    recipe, never on scattered holes)."""

    prior: bool | str = option(True, "start training from prior weights when there are some for this channel "
                                     "count (core.engines.internal_prior); a path: from that file; False: never")
    prior_lr: float = option(1e-3, "learning rate when training starts from a prior", lo=0.0)
    recipe: Literal["patch", "noise"] | None = option(
        None, "where sampling starts (see StartSettings): patch = a PatchMatch fill repaired by the model, noise = "
              "pure noise (the paper's); None = noise on scattered holes or without PatchMatch, else patch")
    init: Literal["mean", "telea", "ns", "patchmatch"] | None = option(
        None, "the first guess sampling starts from; None = patchmatch for the patch recipe, mean for noise")
    strength: float | None = option(
        None, f"sample SDEdit-style from the first guess diffused to strength x T; None = {PATCH_STRENGTH} for the "
              "patch recipe, 1 for noise", lo=0.01, hi=1.0)
    t_max: int | None = option(None, "train only timesteps below this; None = just above strength x T for the "
                                     "patch recipe, all for noise", lo=2, hi=T)
    keep_grain: bool = option(True, "keep a start's finest band in the result (with_finest_band)")
    keep_colour: bool = option(True, "keep a start's colour: take back the model's change above a blur of "
                                      "COLOUR_SIGMA px (with_start_colour)")
    candidates: int | None = option(None, "PatchMatch fills ranked for each variant's start (first_guesses); "
                                          "None = the preset's", lo=1, hi=64)
    detail: Literal["start", "final", "off"] = option(
        "start", "bring the fill's fine detail up to its surroundings' (core.patch_stats.restore_detail): on the "
                 "start, on the result, or not at all")
    detail_match: Literal["spread", "capped", "ranks"] = option(
        "spread", "how the detail step matches the hole's detail to its surroundings' "
                  "(core.patch_stats.restore_detail)")
    source: np.ndarray | None = option(None, "bool H x W sampling area: training crops and PatchMatch patches come "
                                             "only from there (core.engines.train_set)")
    references: tuple | None = option(None, "images of the same channel count to learn from as well")
    skip: bool | None = option(
        None, "the UNet's estimate of x0 is x_t scaled plus its output scaled by the noise level (TinyUNet's skip), so "
              "that an untrained model leaves a start as it is (no prior is then used); None = for map stacks, more "
              "than 4 channels (internal.SKIP_ABOVE_CHANNELS)")
    map_groups: tuple | None = option(None, "a stack's maps as lists of channel indices: the PatchMatch start matches "
                                            "each on its own, then copies all maps from one source pixel "
                                            "(core.engines.patchmatch)")
    map_weights: tuple | None = option(None, "how much each of map_groups counts in that one correspondence (one "
                                             "non-negative number per map); None = the same")
    own_share: float | None = option(None, "the open image's share of training crops with references; None = "
                                           "core.engines.train_set.OWN_SHARE", lo=0.0, hi=1.0)
    bf16: bool | None = option(None, "bf16 autocast for training and sampling; None = by hardware")
    channels_last: bool = option(True, "channels_last memory format for inference")
    train_channels_last: bool = option(True, "channels_last memory format for training")
    crop: int | None = option(None, "training crop size (px); None = by the hole (crop_size_for)", lo=1)
    batch: int | None = option(None, "training batch; None = PIXELS_PER_STEP / crop^2 (8 on scattered holes)", lo=1)
    pixel_rate: float | None = option(
        None, "training masks drop single pixels at this rate instead of drawing strokes; None = "
              "SCATTERED_PIXEL_RATE on scattered holes, else 0", lo=0.0, hi=1.0)
    scattered: bool | None = option(None, "use the scattered-pixel recipe (see SCATTERED_T_MIN); None = when the "
                                          "mask is scattered pixels (core.masks.is_scattered)")
    lowrank_rounds: int | None = option(
        None, "rounds of the nonlocal low-rank refinement; None = SCATTERED_LOWRANK_ROUNDS on scattered RGB holes, "
              "else 0", lo=0, hi=100)


@dataclass(frozen=True)
class StartSettings:
    """Where sampling starts and which noise levels the model is trained for.

    recipe 'noise' is the paper's: sampling from pure noise (init 'mean', strength 1), the model trained on every
    timestep. recipe 'patch' starts from a PatchMatch fill diffused to ``strength`` x T (SDEdit) and trains the
    model only on the timesteps below that (``t_max``): it has to repair a copy of the image's own texture --
    seams, misaligned structure -- not invent the texture from noise, and a few hundred steps of training on the
    noise levels it will meet are enough for that (docs/engines/internal.md has the measurements).
    """

    recipe: str
    init: str  # mean | telea | ns | patchmatch
    strength: float  # 0-1: the sampler starts at strength x T
    t_max: int | None  # training timesteps are drawn below this (None = all)

    def timesteps(self, n_steps: int) -> list[int]:
        """``n_steps`` timesteps from strength x T down to 0: never more than that range holds, whatever is asked."""
        return spaced_timesteps(n_steps, max(1, int(round(self.strength * T))))

    @property
    def cache_kind(self) -> str:
        """Models trained for different noise ranges are different models: warm start only within one range."""
        return "" if self.t_max is None else f"low{self.t_max}"


def start_settings(opts: InternalOptions, scattered: bool) -> StartSettings:
    """The start the options and the hole ask for."""
    from core.engines.patchmatch import available as patchmatch_available

    recipe = opts.recipe or ("noise" if scattered or not patchmatch_available() else "patch")
    init = opts.init or ("patchmatch" if recipe == "patch" else "mean")
    if init == "patchmatch" and not patchmatch_available():
        raise UserError("init 'patchmatch' needs the PatchMatch library (pip install pypatchmatch)")
    strength = opts.strength if opts.strength is not None else (PATCH_STRENGTH if recipe == "patch" else 1.0)
    t_max = opts.t_max if opts.t_max is not None else (int(round(strength * T)) + 1 if recipe == "patch" else None)
    return StartSettings(recipe, init, float(strength), t_max)


def start_title(init: str) -> str:
    return {"patchmatch": "content-aware fill (PatchMatch) as the start", "telea": "Telea fill as the start",
            "ns": "Navier-Stokes fill as the start"}.get(init, init)
