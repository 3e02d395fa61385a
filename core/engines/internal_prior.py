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

import numpy as np
import torch

WEIGHTS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "weights"
PRIOR_FILES = {3: "internal_prior_rgb.safetensors"}


def prior_path(channels: int) -> Path | None:
    name = PRIOR_FILES.get(channels)
    return WEIGHTS_DIR / name if name else None


def load_prior(channels: int) -> dict[str, torch.Tensor] | None:
    """The prior's state dict for this channel count, or None when there is none (or it is damaged)."""
    path = prior_path(channels)
    if path is None or not path.is_file():
        return None
    from safetensors.torch import load_file

    from core.diffusion.unet import TinyUNet

    try:
        state = load_file(str(path))
        TinyUNet(channels).load_state_dict(state)  # shape check
    except Exception:
        return None
    return state


def _load_training_images(files: list[str], size: int) -> torch.Tensor:
    import cv2

    from core.io import load_image, to_float

    out = []
    for f in files:
        img = to_float(load_image(f))[:, :, :3]
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        mean, std = img.reshape(-1, 3).mean(0), np.maximum(img.reshape(-1, 3).std(0), 1e-3)
        out.append(((img - mean) / std).transpose(2, 0, 1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(out))).float()


def main(argv: list[str] | None = None) -> int:
    from core import runtime
    from core.diffusion.schedule import linear_schedule
    from core.diffusion.training import TrainConfig, train
    from core.diffusion.unet import TinyUNet
    from safetensors.torch import save_file

    ap = argparse.ArgumentParser(description="train the internal engine's RGB prior")
    ap.add_argument("--out", default=str(WEIGHTS_DIR / PRIOR_FILES[3]))
    ap.add_argument("--images", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    runtime.tune_allocator()
    runtime.set_threads()
    images = _load_training_images(args.images, args.size)
    holes = torch.zeros(images.shape[0], 1, args.size, args.size)
    torch.manual_seed(args.seed)
    model = TinyUNet(3)
    cfg = TrainConfig(steps=args.steps, crop=64, batch=8, stroke_width=(4.0, 32.0), box_fraction=0.3)
    t0 = time.time()
    avg = None
    for step, loss in train(model, images, holes, linear_schedule(), cfg, args.seed):
        if (step + 1) % 50 == 0:
            v = float(loss)
            avg = v if avg is None else 0.9 * avg + 0.1 * v
            print(f"step {step + 1}/{args.steps} loss {avg:.4f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out),
              metadata={"steps": str(args.steps), "images": ",".join(Path(f).name for f in args.images)})
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out} sha256 {digest} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
