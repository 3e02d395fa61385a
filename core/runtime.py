"""Where and how to compute: device choice, CPU threads, allocator tuning, bf16 support.

Measured on our 2-core dev machine (see bench/speed.py and the README): the glibc allocator settings
below speed up training steps because PyTorch otherwise mmaps and unmaps large activation buffers on
every step; bf16 autocast only pays off on CPUs with native bf16 (AVX512-BF16 or AMX), which we detect
rather than assume.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

import torch

from core.errors import UserError

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc caps this at 32 MiB; larger values are ignored
TRIM_THRESHOLD = 1_000_000_000
TOP_PAD = 256 * 1024 * 1024


def tune_allocator() -> bool:
    """Keep freed buffers in the heap instead of returning them to the OS after every step (glibc only)."""
    if not sys.platform.startswith("linux") or os.environ.get("REWEAVE_NO_MALLOPT"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        ok &= libc.mallopt(_M_TOP_PAD, TOP_PAD)
        return bool(ok)
    except (OSError, AttributeError):
        return False


def physical_cores() -> int:
    """Physical cores (SMT siblings share the FPU, so extra threads only add contention)."""
    try:
        with open("/proc/cpuinfo") as fh:
            cores = {line for line in fh if line.startswith("core id")}
        with open("/proc/cpuinfo") as fh:
            sockets = {line for line in fh if line.startswith("physical id")}
        n = len(cores) * max(1, len(sockets))
        if n:
            return min(n, os.cpu_count() or n)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2)


def set_threads() -> int:
    """Threads = physical cores, unless OMP_NUM_THREADS says otherwise (e.g. two trainings side by side)."""
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "")) or physical_cores()
    except ValueError:
        n = physical_cores()
    torch.set_num_threads(n)
    return n


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def available_devices() -> list[str]:
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devs.append("mps")
    return devs


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA, then Apple MPS, then the CPU; an explicit device that is absent is a UserError."""
    name = (name or "auto").lower()
    devs = available_devices()
    if name == "auto":
        for pref in ("cuda", "mps"):
            if pref in devs:
                return torch.device(pref)
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise UserError(f"unknown device '{name}' (use auto, cpu, cuda or mps)")
    if name not in devs:
        raise UserError(f"device '{name}' is not available on this machine (available: {', '.join(devs)})")
    return torch.device(name)


def autocast_dtype(device: torch.device, want_bf16: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for training on ``device``, or None for plain fp32.

    want_bf16=None decides: CUDA -> bf16 when supported; CPU -> bf16 only with native bf16 instructions.
    """
    if want_bf16 is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        if want_bf16 or cpu_has_native_bf16():
            return torch.bfloat16
    return None
