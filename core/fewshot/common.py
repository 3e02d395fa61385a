"""What the few-shot engines (`esdiff`, `grig`) share: training folders, crops, weights files, checkpoints,
the training loop's bookkeeping, and the RGB view of any image.

A few-shot engine is trained once on a handful of images (``python main.py train-fewshot``) and then
inpaints any image from its shipped weights. Training is an event stream like ``engine.run``: it yields
``Progress`` and ``Loss`` events and finally ``TrainDone``; closing it or setting ``request.cancel`` stops
it within one step, after writing a checkpoint so that ``--resume`` continues where it stopped.

Weights and checkpoints are safetensors files (loading never executes code). A weights file records, in
its metadata, the engine it belongs to and the architecture settings needed to rebuild the network, so a
file trained by a user on their own folder is as usable as the shipped one.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np
import torch

from core.engines.base import Loss, Progress
from core.errors import Cancelled, UserError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "weights"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".tga"}


# ---- training images ------------------------------------------------------------------------------------
def list_images(folder: str | os.PathLike) -> list[Path]:
    d = Path(folder)
    if not d.is_dir():
        raise UserError(f"cannot read {d}: not a folder")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise UserError(f"{d} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def as_rgb(image: np.ndarray) -> np.ndarray:
    """float H x W x C -> float H x W x 3: gray is replicated, alpha (and any extra channel) dropped."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] in (1, 2):
        return np.repeat(image[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def load_training_images(folder: str | os.PathLike, max_images: int | None = None,
                         min_side: int = 64) -> list[tuple[str, np.ndarray]]:
    """Every image of ``folder`` as (file name, float32 H x W x 3 in [0, 1]); a bad file is a UserError."""
    from core.io import load_image, to_float

    files = list_images(folder)
    if max_images is not None and len(files) > max_images:
        raise UserError(f"{folder} holds {len(files)} images; train on at most {max_images}")
    out = []
    for f in files:
        rgb = as_rgb(to_float(load_image(f)))
        if min(rgb.shape[:2]) < min_side:
            raise UserError(f"{f} is {rgb.shape[1]}x{rgb.shape[0]}; training images need at least "
                            f"{min_side}x{min_side} pixels")
        out.append((f.name, rgb))
    return out


class CropSampler:
    """Random square crops of the training images, with flips, as a (B, 3, S, S) tensor in [0, 1].

    Each batch takes its crops from images drawn in turn, so every image is seen equally often.
    ``scale`` (lo, hi) resizes each crop's source window by a random factor before cropping, which shows
    the network content at several scales from few images.
    """

    def __init__(self, images: list[np.ndarray], size: int, seed: int,
                 scale: tuple[float, float] = (1.0, 1.0), device: torch.device | str = "cpu") -> None:
        if not images:
            raise UserError("no training images")
        self.images, self.size, self.scale = images, int(size), scale
        self.rng = np.random.default_rng(seed)
        self.device = torch.device(device)
        self._next = 0

    def _one(self, img: np.ndarray) -> np.ndarray:
        s = self.size
        f = float(self.rng.uniform(*self.scale))
        win = int(round(s * f))
        h, w = img.shape[:2]
        win = max(8, min(win, h, w))
        y = int(self.rng.integers(0, h - win + 1))
        x = int(self.rng.integers(0, w - win + 1))
        crop = img[y:y + win, x:x + win]
        if win != s:
            crop = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA if win > s else cv2.INTER_LINEAR)
        if self.rng.random() < 0.5:
            crop = crop[:, ::-1]
        return crop

    def batch(self, n: int) -> torch.Tensor:
        crops = []
        for _ in range(n):
            crops.append(self._one(self.images[self._next % len(self.images)]))
            self._next += 1
        arr = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        return torch.from_numpy(arr).to(self.device)

    def state(self) -> dict:
        return {"next": self._next, "rng": self.rng.bit_generator.state}

    def restore(self, state: dict) -> None:
        self._next = int(state["next"])
        self.rng.bit_generator.state = state["rng"]


# ---- weights files ----------------------------------------------------------------------------------------
def shipped_weights(engine: str) -> Path:
    return WEIGHTS_DIR / f"{engine}.safetensors"


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    """Write a safetensors file atomically (``core.io.write_bytes_atomic``)."""
    from safetensors.torch import save

    from core.io import write_bytes_atomic

    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {p}: folder {parent} does not exist")
    data = save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()},
                metadata={k: str(v) for k, v in meta.items()})
    return write_bytes_atomic(p, data)


def read_tensors(path: str | os.PathLike, what: str = "weights") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a missing or damaged file is a one-line UserError."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} file {p} does not exist")
    try:
        tensors = {}
        with safe_open(str(p), framework="pt", device="cpu") as fh:
            meta = dict(fh.metadata() or {})
            for k in fh.keys():
                tensors[k] = fh.get_tensor(k)
    except Exception as exc:  # safetensors raises its own types for truncated or foreign files
        raise UserError(f"{what} file {p} is damaged or not a safetensors file ({type(exc).__name__})") from None
    return tensors, meta


def save_weights(path: str | os.PathLike, engine: str, state: dict[str, torch.Tensor], config: dict,
                 info: dict | None = None) -> Path:
    """Inference weights: the state dict, the engine's name and the config that rebuilds the network."""
    meta = {"engine": engine, "config": json.dumps(config, sort_keys=True)}
    meta.update({k: str(v) for k, v in (info or {}).items()})
    return save_tensors(path, state, meta)


def load_weights(path: str | os.PathLike | None, engine: str) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(state dict, config, metadata) for ``engine``; None = the shipped file. Clear errors, never code."""
    p = Path(path) if path else shipped_weights(engine)
    if not p.is_file():
        hint = ("the shipped weights are missing from resources/weights; reinstall, or train your own with "
                f"`python main.py train-fewshot --engine {engine} --data DIR --out WEIGHTS`") if not path else \
               "check the path, or train weights with `python main.py train-fewshot`"
        raise UserError(f"no {engine} weights at {p}: {hint}")
    tensors, meta = read_tensors(p, f"{engine} weights")
    owner = meta.get("engine")
    if owner != engine:
        raise UserError(f"{p} holds weights for '{owner or 'an unknown engine'}', not '{engine}'")
    try:
        config = json.loads(meta.get("config", "{}"))
    except json.JSONDecodeError:
        raise UserError(f"{engine} weights file {p} is damaged (unreadable config)") from None
    return tensors, config, meta


# ---- optimiser state in a safetensors checkpoint ---------------------------------------------------------------
def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """The optimiser's per-parameter state as flat tensors (its hyper-parameters are rebuilt, not stored)."""
    out = {}
    for idx, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            out[f"{prefix}.{idx}.{k}"] = t
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if not key.startswith(prefix + "."):
            continue
        idx, name = key[len(prefix) + 1:].split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    sd["state"] = state
    opt.load_state_dict(sd)


# ---- the training loop's bookkeeping ----------------------------------------------------------------------------
def check_train_options(engine: str, options: dict, defaults: dict, extra: tuple[str, ...] = ()) -> None:
    """One clear error for a training option the engine does not know (a typo must not be silently ignored)
    or whose value has the wrong kind: a switch (bool default) wants true/false, a number wants a number, a name
    or path (str default) a string.
    ``extra`` names options without a default (checked by the trainer itself)."""
    unknown = sorted(set(options) - set(defaults) - set(extra))
    if unknown:
        raise UserError(f"unknown {engine} training option(s): {', '.join(unknown)} "
                        f"(known: {', '.join([*defaults, *extra])})")
    for key, value in options.items():
        if value is None or key not in defaults:
            continue
        default = defaults[key]
        if isinstance(default, str):  # a name or a path
            ok, want = isinstance(value, str), "a name or a path"
        elif isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        else:
            ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        if not ok:
            raise UserError(f"{engine} training option {key} wants {want}, got {value!r}")


@dataclass
class TrainRequest:
    images: list[np.ndarray]  # float32 H x W x 3 in [0, 1]
    out: Path  # the weights file to write; the checkpoint lives beside it (``checkpoint_path``)
    steps: int | None = None  # None = the engine's default
    minutes: float | None = None  # time budget; training stops (and saves) when it is spent
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    options: dict = field(default_factory=dict)  # engine-specific (batch, crop, lr, ...)
    image_names: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)

    def cancelled(self) -> bool:
        return self.cancel.is_set()


@dataclass
class TrainDone:
    path: Path
    steps: int
    seconds: float
    info: dict = field(default_factory=dict)


def checkpoint_path(out: Path) -> Path:
    return Path(str(out) + ".ckpt")


class Trainable(Protocol):
    """One engine's training state, driven by ``run_training``."""

    engine: str

    def train_step(self, step: int) -> dict[str, float]:
        """One optimisation step; returns named losses (the first one is plotted)."""

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """Everything needed to resume: networks, EMA, optimisers."""

    def load_checkpoint_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...

    def export(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(inference state dict -- the EMA where there is one --, config that rebuilds the network)."""

    def extra_state(self) -> dict:
        """JSON-able state to resume exactly (e.g. the crop sampler's RNG)."""

    def restore_extra_state(self, state: dict) -> None: ...


def run_training(model: Trainable, request: TrainRequest, total_steps: int,
                 checkpoint_every_s: float = 300.0, report_every: int = 10) -> Iterator:
    """Drive ``model`` for ``total_steps`` (or until the time budget is spent), with progress, loss
    events, periodic checkpoints, resume, and a clean stop; writes the weights file at the end."""
    ckpt = checkpoint_path(request.out)
    start, spent_before = 0, 0.0
    if request.resume and ckpt.is_file():
        tensors, meta = read_tensors(ckpt, "checkpoint")
        if meta.get("engine") != model.engine:
            raise UserError(f"checkpoint {ckpt} belongs to '{meta.get('engine')}', not '{model.engine}'")
        model.load_checkpoint_tensors(tensors)
        model.restore_extra_state(json.loads(meta.get("extra", "{}")))
        start, spent_before = int(meta["step"]), float(meta.get("seconds", 0.0))
    budget = None if request.minutes is None else 60.0 * float(request.minutes)
    t0 = time.monotonic()
    last_ckpt = t0

    def elapsed() -> float:
        return spent_before + time.monotonic() - t0

    def write_checkpoint(step: int) -> None:
        meta = {"engine": model.engine, "step": str(step), "seconds": f"{elapsed():.1f}",
                "extra": json.dumps(model.extra_state())}
        save_tensors(ckpt, model.checkpoint_tensors(), meta)

    yield Progress("train", start, total_steps, "resumed" if start else "training")
    step = start
    running: dict[str, float] = {}
    try:
        while step < total_steps:
            if request.cancelled():
                raise Cancelled()
            if budget is not None and elapsed() >= budget:
                break
            losses = model.train_step(step)
            step += 1
            for k, v in losses.items():
                running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
            if step % report_every == 0 or step == total_steps:
                first = next(iter(losses))
                yield Loss(step, float(losses[first]))
                msg = " ".join(f"{k} {v:.4f}" for k, v in running.items())
                yield Progress("train", step, total_steps, f"{msg} ({elapsed() / 60:.1f} min)")
            if time.monotonic() - last_ckpt >= checkpoint_every_s:
                write_checkpoint(step)
                last_ckpt = time.monotonic()
    except (Cancelled, GeneratorExit, KeyboardInterrupt):
        if step > start:
            write_checkpoint(step)  # a stopped run resumes with --resume
        raise
    write_checkpoint(step)
    state, config = model.export()
    info = {"steps": step, "seconds": round(elapsed(), 1), "images": ",".join(request.image_names),
            "seed": request.seed}
    path = save_weights(request.out, model.engine, state, config, info)
    yield TrainDone(path, step, elapsed(), info)
