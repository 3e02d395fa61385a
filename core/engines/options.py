"""Engine options: one frozen dataclass per engine, parsed once from ``request.options`` before any work.

An engine declares its options as a dataclass deriving from ``EngineOptions``; every field is made with
``option(default, doc, lo=..., hi=...)``, so the class itself documents what each option does, its type and
its range. ``parse_options(cls, request.options, engine)`` returns an instance or raises one ``UserError``
naming the option and what it accepts: an unknown key, a value of the wrong type, a number out of range.

Types understood in the annotations: ``bool``, ``int`` (whole numbers; a whole float such as the benchmarks'
``--option crop=48`` parses to, is accepted), ``float`` (any number), ``str``, ``Literal[...]`` (one of the
listed values), ``np.ndarray``, ``tuple[int, ...]`` (a list or tuple of whole numbers), ``tuple`` (any list or
tuple), and unions of these with ``None``.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping, TypeVar

import numpy as np

from core.errors import UserError

T = TypeVar("T", bound="EngineOptions")


def option(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None) -> Any:
    """A documented option field: ``default`` when the request does not give it; numbers outside [lo, hi] are
    refused."""
    return dataclasses.field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi})


@dataclass(frozen=True)
class EngineOptions:
    """Options every engine takes. They describe how a run is driven rather than what the engine does, so that
    one set of run settings (the CLI's, a benchmark's) serves every engine: an engine with no use for one ignores
    it."""

    cache: bool = option(True, "reuse (and store) a model trained for this image; engines that train per image")
    preview_every: float = option(3.0, "seconds between previews while a model trains (0 = none); engines that "
                                       "train per image", lo=0.0)


def _describe(tp: Any) -> str:
    """How a type reads in an error message."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        return "a list of whole numbers" if args[:1] == (int,) else "a list"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
            np.ndarray: "an array"}.get(tp, getattr(tp, "__name__", str(tp)))


_NO = object()  # "does not fit this type"


def _convert(tp: Any, value: Any) -> Any:
    """``value`` as type ``tp``, or ``_NO``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            out = _convert(a, value)
            if out is not _NO:
                return out
        return _NO
    if tp is type(None):
        return None if value is None else _NO
    if origin is Literal:
        return value if any(value == a and type(value) is type(a) for a in args) else _NO
    if tp is bool:
        return value if isinstance(value, (bool, np.bool_)) else _NO
    if isinstance(value, (bool, np.bool_)):  # never a number
        return _NO
    if tp is int:
        ok = isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and
                                                      float(value).is_integer())
        return int(value) if ok else _NO
    if tp is float:
        return float(value) if isinstance(value, (int, float, np.integer, np.floating)) else _NO
    if tp is str:
        return value if isinstance(value, str) else _NO
    if tp is np.ndarray:
        return value if isinstance(value, np.ndarray) else _NO
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            return _NO
        if args[:1] == (int,):
            items = [_convert(int, v) for v in value]
            return _NO if any(v is _NO for v in items) else tuple(items)
        return tuple(value)
    raise TypeError(f"option type {tp!r} is not understood")


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> dict[str, tuple[Any, dataclasses.Field]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(cls)}


def parse_options(cls: type[T], options: Mapping | None, engine: str) -> T:
    """``options`` checked against the fields of ``cls``: an instance, or one UserError for the first bad one."""
    fields = _fields(cls)
    values = {}
    for key, value in (options or {}).items():
        if key not in fields:
            raise UserError(f"engine '{engine}' takes no option '{key}' (its options: {', '.join(sorted(fields))})")
        tp, f = fields[key]
        out = _convert(tp, value)
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        in_range = out is not _NO and (not isinstance(out, (int, float)) or isinstance(out, bool) or (
            (lo is None or out >= lo) and (hi is None or out <= hi)))
        if not in_range:
            bounds = (f" from {lo:g}" if lo is not None else "") + (f" to {hi:g}" if hi is not None else "")
            raise UserError(f"option {key} of engine '{engine}' must be {_describe(tp)}{bounds} (got {value!r})")
        values[key] = out
    return cls(**values)


def option_docs(cls: type) -> dict[str, str]:
    """Each option's one-line documentation, by name (for help texts)."""
    return {name: f.metadata.get("doc", "") for name, (_, f) in _fields(cls).items()}
