"""The `grig` engine: a few-shot GAN that fills the hole by iterative residual reasoning (GRIG, Lu et al.).

A pretrained generator (shipped weights, or a file trained with ``python main.py train-fewshot --engine
grig``) predicts a residual that is added to the hole, T times (``request.steps``, default ``ITERATIONS``):
x_k = (x_{k-1} + G(x_{k-1}, M)) M + I (1 - M). Each iteration is one forward pass and yields a Preview.

Work is confined to the hole's bounding box plus context; regions larger than ``TILE`` are filled in
overlapping tiles (``core.tiling.run_tiled``), each iteration over all tiles before the next.
Gray images go through the RGB model replicated and are averaged back; alpha (and any channel beyond
the colour ones) is filled by OpenCV Telea. Noise injection makes the seed matter: same seed, same result;
variants use seeds seed, seed+1, ...

Seam harmonisation (``harmonizes_seams``; options ``seam`` final | steps | off, ``seam_radius``, see
core.engines.seam_options): the shipped generator gets a hole's level wrong more than its shape -- a brown cast
on gray Brodatz plates -- so by default the last iteration's fill keeps its gradients and its low frequencies are
moved to meet the known pixels (core.seam); 'steps' does it after every iteration, so the next one refines a
level-matched estimate. Measured with bench.grig --quick (5 images; hole PSNR / sharpness, strokes; box):
off 13.21 / 0.11, 13.01 / 0.06; final 13.73 / 0.14, 13.38 / 0.06; steps 13.67 / 0.15, 13.45 / 0.06
(Telea 13.60 / 0.27, 12.82 / 0.15).

Texture (option ``texture``, default ``blocks``): the harmonised fill has the right colours and shapes but nearly no
texture (patch SWD 0.35-0.61 on bench.quality's cases, PatchMatch's 0.10-0.26), and where fine structure crosses
the hole (a brick wall's mortar joints) it blends the two into one colour. So the hole is rebuilt from whole blocks
of the image, chosen by how well they fit the fill's layout and their surroundings, with only the fill's coarsest
bands kept (core.grain.rebuild_blocks); ``grain`` rebuilds only the bands finer than 5 px over the fill's
(core.grain.add_grain), ``off`` keeps the generator's fill. Detail (option ``detail``, on by default): the quilted
blocks are cross-faded, so the hole's bands are then brought up to its surroundings' spread, band by band
(core.patch_stats.restore_detail, as the internal engine does to its PatchMatch starts). bench.quality's cases,
low-pass dB / SWD, grain -> blocks (both with detail): texture strokes 22.85 / 0.105 -> 22.89 / 0.087, box 21.50 /
0.120 -> 21.06 / 0.095, Kodak strokes 18.88 / 0.127 -> 19.31 / 0.097, box 16.72 / 0.227 -> 16.58 / 0.201 (PatchMatch
0.100 / 0.199 / 0.107 / 0.258), at the grain's speed.

Request options: the fields of ``GrigOptions``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Literal

import numpy as np
import torch

from core import runtime
from core.engines.base import Capabilities, Event, Progress
from core.engines.classical import cv_inpaint
from core.engines.model_cache import LoadedWeights
from core.engines.options import option
from core.engines.region import RegionEngine, RegionJob, pad_to_multiple
from core.engines.seam_options import SeamFixer, SeamOptions, SeamSettings, seam_settings
from core.errors import Cancelled, UserError
from core.fewshot.common import load_weights, shipped_weights
from core.fewshot.grig_model import DOWNSAMPLE, GenConfig, GRIGGenerator
from core.fewshot.grig_train import train_grig
from core.grain import BLOCK as GRAIN_BLOCK
from core.grain import add_grain, can_copy, rebuild_blocks
from core.masks import Box, checked_source, grow_box, hole_bbox
from core.patch_stats import restore_detail
from core.tiling import run_tiled

TILE = 512
OVERLAP = 64
MAX_ITERATIONS = 20
MIN_SIDE = 8
# Residual passes by default. The weights were trained with 3, but once the hole is rebuilt from the image's blocks
# the third pass pays nothing (bench.quality, low-pass dB / SWD, T = 3 -> 2: texture strokes 22.89 / 0.087 -> 22.84 /
# 0.087, box 21.06 / 0.095 -> 20.97 / 0.100, Kodak strokes 19.31 / 0.097 -> 19.32 / 0.097, box 16.58 / 0.201 -> 16.80 /
# 0.188) and costs a third of the generator's time; one pass loses 1.6 dB on texture boxes.
ITERATIONS = 2


def load_generator(path: str | None, device: torch.device) -> tuple[GRIGGenerator, dict]:
    """The EMA generator from a weights file (None = shipped); bad files are UserErrors."""
    state, config, meta = load_weights(path, "grig")
    try:
        net = GRIGGenerator(GenConfig.from_dict(config.get("gen", {})))
        net.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError):
        raise UserError(f"{path or shipped_weights('grig')} does not hold a usable grig generator "
                        "(damaged, or trained by another version)") from None
    return net.to(device, memory_format=torch.channels_last).eval(), config


@dataclass(frozen=True)
class GrigOptions(SeamOptions):
    weights: str | None = option(None, "path of a weights file; None = the shipped one")
    tile: int = option(TILE, "regions larger than this are filled in overlapping tiles of this size (a multiple "
                             "of 8)", lo=64)
    overlap: int = option(OVERLAP, "overlap of those tiles, below half a tile", lo=0)
    bf16: bool | None = option(None, "bf16 autocast; None = where the device has it natively, False = fp32")
    texture: Literal["blocks", "grain", "off"] = option(
        "blocks", "the generator gets colour and layout right but leaves the hole smooth and blends fine structure "
                  "(a brick and its mortar) into one colour: rebuild the hole from whole blocks of the image, its "
                  "coarsest bands kept (core.grain.rebuild_blocks); or only the bands finer than 5 px (grain); or "
                  "leave the generator's fill as it is (off)")
    detail: bool = option(True, "then bring the hole's fine detail up to its surroundings' "
                                "(core.patch_stats.restore_detail)")
    source: np.ndarray | None = option(None, "bool H x W sampling area: the texture step copies blocks only from "
                                             "here (the generator still sees the whole region)")


def _rgb_seam(seam: SeamSettings, colour: int) -> SeamSettings:
    """Seam settings for the image's channels -> for the RGB the generator sees: a gray channel stands for its
    three replicas; alpha and other extra channels are filled by Telea and never shifted."""
    def to_rgb(idx: list[int] | None) -> list[int] | None:
        if idx is None:
            return None
        return [0, 1, 2] if colour == 1 and 0 in idx else [k for k in idx if k < 3] if colour == 3 else []
    plain, trimmed = to_rgb(seam.plain), to_rgb(seam.trimmed)
    mode = "off" if plain == [] and not trimmed else seam.mode
    return replace(seam, mode=mode, plain=plain, trimmed=trimmed)


def _generator(path: str | None, device: torch.device) -> GRIGGenerator:
    return load_generator(path, device)[0]


class GRIGEngine(RegionEngine):
    name = "grig"
    Options = GrigOptions
    min_side = MIN_SIDE
    region_multiple = DOWNSAMPLE

    def __init__(self, capabilities: Capabilities) -> None:
        super().__init__(capabilities)
        self.weights = LoadedWeights(_generator, lambda: shipped_weights("grig"))

    def region(self, mask: np.ndarray, opts: GrigOptions) -> Box:
        """The hole's box plus context; with a sampling area of which too little lies there, grown to take the area
        in, so that the texture step has blocks to copy (the generator then works on more, in tiles)."""
        box = super().region(mask, opts)
        source = None if opts.source is None else np.asarray(opts.source)
        if source is None or source.shape[:2] != mask.shape:  # a bad area is refused in fill, before any work
            return box
        usable = (source.any(axis=2) if source.ndim == 3 else source.astype(bool)) & ~mask
        if not usable.any() or usable[box.slices()].sum() >= max(int(mask.sum()), (2 * GRAIN_BLOCK) ** 2):
            return box
        area = hole_bbox(usable)
        union = Box(min(box.y0, area.y0), min(box.x0, area.x0), max(box.y1, area.y1), max(box.x1, area.x1))
        return grow_box(union, 0, mask.shape, multiple=self.region_multiple)

    def fill(self, job: RegionJob, opts: GrigOptions) -> Iterator[Event]:
        request, c = job.request, job.channels
        source = checked_source(opts.source, job.mask)
        allowed = None if source is None else source[job.box.slices()]
        if allowed is not None and opts.texture != "off" and not can_copy(job.hole, allowed):
            raise UserError(f"the sampling area holds no {GRAIN_BLOCK} x {GRAIN_BLOCK} px of known pixels near the "
                            "hole for GRIG to copy from; paint a larger area")
        iterations = int(request.steps) if request.steps is not None else ITERATIONS
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise UserError(f"steps (residual iterations) must be between 1 and {MAX_ITERATIONS}")
        device = job.device = runtime.resolve_device(request.device)
        tile, overlap = opts.tile, opts.overlap
        if tile < 64 or tile % DOWNSAMPLE or not 0 <= overlap < tile // 2:
            raise UserError("tile must be a multiple of 8 of at least 64, overlap below half the tile")
        seam = _rgb_seam(seam_settings(opts, c), 1 if c <= 2 else 3)  # checked before any work
        yield Progress("prepare", 0, 1, "loading weights")
        net = self.weights.get(opts.weights, device)
        # channels_last + bf16 autocast where the device has native bf16 (runtime.autocast_dtype; option bf16):
        # the generator's three passes on 256 / 512 px, 2 threads of the dev CPU, 0.276 / 0.944 s -> 0.175 /
        # 0.554 s, the fill within 0.0025 of fp32's (mean 1e-4); without native bf16 it stays fp32.
        autocast = runtime.autocast_dtype(device, opts.bf16)

        roi, hole = job.roi, job.hole
        colour = 1 if c <= 2 else 3
        rgb = np.repeat(roi[:, :, :1], 3, axis=2) if colour == 1 else np.ascontiguousarray(roi[:, :, :3])
        extra = None
        if c > colour:  # alpha / extra channels: classical fill
            extra = cv_inpaint(np.ascontiguousarray(roi[:, :, colour:]), hole, "telea")
        seam_fix = None
        if seam.mode != "off":  # on the whole region, in [0, 1]: the tiles' seams are inside it
            zero = torch.zeros((), device=device)
            seam_fix = SeamFixer(seam, job.tensor(rgb), job.tensor(hole), zero, zero + 1.0)

        def harmonised(x_rgb: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return job.array(seam_fix(job.tensor(x_rgb))[0])

        def to_region(x_rgb: np.ndarray) -> np.ndarray:
            x = np.clip(x_rgb, 0.0, 1.0)
            col = x.mean(axis=2, keepdims=True) if colour == 1 else x
            return col if extra is None else np.concatenate([col, extra], axis=2)

        for v in range(job.variants):
            seed = int(request.seed) + v
            x = np.where(hole[:, :, None], 0.5, rgb).astype(np.float32)  # x_0: the hole at 0 in [-1, 1]
            for k in range(iterations):
                if request.cancelled():
                    raise Cancelled()
                counter = [0]

                def one_step(tile_img: np.ndarray, tile_hole: np.ndarray, k=k) -> np.ndarray:
                    if request.cancelled():
                        raise Cancelled()
                    counter[0] += 1
                    gen = torch.Generator(device=device).manual_seed(seed * 1_000_003 + k * 7919 + counter[0])
                    t = torch.from_numpy(np.ascontiguousarray(tile_img.transpose(2, 0, 1)))[None].to(device) * 2 - 1
                    m = torch.from_numpy(tile_hole.astype(np.float32))[None, None].to(device)
                    t, (th, tw) = pad_to_multiple(t, DOWNSAMPLE)
                    m, _ = pad_to_multiple(m, DOWNSAMPLE)
                    cl = torch.channels_last
                    with torch.inference_mode(), torch.autocast(device.type, dtype=autocast or torch.bfloat16,
                                                                enabled=autocast is not None):
                        delta = net(t.contiguous(memory_format=cl), m.contiguous(memory_format=cl), gen).float()
                        y = (t + delta) * m + t * (1 - m)
                    return (y[0, :, :th, :tw].float().cpu().numpy().transpose(1, 2, 0) + 1) * 0.5

                x = run_tiled(x, hole, tile, overlap, one_step)
                if seam_fix is not None and (seam.mode == "steps" or k == iterations - 1):
                    x = harmonised(x)
                yield Progress("sample", k + 1, iterations, f"residual iteration {k + 1}/{iterations}")
                yield job.preview(to_region(x), "sample", k + 1, iterations, v)
            final = to_region(x)
            if opts.texture != "off":
                rebuild = rebuild_blocks if opts.texture == "blocks" else add_grain
                final[:, :, :colour] = np.clip(rebuild(final[:, :, :colour], hole, seed, allowed), 0.0, 1.0)
            if opts.detail:
                final[:, :, :colour] = restore_detail(final[:, :, :colour], hole)
            yield job.result(final, v, {"iterations": iterations, "seed": seed, "seam": seam.mode,
                                        "texture": opts.texture, "detail": opts.detail, "device": str(device)})


def register(registry) -> None:
    caps = Capabilities(
        title="GRIG (few-shot GAN)",
        description="A generator trained on a handful of images lays out the hole by iterative residual "
                    "refinement (2 forward passes); the hole is then rebuilt from blocks of the image that fit "
                    "that layout. Under a second; retrain it on your own folder with train-fewshot --engine grig.",
        needs_weights=True,
        retrainable=True,
        instant=False,
        samplers=(),
        supports_seed=True,
        supports_variants=True,
        supports_steps=True,
        supports_source=True,
        harmonizes_seams=True,
        devices=tuple(runtime.available_devices()),
        max_channels=4,  # RGB(A) or gray: an RGB generator; map sets go to `internal`
    )
    registry.register("grig", caps, lambda: GRIGEngine(caps), trainer=train_grig)
