"""The seam-harmonisation request options that engines with ``harmonizes_seams`` share, and the fixer they apply.

The options are the fields of ``SeamOptions``, which such an engine's options class derives from.
What the harmonisation does and why: core.seam.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import torch

from core.engines.options import EngineOptions, option, parse_options
from core.errors import UserError
from core.seam import DEFAULT_RADIUS, TRIM_KEEP, harmonize

SEAM_MODES = ("final", "steps", "off")


@dataclass(frozen=True)
class SeamOptions(EngineOptions):
    """The options of an engine with ``harmonizes_seams``."""

    seam: Literal["final", "steps", "off"] | None = option(
        None, "gradient-domain harmonisation of the fill with its surroundings (core.seam): on the result (final), "
              "on every step's estimate (steps) or off; None = the engine's default")
    seam_radius: int = option(DEFAULT_RADIUS, "radius (px) of the local means the harmonisation matches", lo=0, hi=64)
    seam_channels: tuple[int, ...] | None = option(
        None, "the channels it may shift with plain local means; None = all but the trimmed ones")
    seam_trimmed: tuple[int, ...] | None = option(
        None, "channels shifted together with trimmed local means (core.seam.inlier_weights): material mode puts a "
              "normal map's channels here, so that its grooves do not tilt the fill; None = none")


def _channel_list(chosen, key: str, channels: int) -> list[int] | None:
    if chosen is None:
        return None
    if not all(0 <= k < channels for k in chosen):
        raise UserError(f"{key} must list channel indices between 0 and {channels - 1}")
    return sorted(set(chosen))


@dataclass(frozen=True)
class SeamSettings:
    mode: str  # 'final' | 'steps' | 'off'
    radius: int
    plain: list[int] | None  # channels shifted with plain local means (None = all but the trimmed ones)
    trimmed: list[int]  # channels shifted together with trimmed local means


def seam_settings(opts: SeamOptions | Mapping, channels: int, off: bool = False,
                  default: str = "final") -> SeamSettings:
    """The seam harmonisation of parsed options (or of a dict of them, parsed here) for ``channels`` channels;
    channel indices out of range -> UserError. ``off``: the engine has no seam to speak of for this request
    (scattered holes), whatever was asked."""
    if not isinstance(opts, SeamOptions):
        opts = parse_options(SeamOptions, opts, "seam harmonisation")
    mode = opts.seam or default
    radius = opts.seam_radius
    trimmed = _channel_list(opts.seam_trimmed, "seam_trimmed", channels) or []
    plain = _channel_list(opts.seam_channels, "seam_channels", channels)
    if plain is None and trimmed:
        plain = [k for k in range(channels) if k not in trimmed]
    elif plain is not None:
        plain = [k for k in plain if k not in trimmed]  # a channel named in both is shifted once, trimmed
    if off or (plain == [] and not trimmed):
        mode = "off"
    return SeamSettings(mode, radius, plain, trimmed)


class SeamFixer:
    """Harmonises (B, C, H, W) fills against one known image, channel group by channel group.

    Built once per run: each group's inputs are sliced here, not at every call (with 'steps' it runs at every
    sampling step or iteration). ``lo`` / ``hi``: the data range, broadcastable to (B, C, H, W); ``scale``:
    per-channel data units for the trimmed means (None = the values themselves)."""

    def __init__(self, settings: SeamSettings, known: torch.Tensor, mask: torch.Tensor, lo: torch.Tensor,
                 hi: torch.Tensor, scale: torch.Tensor | None = None) -> None:
        self.settings = settings
        self.known, self.mask, self.lo, self.hi = known, mask, lo, hi
        c = known.shape[1]
        self.groups = []
        if settings.plain is not None:
            for idx, trim in ((settings.plain, None), (settings.trimmed, TRIM_KEEP)):
                if not idx:
                    continue
                i = torch.tensor(idx, device=known.device)
                sc = None if scale is None else scale.expand(1, c, 1, 1)[:, i]
                self.groups.append((i, trim, known[:, i], lo.expand(1, c, 1, 1)[:, i], hi.expand(1, c, 1, 1)[:, i],
                                    sc))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        s = self.settings
        if s.plain is None:
            return harmonize(x, self.known, self.mask, s.radius, self.lo, self.hi)
        out = x.clone()
        for i, trim, known_i, lo_i, hi_i, scale_i in self.groups:
            out[:, i] = harmonize(x[:, i], known_i, self.mask, s.radius, lo_i, hi_i, trim=trim, scale=scale_i)
        return out
