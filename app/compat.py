"""A guard for one known-bad Qt binding: PySide6 6.12.0 returns None from every void Qt method without
taking a reference to it. On Python 3.12+ None is immortal and nothing happens; on 3.10/3.11 the
interpreter aborts ("deallocating None") after a few thousand such calls. pyproject excludes 6.12.0;
if it is installed anyway, we give None a huge reference count up front -- which is what Python 3.12
does for every interpreter -- so the app keeps running.
"""
from __future__ import annotations

import ctypes
import sys


def guard_none_refcount() -> bool:
    """Apply the workaround where it is needed; returns True when it was applied."""
    try:
        import PySide6
    except ImportError:
        return False
    if PySide6.__version__ != "6.12.0" or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    return True
