"""Undo/redo as small diffs under a memory budget.

A step records, for one mask layer and/or the image, only the rectangle that changed: its old and new
content, zlib-compressed (a painted mask compresses to almost nothing). The document has two mask layers,
the hole to fill (``MASK``) and the sampling area the fill may take its material from (``SOURCE``); a step
says which of them its mask diff belongs to. When the steps together exceed the
budget, the oldest are forgotten.

Two more records keep edits in proportion to what they touch rather than to the image: ``LayerEdit``, the
content a drag is about to change, saved tile by tile as the drag reaches it (one undo step per drag without a
copy of the whole layer), and ``Originals``, the opened image's pixels kept only where an edit has since
changed them (copy-on-write, for the compare views). Nothing here knows about Qt.
"""
from __future__ import annotations

import mmap
import zlib
from dataclasses import dataclass, field

import numpy as np

Rect = tuple[int, int, int, int]  # y0, x0, y1, x1 (half-open)

DEFAULT_BUDGET = 256 * 1024 * 1024

MASK, SOURCE = "mask", "source"  # the document's mask layers
LAYERS = (MASK, SOURCE)


def lazy_zeros(shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    """A zero-filled array whose pages cost no memory until they are written: an anonymous mapping of its own.

    ``np.zeros`` cannot promise that here: with the allocator tuned for training (core.runtime.tune_allocator
    keeps a 256 MB free top on the heap) a large ``calloc`` is carved from that top and cleared, page by page.
    A mask layer of an 8192 px image is 64 MB, and most of it is never painted.
    """
    count = int(np.prod(shape))
    private = getattr(mmap, "MAP_PRIVATE", None)
    if private is None:  # no private mappings to ask for (Windows): its allocator maps large blocks lazily anyway
        return np.zeros(shape, dtype)
    # private: reading a page never written maps the kernel's shared zero page (a shared mapping would allocate)
    buf = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize), flags=private | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype, count=count).reshape(shape)


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


def intersect(a: Rect, b: Rect) -> Rect | None:
    """The overlap of two rectangles, or None when they do not overlap."""
    y0, x0, y1, x1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (y0, x0, y1, x1) if y0 < y1 and x0 < x1 else None


def union(a: Rect | None, b: Rect | None) -> Rect | None:
    """The smallest rectangle holding both (None counts as empty)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _within(inner: Rect, outer: Rect) -> tuple[slice, slice]:
    """Slices of ``outer``'s own array that hold ``inner`` (which lies inside ``outer``)."""
    return slice(inner[0] - outer[0], inner[2] - outer[0]), slice(inner[1] - outer[1], inner[3] - outer[1])


TILE = 64  # LayerEdit saves a layer's content in squares of this side


class LayerEdit:
    """One drag's edit of one mask layer: the layer's content before the drag, saved only where the drag goes.

    Call ``save(rect)`` before writing into ``rect`` of the layer; ``finish()`` gives the rectangle that changed
    and its content before and after (or None), at a cost that depends on the drag's area, not the layer's.
    """

    def __init__(self, name: str, layer: np.ndarray, tile: int = TILE) -> None:
        self.name = name
        self.layer = layer
        self.tile = tile
        self.tiles: dict[tuple[int, int], np.ndarray] = {}
        self.bounds: Rect | None = None  # every rectangle saved so far

    def save(self, rect: Rect) -> None:
        h, w = self.layer.shape[:2]
        y0, x0, y1, x1 = max(0, rect[0]), max(0, rect[1]), min(h, rect[2]), min(w, rect[3])
        if y0 >= y1 or x0 >= x1:
            return
        t = self.tile
        for ty in range(y0 // t, (y1 - 1) // t + 1):
            for tx in range(x0 // t, (x1 - 1) // t + 1):
                if (ty, tx) not in self.tiles:
                    self.tiles[ty, tx] = self.layer[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t].copy()
        self.bounds = union(self.bounds, (y0, x0, y1, x1))

    def before(self, rect: Rect) -> np.ndarray:
        """The layer's content in ``rect`` (inside ``bounds``) as it was when the edit began: a new array."""
        out = self.layer[_slices(rect)].copy()
        t = self.tile
        for ty in range(rect[0] // t, (rect[2] - 1) // t + 1):
            for tx in range(rect[1] // t, (rect[3] - 1) // t + 1):
                saved = self.tiles.get((ty, tx))
                if saved is None:
                    continue
                tile_rect = (ty * t, tx * t, ty * t + saved.shape[0], tx * t + saved.shape[1])
                common = intersect(tile_rect, rect)
                if common is not None:
                    out[_within(common, rect)] = saved[_within(common, tile_rect)]
        return out

    def finish(self) -> tuple[Rect, np.ndarray, np.ndarray] | None:
        """(changed rectangle, its content before, after) -- both new arrays -- or None when nothing changed."""
        if self.bounds is None:
            return None
        before = self.before(self.bounds)
        after = self.layer[_slices(self.bounds)]
        local = changed_rect(before, after)
        if local is None:
            return None
        y0, x0 = self.bounds[:2]
        rect = (y0 + local[0], x0 + local[1], y0 + local[2], x0 + local[3])
        ys, xs = _slices(local)
        return rect, before[ys, xs].copy(), after[ys, xs].copy()


class Originals:
    """An image's pixels as opened, kept only where an edit has since changed them (copy-on-write).

    ``keep(pixels, rect)`` before writing ``rect`` of the image; afterwards every pixel of a kept rectangle has
    its opened value in the patch, and every pixel outside all of them is still the image's own.
    """

    def __init__(self) -> None:
        self.patches: list[tuple[Rect, np.ndarray]] = []
        self.version = 0  # changes whenever a patch is added (for caches of what is drawn from them)

    def keep(self, pixels: np.ndarray, rect: Rect) -> None:
        if any(intersect(r, rect) == rect for r, _ in self.patches):
            return  # already kept whole
        old = pixels[_slices(rect)].copy()
        for r, px in self.patches:  # where an earlier patch overlaps, the image may no longer be the original
            common = intersect(r, rect)
            if common is not None:
                old[_within(common, rect)] = px[_within(common, r)]
        self.patches.append((rect, old))
        self.version += 1

    def region(self, pixels: np.ndarray, rect: Rect) -> np.ndarray:
        """The opened pixels of ``rect``: a new array."""
        out = pixels[_slices(rect)].copy()
        for r, px in self.patches:
            common = intersect(r, rect)
            if common is not None:
                out[_within(common, rect)] = px[_within(common, r)]
        return out

    def whole(self, pixels: np.ndarray) -> np.ndarray:
        """The whole opened image (a new array: a whole copy, for callers that need one)."""
        h, w = pixels.shape[:2]
        return self.region(pixels, (0, 0, h, w))

    def differs(self, pixels: np.ndarray) -> bool:
        """Whether the image now differs from how it was opened."""
        return any(not np.array_equal(pixels[_slices(r)], px) for r, px in self.patches)

    @property
    def nbytes(self) -> int:
        return sum(px.nbytes for _r, px in self.patches)


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
