"""`train-fewshot`: train a few-shot engine's weights on a folder of images (merged into core.cli).

    python main.py train-fewshot --engine esdiff|grig --data DIR --out WEIGHTS.safetensors
                   [--minutes M] [--steps N] [--resume] [--seed N] [--device auto|cpu|cuda|mps]
                   [--batch B] [--crop S]

Everything a user could get wrong (no such engine or one that cannot be trained, a folder without images
or with an unreadable one, an output path that cannot be written) is checked before training starts, so
a bad call exits 2 with one ``error:`` line and writes nothing. Progress goes to stderr; a checkpoint is
written beside the output every few minutes and when the run is stopped (Ctrl+C), and ``--resume``
continues from it. On success stdout holds only the weights path.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.errors import UserError


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = "Train a few-shot engine (esdiff, grig) on a folder of images"
    p.add_argument("--engine", required=True, help="esdiff or grig")
    p.add_argument("--data", required=True, help="folder of training images (a handful is enough)")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    p.add_argument("--minutes", type=float, default=None, help="time budget; stops and saves when spent")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the engine's)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--batch", type=int, default=None, help="crops per step (default: the engine's)")
    p.add_argument("--crop", type=int, default=None, help="crop size in pixels (default: the engine's)")
    p.add_argument("--max-images", type=int, default=None, help="refuse folders with more images than this")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an engine training option, e.g. l1=0 or use_patch=false for grig "
                        "(repeatable; see the trainer's doc)")
    p.add_argument("--quiet", "-q", action="store_true")


def check_out_path(out: str | os.PathLike) -> Path:
    from core.io import check_file_writable

    p = Path(out)
    if p.suffix.lower() != ".safetensors":
        raise UserError(f"cannot write {p}: weights are saved as .safetensors")
    return check_file_writable(p)


def parse_options(pairs: list[str]) -> dict:
    """``["l1=0", "use_patch=false"]`` -> ``{"l1": 0.0, "use_patch": False}``; numbers become
    floats, true/false booleans, anything else stays a string (the trainer checks names and kinds:
    ``core.fewshot.common.check_train_options``)."""
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option wants KEY=VALUE, got {pair!r}")
        value = value.strip()
        if value.lower() in ("true", "false"):
            out[key.strip()] = value.lower() == "true"
            continue
        try:
            out[key.strip()] = float(value)
        except ValueError:
            out[key.strip()] = value
    return out


def build_request(args: argparse.Namespace, registry=None):
    """Validate everything and load the images: (trainer, TrainRequest). Raises UserError."""
    from core import runtime
    from core.engines.registry import default_registry
    from core.fewshot.common import TrainRequest, load_training_images

    registry = registry if registry is not None else default_registry()
    trainer = registry.trainer(args.engine)
    runtime.resolve_device(args.device)
    out = check_out_path(args.out)
    if args.steps is not None and args.steps < 1:
        raise UserError("--steps must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        raise UserError("--minutes must be positive")
    named = load_training_images(args.data, args.max_images)
    options = parse_options(getattr(args, "option", []) or [])
    options.update({k: v for k, v in (("batch", args.batch), ("crop", args.crop)) if v is not None})
    request = TrainRequest(images=[img for _, img in named], out=out, steps=args.steps, minutes=args.minutes,
                           seed=args.seed, device=args.device, resume=args.resume, options=options,
                           image_names=[n for n, _ in named])
    return trainer, request


def run(args: argparse.Namespace) -> int:
    from core import runtime
    from core.cli import EXIT_OK, ProgressBar
    from core.engines.base import Progress
    from core.fewshot.common import TrainDone

    trainer, request = build_request(args)
    runtime.set_threads()
    bar, done = ProgressBar(f"{args.engine} ", args.quiet, leave=True), None
    events = trainer(request)
    try:
        for ev in events:
            if isinstance(ev, Progress):
                bar.show(ev)
            elif isinstance(ev, TrainDone):
                done = ev
    finally:
        events.close()  # on Ctrl+C the trainer writes its checkpoint here
        bar.close()
    if done is None:
        raise RuntimeError("training finished without writing weights")
    print(f"trained {done.steps} steps in {done.seconds / 60:.1f} min", file=sys.stderr)
    print(done.path)
    return EXIT_OK


COMMANDS = {"train-fewshot": (add_args, run)}
