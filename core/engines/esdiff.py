"""The `esdiff` engine: few-shot score-based diffusion with the mutual perturbation transform (ESDiff).

A 12-channel VE-SDE score network is trained once on a handful of images (``train-fewshot --engine
esdiff``; the shipped weights are in resources/weights/esdiff.safetensors) and fills any image from them:
the hole's bounding box plus context is encoded with MPT and sampled with the fast DDRM sampler or the
paper's PC sampler with iterative i-MPT, Hankel low-rank and data-consistency steps (see
``core.fewshot.esdiff_sampling``). The network runs on overlapping 64x64 tiles of the region.

Channels: RGB is modelled; gray images are replicated to RGB and averaged back; RGBA fills RGB with the
model and alpha with OpenCV Telea; other channel counts are refused (use `internal` for map sets).

Request options: the fields of ``EsdiffOptions``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np
import torch

from core import runtime
from core.engines.base import PRESETS, Capabilities, Event, Preset, Progress, preset_choice
from core.engines.model_cache import LoadedWeights
from core.engines.options import EngineOptions, option
from core.engines.region import RegionEngine, RegionJob, refine_events, sampling_events
from core.errors import UserError
from core.lowrank import HANKEL_RANK, HANKEL_WIN
from core.engines.patchmatch import available as patchmatch_available
from core.masks import is_scattered
from core.patch_stats import restore_detail

MIN_SIDE = 16
# Where DDRM starts (sigma, images in [0, 1]) from a Telea first guess. Tuned on two of the training images
# (kodim01, kodim05; strokes, box, 50% random pixels; the 71-min shipped prior, 20 steps): starting at
# 1.0 beat the paper's 378 from mid-gray by 0.5-1.4 dB hole PSNR in every case (5, 20: in between).
DDRM_START = 1.0
# Scattered holes (isolated missing pixels, as in the paper's Table II protocol): the first guess of an
# interpolator is already close, and starting at 1.0 only lets the prior's errors in. When the hole pixels
# lie on average within 2 px of a known pixel (core.masks.is_scattered), DDRM starts at DDRM_START_SCATTERED from a
# Navier-Stokes guess instead. Measured on training images kodim01/kodim03, 50% and 80% random pixels:
# +0.5 to +2.0 dB whole-image PSNR over starting at 1.0 (0.05 and 0.1 within 0.5 dB of each other). On
# stroke holes a low start also raised PSNR but cut sharpness (kodim03 1.68 -> 1.27), so holes keep 1.0.
DDRM_START_SCATTERED = 0.1
# Holes, when PatchMatch's library is there: DDRM starts at DDRM_START_PATCH from the best of PATCH_POOL
# content-aware fills (core.engines.patchmatch.ranked_fills) instead of 1.0 from Telea's smooth guess, whose fill
# the prior could only blur (patch SWD 0.36-0.48 on texture holes, as high as Telea's). Measured on the bench's
# 4 textures and 2 held-out Kodak images (bench.quality's cases, build of 2026-12-01; low-pass dB / SWD),
# texture strokes 19.57 / 0.358 -> 23.65 / 0.115, texture box 18.69 / 0.480 -> 22.37 / 0.226, Kodak strokes
# 19.65 / 0.260 -> 19.88 / 0.118, Kodak box 15.73 / 0.387 -> 16.30 / 0.284; starting at 0.3 kept more of the
# prior's blur (SWD 0.20-0.38). Scattered pixels keep their own start.
DDRM_START_PATCH = 0.1
PATCH_POOL = 4
# From that start the prior is a light repair, and its chain smooths what the start copied: 20 steps gave patch SWD
# 0.135 / 0.185 / 0.156 / 0.284 (bench.quality's texture strokes, box, Kodak strokes, box), 5 steps 0.101 / 0.160 /
# 0.122 / 0.265 at 0.1-0.2 dB more low-pass PSNR, 2 or 3 steps the same as 5. So holes from a PatchMatch start take
# at most PATCH_DDRM_STEPS (request.steps overrides it); scattered holes keep the preset's.
PATCH_DDRM_STEPS = 5
# ... and that start's faded detail is brought up to its surroundings' first (option detail, as the internal
# engine's patch recipe): at 5 steps SWD 0.093 / 0.123 / 0.095 / 0.246 (PatchMatch's own fill 0.100 / 0.199 /
# 0.107 / 0.258), low-pass PSNR within 0.25 dB; on the result instead: 0.092 / 0.128 / 0.094 / 0.256.
# The low-rank step on scattered holes. With the paper's Table IV in mind (the LR step alone lifts NCSN++ from
# 20.13 to 28.42 dB at 80 % missing) we found HKGM's rank 115 of 192 barely constrains a 64x64 tile's Hankel
# matrix (the ablation on House 50 %: +0.18 dB for the step). On kodim01/kodim05 (training images), 50 % / 80 %
# random pixels, ddrm 20, going from HKGM's step every 2nd step to a rank rising from 5 at the first step to
# 40 at the last (coarse structure first, detail later) with two rounds of (projection, data consistency) at
# every step: 26.15 -> 27.63, 21.84 -> 23.00, 24.93 -> 27.36, 20.30 -> 21.48 dB whole-image PSNR, for ~2.5x
# the time (6 -> 15 s per 256x256). Rank 30 fixed: 27.28 / 22.28 / 26.61 / 20.81; 3 rounds, rank 50, a start
# at 0.3 or 10 steps: all within 0.3 dB. Soft thresholding of the singular values (nuclear norm) was 1-1.5 dB
# worse. On stroke and box holes the same schedule gained 0.2-0.5 dB hole PSNR but cut sharpness from ~0.42
# to ~0.30, so holes keep the plain step.
# A geometric rise 2 -> 60 instead of the linear 5 -> 40, same images, ddrm 20: 27.98 / 23.29 / 27.40 /
# 21.56 against 27.63 / 23.00 / 27.36 / 21.48 (kodim01 50 % / 80 %, kodim05 50 % / 80 %); 2 -> 40, 2 -> 90 and
# 3 -> 60 within 0.05 dB of it; same time.
SCATTERED_LR = dict(rank_start=2, rank=60, lr_iters=2, lr_every=1)
# After sampling, scattered holes get a refinement of REFINE_ROUNDS rounds of the nonlocal low-rank step
# (core.nonlocal_lowrank: groups of 40 similar 8x8 windows, hard threshold 3 sigma sqrt(40), sigma falling
# 0.12 -> 0.01 over the rounds) with data consistency. Same images, ddrm 20, kodim01 50 % / 80 %, kodim05
# 50 % / 80 %: 28.31 / 23.56 / 29.42 / 22.81 against 27.98 / 23.29 / 27.40 / 21.56 without it (mean +0.97 dB),
# ~14 s more per 256x256 (two threads). The nonlocal step inside the sampler instead of the Hankel one (option
# lowrank=nonlocal, two rounds per step, the same sigma range over the run): 28.37 / 23.31 / 29.19 / 22.41, and
# ~30 s: the network's errors of the last steps meet only the smallest thresholds. Refining that: 25.94 mean,
# against 26.03. Network-free search (Navier-Stokes start, the step alone, kodim01/05): soft thresholding
# 1.5-2 dB worse than hard; threshold factor 3 above 2, 4 and 6; a first sigma of 0.12 above 0.06 and 0.3;
# search radius 8 and stride 6 as good as 10 and 4 at 40 % of the time; 80 rounds no better than 40.
REFINE_ROUNDS = 20
NONLOCAL_SIGMA = (0.12, 0.01)
LOWRANK_KINDS = ("hankel", "nonlocal")
SAMPLER_NAMES = ("pc", "ddrm")


RANK_MAX = HANKEL_WIN ** 2 * 3 - 1


@dataclass(frozen=True)
class EsdiffOptions(EngineOptions):
    weights: str | None = option(None, "path of a user-trained weights file; None = the shipped one")
    mpt: bool = option(True, "use the mask-pixel transform's perturbed views")
    lr: bool = option(True, "the Hankel low-rank step inside the sampler")
    sigma_max: float | None = option(
        None, "the first noise level; None = DDRM_START_PATCH from a PatchMatch guess for ddrm on holes (DDRM_START "
              "from Telea's without the library; DDRM_START_SCATTERED from a Navier-Stokes guess on scattered holes), "
              "SIGMA_MAX (378) for pc as in the paper", lo=1e-4, hi=1e4)
    init: Literal["auto", "telea", "ns", "patchmatch", "none"] | None = option(
        "auto", "the hole's first guess (None = none); auto: none when sampling starts at SIGMA_MAX, else ns on "
                "scattered holes and the best of 4 PatchMatch fills on others (telea without the library)")
    rank: int | None = option(None, f"Hankel rank at the last step; None = {HANKEL_RANK} (SCATTERED_LR's on "
                                    "scattered holes)", lo=1, hi=RANK_MAX)
    rank_start: int | None = option(None, "the rank at the first step, rising geometrically to ``rank``; None = fixed "
                                          "(SCATTERED_LR's on scattered holes)", lo=1, hi=RANK_MAX)
    lr_iters: int | None = option(None, "projection + data-consistency rounds per low-rank step; None = 1 "
                                        "(SCATTERED_LR's on scattered holes)", lo=1, hi=1000)
    lr_every: int | None = option(None, "a low-rank step every k-th step; None = steps // 10 (SCATTERED_LR's on "
                                        "scattered holes with ddrm)", lo=1, hi=1000)
    lowrank: Literal["hankel", "nonlocal"] | None = option(
        "hankel", "the kind of low-rank step inside the sampler (None = hankel, the paper's; nonlocal measured "
                  "worse there than as the refinement)")
    refine_rounds: int | None = option(None, "rounds of the nonlocal low-rank refinement after sampling; None = "
                                             "REFINE_ROUNDS on scattered holes, else 0", lo=0, hi=200)
    detail: Literal["start", "final", "off"] = option(
        "start", "on holes from a PatchMatch start: bring the fine detail up to the surroundings' "
               "(core.patch_stats.restore_detail) on that start, on the result, or not at all")
    corrector: bool = option(True, "pc only: the corrector step")
    bf16: bool | None = option(None, "bf16 autocast; None = where the device has it natively")


# Calibrated on the 2-core dev CPU for a 256x256 region (bench/esdiff.py): ddrm 20 steps takes a few
# seconds; pc costs two network evaluations per step.
PRESET_TABLE = {
    "fast": Preset("ddrm", 20, (("pc", 100),)),
    "balanced": Preset("ddrm", 50, (("pc", 200),)),
    "best": Preset("pc", 300, (("ddrm", 100),)),
}


def load_network(path: str | None, device: torch.device) -> torch.nn.Module:
    """The score network of a weights file (None = the shipped one), on ``device``; bad files are UserErrors."""
    from core.fewshot.common import load_weights, shipped_weights
    from core.fewshot.esdiff_model import build_model

    state, config, _ = load_weights(path, "esdiff")
    try:
        model = build_model(config)
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"esdiff weights file {path or shipped_weights('esdiff')} does not fit the network "
                        f"({type(exc).__name__})") from None
    return model.eval().to(device)


def _shipped():
    from core.fewshot.common import shipped_weights

    return shipped_weights("esdiff")


class EsdiffEngine(RegionEngine):
    name = "esdiff"
    Options = EsdiffOptions
    min_side = MIN_SIDE
    region_multiple = 8

    def __init__(self, capabilities: Capabilities) -> None:
        super().__init__(capabilities)
        self.weights = LoadedWeights(load_network, _shipped)

    def fill(self, job: RegionJob, opts: EsdiffOptions) -> Iterator[Event]:
        from core.engines.classical import cv_inpaint
        from core.fewshot.esdiff_sampling import SAMPLERS, SIGMA_MAX, make_context, make_score_fn, sigmas
        from core.nonlocal_lowrank import thresholds

        c = job.channels
        if c not in (1, 3, 4):
            raise UserError(f"esdiff models RGB images (gray and RGBA are converted); this one has {c} channels: "
                            "use the internal engine for map sets")
        _, sampler_name, n_steps = preset_choice(PRESET_TABLE, job.request, SAMPLER_NAMES, 2000, "esdiff")
        device = job.device = runtime.resolve_device(job.request.device)
        variants = job.variants

        yield Progress("prepare", 0, 1, "loading weights")
        model = self.weights.get(opts.weights, device)
        roi, hole = job.roi, job.hole
        rgb = np.repeat(roi, 3, axis=2) if c == 1 else roi[:, :, :3]
        known = job.tensor(np.where(hole[:, :, None], 0.0, rgb).astype(np.float32)).expand(variants, -1, -1, -1)
        hole_t = job.tensor(hole[:, :, None]).expand(variants, -1, -1, -1)
        gen = torch.Generator(device=device).manual_seed(int(job.request.seed))
        # Scattered holes get their own start and low-rank schedule (see SCATTERED_LR); options override both.
        scattered = is_scattered(hole)
        # DDRM starts SDEdit-style at DDRM_START from a Telea guess (lower from NS for scattered holes);
        # pc follows the paper (SIGMA_MAX, no guess).
        patch = (opts.init == "patchmatch" or (opts.init == "auto" and sampler_name != "pc" and not scattered
                                                and patchmatch_available()))
        default_start = SIGMA_MAX if sampler_name == "pc" else (
            DDRM_START_SCATTERED if scattered else DDRM_START_PATCH if patch else DDRM_START)
        start = opts.sigma_max if opts.sigma_max is not None else float(default_start)
        init = (("ns" if scattered else "patchmatch" if patch else "telea") if start < SIGMA_MAX else None) \
            if opts.init == "auto" else opts.init
        if init == "patchmatch" and sampler_name == "ddrm" and job.request.steps is None:
            n_steps = min(n_steps, PATCH_DDRM_STEPS)
        levels = sigmas(n_steps, sigma_max=start)
        lr_opts = dict(rank=HANKEL_RANK, lr_every=max(1, n_steps // 10), rank_start=None, lr_iters=1)
        if scattered:
            lr_opts.update(SCATTERED_LR)
            if sampler_name == "pc":  # two evaluations and up to hundreds of steps: keep LR at every 10th
                lr_opts["lr_every"] = max(1, n_steps // 10)
        lr_opts.update({k: getattr(opts, k) for k in lr_opts if getattr(opts, k) is not None})
        kind = opts.lowrank or "hankel"  # the paper's step; 'nonlocal' was measured worse in the sampler
        ctx = make_context(known, hole_t, gen, use_mpt=opts.mpt, lr=opts.lr,
                           nonlocal_sigma=NONLOCAL_SIGMA if kind == "nonlocal" else None, **lr_opts)
        noise = torch.randn((variants, 12) + known.shape[2:], generator=gen, device=device)
        score = make_score_fn(model, autocast=runtime.autocast_dtype(device, opts.bf16))
        if init in ("telea", "ns"):
            ctx.init = job.tensor(cv_inpaint(rgb, hole, init).astype(np.float32)).expand(variants, -1, -1, -1)
        elif init == "patchmatch":
            from core.engines.patchmatch import ranked_fills

            guess = ranked_fills(rgb, hole, 1, PATCH_POOL, seed=job.request.seed, cancelled=job.request.cancelled)[0]
            if opts.detail == "start":
                guess = restore_detail(guess, hole)
            ctx.init = job.tensor(np.asarray(guess, np.float32)).expand(variants, -1, -1, -1)
        alpha = cv_inpaint(roi[:, :, 3:4], hole, "telea") if c == 4 else None

        def to_region(x: torch.Tensor) -> np.ndarray:
            out = job.array(x)
            if c == 1:
                out = out.mean(axis=2, keepdims=True)
            elif c == 4:
                out = np.concatenate([out, alpha], axis=2)
            return np.clip(out, 0.0, 1.0)

        refine = opts.refine_rounds if opts.refine_rounds is not None else (REFINE_ROUNDS if scattered else 0)
        kwargs = {"corrector": opts.corrector} if sampler_name == "pc" else {}
        yield Progress("sample", 0, n_steps, f"{sampler_name}, {n_steps} steps")
        with torch.inference_mode():
            final = yield from sampling_events(SAMPLERS[sampler_name](score, noise, ctx, levels, gen, **kwargs),
                                               job, to_region)
            if refine:  # scattered holes: the nonlocal low-rank refinement (see REFINE_ROUNDS)
                final = yield from refine_events(final, known, hole_t, thresholds(refine, *NONLOCAL_SIGMA), job,
                                                 to_region)
        for v in range(variants):
            region = to_region(final[v])
            if init == "patchmatch" and opts.detail == "final":
                region[:, :, :3] = restore_detail(region[:, :, :3], hole)
            yield job.result(region, v, {
                "sampler": sampler_name, "steps": n_steps, "device": str(device),
                "weights": str(opts.weights or "shipped"), "start_sigma": start, "init": init or "none",
                "scattered": scattered, "lr": {**lr_opts, "on": ctx.lr, "kind": kind}, "refine_rounds": refine})


def register(registry) -> None:
    from core.fewshot.esdiff_train import train_esdiff

    caps = Capabilities(
        title="ESDiff (few-shot diffusion)",
        description="Score-based diffusion prior trained once on a handful of images, with the mask-pixel "
                    "transform (12 channels). Fast DDRM sampler (seconds) or the paper's PC sampler with "
                    "low-rank and data-consistency steps (about a minute). On holes, DDRM lightly repairs a "
                    "content-aware fill, its faded detail restored, in 5 steps. The best choice for scattered "
                    "missing pixels (dust, pixel loss), where its low-rank step does most of the work. "
                    "Retrainable on your own folder.",
        needs_weights=True,
        retrainable=True,
        samplers=SAMPLER_NAMES,
        default_sampler="ddrm",
        presets=PRESETS,
        supports_seed=True,
        supports_variants=True,
        supports_steps=True,
        devices=tuple(runtime.available_devices()),
        max_channels=4,  # RGB(A) or gray: the prior is an RGB model; map sets go to `internal`
    )
    registry.register("esdiff", caps, lambda: EsdiffEngine(caps), trainer=train_esdiff)
