"""Can GRIG's forged-patch discriminator tell the generator's fills from real patches? (why GRIG stays smooth)

    python -m bench.grig_dcheck [--ckpt resources/weights/grig.safetensors.ckpt] [--steps 150] [--data DIR]

Takes the generator of a training checkpoint, frozen, and trains a fresh forged-patch discriminator alone
on its T=3 fills of training crops (CoMod masks, the trainer's crop size, no augmentation), for each label
rule, printing every 25 steps the mean logit on real images and on forged units, the share of units
labelled forged and the fills' sharpness (gradient energy in the hole, fill / truth). If D cannot separate
the two, its gradient tells the generator nothing about texture, and the fills stay as smooth as the L1
and perceptual terms make them.

Label rules: ``paper`` (Eq. 4: forged iff the unit's receptive field holds any hole pixel) and ``fraction``
(forged iff at least 20% of it is hole; units in between are left out of the fake term) -- the second is
the trainer's option ``patch_min_share=0.2`` (its default is the paper's rule; see core.fewshot.grig_train).
As a control, ``blur`` trains D on real crops against the same crops blurred with a 9x9 box: it shows that D
and its optimiser can learn a texture difference quickly.

Needs the training images the checkpoint was trained on (``resources/weights/trainset.py DIR`` links them).
"""
from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from core import runtime
from core.fewshot.common import read_tensors
from core.fewshot.grig_disc import PatchDiscriminator, forged_labels, patch_targets
from core.fewshot.grig_train import GRIGTrainer
from core.io import load_image, to_float

ROOT = Path(__file__).resolve().parent.parent


def fill_sharpness(fake: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask[:, :, 1:]
    f = ((fake[:, :, 1:] - fake[:, :, :-1]).abs() * m).sum()
    g = ((gt[:, :, 1:] - gt[:, :, :-1]).abs() * m).sum()
    return float(f / g.clamp(min=1e-8))


def run(trainer: GRIGTrainer, rule: str, steps: int, seed: int) -> None:
    torch.manual_seed(seed)
    D = PatchDiscriminator()
    opt = torch.optim.Adam(D.parameters(), 2e-4, (0.5, 0.999))
    box = torch.ones(3, 1, 9, 9) / 81.0
    t0 = time.time()
    print(f"label rule: {rule}")
    for step in range(steps):
        trainer._new_batch()
        gt, mask = trainer._gt, trainer._mask
        with torch.no_grad():
            if rule == "blur":
                fake = F.conv2d(F.pad(gt, (4, 4, 4, 4), mode="reflect"), box, groups=3)
                mask = torch.ones_like(mask)
            else:
                fake = trainer._x
                for _ in range(trainer.T):
                    fake = (fake + trainer.G(fake, mask)) * mask + gt * (1 - mask)
        p_real, p_fake = D(gt), D(fake)
        lab = forged_labels(mask)
        strong = patch_targets(mask, 0.2)[0] if rule == "fraction" else lab
        loss = (F.relu(1 - p_real).mean() + (F.relu(1 - p_fake) * (1 - lab)).mean()
                + (F.relu(1 + p_fake) * strong).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 25 == 0:
            with torch.no_grad():
                forged = float((p_fake * strong).sum() / strong.sum().clamp(min=1.0))
            print(f"  step {step + 1:4d}  D(real) {float(p_real.detach().mean()):+.2f}  D(forged) {forged:+.2f}  "
                  f"forged units {float(strong.mean()):.2f}  fill sharpness {fill_sharpness(fake, gt, mask):.2f}"
                  f"  ({time.time() - t0:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", default=str(ROOT / "resources" / "weights" / "grig.safetensors.ckpt"))
    ap.add_argument("--data", default="/tmp/trainset", help="the checkpoint's training images")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rules", default="paper,fraction,blur")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    runtime.tune_allocator()
    runtime.set_threads()
    files = sorted(glob.glob(str(Path(args.data) / "*.png")))
    if not files or not Path(args.ckpt).is_file():
        raise SystemExit("needs a checkpoint (--ckpt) and its training images (--data; see the docstring)")
    images = [to_float(load_image(f))[:, :, :3] for f in files]
    trainer = GRIGTrainer(images, args.seed, "cpu", {})
    tensors, meta = read_tensors(args.ckpt, "checkpoint")
    trainer.load_checkpoint_tensors(tensors)
    trainer.G.eval()
    print(f"generator: {Path(args.ckpt).name}, step {meta.get('step', '?')}; {len(images)} training images; "
          f"crop {trainer.crop}, T={trainer.T}")
    for rule in args.rules.split(","):
        run(trainer, rule, args.steps, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
