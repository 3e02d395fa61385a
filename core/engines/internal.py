"""The `internal` engine: train a tiny diffusion UNet on the open image, then sample the hole from it.

One click does both (Cherel et al., "Diffusion-based image inpainting with internal learning"). Work is
confined to regions: training crops come from the hole's neighbourhood (``train_region``) and sampling
runs on the hole's bounding box plus context (``sample_region``), so a small hole in a huge image costs
about what it costs in a small one. Every channel is modelled jointly, whatever their number (gray, RGB,
RGBA, or a stacked SVBRDF map set), each normalised by its own mean and standard deviation.

Request options (``request.options``): ``cache`` (bool, default True: warm start from a model trained for this
image), ``prior`` (True / False / a file: start training from prior weights when there are some for this channel
count, see ``internal_prior``), ``recipe`` ('patch' | 'noise', default by the hole, see StartSettings), ``init``
('mean' | 'telea' | 'ns' | 'patchmatch'), ``strength`` (0-1: SDEdit-style sampling from that first guess diffused to
strength x T) and ``t_max`` (train only timesteps below it), ``keep_grain`` (default True: a start's finest band is
kept, see with_finest_band), ``candidates`` (PatchMatch starts ranked per variant, default the preset's, see
first_guesses), ``detail`` ('start' | 'final' | 'off': bring the fill's fine detail up to its surroundings',
core.patch_stats.restore_detail, on the start (default) or the result), ``judge`` (keep a variant's start when the
repair looks less like its surroundings, core.patch_stats), ``source`` (bool H x W sampling area: training crops and
PatchMatch patches come only from there), ``references`` (images of the same channel count to learn from as well)
and ``own_share`` (the open image's share of training crops with references, default 0.5; see train_set),
``preview_every`` (seconds between training previews, default 3), ``bf16`` (None = by hardware, for training and
sampling), ``channels_last`` (inference), ``train_channels_last``, ``crop``, ``batch``, ``pixel_rate`` (training
masks that drop single pixels at this rate instead of strokes; by default SCATTERED_PIXEL_RATE when the hole is
scattered pixels, else 0), ``scattered`` (None = by the mask: use the scattered-pixel recipe, see SCATTERED_T_MIN;
True / False force it on or off), ``lowrank_rounds`` (rounds of the nonlocal low-rank refinement; default
SCATTERED_LOWRANK_ROUNDS on scattered RGB holes, else 0), ``seam`` ('final' | 'steps' | 'off': gradient-domain
harmonisation of the fill with its surroundings, core.seam, on the result or on every step's estimate; default
final, off for the patch recipe; never on scattered holes), ``seam_radius`` (the local means' radius, default
core.seam.DEFAULT_RADIUS), ``seam_channels`` (the channels it may shift with plain local means; default all),
``seam_trimmed`` (channels shifted together with trimmed local means, core.seam.inlier_weights: material mode puts a
normal map's channels here, so that its grooves do not tilt the fill; default none).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core import runtime
from core.diffusion.samplers import SAMPLERS
from core.diffusion.schedule import T, linear_schedule, spaced_timesteps
from core.diffusion.training import TrainConfig, crop_size_for, stroke_widths_for, train
from core.diffusion.unet import TinyUNet
from core.engines.classical import cv_inpaint
from core.engines.base import (PRESETS, Capabilities, Event, InpaintRequest, Loss, Preview, Progress, Result,
                               checked_inputs, refine_events, sampling_events, whole_option)
from core.engines.internal_prior import load_prior
from core.engines.model_cache import ModelCache
from core.errors import Cancelled, UserError
from core.engines.train_set import checked_references, checked_share, teaching_digest, train_set
from core.masks import Box, checked_source, context_margin, grow_box, hole_bbox, hole_thickness, is_scattered
from core.nonlocal_lowrank import thresholds
from core.patch_stats import restore_detail, texture_mismatch
from core.engines.seam_options import SeamFixer, seam_settings

MIN_SIDE = 16


@dataclass(frozen=True)
class Preset:
    train_steps: int
    warm_steps: int  # fine-tuning steps when a cached model for this image exists
    sampler: str
    sample_steps: int
    patch_strength: float = 0.1  # the patch recipe: noise level of its start, as a fraction of T
    candidates: int = 1  # the patch recipe: PatchMatch fills ranked for each variant's start


# Step counts, so the same seed gives the same result on the same device. With the paper's recipe ('noise') fast
# samples 5 DDRM steps, not 20: a model trained for 300 steps drifts along a long chain (bench.hole_drift). With the
# patch recipe every preset samples only below strength x T (best's DDPM 1000 becomes every step below it).
# Measurements: docs/engines/internal.md.
PRESET_TABLE: dict[str, Preset] = {
    "fast": Preset(train_steps=300, warm_steps=100, sampler="ddrm", sample_steps=5, candidates=4),
    "balanced": Preset(train_steps=900, warm_steps=250, sampler="ddrm", sample_steps=25, candidates=8),
    "best": Preset(train_steps=6000, warm_steps=1000, sampler="ddpm", sample_steps=1000, candidates=8),
}
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


def train_region(mask: np.ndarray) -> Box:
    """Where training crops come from: the hole's neighbourhood, wide enough to hold the image's texture."""
    box = hole_bbox(mask)
    margin = int(max(256, 1.5 * max(box.height, box.width)))
    return grow_box(box, margin, mask.shape, multiple=8)


def sample_region(mask: np.ndarray) -> Box:
    box = hole_bbox(mask)
    return grow_box(box, context_margin(box), mask.shape, multiple=8)


def _pad8(t: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = t.shape[-2:]
    ph, pw = (-h) % 8, (-w) % 8
    if ph == 0 and pw == 0:
        return t, (0, 0)
    mode = "reflect" if h > ph and w > pw else "replicate"
    return F.pad(t, (0, pw, 0, ph), mode=mode), (ph, pw)


RECIPES = ("patch", "noise")
STARTS = ("mean", "telea", "ns", "patchmatch")


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


def start_settings(opts: dict, preset: Preset, scattered: bool) -> StartSettings:
    """The request's start options, checked: ``recipe``, ``init``, ``strength``, ``t_max``."""
    from core.engines.patchmatch import available as patchmatch_available

    default = "noise" if scattered or not patchmatch_available() else "patch"
    recipe = opts.get("recipe") or default
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe '{recipe}' (use {' or '.join(RECIPES)})")
    init = opts.get("init") or ("patchmatch" if recipe == "patch" else "mean")
    if init not in STARTS:
        raise UserError(f"unknown init '{init}' (use {', '.join(STARTS)})")
    if init == "patchmatch" and not patchmatch_available():
        raise UserError("init 'patchmatch' needs the PatchMatch library (pip install pypatchmatch)")
    strength = opts.get("strength", preset.patch_strength if recipe == "patch" else 1.0)
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.01 <= strength <= 1.0:
        raise UserError(f"option strength must be a number from 0.01 to 1 (got {strength!r})")
    t_max = opts.get("t_max", int(round(strength * T)) + 1 if recipe == "patch" else None)
    if t_max is not None:
        t_max = whole_option({"t_max": t_max}, "t_max", 0, 2, T)
    return StartSettings(recipe, init, float(strength), t_max)


def start_title(init: str) -> str:
    return {"patchmatch": "content-aware fill (PatchMatch) as the start", "telea": "Telea fill as the start",
            "ns": "Navier-Stokes fill as the start"}.get(init, init)


def first_guesses(image: np.ndarray, mask: np.ndarray, box: Box, init: str, seed: int, count: int,
                  candidates: int = 1, cancelled=None, source: np.ndarray | None = None) -> list[np.ndarray]:
    """The sampler's first guesses of the region ``box``, one per variant: the image with its hole filled by
    ``init``. PatchMatch's are the best ``count`` of ``candidates + count - 1`` fills with different seeds, best
    first (core.engines.patchmatch.ranked_fills), copied from ``source`` only when one is given; the classical
    fills have no seed and are all alike."""
    if init == "patchmatch":
        from core.engines.patchmatch import ranked_fills

        fills = ranked_fills(image, mask, count, candidates + count - 1, seed=seed, source=source,
                             cancelled=cancelled)
        return [f[box.slices()] for f in fills]
    roi, hole = image[box.slices()], mask[box.slices()]
    return [np.where(hole[:, :, None], cv_inpaint(roi, hole, init), roi)] * count


GRAIN_SIGMA = 1.0  # px: the band below this blur is the grain a repaired start keeps


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), reflect-padded."""
    r = max(1, int(round(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).expand(x.shape[1], 1, 1, -1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k, groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.transpose(2, 3), groups=x.shape[1])


def with_finest_band(fill: torch.Tensor, start: torch.Tensor, sigma: float = GRAIN_SIGMA) -> torch.Tensor:
    """``fill`` with its finest band (below a ``sigma`` blur) replaced by ``start``'s. The model's estimate of x0 is
    a mean: it repairs the layout of a start but wipes out pixel grain it cannot predict (the bundled sample's
    bricks came back smooth along the strokes). The start is made of real pixels, so its grain is the image's."""
    return _blur(fill, sigma) + start - _blur(start, sigma)


class InternalEngine:
    name = "internal"

    def __init__(self, capabilities: Capabilities, cache: ModelCache | None = None) -> None:
        self.capabilities = capabilities
        self.cache = cache if cache is not None else ModelCache()
        self.schedule = linear_schedule(T)

    # -- the event stream ---------------------------------------------------------------------------------
    def run(self, request: InpaintRequest) -> Iterator[Event]:
        image, mask = checked_inputs(request, "internal", MIN_SIDE)
        h, w, c = image.shape
        if request.preset not in PRESET_TABLE:
            raise UserError(f"unknown preset '{request.preset}' (use {', '.join(PRESETS)})")
        preset = PRESET_TABLE[request.preset]
        sampler_name = request.sampler or preset.sampler
        if sampler_name not in SAMPLERS:
            raise UserError(f"unknown sampler '{sampler_name}' (use {', '.join(SAMPLERS)})")
        n_steps = int(request.steps if request.steps is not None else
                      (preset.sample_steps if sampler_name == preset.sampler else
                       (1000 if sampler_name == "ddpm" and request.preset == "best" else 50)))
        if not 1 <= n_steps <= T:
            raise UserError(f"steps must be between 1 and {T}")
        device = runtime.resolve_device(request.device)
        opts = request.options
        variants = max(1, int(request.variants))

        yield Progress("prepare", 0, 1, "preparing")
        s_box = sample_region(mask)
        source = checked_source(opts.get("source"), mask)
        references = checked_references(opts.get("references"), c)
        teach = train_set(image, mask, train_region(mask), source, references, checked_share(opts.get("own_share")))
        t_box = teach.box
        own_known = teach.own_known()
        scattered = bool(opts["scattered"]) if opts.get("scattered") is not None else is_scattered(mask[s_box.slices()])
        if scattered and request.steps is None:
            n_steps = 1  # the one-step estimate, see SCATTERED_T_MIN
        use_cache = bool(opts.get("cache", True)) and not scattered
        lowrank_rounds = whole_option(opts, "lowrank_rounds", SCATTERED_LOWRANK_ROUNDS if scattered and c == 3 else 0,
                                      0, 100)
        # A model trained for a few hundred steps gets the texture right more often than the local colour
        # (bench.hole_drift: fills drift dark). 'final' keeps the sample's detail and moves its low frequencies
        # to meet the surroundings: hole PSNR +1.9 / +0.6 dB on Kodak strokes / box, -0.01 / -0.11 on textures,
        # material render +0.7 dB (README). 'steps' harmonises every step's estimate, so the model continues
        # from it (radius 12): Kodak +1.8 / +1.9 dB but textures -0.2 / -0.6 and smoother fills (sharpness 0.54
        # on the Kodak box), hence not the default. Scattered holes have no seam to speak of.
        start = start_settings(opts, preset, scattered)
        # A PatchMatch start is made of the image's own pixels, already the right colour: harmonising the repair
        # of it smeared the mortar lines of the bundled sample's bricks (docs/engines/internal.md), so the patch
        # recipe leaves its seams alone unless asked.
        seam = seam_settings(opts, c, off=scattered, default="off" if start.recipe == "patch" else "final")
        cache_kind = "-".join(k for k in (start.cache_kind, teaching_digest(source, references)) if k)
        cached = self.cache.lookup(image, cache_kind) if use_cache else None
        if cached is not None and cached.shape[2] == c:
            mean, std = cached.mean, cached.std
        else:
            cached = None
            mean = own_known.mean(axis=0).astype(np.float32)
            std = np.maximum(own_known.std(axis=0), 1e-3).astype(np.float32)

        def normalise(a: np.ndarray, hole: np.ndarray) -> torch.Tensor:
            n = (a - mean) / std
            n[hole] = 0.0
            return torch.from_numpy(np.ascontiguousarray(n.transpose(2, 0, 1))).to(device)

        torch.manual_seed(request.seed)  # the UNet's initial weights
        model = TinyUNet(c).to(device)
        prior_used = False
        if cached is not None:
            model.load_state_dict(cached.state)
        elif opts.get("prior", True):
            prior_file = opts.get("prior")
            prior = load_prior(c, prior_file if isinstance(prior_file, str) else None)
            if prior is not None:
                model.load_state_dict(prior)
                prior_used = True
        thick = hole_thickness(mask[s_box.slices()])
        crop_range = dict(base=SCATTERED_CROP, largest=SCATTERED_CROP) if scattered else {}
        crop = int(opts.get("crop") or crop_size_for(thick, t_box.height, t_box.width, **crop_range))
        batch = int(opts.get("batch") or (8 if scattered else max(2, PIXELS_PER_STEP // (crop * crop))))
        steps = (request.train_steps if request.train_steps is not None else
                 (preset.warm_steps if cached is not None else preset.train_steps) *
                 (SCATTERED_STEP_FACTOR if scattered else 1))
        cfg = TrainConfig(
            steps=int(steps), crop=crop, batch=batch, stroke_width=stroke_widths_for(thick, crop),
            pixel_rate=float(opts.get("pixel_rate", SCATTERED_PIXEL_RATE if scattered else 0.0)),
            t_min=SCATTERED_T_MIN if scattered else 0,
            t_max=start.t_max,
            bf16=opts.get("bf16"),
            # channels_last training: 1.5x faster steps with bf16 and 1.1x in fp32 on the dev CPU
            # (python -m bench.speed); the model is converted below, its cached weights made contiguous.
            channels_last=bool(opts.get("train_channels_last", True)))
        if cached is not None:  # fine-tuning: start where the cosine schedule ends, gently
            cfg = replace(cfg, lr=3e-4, lr_final=1e-4)
        elif prior_used:
            cfg = replace(cfg, lr=float(opts.get("prior_lr", 1e-3)))
        autocast = runtime.autocast_dtype(device, cfg.bf16)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)

        train_img = [normalise(a, hole) for a, hole in zip(teach.images, teach.holes)]
        train_hole = [torch.from_numpy(hole[None].astype(np.float32)).to(device) for hole in teach.holes]
        sites = teach.sites(cfg.crop)
        if sites is None:  # the open image's region alone, as one tensor: the crops drawn as they always were
            train_img, train_hole = train_img[0], train_hole[0]

        # Sampling tensors, needed for training previews too.
        s_img = normalise(image[s_box.slices()], mask[s_box.slices()])[None]
        s_mask = torch.from_numpy(mask[s_box.slices()][None, None].astype(np.float32)).to(device)
        s_img, pad = _pad8(s_img)
        s_mask, _ = _pad8(s_mask)
        lo = torch.from_numpy((own_known.min(axis=0) - mean) / std).to(device)
        hi = torch.from_numpy((own_known.max(axis=0) - mean) / std).to(device)
        clip = (lo.view(1, c, 1, 1), hi.view(1, c, 1, 1))
        mean_t = torch.from_numpy(mean).to(device).view(c, 1, 1)
        std_t = torch.from_numpy(std).to(device).view(c, 1, 1)

        def to_image(x: torch.Tensor) -> np.ndarray:
            """(C, h, w) normalised -> (h, w, C) float in [0, 1], padding removed, known pixels exact."""
            x = (x * std_t + mean_t).clamp(0.0, 1.0)
            x = x[:, :s_box.height, :s_box.width]
            out = x.permute(1, 2, 0).float().cpu().numpy()
            roi = image[s_box.slices()]
            hole = mask[s_box.slices()]
            return np.where(hole[:, :, None], out, roi)

        # The start of the sampler: None (noise) or one first guess per variant, shown at once as a preview.
        guesses = None
        detail = opts.get("detail", "start")
        if detail not in ("start", "final", "off"):
            raise UserError(f"option detail must be start, final or off (got {detail!r})")
        if start.init != "mean":
            yield Progress("start", 0, variants, start_title(start.init))
            candidates = whole_option(opts, "candidates", preset.candidates, 1, 64)
            raw_starts = first_guesses(image, mask, s_box, start.init, request.seed, variants, candidates,
                                       request.cancelled, source)
            if detail == "start":
                raw_starts = [restore_detail(g, mask[s_box.slices()]) for g in raw_starts]
            guesses = [_pad8(normalise(g, np.zeros(g.shape[:2], bool))[None])[0] for g in raw_starts]
            yield Preview(to_image(guesses[0][0]), s_box, "start", 1, 1)
            yield Progress("start", variants, variants, start_title(start.init))

        # channels_last: 1.5x faster 512x512 inference in fp32 on the dev CPU, and bf16 autocast (where the
        # hardware has it, as for training) another 2.1x (python -m bench.speed).
        infer_cl = bool(opts.get("channels_last", True))

        def make_denoiser(batch: int):
            y = (s_img * (1.0 - s_mask)).expand(batch, -1, -1, -1)
            m = s_mask.expand(batch, -1, -1, -1)
            if infer_cl:
                y, m = y.contiguous(memory_format=torch.channels_last), m.contiguous(memory_format=torch.channels_last)

            def denoise(x_t: torch.Tensor, t: int) -> torch.Tensor:
                tt = torch.full((x_t.shape[0],), t, device=device, dtype=torch.long)
                if infer_cl:
                    x_t = x_t.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device_type=device.type, dtype=autocast or torch.bfloat16,
                                    enabled=autocast is not None):
                    return model(x_t, y, m, tt).float().contiguous()
            return denoise

        # ---- training ---------------------------------------------------------------------------------
        preview_every = float(opts.get("preview_every", 3.0))
        last_preview = time.monotonic()
        running = None
        total = cfg.steps
        yield Progress("train", 0, total, "warm start: fine-tuning" if cached is not None else "training on this image")
        for step, loss in train(model, train_img, train_hole, self.schedule, cfg, request.seed, autocast,
                                sites=sites):
            if request.cancelled():
                raise Cancelled()
            if (step + 1) % 10 == 0 or step + 1 == total:
                value = float(loss)
                running = value if running is None else 0.8 * running + 0.2 * value
                yield Loss(step + 1, value)
                yield Progress("train", step + 1, total, f"loss {running:.4f}")
            now = time.monotonic()
            if preview_every > 0 and now - last_preview >= preview_every and step + 1 < total:
                t0 = time.monotonic()
                est = self._quick_preview(make_denoiser(1), s_img, s_mask, clip, request.seed, device,
                                          start.timesteps(1 if scattered else 4),
                                          init=None if guesses is None else guesses[0])
                yield Preview(to_image(est[0]), s_box, "train", step + 1, total)
                cost = time.monotonic() - t0
                last_preview = time.monotonic() + max(0.0, 4 * cost - preview_every)  # keep previews <= ~20%
        model.eval()
        if use_cache and cfg.steps > 0:
            self.cache.store(image, model.state_dict(), mean, std, cache_kind)
        if infer_cl:
            model.to(memory_format=torch.channels_last)

        # ---- sampling ---------------------------------------------------------------------------------
        gen = torch.Generator(device=device).manual_seed(request.seed + 7919)
        noise = torch.randn((variants,) + tuple(s_img.shape[1:]), generator=gen, device=device)
        timesteps = start.timesteps(n_steps)
        init = None if guesses is None else torch.cat(guesses)
        sampler = SAMPLERS[sampler_name]
        known_b = s_img.expand(variants, -1, -1, -1)
        mask_b = s_mask.expand(variants, -1, -1, -1)
        yield Progress("sample", 0, len(timesteps), f"{sampler_name}, {len(timesteps)} steps")
        denoiser = make_denoiser(variants)

        seam_fix = SeamFixer(seam, known_b, mask_b, *clip, scale=std_t.view(1, c, 1, 1))
        if seam.mode == "steps":
            plain = denoiser

            def denoiser(x_t: torch.Tensor, t: int) -> torch.Tensor:
                return seam_fix(plain(x_t, t))
        with torch.inference_mode():
            steps = sampler(denoiser, noise, known_b, mask_b, self.schedule, timesteps, gen,
                            clip=clip, init=init)
            final = yield from sampling_events(steps, request, to_image, s_box)
            if init is not None and opts.get("keep_grain", True):
                final = with_finest_band(final, init)
            if seam.mode != "off":
                final = seam_fix(final)
        regions = [to_image(final[v]) for v in range(variants)]
        if detail == "final":
            regions = [restore_detail(r, mask[s_box.slices()]) for r in regions]
        if guesses is not None and opts.get("judge", False):
            hole = mask[s_box.slices()]
            regions = [r if texture_mismatch(r, hole) <= texture_mismatch(g, hole) else g
                       for r, g in zip(regions, raw_starts)]
        if lowrank_rounds > 0:
            x = torch.from_numpy(np.ascontiguousarray(np.stack(regions).transpose(0, 3, 1, 2))).to(device)
            hole = torch.from_numpy(mask[s_box.slices()][None, None].astype(np.float32)).to(device)
            x = yield from refine_events(x, x, hole, thresholds(lowrank_rounds, *SCATTERED_LOWRANK_SIGMA), request,
                                         lambda t: t.permute(1, 2, 0).float().cpu().numpy(), s_box)
            regions = [a.transpose(1, 2, 0) for a in x.float().cpu().numpy()]
        for v in range(variants):
            out = image.copy()
            out[s_box.slices()] = regions[v]
            yield Result(out, v, {"engine": self.name, "sampler": sampler_name, "steps": len(timesteps),
                                  "train_steps": cfg.steps, "scattered": scattered, "lowrank_rounds": lowrank_rounds,
                                  "seam": seam.mode, "recipe": start.recipe, "init": start.init,
                                  "strength": start.strength,
                                  "warm_start": cached is not None, "prior": prior_used,
                                  "source": source is not None, "references": len(references),
                                  "region": (s_box.y0, s_box.x0, s_box.y1, s_box.x1), "device": str(device)})

    def _quick_preview(self, denoise, s_img, s_mask, clip, seed, device, timesteps: list[int],
                       init: torch.Tensor | None = None) -> torch.Tensor:
        """A few DDIM steps with fixed noise: cheap, and it changes only because the model does."""
        gen = torch.Generator(device=device).manual_seed(seed + 1)
        noise = torch.randn(s_img.shape, generator=gen, device=device)
        est = None
        with torch.inference_mode():
            for st in SAMPLERS["ddim"](denoise, noise, s_img, s_mask, self.schedule, timesteps, gen, clip=clip,
                                       init=init):
                est = st.denoised
        return est


def register(registry) -> None:
    devices = tuple(runtime.available_devices())
    caps = Capabilities(
        title="Internal diffusion (learns from this image)",
        description="Trains a 165k-parameter diffusion UNet on the open image. On holes it starts from "
                    "content-aware fill (PatchMatch) and repairs it with the model: about PatchMatch's quality, "
                    "better textured on large holes in photos. Scattered missing pixels (dust) get their own recipe. "
                    "20-30 s (fast) to about a minute (balanced) on a 2-core CPU.",
        trains_per_image=True,
        samplers=tuple(SAMPLERS),
        default_sampler="ddrm",
        presets=PRESETS,
        supports_seed=True,
        supports_variants=True,
        supports_steps=True,
        harmonizes_seams=True,
        recipes=RECIPES,
        supports_source=True,
        supports_references=True,
        devices=devices,
    )
    registry.register("internal", caps, lambda: InternalEngine(caps))
