"""The `internal` engine: train a tiny diffusion UNet on the open image, then sample the hole from it.

One click does both (Cherel et al., "Diffusion-based image inpainting with internal learning"). Work is
confined to regions: training crops come from the hole's neighbourhood (``train_region``) and sampling
runs on the hole's bounding box plus context (the engine's region, ``sample_region``), so a small hole in a
huge image costs about what it costs in a small one. Every channel is modelled jointly, whatever their number
(gray, RGB, RGBA, or a stacked SVBRDF map set), each normalised by its own mean and standard deviation.

Request options: the fields of ``core.engines.internal_options.InternalOptions``; presets and recipes are there
too. A run: ``_plan`` (settings from the request), ``_model`` (a cached, prior or fresh UNet), the start
(``first_guesses``), ``_train``, ``_sample``, then the finishing touches in ``fill``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Generator, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core import runtime
from core.diffusion.samplers import SAMPLERS
from core.diffusion.schedule import T, linear_schedule
from core.diffusion.training import TrainConfig, crop_size_for, stroke_widths_for, train
from core.diffusion.unet import TinyUNet
from core.engines.base import PRESETS, Capabilities, Event, Loss, Preset, Progress, preset_choice, returned
from core.engines.classical import cv_inpaint
from core.engines.internal_options import (PATCH_DDRM_STEPS, PATCH_STRENGTH, PIXELS_PER_STEP, PRESET_TABLE, RECIPES,  # noqa: F401
                                           SCATTERED_CROP, SCATTERED_LOWRANK_ROUNDS, SCATTERED_LOWRANK_SIGMA,
                                           SCATTERED_PIXEL_RATE, SCATTERED_STEP_FACTOR, SCATTERED_T_MIN,
                                           InternalOptions, StartSettings, start_settings, start_title)
from core.engines.internal_prior import load_prior
from core.engines.model_cache import Fingerprint, ModelCache, fingerprint, fingerprint_rows
from core.engines.region import RegionEngine, RegionJob, pick_region, refine_events, sampling_events
from core.engines.seam_options import SeamFixer, SeamSettings, seam_settings
from core.engines.train_set import (TrainSet, checked_references, checked_share, level_matched, teaching_digest,
                                    train_set)
from core.errors import Cancelled
from core.masks import Box, checked_source, context_margin, grow_box, hole_bbox, hole_thickness, is_scattered
from core.nonlocal_lowrank import thresholds
from core.patch_stats import restore_detail

MIN_SIDE = 16
# Map stacks (more channels than an image has, and than any prior serves) are modelled with the UNet's skip
# (TinyUNet): a model trained from random weights for the fast preset's 300 steps, predicting x0 directly,
# flattened the quiet maps of a PatchMatch start it was only meant to polish (acg_metal055a's roughness patch SWD
# 0.061 -> 0.196 even at strength 0.01; docs/material.md). Images keep predicting x0: their repair was measured that
# way (docs/engines/internal.md).
SKIP_ABOVE_CHANNELS = 4
GRAIN_SIGMA = 1.0  # px: the band below this blur is the grain a repaired start keeps
# px: what the model changes of a start above this blur is taken back (with_start_colour). On whole Kodak photos
# (bench.full_size) 3 px scored a little better than 6 px and left no dark rim along an ellipse's edge; 12 px kept
# more of the drift; on bench.quality's crops 3 and 6 px were level (docs/engines/internal.md).
COLOUR_SIGMA = 3.0


def train_margin(box: Box) -> int:
    """Context around the hole's box that training crops come from."""
    return int(max(256, 1.5 * max(box.height, box.width)))


def train_region(mask: np.ndarray) -> Box:
    """Where training crops come from: the hole's neighbourhood, wide enough to hold the image's texture."""
    return pick_region(mask, train_margin, 8)


SOURCE_MARGIN = 32  # px around a sampling area's box that training reads (core.engines.train_set.train_set)
READ_SLACK = 16  # px beyond every box a run computes, so that the boxes come out the same on the crop (see reads)


def read_region(mask: np.ndarray, source: np.ndarray | None = None) -> Box:
    """The part of the image a run reads (``InternalEngine.reads``) for a valid ``mask`` and sampling area.

    A run reads the training region (``train_region``), which holds the sampled region (``sample_region``) and
    PatchMatch's start region (core.engines.patchmatch.region_margin, narrower), and with a sampling area the
    area's box grown by SOURCE_MARGIN (training crops; PatchMatch's region reaches the area's box when too little of
    it lies near the hole). Every box is the hole's (or the area's) grown and clipped to the image, its sides then
    rounded up to a multiple of 8 where the image allows; READ_SLACK more on every side that is not the image's
    edge makes the crop leave all of that as it was, so a run on the crop computes the same boxes, shifted."""
    box = pick_region(mask, lambda b: train_margin(b) + READ_SLACK, 1)
    if source is not None:
        usable = source & ~mask
        if usable.any():
            area = grow_box(hole_bbox(usable), SOURCE_MARGIN + READ_SLACK, mask.shape, multiple=1)
            box = Box(min(box.y0, area.y0), min(box.x0, area.x0), max(box.y1, area.y1), max(box.x1, area.x1))
    return box


def sample_region(mask: np.ndarray) -> Box:
    """The region sampled: the hole's box plus the UNet's context, sides multiples of 8 where possible."""
    return pick_region(mask, context_margin, 8)


def first_guesses(image: np.ndarray, mask: np.ndarray, box: Box, init: str, seed: int, count: int,
                  candidates: int = 1, cancelled=None, source: np.ndarray | None = None,
                  references: tuple | list = (), groups: tuple | list | None = None,
                  group_weights: tuple | list | None = None) -> list[np.ndarray]:
    """The sampler's first guesses of the region ``box``, one per variant: the image with its hole filled by
    ``init``. PatchMatch's are the best ``count`` of ``candidates + count - 1`` fills with different seeds, best
    first (core.engines.patchmatch.ranked_fills), copied from ``source`` only when one is given (and from the
    ``references`` as well), a stack's maps (``groups``, weighed by ``group_weights``) matched map by map; the
    classical fills have no seed and are all alike."""
    return returned(first_guess_steps(image, mask, box, init, seed, count, candidates, cancelled, source, references,
                                      groups, group_weights))


def first_guess_steps(image: np.ndarray, mask: np.ndarray, box: Box, init: str, seed: int, count: int,
                      candidates: int = 1, cancelled=None, source: np.ndarray | None = None,
                      references: tuple | list = (), groups: tuple | list | None = None,
                      group_weights: tuple | list | None = None):
    """``first_guesses`` as a generator: yields (fills done, fills in all) as PatchMatch's pool is filled (for
    the start stage's progress), returns the guesses."""
    if init == "patchmatch":
        from core.engines.patchmatch import ranked_fill_steps

        return (yield from ranked_fill_steps(image, mask, count, candidates + count - 1, seed=seed, source=source,
                                             cancelled=cancelled, box=box, references=references, groups=groups,
                                             group_weights=group_weights))
    roi, hole = image[box.slices()], mask[box.slices()]
    return [np.where(hole[:, :, None], cv_inpaint(roi, hole, init), roi)] * count


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


def with_start_colour(fill: torch.Tensor, start: torch.Tensor, hole: torch.Tensor,
                      sigma: float = COLOUR_SIGMA) -> torch.Tensor:
    """``fill`` less the low band (above a ``sigma`` blur) of how it differs from ``start`` in the hole (B, 1, H, W,
    1 = fill). A model trained for a few hundred steps on a whole photo drifts in colour (a pale blob on a wood
    floor, a pink one on a white wall, docs/engines/internal.md), while a PatchMatch start is made of the image's
    own pixels, already the colour of where they came from: the model's repair keeps the bands between the grain
    (with_finest_band) and ``sigma``, where copied patches meet. The change is averaged over hole pixels only, so
    it is taken back up to the hole's edge."""
    change = (fill - start) * hole
    weight = _blur(hole, sigma).clamp_min(1e-3)
    return fill - hole * _blur(change, sigma) / weight


@dataclass
class _Plan:
    """What a request asks of one run, settled before any work."""

    preset: Preset
    sampler: str
    n_steps: int
    device: torch.device
    source: np.ndarray | None
    references: list[np.ndarray]
    teach: TrainSet
    scattered: bool
    use_cache: bool
    lowrank_rounds: int
    start: StartSettings
    seam: SeamSettings
    skip: bool  # the UNet estimates x0 through its skip (TinyUNet): map stacks
    cache_kind: str
    identity: Fingerprint | None  # the image's fingerprint for the model cache (None: the cache is not used)


class InternalEngine(RegionEngine):
    name = "internal"
    Options = InternalOptions
    min_side = MIN_SIDE
    region_multiple = 8
    pad = 8

    def __init__(self, capabilities: Capabilities, cache: ModelCache | None = None) -> None:
        super().__init__(capabilities)
        self.cache = cache if cache is not None else ModelCache()
        self.schedule = linear_schedule(T)

    def reads(self, mask: np.ndarray, options: dict) -> Box:
        """``read_region``: a run handed that crop of the image (with the mask's and the sampling area's) fills it as
        it would the whole image, given the whole image's ``gray`` and ``whole_rows`` (the model cache's
        fingerprint is of the whole image)."""
        from core.engines.options import parse_options
        from core.masks import validate_mask

        mask = validate_mask(mask, mask.shape[:2])
        source = parse_options(self.Options, options, self.name).source
        source = np.asarray(source, bool) if source is not None and np.shape(source) == mask.shape else None
        return read_region(mask, source)

    @staticmethod
    def _identity(job: RegionJob) -> Fingerprint:
        """What the model cache knows the request's image by: the whole image's fingerprint, from its rows when the
        engine was handed a crop."""
        rows = job.request.whole_rows
        return fingerprint_rows(rows()) if rows is not None else fingerprint(job.image)

    def _plan(self, job: RegionJob, opts: InternalOptions) -> _Plan:
        request, image, mask, c = job.request, job.image, job.mask, job.channels
        preset, sampler, n_steps = preset_choice(PRESET_TABLE, request, tuple(SAMPLERS), T, "internal")
        device = runtime.resolve_device(request.device)
        source = checked_source(opts.source, mask)
        references = checked_references(opts.references, c)
        matched = level_matched(references, image, mask, source)  # (the cache keys on the references as given)
        teach = train_set(image, mask, train_region(mask), source, matched, checked_share(opts.own_share))
        scattered = opts.scattered if opts.scattered is not None else is_scattered(job.hole)
        if scattered and request.steps is None:
            n_steps = 1  # the one-step estimate, see SCATTERED_T_MIN
        lowrank_rounds = (opts.lowrank_rounds if opts.lowrank_rounds is not None else
                          SCATTERED_LOWRANK_ROUNDS if scattered and c == 3 else 0)
        start = start_settings(opts, scattered)
        if start.recipe == "patch" and sampler == "ddrm" and request.steps is None:
            n_steps = min(n_steps, PATCH_DDRM_STEPS)
        # A model trained for a few hundred steps gets the texture right more often than the local colour
        # (bench.hole_drift: fills drift dark). 'final' keeps the sample's detail and moves its low frequencies
        # to meet the surroundings: hole PSNR +1.9 / +0.6 dB on Kodak strokes / box, -0.01 / -0.11 on textures,
        # material render +0.7 dB (README). 'steps' harmonises every step's estimate, so the model continues
        # from it (radius 12): Kodak +1.8 / +1.9 dB but textures -0.2 / -0.6 and smoother fills (sharpness 0.54
        # on the Kodak box), hence not the default. Scattered holes have no seam to speak of.
        # A PatchMatch start is made of the image's own pixels, already the right colour: harmonising the repair
        # of it smeared the mortar lines of the bundled sample's bricks (docs/engines/internal.md), so the patch
        # recipe leaves its seams alone unless asked.
        seam = seam_settings(opts, c, off=scattered, default="off" if start.recipe == "patch" else "final")
        if opts.map_groups is not None and start.init == "patchmatch":
            from core.engines.patchmatch import map_groups_option

            map_groups_option(opts.map_groups, c, opts.map_weights)  # bad groups are one message before any work
        skip = opts.skip if opts.skip is not None else c > SKIP_ABOVE_CHANNELS  # (no prior serves stacks)
        cache_kind = "-".join(k for k in (start.cache_kind, teaching_digest(source, references),
                                          "skip" if skip else "") if k)
        use_cache = opts.cache and not scattered
        return _Plan(preset, sampler, n_steps, device, source, matched, teach, scattered, use_cache, lowrank_rounds,
                     start, seam, skip, cache_kind, self._identity(job) if use_cache else None)

    def _model(self, job: RegionJob, opts: InternalOptions, plan: _Plan):
        """(model, cached entry or None, prior used?, mean, std): the UNet training starts from."""
        c = job.channels
        cached = self.cache.lookup(plan.identity, plan.cache_kind) if plan.use_cache else None
        if cached is not None and cached.shape[2] == c:
            mean, std = cached.mean, cached.std
        else:
            cached = None
            own_known = plan.teach.own_known()
            mean = own_known.mean(axis=0).astype(np.float32)
            std = np.maximum(own_known.std(axis=0), 1e-3).astype(np.float32)
        torch.manual_seed(job.request.seed)  # the UNet's initial weights
        model = TinyUNet(c, self.schedule.alphas_cumprod if plan.skip else None).to(plan.device)
        prior_used = False
        if cached is not None:
            model.load_state_dict(cached.state)
        elif opts.prior and not plan.skip:  # the prior's weights predict x0 without the skip
            prior = load_prior(c, opts.prior if isinstance(opts.prior, str) else None)
            if prior is not None:
                model.load_state_dict(prior)
                prior_used = True
        return model, cached, prior_used, mean, std

    def _train_config(self, job: RegionJob, opts: InternalOptions, plan: _Plan, warm: bool,
                      prior_used: bool) -> TrainConfig:
        scattered, t_box = plan.scattered, plan.teach.box
        thick = hole_thickness(job.hole)
        crop_range = dict(base=SCATTERED_CROP, largest=SCATTERED_CROP) if scattered else {}
        crop = opts.crop or crop_size_for(thick, t_box.height, t_box.width, **crop_range)
        batch = opts.batch or (8 if scattered else max(2, PIXELS_PER_STEP // (crop * crop)))
        request = job.request
        steps = (request.train_steps if request.train_steps is not None else
                 (plan.preset.warm_steps if warm else plan.preset.train_steps) *
                 (SCATTERED_STEP_FACTOR if scattered else 1))
        pixel_rate = opts.pixel_rate if opts.pixel_rate is not None else (SCATTERED_PIXEL_RATE if scattered else 0.0)
        cfg = TrainConfig(
            steps=int(steps), crop=int(crop), batch=int(batch), stroke_width=stroke_widths_for(thick, int(crop)),
            pixel_rate=float(pixel_rate), t_min=SCATTERED_T_MIN if scattered else 0, t_max=plan.start.t_max,
            bf16=opts.bf16,
            # channels_last training: 1.5x faster steps with bf16 and 1.1x in fp32 on the dev CPU
            # (python -m bench.speed); the model is converted below, its cached weights made contiguous.
            channels_last=opts.train_channels_last)
        if warm:  # fine-tuning: start where the cosine schedule ends, gently
            cfg = replace(cfg, lr=3e-4, lr_final=1e-4)
        elif prior_used:
            cfg = replace(cfg, lr=opts.prior_lr)
        return cfg

    def fill(self, job: RegionJob, opts: InternalOptions) -> Iterator[Event]:
        plan = self._plan(job, opts)
        request, c, hole = job.request, job.channels, job.hole
        device = job.device = plan.device
        variants = job.variants
        yield Progress("prepare", 0, 1, "preparing")
        model, cached, prior_used, mean, std = self._model(job, opts, plan)
        cfg = self._train_config(job, opts, plan, cached is not None, prior_used)
        autocast = runtime.autocast_dtype(device, cfg.bf16)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)

        def normalise(a: np.ndarray, unknown: np.ndarray) -> np.ndarray:
            n = (a - mean) / std
            n[unknown] = 0.0
            return n

        teach = plan.teach
        train_img = [torch.from_numpy(np.ascontiguousarray(normalise(a, h).transpose(2, 0, 1))).to(device)
                     for a, h in zip(teach.images, teach.holes)]
        train_hole = [torch.from_numpy(h[None].astype(np.float32)).to(device) for h in teach.holes]
        sites = teach.sites(cfg.crop)
        if sites is None:  # the open image's region alone, as one tensor: the crops drawn as they always were
            train_img, train_hole = train_img[0], train_hole[0]

        # Sampling tensors (padded to a multiple of 8), needed for training previews too.
        s_img = job.tensor(normalise(job.roi, hole))
        s_mask = job.tensor(hole)
        own_known = teach.own_known()
        lo = torch.from_numpy((own_known.min(axis=0) - mean) / std).to(device)
        hi = torch.from_numpy((own_known.max(axis=0) - mean) / std).to(device)
        clip = (lo.view(1, c, 1, 1), hi.view(1, c, 1, 1))
        mean_t = torch.from_numpy(mean).to(device).view(c, 1, 1)
        std_t = torch.from_numpy(std).to(device).view(c, 1, 1)

        def to_region(x: torch.Tensor) -> np.ndarray:
            """(C, H, W) normalised -> the region's pixels in [0, 1], known pixels exact."""
            return job.compose(job.array((x * std_t + mean_t).clamp(0.0, 1.0)))

        # The start of the sampler: None (noise) or one first guess per variant, shown at once as a preview.
        start, guesses, raw_starts = plan.start, None, None
        if start.init != "mean":
            yield Progress("start", 0, variants, start_title(start.init))
            candidates = opts.candidates if opts.candidates is not None else plan.preset.patch_candidates
            steps = first_guess_steps(job.image, job.mask, job.box, start.init, request.seed, variants, candidates,
                                      request.cancelled, plan.source, plan.references, opts.map_groups,
                                      opts.map_weights)
            while True:  # one progress event per PatchMatch fill of the pool
                try:
                    done, total = next(steps)
                except StopIteration as finished:
                    raw_starts = finished.value
                    break
                yield Progress("start", done, total, f"PatchMatch fill {done} of {total}")
            if opts.detail == "start":
                raw_starts = [restore_detail(g, hole, match=opts.detail_match) for g in raw_starts]
            guesses = [job.tensor(normalise(g, np.zeros(g.shape[:2], bool))) for g in raw_starts]
            yield job.preview(to_region(guesses[0][0]), "start", 1, 1)
            yield Progress("start", variants, variants, start_title(start.init))

        # channels_last: 1.5x faster 512x512 inference in fp32 on the dev CPU, and bf16 autocast (where the
        # hardware has it, as for training) another 2.1x (python -m bench.speed).
        infer_cl = opts.channels_last

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

        def preview_estimate() -> np.ndarray:
            est = self._quick_preview(make_denoiser(1), s_img, s_mask, clip, request.seed, device,
                                      start.timesteps(1 if plan.scattered else 4),
                                      init=None if guesses is None else guesses[0])
            return to_region(est[0])

        yield from self._train(job, opts, model, (train_img, train_hole, sites), cfg, autocast, cached is not None,
                               preview_estimate)
        model.eval()
        if plan.use_cache and cfg.steps > 0:
            self.cache.store(plan.identity, model.state_dict(), mean, std, plan.cache_kind)
        if infer_cl:
            model.to(memory_format=torch.channels_last)

        init = None if guesses is None else torch.cat(guesses)
        final, n_sampled = yield from self._sample(job, opts, plan, make_denoiser(variants), s_img, s_mask, clip,
                                                   std_t, init, to_region)
        regions = [to_region(final[v]) for v in range(variants)]
        if opts.detail == "final":
            regions = [restore_detail(r, hole, match=opts.detail_match) for r in regions]
        if plan.lowrank_rounds > 0:
            x = torch.from_numpy(np.ascontiguousarray(np.stack(regions).transpose(0, 3, 1, 2))).to(device)
            x = yield from refine_events(x, x, job.tensor(hole, pad=False),
                                         thresholds(plan.lowrank_rounds, *SCATTERED_LOWRANK_SIGMA), job, job.array)
            regions = [a.transpose(1, 2, 0) for a in x.float().cpu().numpy()]
        for v in range(variants):
            yield job.result(regions[v], v, {
                "sampler": plan.sampler, "steps": n_sampled, "train_steps": cfg.steps, "scattered": plan.scattered,
                "lowrank_rounds": plan.lowrank_rounds, "seam": plan.seam.mode, "recipe": start.recipe,
                "init": start.init, "strength": start.strength, "warm_start": cached is not None,
                "prior": prior_used, "skip": plan.skip, "source": plan.source is not None,
                "references": len(plan.references), "device": str(device)})

    def _train(self, job: RegionJob, opts: InternalOptions, model, data, cfg: TrainConfig, autocast, warm: bool,
               preview_estimate) -> Iterator[Event]:
        """Training on the image's crops: Loss and Progress every 10 steps, a Preview every ``preview_every`` s."""
        request, (train_img, train_hole, sites) = job.request, data
        last_preview = time.monotonic()
        running = None
        total = cfg.steps
        yield Progress("train", 0, total, "warm start: fine-tuning" if warm else "training on this image")
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
            if opts.preview_every > 0 and now - last_preview >= opts.preview_every and step + 1 < total:
                t0 = time.monotonic()
                yield job.preview(preview_estimate(), "train", step + 1, total)
                cost = time.monotonic() - t0
                last_preview = time.monotonic() + max(0.0, 4 * cost - opts.preview_every)  # keep previews <= ~20%

    def _sample(self, job: RegionJob, opts: InternalOptions, plan: _Plan, denoiser, s_img, s_mask, clip, std_t, init,
                to_region) -> Generator[Event, None, tuple[torch.Tensor, int]]:
        """The sampler's chain for every variant at once: (the final batch, the steps taken)."""
        device, variants, c = plan.device, job.variants, job.channels
        gen = torch.Generator(device=device).manual_seed(job.request.seed + 7919)
        noise = torch.randn((variants,) + tuple(s_img.shape[1:]), generator=gen, device=device)
        timesteps = plan.start.timesteps(plan.n_steps)
        known_b = s_img.expand(variants, -1, -1, -1)
        mask_b = s_mask.expand(variants, -1, -1, -1)
        yield Progress("sample", 0, len(timesteps), f"{plan.sampler}, {len(timesteps)} steps")
        seam_fix = SeamFixer(plan.seam, known_b, mask_b, *clip, scale=std_t.view(1, c, 1, 1))
        if plan.seam.mode == "steps":
            plain = denoiser

            def denoiser(x_t: torch.Tensor, t: int) -> torch.Tensor:
                return seam_fix(plain(x_t, t))
        with torch.inference_mode():
            steps = SAMPLERS[plan.sampler](denoiser, noise, known_b, mask_b, self.schedule, timesteps, gen,
                                           clip=clip, init=init)
            final = yield from sampling_events(steps, job, to_region)
            if init is not None and opts.keep_grain:
                final = with_finest_band(final, init)
            if init is not None and opts.keep_colour:
                final = with_start_colour(final, init, mask_b)
            if plan.seam.mode != "off":
                final = seam_fix(final)
        return final, len(timesteps)

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
        description="Trains a 165k-parameter diffusion UNet on the open image. On holes it starts from the best "
                    "of several content-aware fills (PatchMatch), restores their faded detail and repairs where the "
                    "copied patches meet with the model, keeping the fill's colours: better textured than PatchMatch "
                    "on small images and crops, a little behind it on whole photos with holes far apart. Learns only "
                    "from the sampling area and reference images when you give them. Scattered missing pixels (dust) "
                    "get their own recipe. About 20-30 s (fast) to a minute (balanced) on a 2-core CPU.",
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
        supports_map_groups=True,
        devices=devices,
    )
    registry.register("internal", caps, lambda: InternalEngine(caps))
