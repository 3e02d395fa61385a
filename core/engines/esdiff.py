"""The `esdiff` engine (placeholder during development)."""
from __future__ import annotations

from core import runtime
from core.engines.base import PRESETS, Capabilities


def register(registry) -> None:
    from core.fewshot.esdiff_train import train_esdiff

    caps = Capabilities(title="ESDiff (few-shot diffusion)", description="", needs_weights=True, retrainable=True,
                        samplers=("pc", "ddrm"), default_sampler="ddrm", presets=PRESETS, supports_seed=True,
                        supports_variants=True, supports_steps=True, devices=tuple(runtime.available_devices()))
    registry.register("esdiff", caps, lambda: None, trainer=train_esdiff)
