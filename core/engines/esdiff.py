"""The `esdiff` engine: few-shot score-based diffusion with the mutual perturbation transform (ESDiff).

A 12-channel VE-SDE score network is trained once on a handful of images (``train-fewshot --engine
esdiff``; the shipped weights are in resources/weights/esdiff.safetensors) and fills any image from them:
the hole's bounding box plus context is encoded with MPT and sampled with the fast DDRM sampler or the
paper's PC sampler with iterative i-MPT, Hankel low-rank and data-consistency steps (see
``core.fewshot.esdiff_sampling``). The network runs on overlapping 64x64 tiles of the region.

Channels: RGB is modelled; gray images are replicated to RGB and averaged back; RGBA fills RGB with the
model and alpha with OpenCV Telea; other channel counts are refused (use `internal` for map sets).

Request options: ``weights`` (path of a user-trained weights file; None = the shipped one), ``mpt``
(bool, default True: use the perturbed views), ``lr`` (bool, default True: Hankel low-rank step),
``sigma_max`` (first noise level; default for ddrm 1.0 from a Telea guess, or 0.1 from a Navier-Stokes guess
for scattered holes, see ``DDRM_START_SCATTERED``; 378 for pc as in the paper), ``init`` ('telea' | 'ns' |
None: the hole's first guess), ``rank`` (Hankel rank at the last step, default 115), ``rank_start`` (the rank
at the first step, rising geometrically; default None = fixed), ``lr_iters`` (projection + DC rounds per LR step,
default 1), ``lr_every`` (LR step every k-th step, default steps // 10); scattered holes default to
``SCATTERED_LR``. ``lowrank`` ('hankel' | 'nonlocal': the kind of LR step inside the sampler; default hankel,
the paper's; nonlocal measured worse there than as the refinement), ``refine_rounds`` (rounds of the nonlocal
low-rank refinement after sampling; default REFINE_ROUNDS on scattered holes, else 0). ``corrector`` (pc only,
default True), ``bf16`` (None = by hardware).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from core import runtime
from core.engines.base import (PRESETS, Capabilities, Event, InpaintRequest, Progress, Result, checked_inputs,
                               refine_events, sampling_events, whole_option)
from core.errors import UserError
from core.masks import context_margin, grow_box, hole_bbox, is_scattered

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


@dataclass(frozen=True)
class Preset:
    sampler: str
    steps: int
    pc_steps: int
    ddrm_steps: int


# Calibrated on the 2-core dev CPU for a 256x256 region (bench/esdiff.py): ddrm 20 steps takes a few
# seconds; pc costs two network evaluations per step.
PRESET_TABLE = {
    "fast": Preset("ddrm", 20, 100, 20),
    "balanced": Preset("ddrm", 50, 200, 50),
    "best": Preset("pc", 300, 300, 100),
}


class _Weights:
    """Loaded networks by (path, mtime, size), so repeated runs do not re-read the file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple, torch.nn.Module] = {}

    def get(self, path: str | None, device: torch.device) -> torch.nn.Module:
        from core.fewshot.common import load_weights, shipped_weights
        from core.fewshot.esdiff_model import build_model

        p = Path(path) if path else shipped_weights("esdiff")
        try:
            st = os.stat(p)
            key = (str(p.resolve()), st.st_mtime_ns, st.st_size, str(device))
        except OSError:
            key = None
        with self._lock:
            if key is not None and key in self._cache:
                return self._cache[key]
        state, config, _ = load_weights(path, "esdiff")
        try:
            model = build_model(config)
            model.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise UserError(f"esdiff weights file {p} does not fit the network ({type(exc).__name__})") from None
        model.eval().to(device)
        with self._lock:
            if key is not None:
                self._cache = {key: model}  # keep one network: they are small, and users switch rarely
        return model


class EsdiffEngine:
    name = "esdiff"

    def __init__(self, capabilities: Capabilities) -> None:
        self.capabilities = capabilities
        self.weights = _Weights()

    def run(self, request: InpaintRequest) -> Iterator[Event]:
        from core.engines.classical import cv_inpaint
        from core.fewshot.esdiff_sampling import SAMPLERS, SIGMA_MAX, make_context, make_score_fn, sigmas
        from core.lowrank import HANKEL_RANK, HANKEL_WIN
        from core.nonlocal_lowrank import thresholds

        image, mask = checked_inputs(request, "esdiff", MIN_SIDE)
        h, w, c = image.shape
        if c not in (1, 3, 4):
            raise UserError(f"esdiff models RGB images (gray and RGBA are converted); this one has {c} channels: "
                            "use the internal engine for map sets")
        if request.preset not in PRESET_TABLE:
            raise UserError(f"unknown preset '{request.preset}' (use {', '.join(PRESETS)})")
        preset = PRESET_TABLE[request.preset]
        sampler_name = request.sampler or preset.sampler
        if sampler_name not in SAMPLER_NAMES:
            raise UserError(f"unknown sampler '{sampler_name}' for esdiff (use {', '.join(SAMPLER_NAMES)})")
        default_steps = preset.steps if sampler_name == preset.sampler else \
            (preset.pc_steps if sampler_name == "pc" else preset.ddrm_steps)
        n_steps = int(request.steps if request.steps is not None else default_steps)
        if not 1 <= n_steps <= 2000:
            raise UserError("steps must be between 1 and 2000")
        device = runtime.resolve_device(request.device)
        opts = request.options
        variants = max(1, int(request.variants))

        yield Progress("prepare", 0, 1, "loading weights")
        model = self.weights.get(opts.get("weights"), device)
        box = hole_bbox(mask)
        box = grow_box(box, context_margin(box), mask.shape, multiple=8)
        roi = image[box.slices()]
        hole = mask[box.slices()]
        rgb = np.repeat(roi, 3, axis=2) if c == 1 else roi[:, :, :3]

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).to(device)[None]

        known = t(np.where(hole[:, :, None], 0.0, rgb).astype(np.float32)).expand(variants, -1, -1, -1)
        hole_t = t(hole[:, :, None].astype(np.float32)).expand(variants, -1, -1, -1)
        gen = torch.Generator(device=device).manual_seed(int(request.seed))
        # Scattered holes get their own start and low-rank schedule (see SCATTERED_LR); options override both.
        scattered = is_scattered(hole)
        lr_opts = dict(rank=HANKEL_RANK, lr_every=max(1, n_steps // 10), rank_start=None, lr_iters=1)
        if scattered:
            lr_opts.update(SCATTERED_LR)
            if sampler_name == "pc":  # two evaluations and up to hundreds of steps: keep LR at every 10th
                lr_opts["lr_every"] = max(1, n_steps // 10)
        for k in lr_opts:
            if opts.get(k) is not None:
                try:
                    lr_opts[k] = int(opts[k])
                except (TypeError, ValueError):
                    raise UserError(f"option {k} must be a whole number (got {opts[k]!r})") from None
                if not 1 <= lr_opts[k] <= (HANKEL_WIN ** 2 * 3 - 1 if k in ("rank", "rank_start") else 1000):
                    raise UserError(f"option {k} is out of range (got {opts[k]!r})")
        kind = opts.get("lowrank") or "hankel"  # the paper's step; 'nonlocal' was measured worse in the sampler
        if kind not in LOWRANK_KINDS:
            raise UserError(f"option lowrank must be one of {', '.join(LOWRANK_KINDS)} (got {kind!r})")
        ctx = make_context(known, hole_t, gen, use_mpt=bool(opts.get("mpt", True)), lr=bool(opts.get("lr", True)),
                           nonlocal_sigma=NONLOCAL_SIGMA if kind == "nonlocal" else None, **lr_opts)
        noise = torch.randn((variants, 12) + known.shape[2:], generator=gen, device=device)
        score = make_score_fn(model, autocast=runtime.autocast_dtype(device, opts.get("bf16")))
        # DDRM starts SDEdit-style at DDRM_START from a Telea guess (lower from NS for scattered holes);
        # pc follows the paper (SIGMA_MAX, no guess).
        default_start = SIGMA_MAX if sampler_name == "pc" else (DDRM_START_SCATTERED if scattered else DDRM_START)
        start = float(opts.get("sigma_max", default_start))
        levels = sigmas(n_steps, sigma_max=start)
        init = opts.get("init", ("ns" if scattered else "telea") if start < SIGMA_MAX else None)
        if init in ("telea", "ns"):
            ctx.init = t(cv_inpaint(rgb, hole, init).astype(np.float32)).expand(variants, -1, -1, -1)
        alpha = cv_inpaint(roi[:, :, 3:4], hole, "telea") if c == 4 else None

        def to_region(x: torch.Tensor) -> np.ndarray:
            out = x.permute(1, 2, 0).float().cpu().numpy()
            if c == 1:
                out = out.mean(axis=2, keepdims=True)
            elif c == 4:
                out = np.concatenate([out, alpha], axis=2)
            return np.where(hole[:, :, None], np.clip(out, 0.0, 1.0), roi).astype(np.float32)

        refine = whole_option(opts, "refine_rounds", REFINE_ROUNDS if scattered else 0, 0, 200)
        kwargs = {"corrector": bool(opts.get("corrector", True))} if sampler_name == "pc" else {}
        yield Progress("sample", 0, n_steps, f"{sampler_name}, {n_steps} steps")
        with torch.inference_mode():
            final = yield from sampling_events(SAMPLERS[sampler_name](score, noise, ctx, levels, gen, **kwargs),
                                               request, to_region, box)
            if refine:  # scattered holes: the nonlocal low-rank refinement (see REFINE_ROUNDS)
                final = yield from refine_events(final, known, hole_t, thresholds(refine, *NONLOCAL_SIGMA), request,
                                                 to_region, box)
        for v in range(variants):
            out = image.copy()
            out[box.slices()] = to_region(final[v])
            out = np.where(mask[:, :, None], out, image)
            yield Result(out, v, {"engine": self.name, "sampler": sampler_name, "steps": n_steps,
                                  "region": (box.y0, box.x0, box.y1, box.x1), "device": str(device),
                                  "weights": str(opts.get("weights") or "shipped"),
                                  "start_sigma": start, "init": init or "none", "scattered": scattered,
                                  "lr": {**lr_opts, "on": ctx.lr, "kind": kind}, "refine_rounds": refine})


def register(registry) -> None:
    from core.fewshot.esdiff_train import train_esdiff

    caps = Capabilities(
        title="ESDiff (few-shot diffusion)",
        description="Score-based diffusion prior trained once on a handful of images, with the mask-pixel "
                    "transform (12 channels). Fast DDRM sampler (seconds) or the paper's PC sampler with "
                    "low-rank and data-consistency steps (about a minute). The best choice for scattered "
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
