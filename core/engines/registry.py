"""Engines by name, each with declared capabilities.

There is no module-level registry object: ``default_registry()`` builds one with the built-in engines
the first time it is asked, and tests can make their own ``Registry``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from core.engines.base import Capabilities, Engine
from core.engines.gray import GrayAware
from core.errors import UserError


@dataclass(frozen=True)
class EngineEntry:
    name: str
    capabilities: Capabilities
    factory: Callable[[], Engine]
    # For few-shot engines: trainer(TrainRequest) -> event stream ending with TrainDone (core.fewshot.common).
    trainer: Callable | None = None


class Registry:
    def __init__(self) -> None:
        self._entries: dict[str, EngineEntry] = {}
        self._instances: dict[str, Engine] = {}

    def register(self, name: str, capabilities: Capabilities, factory: Callable[[], Engine],
                 trainer: Callable | None = None) -> None:
        if name in self._entries:
            raise ValueError(f"engine {name!r} registered twice")
        if capabilities.retrainable and trainer is None:
            raise ValueError(f"engine {name!r} declares retrainable but gives no trainer")
        self._entries[name] = EngineEntry(name, capabilities, factory, trainer)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[EngineEntry]:
        return list(self._entries.values())

    def capabilities(self, name: str) -> Capabilities:
        return self._entry(name).capabilities

    def trainer(self, name: str) -> Callable:
        entry = self._entry(name)
        if entry.trainer is None:
            trainable = [e.name for e in self._entries.values() if e.trainer is not None]
            raise UserError(f"engine '{name}' cannot be trained on a folder "
                            f"(trainable: {', '.join(trainable) or 'none'})")
        return entry.trainer

    def get(self, name: str) -> Engine:
        """The engine instance (one per registry, so per-engine caches such as warm start persist)."""
        entry = self._entry(name)
        if name not in self._instances:
            self._instances[name] = GrayAware(entry.factory())  # gray images get gray fills, whatever the engine
        return self._instances[name]

    def _entry(self, name: str) -> EngineEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown engine '{name}' (available: {', '.join(self._entries)})") from None


def register_builtin(registry: Registry) -> Registry:
    from core.engines import classical, internal, patchmatch

    classical.register(registry)
    patchmatch.register(registry)  # only where its native library loads
    internal.register(registry)
    # Optional engines register themselves only when their module is present.
    for mod_name in ("core.engines.esdiff", "core.engines.grig"):
        try:
            mod = __import__(mod_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != mod_name:
                raise
            continue
        mod.register(registry)
    return registry


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    return register_builtin(Registry())
