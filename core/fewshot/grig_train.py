"""Training GRIG on a handful of images: losses, CoMod-style masks, DiffAugment, EMA, the Trainable.

One training step is one residual iteration t of Algorithm 1: x_t = (x_{t-1} + G(x_{t-1}, M)) M + I (1 - M),
then one update each of G, the projected discriminator E and the forged-patch discriminator D. A new batch
(crops + masks) is drawn every T steps, so T steps make one of the paper's outer iterations.

G's loss: lambda_p * perceptual (the fixed-random-feature LPIPS stand-in, summed over the batch as the paper
sums LPIPS) + lambda_adv * (-mean E) + lambda_patch * (-mean of D over forged units) + lambda_l1 * L1.
The L1 term is not in the paper; it is on by default for few-shot stability on a CPU budget (set
``l1=0`` in the options to train as the paper). Adam 2e-4 (0.5, 0.999), EMA 0.999 of G for inference.
Option ``patch_mask`` (default off, as the paper) gives the forged-patch D the mask as a fourth channel.
Option ``patch_min_share`` (default 0 = the paper's Eq. 4) labels a unit forged only when at least that share of
its receptive field is hole (``grig_disc.patch_targets``). At our 128-px crops Eq. 4's D learns nothing
(``bench.grig_dcheck``); 0.2 lets a fresh D separate a little, but resuming the shipped run with it for 30
minutes (3,648 -> 5,892 steps) left the fills as smooth as before (bench.grig --quick: strokes 13.52 dB,
sharpness 0.13; box 12.89 dB, 0.08; shipped 13.20 / 0.11 and 13.00 / 0.06), so the default stays the paper's.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core import runtime
from core.errors import UserError
from core.fewshot.common import (CropSampler, TrainRequest, Trainable, check_train_options, load_optimizer_tensors,
                                 optimizer_tensors, run_training)
from core.fewshot.grig_disc import (FixedFeatures, PatchDiscriminator, ProjectedDiscriminator, patch_targets,
                                    perceptual_loss)
from core.fewshot.grig_levers import TrainedFeatures, patch_swd_loss
from core.fewshot.grig_model import GenConfig, GRIGGenerator

ENGINE = "grig"
DEFAULTS = dict(crop=128, batch=4, iterations=3, lr=2e-4, ema=0.999, perceptual=1.5, adv=1.0, patch=1.0,
                l1=1.0, use_projected=True, use_patch=True, patch_min_share=0.0, patch_mask=False,
                full_res_decoder=False, steps=200_000, features="random", swd=0.0, init="")


# ---- masks (CoMod-style, scaled to the crop) ---------------------------------------------------------------
def comod_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """Free-form + box mask after CoMod-GAN's generator, scaled from 256 to ``size``: up to 9 boxes below half
    the side, up to 4 below the side, up to 19 brush strokes of 4-17 vertices, 12-48 px wide; random flips.
    Masks covering nothing, or almost everything (> 85%), are drawn again."""
    s = size / 256.0
    for _ in range(50):
        m = np.zeros((size, size), np.uint8)
        for n, top in ((int(rng.integers(0, 10)) if rng.random() < 0.5 else 0, 128),
                       (int(rng.integers(0, 5)) if rng.random() < 0.3 else 0, 256)):
            for _ in range(n):
                bw, bh = (int(rng.integers(8, max(9, int(top * s * 0.75)))) for _ in range(2))
                x0, y0 = int(rng.integers(-bw // 2, size - bw // 2)), int(rng.integers(-bh // 2, size - bh // 2))
                m[max(0, y0):max(0, y0 + bh), max(0, x0):max(0, x0 + bw)] = 1
        for _ in range(int(rng.integers(0, 20)) if rng.random() < 0.7 else 0):
            width = max(2, int(round(rng.uniform(12, 48) * s)))
            y, x = rng.uniform(0, size), rng.uniform(0, size)
            for _ in range(int(rng.integers(4, 18))):
                ang = rng.uniform(0, 2 * math.pi)
                length = rng.uniform(10, 60) * s
                ny = np.clip(y + length * math.sin(ang), 0, size - 1)
                nx = np.clip(x + length * math.cos(ang), 0, size - 1)
                cv2.line(m, (int(x), int(y)), (int(nx), int(ny)), 1, width)
                y, x = ny, nx
            if rng.random() < 0.5:
                break  # fewer, longer-lived strokes keep the mean coverage moderate
        if rng.random() < 0.5:
            m = m[:, ::-1]
        if rng.random() < 0.5:
            m = m[::-1]
        ratio = m.mean()
        if 0.02 < ratio < 0.85:
            return np.ascontiguousarray(m.astype(bool))
    return np.ascontiguousarray(m.astype(bool)) if m.any() else _centre(size)


def _centre(size: int) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    return m


# ---- DiffAugment (colour + translation) ------------------------------------------------------------------
def diff_augment(x: torch.Tensor, mask: torch.Tensor | None = None, ratio: float = 0.125):
    """Differentiable colour (brightness, saturation, contrast) and translation (zero padded, up to ``ratio``
    of the side). ``mask`` (B, 1, H, W) is translated with the image. Uses the global torch RNG."""
    b = x.shape[0]
    dev = x.device
    x = x + (torch.rand(b, 1, 1, 1, device=dev) - 0.5)
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=dev) * 2) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=dev) + 0.5) + mean
    h, w = x.shape[-2:]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b,)).tolist()
    tx = torch.randint(-sw, sw + 1, (b,)).tolist()

    def shift(t: torch.Tensor) -> torch.Tensor:
        p = F.pad(t, (sw, sw, sh, sh))
        return torch.stack([p[i, :, sh - ty[i]: sh - ty[i] + h, sw - tx[i]: sw - tx[i] + w] for i in range(b)])

    x = shift(x)
    return (x, shift(mask)) if mask is not None else x


# ---- the Trainable -----------------------------------------------------------------------------------------
class GRIGTrainer:
    engine = ENGINE

    def __init__(self, images: list[np.ndarray], seed: int = 0, device: str | torch.device = "cpu",
                 options: dict | None = None, gen_config: GenConfig | None = None) -> None:
        o = dict(DEFAULTS)
        check_train_options(ENGINE, options or {}, DEFAULTS, extra=("gen",))
        o.update({k: v for k, v in (options or {}).items() if v is not None})
        self.o = o
        self.device = torch.device(device)
        self.crop, self.batch, self.T = int(o["crop"]), int(o["batch"]), int(o["iterations"])
        if self.crop % 16 or self.crop < 32:
            raise UserError(f"--crop must be a multiple of 16 and at least 32 (got {self.crop})")
        if self.batch < 1:
            raise UserError("--batch must be at least 1")
        small = min(min(im.shape[:2]) for im in images)
        if small < self.crop:
            raise UserError(f"training images need at least {self.crop}x{self.crop} pixels (smallest side: {small})")
        if o["features"] not in ("random", "esdiff"):
            raise UserError(f"grig training option features wants random or esdiff, got {o['features']!r}")
        if float(o["swd"]) < 0:
            raise UserError("grig training option swd must be 0 or more")
        torch.manual_seed(seed)
        self.cfg = gen_config or GenConfig.from_dict(o.get("gen", {}))
        init_state = None
        if o["init"]:  # fine-tune a weights file's generator (the shipped one: init=shipped)
            init_state, self.cfg = initial_generator(o["init"])
        if o["full_res_decoder"]:  # same weights' shapes: a resumed run keeps the trained decoder
            self.cfg = replace(self.cfg, full_res_decoder=True)
        self.G = GRIGGenerator(self.cfg).to(self.device)
        if init_state is not None:
            self.G.load_state_dict(init_state)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.features = (TrainedFeatures() if o["features"] == "esdiff" else FixedFeatures()).to(self.device)
        self.E = ProjectedDiscriminator(self.features).to(self.device)
        self.D = PatchDiscriminator(sees_mask=bool(o["patch_mask"])).to(self.device)
        betas = (0.5, 0.999)
        lr = float(o["lr"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr, betas)
        self.opt_e = torch.optim.Adam([p for p in self.E.parameters() if p.requires_grad], lr, betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr, betas)
        self.sampler = CropSampler(images, self.crop, seed, device=self.device)
        self.mask_rng = np.random.default_rng(seed + 17)
        self._gt = self._mask = self._x = None
        self._updates = 0

    # -- one residual iteration + updates ------------------------------------------------------------------
    def _new_batch(self) -> None:
        self._gt = self.sampler.batch(self.batch) * 2 - 1
        m = np.stack([comod_mask(self.crop, self.mask_rng) for _ in range(self.batch)])[:, None]
        self._mask = torch.from_numpy(m.astype(np.float32)).to(self.device)
        self._x = self._gt * (1 - self._mask)

    def train_step(self, step: int) -> dict[str, float]:
        o = self.o
        if step % self.T == 0 or self._x is None:
            self._new_batch()
        gt, mask, known = self._gt, self._mask, self._gt * (1 - self._mask)
        fake = (self._x + self.G(self._x, mask)) * mask + known * (1 - mask)
        # generator
        g_perc = perceptual_loss(self.features, fake, gt)
        g_l1 = (fake - gt).abs().mean()
        loss_g = o["perceptual"] * g_perc + o["l1"] * g_l1
        adv = patch = swd = torch.zeros((), device=self.device)
        if o["swd"] > 0:
            swd = patch_swd_loss(fake, gt, mask)
            loss_g = loss_g + o["swd"] * swd
        if o["use_projected"]:
            self.E.requires_grad_(False)
            adv = -self.E(diff_augment(fake)).mean()
            loss_g = loss_g + o["adv"] * adv
        if o["use_patch"]:
            self.D.requires_grad_(False)
            fa, ma = diff_augment(fake, mask)
            forged, _ = patch_targets(ma, float(o["patch_min_share"]))
            patch = -(self.D(fa, ma) * forged).sum() / forged.sum().clamp(min=1.0)
            loss_g = loss_g + o["patch"] * patch
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self._ema()
        fake_d = fake.detach()
        out = {"perc": float(g_perc.detach()) / self.batch, "l1": float(g_l1.detach())}
        if o["swd"] > 0:
            out["swd"] = float(swd.detach())
        if o["use_projected"]:
            self.E.head.requires_grad_(True)
            d_real = self.E(diff_augment(gt))
            d_fake = self.E(diff_augment(fake_d))
            loss_e = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            self.opt_e.zero_grad(set_to_none=True)
            loss_e.backward()
            self.opt_e.step()
            out.update(adv_g=float(adv.detach()), e=float(loss_e.detach()))
        if o["use_patch"]:
            self.D.requires_grad_(True)
            p_real = self.D(*diff_augment(gt, mask))
            fa, ma = diff_augment(fake_d, mask)
            forged, real = patch_targets(ma, float(o["patch_min_share"]))
            p_fake = self.D(fa, ma)
            loss_d = F.relu(1 - p_real).mean() + (F.relu(1 - p_fake) * real + F.relu(1 + p_fake) * forged).mean()
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            out.update(patch_g=float(patch.detach()), d=float(loss_d.detach()))
        self._x = fake_d
        return out

    @torch.no_grad()
    def _ema(self) -> None:
        """EMA of G with the usual warm-up, decay min(ema, (1 + n) / (10 + n)) after n updates, so that a
        short CPU training (a few thousand steps) is not dominated by the random initial weights."""
        self._updates += 1
        a = min(float(self.o["ema"]), (1.0 + self._updates) / (10.0 + self._updates))
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.lerp_(p, 1 - a)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # -- Trainable protocol ------------------------------------------------------------------------------------
    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        t = {}
        for name, mod in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D), ("E", self.E.head)):
            t.update({f"{name}.{k}": v for k, v in mod.state_dict().items()})
        for name, opt in (("opt_g", self.opt_g), ("opt_e", self.opt_e), ("opt_d", self.opt_d)):
            t.update(optimizer_tensors(opt, name))
        t["rng.torch"] = torch.get_rng_state()
        return t

    def load_checkpoint_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, mod in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D), ("E", self.E.head)):
            sd = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
            if not sd and name == "D":
                continue  # no such tensors (strip_patch_discriminator): that discriminator starts afresh
            try:
                mod.load_state_dict(sd)
            except RuntimeError:
                raise UserError("the checkpoint does not match this network (different settings?)") from None
        for name, opt in (("opt_g", self.opt_g), ("opt_e", self.opt_e), ("opt_d", self.opt_d)):
            load_optimizer_tensors(opt, tensors, name)
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"])

    def export(self) -> tuple[dict[str, torch.Tensor], dict]:
        config = {"gen": self.cfg.to_dict(), "iterations": self.T, "crop": self.crop}
        return {k: v.detach().clone() for k, v in self.G_ema.state_dict().items()}, config

    def extra_state(self) -> dict:
        return {"sampler": self.sampler.state(), "mask_rng": self.mask_rng.bit_generator.state,
                "ema_updates": self._updates}

    def restore_extra_state(self, state: dict) -> None:
        if "sampler" in state:
            self.sampler.restore(state["sampler"])
        if "mask_rng" in state:
            self.mask_rng.bit_generator.state = state["mask_rng"]
        self._updates = int(state.get("ema_updates", 10_000))  # older checkpoints: past the warm-up


def initial_generator(name: str) -> tuple[dict[str, torch.Tensor], GenConfig]:
    """The generator state and config of weights file ``name`` (``shipped`` = the shipped file) to start from."""
    from core.fewshot.common import load_weights

    state, config, _ = load_weights(None if name == "shipped" else name, ENGINE)
    try:
        cfg = GenConfig.from_dict(config.get("gen", {}))
        GRIGGenerator(cfg).load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError):
        raise UserError(f"init={name}: not a usable grig generator (damaged, or trained by another version)") from None
    return state, cfg


def train_grig(request: TrainRequest) -> Iterator:
    """The registry's trainer for `grig`: options batch, crop, iterations, l1, use_projected, use_patch, patch_mask,
    patch_min_share, lr, features (random | esdiff), swd (weight of patch_swd_loss), init (a weights file to
    fine-tune, or shipped); any other name is one clear error."""
    device = runtime.resolve_device(request.device)
    model: Trainable = GRIGTrainer(request.images, request.seed, device, request.options)
    steps = int(request.steps or model.o["steps"])
    return run_training(model, request, steps)


def export_checkpoint(ckpt: str, out: str, net: str = "G") -> None:
    """Write an inference weights file from a training checkpoint's raw generator (``G``) or its EMA
    (``G_ema``). Used for the shipped weights of the first run, whose EMA had no warm-up (see README)."""
    from pathlib import Path

    from core.fewshot.common import read_tensors, save_weights

    tensors, meta = read_tensors(ckpt, "checkpoint")
    state = {k[len(net) + 1:]: v for k, v in tensors.items() if k.startswith(net + ".")}
    GRIGGenerator(GenConfig()).load_state_dict(state)  # checks it is a default-size generator
    config = {"gen": GenConfig().to_dict(), "iterations": DEFAULTS["iterations"], "crop": DEFAULTS["crop"]}
    info = {"steps": meta.get("step", "?"), "seconds": meta.get("seconds", "?"),
            "exported": f"{net} from {Path(ckpt).name}"}
    save_weights(out, ENGINE, state, config, info)


def strip_patch_discriminator(ckpt: str, out: str) -> None:
    """Write a copy of a training checkpoint without the forged-patch D and its optimiser, so that a resumed
    run keeps G, its EMA and E but starts D afresh (needed to switch ``patch_mask`` on a running recipe)."""
    from core.fewshot.common import read_tensors, save_tensors

    tensors, meta = read_tensors(ckpt, "checkpoint")
    save_tensors(out, {k: v for k, v in tensors.items() if not k.startswith(("D.", "opt_d."))}, meta)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="export GRIG weights from a training checkpoint")
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--net", default="G", choices=["G", "G_ema"])
    ap.add_argument("--strip-patch-d", action="store_true",
                    help="write a checkpoint without the forged-patch D instead of weights")
    a = ap.parse_args()
    if a.strip_patch_d:
        strip_patch_discriminator(a.ckpt, a.out)
    else:
        export_checkpoint(a.ckpt, a.out, a.net)
    print(a.out)
