"""Training ESDiff's prior: VE-SDE denoising score matching on MPT-encoded 64x64 crops.

Each step: a batch of random crops (``CropSampler``, flips, scale jitter 0.75-1.5x), a fresh virtual mask
per crop, the 12-channel MPT tensor x0, sigma log-uniform in [SIGMA_MIN, SIGMA_MAX], x = x0 + sigma z, and
the loss || sigma * s(x, sigma) + z ||^2 (denoising score matching weighted by sigma^2, as in the paper's
Eq. 5 with lambda(t) = sigma^2). Adam 2e-4 with a linear warm-up (WARMUP steps; the paper's code uses 5000
for million-step runs, we use 200 for runs of a few thousand steps), gradient clipping at 1, EMA 0.999.

``train_esdiff(request)`` is the trainer the registry exposes; the CLI's ``train-fewshot`` drives it. A
checkpoint (``W.safetensors.ckpt``) holds the network, the EMA and Adam; ``load_checkpoint_ema`` turns one
into inference weights, so a running training can be sampled from.
"""
from __future__ import annotations


from pathlib import Path
from typing import Iterator

import torch

from core import runtime
from core.fewshot.common import (CropSampler, TrainRequest, check_train_options, load_optimizer_tensors,
                                 optimizer_tensors, read_tensors, run_training)
from core.fewshot.esdiff_model import build_model, mpt, virtual_mask
from core.fewshot.esdiff_sampling import SIGMA_MAX, SIGMA_MIN

ENGINE = "esdiff"
DEFAULTS = {"batch": 8, "crop": 64, "nf": 32, "lr": 2e-4, "steps": 100_000, "ema": 0.999, "warmup": 200}


class EsdiffTrainable:
    engine = ENGINE

    def __init__(self, request: TrainRequest) -> None:
        check_train_options(ENGINE, request.options, DEFAULTS, extra=("mult", "bf16"))
        opts = {**DEFAULTS, **{k: v for k, v in request.options.items() if v is not None}}
        self.opts = opts
        self.device = runtime.resolve_device(request.device)
        torch.manual_seed(request.seed)
        self.config = {"channels": 12, "nf": int(opts["nf"]), "mult": list(opts.get("mult", (1, 2, 2))),
                       "crop": int(opts["crop"]), "sigma_min": SIGMA_MIN, "sigma_max": SIGMA_MAX}
        self.model = build_model(self.config).to(self.device)
        self.ema = build_model(self.config).to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=float(opts["lr"]))
        self.sampler = CropSampler(request.images, int(opts["crop"]), request.seed, scale=(0.75, 1.5),
                                   device=self.device)
        self.gen = torch.Generator(device=self.device).manual_seed(request.seed + 1)
        self.autocast = runtime.autocast_dtype(self.device, opts.get("bf16"))

    def train_step(self, step: int) -> dict[str, float]:
        b = int(self.opts["batch"])
        x = self.sampler.batch(b)
        m = virtual_mask((b, 1) + tuple(x.shape[2:]), self.gen, self.device)
        x0 = mpt(x, m)
        u = torch.rand(b, generator=self.gen, device=self.device)
        sigma = SIGMA_MIN * (SIGMA_MAX / SIGMA_MIN) ** u
        z = torch.randn(x0.shape, generator=self.gen, device=self.device)
        xt = x0 + sigma.view(-1, 1, 1, 1) * z
        lr = float(self.opts["lr"]) * min(1.0, (step + 1) / max(1, int(self.opts["warmup"])))
        for g in self.opt.param_groups:
            g["lr"] = lr
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            score = self.model(xt, sigma)
        loss = ((score.float() * sigma.view(-1, 1, 1, 1) + z) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            d = float(self.opts["ema"])
            for pe, p in zip(self.ema.parameters(), self.model.parameters()):
                pe.mul_(d).add_(p.detach(), alpha=1.0 - d)
        return {"loss": loss.item()}

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        out.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        out.update(optimizer_tensors(self.opt, "adam"))
        out["gen_state"] = self.gen.get_state()
        return out

    def load_checkpoint_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        self.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        load_optimizer_tensors(self.opt, tensors, "adam")
        if "gen_state" in tensors:
            self.gen.set_state(tensors["gen_state"])

    def export(self) -> tuple[dict[str, torch.Tensor], dict]:
        return dict(self.ema.state_dict()), dict(self.config)

    def extra_state(self) -> dict:
        return {"crops": self.sampler.state(), "config": self.config}

    def restore_extra_state(self, state: dict) -> None:
        if "crops" in state:
            self.sampler.restore(state["crops"])


def train_esdiff(request: TrainRequest) -> Iterator:
    """The registry's trainer: an event stream (Progress, Loss, ..., TrainDone)."""
    model = EsdiffTrainable(request)
    total = int(request.steps or DEFAULTS["steps"])
    return run_training(model, request, total, checkpoint_every_s=120.0)


def load_checkpoint_ema(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(EMA state dict, config) from a training checkpoint, for sampling while training runs."""
    import json

    tensors, meta = read_tensors(path, "checkpoint")
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    extra = json.loads(meta.get("extra", "{}"))
    return state, extra.get("config", {})


def dsm_loss(model, x0: torch.Tensor, sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The DSM loss for given noise (used by tests)."""
    return ((model(x0 + sigma.view(-1, 1, 1, 1) * z, sigma) * sigma.view(-1, 1, 1, 1) + z) ** 2).mean()



