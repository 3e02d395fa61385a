"""Training the tiny UNet on the open image itself (internal learning, Cherel et al.).

Each step draws random crops of the training region, hides a synthetic stroke (or box) mask on top of
the real hole, noises the crop to a random timestep and asks the network for x0. The loss is the squared
error on pixels that the synthetic mask hid but that are known -- never on the real hole, whose pixels
we do not have -- averaged over all pixels as in the authors' code.

Decisions beyond the paper, each measured on dev images (see the README's numbers):
- crops of 64 px and batch 8 instead of 256 px and batch 16: ~16x cheaper steps, and at a fixed wait on a
  CPU more steps beat bigger crops;
- synthetic strokes sized from the real hole's thickness rather than fixed 12-40 px: the model learns to
  fill holes of the width it will have to fill;
- Adam at 1e-3 decaying (cosine) to 1e-4 rather than 1e-4 then 1e-5: short budgets need the larger rate;
- horizontal flips of the crops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.diffusion.schedule import Schedule
from core.diffusion.unet import TinyUNet
from core.masks import random_box, random_strokes


@dataclass
class TrainConfig:
    steps: int
    crop: int = 64
    batch: int = 8
    lr: float = 1e-3
    lr_final: float = 1e-4
    stroke_width: tuple[float, float] = (6.0, 20.0)
    box_fraction: float = 0.25  # share of synthetic masks that are rectangles instead of strokes
    # > 0: synthetic masks drop single pixels at about this rate instead of drawing strokes (for real holes
    # made of scattered missing pixels, which strokes never teach the model to fill)
    pixel_rate: float = 0.0
    t_min: int = 0  # timesteps are drawn from [t_min, t_max): a one-step regressor only needs the top ones,
    t_max: int | None = None  # a sampler started from a guess at strength s only the bottom s x T (None = T)
    hflip: bool = True
    bf16: bool | None = None  # None = decide by hardware (core.runtime.autocast_dtype)
    channels_last: bool = False
    # Gray samples (all channels equal) of a multi-channel batch get the same noise in every channel: the prior
    # then sees gray images exactly as its one-channel fold (internal_prior.fold_to_gray) will.
    tie_gray_noise: bool = False


def stroke_widths_for(hole_thickness: float, crop: int) -> tuple[float, float]:
    """Synthetic stroke widths matched to the real hole: 0.5x to 1.1x its thickness, within the crop."""
    hi = float(np.clip(1.1 * hole_thickness, 4.0, crop * 0.5))
    lo = float(np.clip(0.5 * hole_thickness, 3.0, hi))
    return lo, hi


def crop_size_for(hole_thickness: float, region_h: int, region_w: int, base: int = 64, largest: int = 128) -> int:
    """Crops large enough to see around the hole (about 2.5x its thickness), multiples of 8."""
    want = int(math.ceil(max(base, min(largest, 2.5 * hole_thickness)) / 8.0)) * 8
    fit = min(region_h, region_w) // 8 * 8
    return max(8, min(want, fit))


def synthetic_masks(rng: np.random.Generator, n: int, size: int, cfg: TrainConfig) -> np.ndarray:
    if cfg.pixel_rate > 0:
        rates = np.clip(cfg.pixel_rate * rng.uniform(0.5, 1.5, n), 0.01, 0.95)
        return rng.random((n, size, size)) < rates[:, None, None]
    out = np.empty((n, size, size), bool)
    for i in range(n):
        if rng.random() < cfg.box_fraction:
            side = (0.5 * cfg.stroke_width[0], 1.6 * cfg.stroke_width[1])
            out[i] = random_box(size, size, rng, size=(max(3.0, side[0]), min(size * 0.6, side[1])))
        else:
            out[i] = random_strokes(size, size, rng, n_strokes=(1, 3), vertices=(2, 6),
                                    width=cfg.stroke_width, reach=size / 4.0)
    return out


@dataclass(frozen=True)
class CropSites:
    """Where training crops may be taken: the top-left corners (image index, y, x) and how likely each is."""

    image: np.ndarray  # int
    y: np.ndarray
    x: np.ndarray
    p: np.ndarray  # probabilities, summing to 1

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pick = rng.choice(len(self.y), n, p=self.p)
        return self.image[pick], self.y[pick], self.x[pick]


def crop_sites(allowed: list[np.ndarray], size: int, shares: list[float] | None = None,
               min_fraction: float = 0.5) -> CropSites | None:
    """The crops of ``size`` px that lie at least ``min_fraction`` inside ``allowed`` (one bool H x W per image),
    drawn so that image i gets ``shares[i]`` of them (default: in proportion to its sites). None when no crop
    qualifies anywhere."""
    shares = list(shares) if shares is not None else None
    ks, ys, xs, ps = [], [], [], []
    for k, area in enumerate(allowed):
        h, w = area.shape
        if h < size or w < size:
            continue
        # fraction of allowed pixels in every size x size window, from an integral image
        integ = np.pad(np.cumsum(np.cumsum(area.astype(np.int64), 0), 1), ((1, 0), (1, 0)))
        inside = (integ[size:, size:] - integ[:-size, size:] - integ[size:, :-size] + integ[:-size, :-size])
        cy, cx = np.nonzero(inside >= min_fraction * size * size)
        if len(cy) == 0:
            continue
        ks.append(np.full(len(cy), k))
        ys.append(cy)
        xs.append(cx)
        ps.append(np.full(len(cy), (shares[k] / len(cy)) if shares is not None else 1.0))
    if not ks:
        return None
    p = np.concatenate(ps)
    return CropSites(np.concatenate(ks), np.concatenate(ys), np.concatenate(xs), p / p.sum())


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Cosine decay from cfg.lr to cfg.lr_final over the run."""
    if cfg.steps <= 1:
        return cfg.lr
    frac = step / (cfg.steps - 1)
    return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1.0 + math.cos(math.pi * frac))


def train(model: TinyUNet, image: torch.Tensor, hole: torch.Tensor, schedule: Schedule, cfg: TrainConfig,
          seed: int, autocast: torch.dtype | None = None, optimizer: torch.optim.Optimizer | None = None,
          first_step: int = 0, sites: CropSites | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Train ``model`` in place; yields (step, loss) after every optimiser step (loss stays on the device).

    image: (C, H, W) normalised, on the model's device, hole pixels already zeroed; hole: (1, H, W), 1 = hole.
    Several images may come as (N, C, H, W) and (N, 1, H, W), or as lists when their sizes differ: each crop
    then picks one. ``sites`` (crop_sites) restricts where crops are taken; by default anywhere, every image
    alike.
    A resumed run passes its optimiser and ``first_step``: the learning-rate schedule continues from there and
    the crops, masks and noise are drawn afresh (seeded by seed and first_step).
    """
    if isinstance(image, torch.Tensor):
        image, hole = (image[None], hole[None]) if image.dim() == 3 else (image, hole)
    device = image[0].device
    n_images, c = len(image), image[0].shape[0]
    size = cfg.crop
    if sites is None and len({tuple(im.shape[-2:]) for im in image}) > 1:
        sites = crop_sites([np.ones(tuple(im.shape[-2:]), bool) for im in image], size)
    rng = np.random.default_rng([seed, first_step] if first_step else seed)
    gen = torch.Generator(device=device).manual_seed(seed + first_step)
    abar = schedule.alphas_cumprod.to(device=device, dtype=torch.float32)
    opt = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=cfg.lr)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.train()
    for step in range(first_step, cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        if sites is not None:
            ks, ys, xs = sites.draw(rng, cfg.batch)
        else:
            h, w = image[0].shape[-2:]
            ys = rng.integers(0, h - size + 1, cfg.batch)
            xs = rng.integers(0, w - size + 1, cfg.batch)
            ks = rng.integers(0, n_images, cfg.batch) if n_images > 1 else np.zeros(cfg.batch, int)
        x0 = torch.stack([image[k][:, y:y + size, x:x + size] for k, y, x in zip(ks, ys, xs)])
        real = torch.stack([hole[k][:, y:y + size, x:x + size] for k, y, x in zip(ks, ys, xs)])
        synth = torch.from_numpy(synthetic_masks(rng, cfg.batch, size, cfg)).to(device)[:, None].float()
        if cfg.hflip:
            flip = torch.from_numpy(rng.random(cfg.batch) < 0.5).to(device)
            x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
            real = torch.where(flip[:, None, None, None], real.flip(-1), real)
        union = torch.maximum(synth, real)
        weight = synth * (1.0 - real)  # hidden by the synthetic mask, but known: the only supervised pixels
        t_hi = schedule.num_steps if cfg.t_max is None else max(cfg.t_min + 1, min(cfg.t_max, schedule.num_steps))
        t = torch.from_numpy(rng.integers(cfg.t_min, t_hi, cfg.batch)).to(device)
        a = abar[t][:, None, None, None]
        eps = torch.randn(x0.shape, generator=gen, device=device)
        if cfg.tie_gray_noise and c > 1:
            gray = (x0 - x0[:, :1]).abs().amax(dim=(1, 2, 3)) < 1e-6
            eps = torch.where(gray[:, None, None, None], eps[:, :1].expand_as(eps), eps)
        x_t = a.sqrt() * x0 + (1.0 - a).sqrt() * eps
        y = x0 * (1.0 - union)
        if cfg.channels_last:
            x_t, y = x_t.contiguous(memory_format=memory_format), y.contiguous(memory_format=memory_format)
        with torch.autocast(device_type=device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            pred = model(x_t, y, union, t)
        loss = F.mse_loss(pred.float() * weight, x0 * weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        yield step, loss.detach()
