"""A starting point for the internal engine: the tiny UNet pre-trained on a few licence-clean images.

Training from random weights needs thousands of steps before photos stop coming out as flat colour
(on a 2-core CPU: minutes). Starting from weights that already know how to denoise and fill generic
image content, the per-image training of the `fast` and `balanced` presets is fine-tuning. The model is
still trained on the open image -- the prior only decides where that training starts.

    python -m core.engines.internal_prior --out resources/weights/internal_prior_rgb.safetensors

trains it (the exact images, their licences, the command and the hash are in resources/weights/MANIFEST.md).
Loading goes through safetensors, so it never executes code; a missing or damaged file means "no prior"
(training from scratch, as the paper does) and is reported in the result's info.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import torch

WEIGHTS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "weights"
PRIOR_FILES = {3: "internal_prior_rgb.safetensors"}


def prior_path(channels: int) -> Path | None:
    name = PRIOR_FILES.get(channels)
    return WEIGHTS_DIR / name if name else None


def fold_to_gray(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The RGB prior as a one-channel model that computes exactly what the RGB one computes on the gray image
    repeated to three channels, averaged back to one: the input convolution's weights for the three copies of
    a channel are summed, the output convolution's three rows averaged. Gray images stay one channel (no
    colour can leak into a gray fill) and still start from the prior."""
    out = dict(state)
    w = state["head.0.weight"]  # (WIDTH, 2C + 1 + TIME_DIM, 3, 3), inputs [y (C), x_t (C), mask, time]
    y, x_t, rest = w[:, 0:3], w[:, 3:6], w[:, 6:]
    out["head.0.weight"] = torch.cat([y.sum(1, keepdim=True), x_t.sum(1, keepdim=True), rest], dim=1).contiguous()
    out["out.weight"] = state["out.weight"].mean(0, keepdim=True).contiguous()
    out["out.bias"] = state["out.bias"].mean(0, keepdim=True).contiguous()
    return out


def load_prior(channels: int, path: str | Path | None = None) -> dict[str, torch.Tensor] | None:
    """The prior's state dict for this channel count (RGB, or gray folded from it), or None when there is none
    or the file is damaged. ``path``: another RGB prior file than the shipped one (experiments)."""
    if channels not in (1, 3):
        return None
    path = Path(path) if path is not None else prior_path(3)
    if path is None or not path.is_file():
        return None
    from safetensors.torch import load_file

    from core.diffusion.unet import TinyUNet

    try:
        state = load_file(str(path))
        TinyUNet(3).load_state_dict(state)  # shape check
    except Exception:
        return None
    return fold_to_gray(state) if channels == 1 else state


def _save_checkpoint(path: Path, model, opt, step: int, seconds: float) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": seconds}, tmp)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    from safetensors.torch import save_file

    from core import runtime
    from core.diffusion.schedule import linear_schedule
    from core.diffusion.training import TrainConfig, train
    from core.diffusion.unet import TinyUNet
    from core.engines.prior_data import training_tiles

    ap = argparse.ArgumentParser(description="train the internal engine's RGB prior (resumable)")
    ap.add_argument("--out", default=str(WEIGHTS_DIR / PRIOR_FILES[3]))
    ap.add_argument("--steps", type=int, default=40000, help="length of the learning-rate schedule")
    ap.add_argument("--minutes", type=float, default=60.0, help="stop (and write the weights) after this much time "
                                                                "in all, resumed runs included")
    ap.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t-max", type=int, default=None,
                    help="train only timesteps below this (the patch recipe samples t < strength x T)")
    args = ap.parse_args(argv)
    runtime.tune_allocator()
    runtime.set_threads()
    out = Path(args.out)
    ckpt = out.with_name(out.name + ".ckpt")
    tiles = torch.from_numpy(training_tiles(seed=args.seed))
    holes = torch.zeros(tiles.shape[0], 1, tiles.shape[2], tiles.shape[3])
    torch.manual_seed(args.seed)
    model = TinyUNet(3).to(memory_format=torch.channels_last)
    # Crops and masks span what per-image fine-tuning meets: strokes 3-48 px wide, boxes up to 60 % of a crop.
    cfg = TrainConfig(steps=args.steps, crop=64, batch=12, lr=1e-3, lr_final=5e-5, stroke_width=(3.0, 40.0),
                      box_fraction=0.35, channels_last=True, tie_gray_noise=True,
                      t_max=args.t_max)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step0, spent = 0, 0.0
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step0, spent = int(state["step"]), float(state["seconds"])
        print(f"resumed at step {step0} ({spent / 60:.1f} min)", file=sys.stderr)
    autocast = runtime.autocast_dtype(torch.device("cpu"))
    t0 = time.time() - spent
    last_save = time.time()
    avg, step = None, step0
    for step, loss in train(model, tiles, holes, linear_schedule(), cfg, args.seed, autocast, opt, step0):
        if (step + 1) % 100 == 0:
            v = float(loss)
            avg = v if avg is None else 0.9 * avg + 0.1 * v
            print(f"step {step + 1}/{cfg.steps} loss {avg:.4f} {(time.time() - t0) / 60:.1f} min",
                  file=sys.stderr, flush=True)
        if time.time() - last_save > 300:
            _save_checkpoint(ckpt, model, opt, step + 1, time.time() - t0)
            last_save = time.time()
        if time.time() - t0 > 60 * args.minutes:
            break
    step += 1
    _save_checkpoint(ckpt, model, opt, step, time.time() - t0)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata={"engine": "internal", "channels": "3", "steps": str(step),
                                         "minutes": f"{(time.time() - t0) / 60:.1f}", "seed": str(args.seed),
                                         "t_max": str(args.t_max)})
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out} step {step} sha256 {digest} ({(time.time() - t0) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
