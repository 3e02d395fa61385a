"""Shared fixtures: small synthetic images (written in every depth/channel layout we support), an isolated
model cache, the path to the shared test data, and the app tests' window with isolated settings and recorded
message boxes.

Generic on purpose -- the core, GUI and material tests all use them. The app fixtures import Qt (and
tests/app_helpers.py, which holds the app tests' plain helper functions) only when a test asks for them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# The GUI tests need no display: without this, a machine with X libraries but no X server aborts in Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# core.io sets OPENCV_IO_ENABLE_OPENEXR before cv2 is first imported; import it before anything imports cv2.
import core.io  # noqa: E402,F401 -- imported for its side effect, after the sys.path setup above

import cv2  # noqa: E402 -- after core.io, see above
import numpy as np  # noqa: E402 -- after the sys.path setup above

if TYPE_CHECKING:
    from app_helpers import Answers
    from PySide6.QtCore import QSettings


# --------------------------------------------------------------------------------------------------------
# Synthetic images
# --------------------------------------------------------------------------------------------------------
def texture(h: int = 64, w: int = 64, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A striped + checker texture with noise, float32 H x W x C in [0, 1].

    Every channel differs (phase-shifted stripes), so channel order mistakes show up.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((h, w, channels), np.float32)
    checker = ((yy // 8 + xx // 8) % 2).astype(np.float32)
    for c in range(channels):
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + 0.7 * yy) / 9.0 + 1.3 * c)
        out[:, :, c] = 0.15 + 0.45 * stripes + 0.25 * checker * (1 + c % 2) / 2
    out += rng.normal(0.0, 0.04, out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def quantise(values: np.ndarray, dtype) -> np.ndarray:
    """Float [0, 1] -> uint8 / uint16 (rounded)."""
    top = np.iinfo(dtype).max
    return np.rint(np.clip(values, 0.0, 1.0) * top).astype(dtype)


def write_native(path: Path, pixels: np.ndarray) -> Path:
    """Write H x W x C RGB(A)-ordered pixels with cv2 directly (not through core.io), asserting success."""
    px = pixels
    if px.ndim == 3 and px.shape[2] == 1:
        px = px[:, :, 0]
    elif px.ndim == 3 and px.shape[2] == 3:
        px = px[:, :, ::-1]
    elif px.ndim == 3 and px.shape[2] == 4:
        px = px[:, :, [2, 1, 0, 3]]
    ok = cv2.imwrite(str(path), np.ascontiguousarray(px))
    assert ok, f"cv2 could not write {path}"
    return Path(path)


@pytest.fixture
def make_texture():
    """Factory: ``make_texture(h, w, channels=3, seed=0)`` -> float32 H x W x C in [0, 1]."""
    return texture


@pytest.fixture
def image_files(tmp_path) -> dict[str, tuple[Path, np.ndarray]]:
    """48 x 40 test images on disk: name -> (path, the native RGB(A)-ordered pixels written).

    Names: rgb8, rgb16, gray8, gray16, rgba8, rgba16 (PNG), rgb8_tif, rgb16_tif, gray16_tif, rgba16_tif.
    """
    h, w = 48, 40
    layouts = {"rgb": 3, "gray": 1, "rgba": 4}
    files: dict[str, tuple[Path, np.ndarray]] = {}
    for seed, (kind, ch) in enumerate(layouts.items()):
        base = texture(h, w, ch, seed=seed)
        if kind == "rgba":  # an alpha channel with a real gradient, not all opaque
            base[:, :, 3] = np.linspace(0.1, 1.0, w, dtype=np.float32)[None, :]
        for bits, dtype in ((8, np.uint8), (16, np.uint16)):
            px = quantise(base, dtype)
            name = f"{kind}{bits}"
            files[name] = (write_native(tmp_path / f"{name}.png", px), px)
            if name in ("rgb8", "rgb16", "gray16", "rgba16"):
                files[f"{name}_tif"] = (write_native(tmp_path / f"{name}.tif", px), px)
    return files


@pytest.fixture
def write_mask(tmp_path):
    """Factory: ``write_mask(mask_bool, name='mask.png')`` -> path of an 8-bit gray PNG (255 = fill)."""
    def write(mask: np.ndarray, name: str = "mask.png") -> Path:
        return write_native(tmp_path / name, (mask.astype(np.uint8) * 255)[:, :, None])
    return write


# --------------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def isolated_model_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test (and every subprocess it starts) caches trained models in a temp folder, never ~/.cache."""
    cache = tmp_path_factory.mktemp("model-cache")
    monkeypatch.setenv("REWEAVE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared public test images (``../shared/data`` next to the repo); skips when absent."""
    path = (ROOT / ".." / "shared" / "data").resolve()
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path}")
    return path


@pytest.fixture
def readonly_dir(tmp_path) -> Path:
    """A folder this process cannot write to; skips where permissions do not bind (e.g. running as root)."""
    path = tmp_path / "readonly"
    path.mkdir()
    path.chmod(0o555)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("permissions do not bind for this user (root?): cannot make a read-only folder")
        yield path
    finally:
        path.chmod(0o755)


@pytest.fixture
def torch_threads_1():
    """Run torch on one thread for the test: on a shared 2-core machine, two threads under contention are
    several times slower than one. Restores the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------------------
# App (GUI) tests; their plain helpers live in app_helpers.py
# --------------------------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path) -> QSettings:
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def errors(monkeypatch) -> list[tuple[str, str]]:
    """Message boxes the window would have shown, as (title, message)."""
    from app import dialogs

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error", lambda _p, title, message, details="": shown.append((title, message)))
    return shown


@pytest.fixture
def answers(monkeypatch) -> Answers:
    """Answers to the unsaved-changes prompt, used in order (default 'discard')."""
    from app import dialogs
    from app_helpers import Answers

    queue = Answers()
    asked = queue.asked

    def ask(_parent, name):
        asked.append(name)
        return queue.pop(0) if queue else "discard"

    monkeypatch.setattr(dialogs, "ask_unsaved", ask)
    return queue


@pytest.fixture
def window(qtbot, settings, errors, answers):
    from app_helpers import make_window

    w = make_window(qtbot, settings)
    yield w
    if w.controller.is_running():
        w.controller.stop()
        w.controller.wait(10)
    w.close()


@pytest.fixture
def rgb_file(tmp_path) -> tuple[Path, np.ndarray]:
    from app_helpers import texture_u8, write_png

    px = texture_u8()
    return write_png(tmp_path / "photo.png", px), px
