"""`train-fewshot`: train a few-shot engine's weights on a folder of images.

    python main.py train-fewshot --engine esdiff|grig --data DIR --out WEIGHTS.safetensors
                   [--minutes M] [--steps N] [--resume] [--seed N] [--device auto|cpu|cuda|mps]
                   [--batch B] [--crop S]

Everything a user could get wrong (no such engine or one that cannot be trained, a folder without images
or with an unreadable one, an output path that cannot be written) is checked before training starts, so
a bad call exits 2 with one ``error:`` line and writes nothing. Progress goes to stderr; a checkpoint is
written beside the output every few minutes and when the run is stopped (Ctrl+C), and ``--resume``
continues from it. On success stdout holds only the weights path. The app's training dialog validates
with the same ``build_request``, from a ``TrainSettings`` it fills in itself.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from core.cli_common import EXIT_OK, ProgressBar
from core.errors import UserError


@dataclass(frozen=True)
class TrainSettings:
    """What to train, on what, for how long: the values of the flags ``add_args`` declares."""

    engine: str
    data: str  # folder of training images
    out: str  # weights file to write (.safetensors)
    minutes: float | None = None
    steps: int | None = None
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    batch: int | None = None
    crop: int | None = None
    max_images: int | None = None
    options: tuple[str, ...] = ()  # KEY=VALUE pairs (parse_options)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainSettings:
        return cls(engine=args.engine, data=args.data, out=args.out, minutes=args.minutes, steps=args.steps,
                   resume=args.resume, seed=args.seed, device=args.device, batch=args.batch, crop=args.crop,
                   max_images=args.max_images, options=tuple(args.option or ()))


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


def build_request(settings: TrainSettings, registry=None):
    """Validate everything and load the images: (trainer, TrainRequest). Raises UserError."""
    from core import runtime
    from core.engines.registry import default_registry
    from core.fewshot.common import TrainRequest, load_training_images

    registry = registry if registry is not None else default_registry()
    trainer = registry.trainer(settings.engine)
    runtime.resolve_device(settings.device)
    out = check_out_path(settings.out)
    if settings.steps is not None and settings.steps < 1:
        raise UserError("--steps must be at least 1")
    if settings.minutes is not None and settings.minutes <= 0:
        raise UserError("--minutes must be positive")
    named = load_training_images(settings.data, settings.max_images)
    options = parse_options(list(settings.options))
    options.update({k: v for k, v in (("batch", settings.batch), ("crop", settings.crop)) if v is not None})
    request = TrainRequest(images=[img for _, img in named], out=out, steps=settings.steps,
                           minutes=settings.minutes, seed=settings.seed, device=settings.device,
                           resume=settings.resume, options=options, image_names=[n for n, _ in named])
    return trainer, request


def train(settings: TrainSettings, quiet: bool = False) -> int:
    """Train and write the weights; a progress bar on stderr, the weights path on stdout."""
    from core import runtime
    from core.engines.base import Progress
    from core.fewshot.common import TrainDone

    trainer, request = build_request(settings)
    runtime.set_threads()
    bar, done = ProgressBar(f"{settings.engine} ", quiet, leave=True), None
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


def run(args: argparse.Namespace) -> int:
    return train(TrainSettings.from_args(args), args.quiet)
