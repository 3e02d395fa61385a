"""Warm start: models trained for an image, remembered by the image's content.

Inpainting the same image again with another mask -- or the image with a result just applied, which
differs only inside the old hole -- reuses the trained model and fine-tunes it briefly instead of
training from zero. Entries live in memory (the GUI's engine instance) and, unless disabled, on disk
as safetensors (so repeated CLI runs benefit too). Lookup: the exact content hash first, then any entry
of the same size whose 32x32 thumbnail is within ``NEAR`` mean absolute difference.

``LoadedWeights`` is the pretrained engines' counterpart: networks loaded from a weights file, kept so that
repeated runs do not read the file again.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generic, Iterable, TypeVar

import cv2
import numpy as np
import torch
from safetensors.torch import load_file, save_file

N = TypeVar("N")

NEAR = 0.02
MEMORY_ENTRIES = 4
DISK_ENTRIES = 8


@dataclass
class CachedModel:
    key: str
    shape: tuple[int, int, int]
    thumb: np.ndarray  # 32 x 32 x C float32
    state: dict[str, torch.Tensor]  # on the CPU
    mean: np.ndarray
    std: np.ndarray
    # what the model was trained for (e.g. the noise levels of a recipe): a warm start only reuses a model of
    # the same kind; "" for the original recipe, so cache files written before kinds existed still match it
    kind: str = ""


@dataclass(frozen=True)
class Fingerprint:
    """What the cache knows an image by: a hash of its content, a 32 x 32 thumbnail (near matches), its shape."""

    key: str
    thumb: np.ndarray  # 32 x 32 x C float32
    shape: tuple[int, int, int]


FINGERPRINT_ROWS = 64  # rows hashed at a time when ``fingerprint`` is given a whole array


def fingerprint_rows(rows: Iterable[np.ndarray]) -> Fingerprint:
    """The fingerprint of an image given as float32 bands of rows, top to bottom (h x W x C each): the SHA-1 of its
    values quantised to 16 bits, and its thumbnail averaged over areas (columns within each band, then rows).
    Nothing of the whole image's size is made; the same as ``fingerprint`` of the rows stacked."""
    h = hashlib.sha1()
    narrow = []  # each band shrunk to 32 columns: H x 32 x C in all
    height = width = channels = 0
    for band in rows:
        band = np.asarray(band, np.float32)
        band = band if band.ndim == 3 else band[:, :, None]
        height, width, channels = height + band.shape[0], band.shape[1], band.shape[2]
        h.update(np.ascontiguousarray(np.rint(np.clip(band, 0, 1) * 65535).astype(np.uint16)))
        narrow.append(cv2.resize(band, (32, band.shape[0]), interpolation=cv2.INTER_AREA)
                      .reshape(band.shape[0], 32, channels))
    shape = (height, width, channels)
    h.update(str(shape).encode())
    thumb = cv2.resize(np.concatenate(narrow), (32, 32), interpolation=cv2.INTER_AREA)
    return Fingerprint(h.hexdigest()[:24], thumb.reshape(32, 32, -1).astype(np.float32), shape)


def fingerprint(image: np.ndarray | Fingerprint) -> Fingerprint:
    """An image's (H x W x C float32 in [0, 1]) fingerprint, computed in bands of rows; a Fingerprint as it is."""
    if isinstance(image, Fingerprint):
        return image
    image = image if image.ndim == 3 else image[:, :, None]
    return fingerprint_rows(image[y:y + FINGERPRINT_ROWS] for y in range(0, image.shape[0], FINGERPRINT_ROWS))


def default_cache_dir() -> Path | None:
    env = os.environ.get("REWEAVE_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None  # an empty value disables the disk cache
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reweave" / "models"


def _kinded(key: str, kind: str) -> str:
    return f"{key}-{kind}" if kind else key


class ModelCache:
    def __init__(self, directory: Path | None | str = "default") -> None:
        self.directory = default_cache_dir() if directory == "default" else (Path(directory) if directory else None)
        self._memory: OrderedDict[str, CachedModel] = OrderedDict()

    def lookup(self, image: np.ndarray | Fingerprint, kind: str = "") -> CachedModel | None:
        """The model stored for ``image`` (an array, or its ``fingerprint`` when the caller holds only a part)."""
        fp = fingerprint(image)
        key, thumb = _kinded(fp.key, kind), fp.thumb
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        for entry in reversed(self._memory.values()):
            if entry.kind == kind and entry.shape == fp.shape and float(np.abs(entry.thumb - thumb).mean()) < NEAR:
                return entry
        return self._lookup_disk(key, thumb, fp.shape, kind)

    def store(self, image: np.ndarray | Fingerprint, state: dict[str, torch.Tensor], mean: np.ndarray,
              std: np.ndarray, kind: str = "") -> None:
        fp = fingerprint(image)
        entry = CachedModel(_kinded(fp.key, kind), fp.shape, fp.thumb,
                            {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()},
                            np.asarray(mean, np.float32), np.asarray(std, np.float32), kind)
        self._memory[entry.key] = entry
        self._memory.move_to_end(entry.key)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)
        self._store_disk(entry)

    # -- disk -------------------------------------------------------------------------------------------
    def _lookup_disk(self, key: str, thumb: np.ndarray, shape, kind: str) -> CachedModel | None:
        if self.directory is None or not self.directory.is_dir():
            return None
        candidates = [self.directory / f"{key}.safetensors"]
        candidates += sorted(self.directory.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in candidates:
            if not path.exists():
                continue
            try:
                tensors = load_file(str(path))
                entry = CachedModel(
                    path.stem, tuple(int(v) for v in tensors.pop("_shape").tolist()),
                    tensors.pop("_thumb").numpy(), {}, tensors.pop("_mean").numpy(), tensors.pop("_std").numpy())
                stored_kind = tensors.pop("_kind", None)
                entry.kind = bytes(stored_kind.tolist()).decode() if stored_kind is not None else ""
                entry.state = tensors
            except Exception:  # a damaged cache file is not the user's problem: skip it
                continue
            if entry.kind != kind:
                continue
            if entry.key == key or (entry.shape == tuple(shape) and float(np.abs(entry.thumb - thumb).mean()) < NEAR):
                self._memory[entry.key] = entry
                return entry
        return None

    def _store_disk(self, entry: CachedModel) -> None:
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tensors = dict(entry.state)
            tensors["_shape"] = torch.tensor(entry.shape)
            tensors["_thumb"] = torch.from_numpy(entry.thumb)
            tensors["_mean"] = torch.from_numpy(entry.mean)
            tensors["_std"] = torch.from_numpy(entry.std)
            if entry.kind:
                tensors["_kind"] = torch.tensor(list(entry.kind.encode()), dtype=torch.uint8)
            tmp = self.directory / f".{entry.key}.{os.getpid()}.tmp"
            save_file(tensors, str(tmp))
            os.replace(tmp, self.directory / f"{entry.key}.safetensors")
            files = sorted(self.directory.glob("*.safetensors"), key=lambda p: p.stat().st_mtime)
            for old in files[:-DISK_ENTRIES]:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # the cache is an optimisation; a read-only home must not fail the run


class LoadedWeights(Generic[N]):
    """The network last loaded from a weights file, by (file, modification time, size, device).

    ``load(path, device)`` reads a file (None = the engine's shipped weights, ``shipped()``'s path) and raises
    UserError for a bad one. One network is kept: they are small, and users switch rarely."""

    def __init__(self, load: Callable[[str | None, torch.device], N], shipped: Callable[[], Path]) -> None:
        self._load, self._shipped = load, shipped
        self._lock = threading.Lock()
        self._kept: tuple[tuple, N] | None = None

    def get(self, path: str | None, device: torch.device) -> N:
        p = Path(path) if path else self._shipped()
        try:
            st = os.stat(p)
            key = (str(p.resolve()), st.st_mtime_ns, st.st_size, str(device))
        except OSError:
            key = None  # missing: ``load`` says so
        with self._lock:
            if key is not None and self._kept is not None and self._kept[0] == key:
                return self._kept[1]
        net = self._load(path, device)
        with self._lock:
            if key is not None:
                self._kept = (key, net)
        return net
