"""Undo/redo as small diffs under a memory budget.

A step records, for one mask layer and/or the image, only the rectangle that changed: its old and new
content, zlib-compressed (a painted mask compresses to almost nothing). The document has two mask layers,
the hole to fill (``MASK``) and the sampling area the fill may take its material from (``SOURCE``); a step
says which of them its mask diff belongs to. When the steps together exceed the
budget, the oldest are forgotten. Nothing here knows about Qt.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

Rect = tuple[int, int, int, int]  # y0, x0, y1, x1 (half-open)

DEFAULT_BUDGET = 256 * 1024 * 1024

MASK, SOURCE = "mask", "source"  # the document's mask layers
LAYERS = (MASK, SOURCE)


def changed_rect(before: np.ndarray, after: np.ndarray) -> Rect | None:
    """The bounding rectangle of the pixels that differ, or None when nothing changed."""
    diff = before != after
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _slices(rect: Rect) -> tuple[slice, slice]:
    return slice(rect[0], rect[2]), slice(rect[1], rect[3])


@dataclass
class Patch:
    """The old and new content of one rectangle of one array, compressed."""

    rect: Rect
    dtype: np.dtype
    shape: tuple[int, ...]
    old: bytes
    new: bytes

    @classmethod
    def capture(cls, rect: Rect, old: np.ndarray, new: np.ndarray) -> "Patch":
        old = np.ascontiguousarray(old)
        new = np.ascontiguousarray(new)
        return cls(rect, old.dtype, old.shape, zlib.compress(old.tobytes(), 1), zlib.compress(new.tobytes(), 1))

    def values(self, which: str) -> np.ndarray:
        raw = zlib.decompress(self.old if which == "old" else self.new)
        return np.frombuffer(raw, dtype=self.dtype).reshape(self.shape)

    def write(self, target: np.ndarray, which: str) -> None:
        target[_slices(self.rect)] = self.values(which)

    def set_new(self, new: np.ndarray) -> None:
        self.new = zlib.compress(np.ascontiguousarray(new).tobytes(), 1)

    @property
    def nbytes(self) -> int:
        return len(self.old) + len(self.new)


@dataclass
class Step:
    label: str
    mask: Patch | None = None  # the diff of one mask layer: the one ``layer`` names
    image: Patch | None = None
    # Identifies the image content after this step, so the document knows when it is back at its saved state.
    image_token_before: int = 0
    image_token_after: int = 0
    extra: dict = field(default_factory=dict)
    layer: str = MASK

    @property
    def nbytes(self) -> int:
        return (self.mask.nbytes if self.mask else 0) + (self.image.nbytes if self.image else 0)


class History:
    """A linear undo stack; ``index`` is the number of steps currently applied."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET) -> None:
        self.budget = budget_bytes
        self._steps: list[Step] = []
        self._index = 0

    def push(self, step: Step) -> None:
        del self._steps[self._index:]  # a new edit forgets the redo branch
        self._steps.append(step)
        self._index = len(self._steps)
        self._enforce_budget()

    def _enforce_budget(self) -> None:
        while len(self._steps) > 1 and self.nbytes > self.budget:
            self._steps.pop(0)
            self._index = max(0, self._index - 1)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._steps)

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._steps)

    def undo(self) -> Step | None:
        if not self.can_undo():
            return None
        self._index -= 1
        return self._steps[self._index]

    def redo(self) -> Step | None:
        if not self.can_redo():
            return None
        step = self._steps[self._index]
        self._index += 1
        return step

    def top(self) -> Step | None:
        """The most recently applied step (what Undo would revert)."""
        return self._steps[self._index - 1] if self._index > 0 else None

    def undo_label(self) -> str:
        return self._steps[self._index - 1].label if self.can_undo() else ""

    def redo_label(self) -> str:
        return self._steps[self._index].label if self.can_redo() else ""

    def clear(self) -> None:
        self._steps.clear()
        self._index = 0

    def __len__(self) -> int:
        return len(self._steps)
