"""GIMP Resynthesizer's "heal selection" as a benchmark peer (bench.quality's method ``resynth``).

The GIMP plug-in ``plug-in-resynthesizer`` is a thin adapter around libresynthesizer, Resynthesizer's engine,
and "heal selection" is a script around the plug-in. Debian bookworm's GIMP 2.10 cannot run it: its
gimp-plugin-registry lists Resynthesizer but ships neither the C plug-in nor the Python scripts. So the peer
calls the engine itself, from PyPI's ``resynthesizer`` wheel (a prebuilt libresynthesizer; ``pip install
resynthesizer``, or ``REWEAVE_RESYNTH_LIB`` naming a libresynthesizer built elsewhere), and does here what the
heal-selection script does around it:

* the corpus (the pixels the fill copies from) is a ring around the hole: the selection grown by ``RING`` px
  minus the selection ("context sampling width" 50, "sample from: all around");
* the plug-in's parameters as the script passes them: no tiling, use_border 1 (match the context, fill in random
  order), map weight 0 (no maps), autism 0.117, neighbours 16, trys 500.

Without the library (CI has none) ``resynth_fill`` returns None and the bench skips the peer.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import platform
import threading
from pathlib import Path

import cv2
import numpy as np

RING = 50  # heal selection's default "context sampling width" (px)
NEIGHBOURS, TRYS, AUTISM = 16, 500, 0.117  # heal selection's plug-in arguments
USE_BORDER = 1  # "filling order: random" (the script's default) maps to use_border 1
FORMATS = {1: 2, 3: 0}  # channels -> the engine's TImageFormat (T_Gray = 2, T_RGB = 0)


class _Buffer(ctypes.Structure):  # ImageBuffer (lib/imageBuffer.h): 8-bit pixels, rows padded to row_bytes
    _fields_ = [("data", ctypes.POINTER(ctypes.c_ubyte)), ("width", ctypes.c_uint), ("height", ctypes.c_uint),
                ("row_bytes", ctypes.c_size_t)]


class _Params(ctypes.Structure):  # TImageSynthParameters (lib/engineParams.h), in the plug-in's argument order
    _fields_ = [("h_tile", ctypes.c_int), ("v_tile", ctypes.c_int), ("use_border", ctypes.c_int),
                ("map_weight", ctypes.c_double), ("autism", ctypes.c_double), ("neighbours", ctypes.c_uint),
                ("trys", ctypes.c_uint)]


_Progress = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
_no_progress = _Progress(lambda percent, context: None)  # kept alive here: the engine calls it during a fill
# The engine draws from C's global rand(): fills must not interleave (and then each fill is reproducible).
_lock = threading.Lock()


def library_path() -> Path | None:
    """Where libresynthesizer is: $REWEAVE_RESYNTH_LIB, else inside the ``resynthesizer`` wheel, else None."""
    if os.environ.get("REWEAVE_RESYNTH_LIB"):
        return Path(os.environ["REWEAVE_RESYNTH_LIB"])
    spec = importlib.util.find_spec("resynthesizer")
    if spec is None or not spec.submodule_search_locations:
        return None
    name = {"Windows": "libresynthesizer.dll", "Darwin": "libresynthesizer_universal.dylib"}.get(
        platform.system(), "libresynthesizer.so")
    return Path(spec.submodule_search_locations[0]) / "bin" / name


@functools.lru_cache(maxsize=None)
def _load(path: Path | None):
    if path is None or not path.is_file():
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:  # a library for another platform or architecture
        return None
    # imageSynth2 (lib/imageSynth.c): the simple API with the corpus mask given, not taken as the hole's inverse
    fn = lib.imageSynth2
    fn.argtypes = [ctypes.POINTER(_Buffer)] * 3 + [ctypes.c_int, ctypes.POINTER(_Params), _Progress,
                                                   ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    fn.restype = ctypes.c_int
    return fn


def available() -> bool:
    """Whether the Resynthesizer engine can be loaded on this machine."""
    return _load(library_path()) is not None


def _buffer(pixels: np.ndarray) -> _Buffer:
    return _Buffer(pixels.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)), pixels.shape[1], pixels.shape[0],
                   pixels.strides[0])


def resynth_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Heal ``mask`` (bool HxW) in ``image`` (float32 HxWx1 or HxWx3 in [0, 1]) as heal selection does.

    Returns the float32 result, known pixels bit for bit from ``image``, or None without the engine. The engine
    works on 8-bit pixels, so the hole's values are multiples of 1/255. It runs in this process, with no timeout:
    its cancel flag, raised after 0.5 s, did not stop a 3 s fill early; its work is bounded (trys per pixel)."""
    synth = _load(library_path())
    if synth is None:
        return None
    if image.shape[2] not in FORMATS:
        raise ValueError(f"resynth_fill takes 1 or 3 channels, not {image.shape[2]}")
    pixels = np.ascontiguousarray(np.rint(np.clip(image, 0, 1) * 255), dtype=np.uint8)
    # the selection grown by a disc of radius RING, then the selection cut out: the script's corpus "frisket"
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
    target = mask.astype(np.uint8) * 255  # 255 = selected: to be synthesised
    corpus = np.where(mask, 0, cv2.dilate(target, disc)).astype(np.uint8)
    params = _Params(0, 0, USE_BORDER, 0.0, AUTISM, NEIGHBOURS, TRYS)
    cancel = ctypes.c_int(0)
    with _lock:  # the engine writes the filled hole into ``pixels``
        err = synth(_buffer(pixels), _buffer(target), _buffer(corpus), FORMATS[image.shape[2]],
                    ctypes.byref(params), _no_progress, None, ctypes.byref(cancel))
    if err:
        raise RuntimeError(f"Resynthesizer failed (TImageSynthError {err})")
    out = image.astype(np.float32, copy=True)
    out[mask] = pixels[mask].astype(np.float32) / 255
    return out
