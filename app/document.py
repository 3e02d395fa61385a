"""The open image, its two painted mask layers and their undo history.

The layers are the hole mask (``mask``: what must be filled) and the sampling area (``source``: where the
fill may take its material from; empty = anywhere, as before there was one). Both are kept as 8-bit coverage
(0..255) so that soft brushes show their edge; what the engines get -- and what is exported -- is
``coverage > 127``, the same rule as the command line's mask files. Every change goes through this class so
that undo, the unsaved-changes flag and the canvas stay in step.

Nothing here costs a pass over the whole image or layer unless the edit itself is whole-layer (clear, invert,
import): a drag saves the layer only where it goes (``LayerEdit``), the opened pixels are kept only where an
inpaint changed them (``Originals``), and each layer keeps a running count of its covered pixels and the box
they lie in, so "is there a mask?" and "where is it?" need no scan.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.history import (DEFAULT_BUDGET, LAYERS, MASK, SOURCE, History, LayerEdit, Originals, Patch, Rect, Step,
                         changed_rect, lazy_zeros, union)
from core.io import ImageData

_tokens = itertools.count(1)


class Document(QObject):
    image_changed = Signal(object)  # Rect, or None for the whole image
    mask_changed = Signal(object)  # Rect, or None for the whole mask
    source_changed = Signal(object)  # Rect, or None for the whole sampling area
    history_changed = Signal()
    dirty_changed = Signal(bool)

    def __init__(self, image: ImageData, mask: np.ndarray | None = None,
                 budget_bytes: int = DEFAULT_BUDGET) -> None:
        super().__init__()
        self.image = image
        self.originals = Originals()  # what "compare with the original" shows, where it differs from ``image``
        h, w = image.height, image.width
        self.mask = lazy_zeros((h, w))  # pages cost memory only where painted
        self.source = lazy_zeros((h, w))
        self._stats = {name: _LayerStats() for name in LAYERS}
        if mask is not None:
            self.mask[np.asarray(mask, bool)] = 255
            self._stats[MASK].recount(self.mask)
        self.history = History(budget_bytes)
        self._token = next(_tokens)
        self._saved_token = self._token
        self._edit: LayerEdit | None = None  # the drag in progress: its layer and what it has saved

    # -- state ------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self.image.path

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.height, self.image.width

    def mask_bool(self) -> np.ndarray:
        """The hole as bool H x W (a new array). Only the box holding the layer's coverage is written: the rest
        of the array stays untouched zero pages, which cost no memory until something writes them."""
        return self._layer_bool(MASK)

    def _layer_bool(self, layer: str) -> np.ndarray:
        out = lazy_zeros(self.shape, bool)
        bounds = self.layer_bounds(layer)
        if bounds is not None:
            ys, xs = slice(bounds[0], bounds[2]), slice(bounds[1], bounds[3])
            np.greater(self.layer(layer)[ys, xs], 127, out=out[ys, xs])
        return out

    def has_mask(self) -> bool:
        return self._has(MASK)

    def _has(self, layer: str) -> bool:
        if self._edit is not None and self._edit.name == layer:  # mid-drag: the counts are the drag's start's
            return bool((self.layer(layer) > 127).any())
        return self._stats[layer].filled > 0

    def layer_bounds(self, layer: str) -> Rect | None:
        """A box holding every non-zero pixel of ``layer`` (it may be larger than the tightest one; None = the
        layer is empty), the drag in progress included."""
        bounds = self._stats[layer].bounds
        if self._edit is not None and self._edit.name == layer:
            bounds = union(bounds, self._edit.bounds)
        return bounds

    def layer(self, name: str) -> np.ndarray:
        """The coverage array of mask layer ``name`` (``MASK`` or ``SOURCE``), edited in place by the tools."""
        if name not in LAYERS:
            raise ValueError(f"no mask layer {name!r}")
        return self.source if name == SOURCE else self.mask

    def source_bool(self) -> np.ndarray:
        """The sampling area as bool H x W (a new array, written only where the layer has coverage)."""
        return self._layer_bool(SOURCE)

    def has_source(self) -> bool:
        return self._has(SOURCE)

    def original_region(self, rect: Rect) -> np.ndarray:
        """The image's pixels in ``rect`` as they were opened (a new array)."""
        return self.originals.region(self.image.pixels, rect)

    def is_dirty(self) -> bool:
        """True when the image differs from what was loaded or last saved (mask edits do not count)."""
        return self._token != self._saved_token

    def mark_saved(self, path: Path) -> None:
        self.image.path = Path(path)
        was = self.is_dirty()
        self._saved_token = self._token
        if was:
            self.dirty_changed.emit(False)

    def mark_saved_as_set(self) -> None:
        """Saved elsewhere (a material written to another folder): the changes are safe, the path stays."""
        was = self.is_dirty()
        self._saved_token = self._token
        if was:
            self.dirty_changed.emit(False)

    # -- mask edits (either layer) ----------------------------------------------------------------------
    def begin_mask_edit(self, layer: str = MASK) -> None:
        """Start one undo step of changes to ``layer`` in place (a drag): call ``will_change(rect)`` before each
        write into the layer, then ``end_mask_edit``. Nothing is copied but what ``will_change`` names."""
        self._edit = LayerEdit(layer, self.layer(layer))

    def will_change(self, rect: Rect) -> None:
        """The edit in progress is about to write into ``rect`` of its layer."""
        if self._edit is not None:
            self._edit.save(rect)

    def notify_mask(self, rect: Rect | None, layer: str = MASK) -> None:
        self._layer_signal(layer).emit(rect)

    def end_mask_edit(self, label: str) -> bool:
        edit, self._edit = self._edit, None
        if edit is None:
            return False
        changed = edit.finish()
        if changed is None:
            return False
        rect, before, after = changed
        self._stats[edit.name].account(rect, before, after)
        self._push(Step(label, mask=Patch.capture(rect, before, after), layer=edit.name,
                        image_token_before=self._token, image_token_after=self._token))
        return True

    def set_mask(self, new_mask: np.ndarray, label: str, layer: str = MASK) -> bool:
        """Replace a whole layer (import, clear, invert...) as one undo step holding the rectangle that changed."""
        new = np.asarray(new_mask)
        if new.dtype == bool:
            new = new.astype(np.uint8) * 255
        target = self.layer(layer)
        if new.shape != target.shape:
            raise ValueError(f"mask {new.shape} does not fit the image {target.shape}")
        rect = changed_rect(target, new)
        if rect is None:
            return False
        ys, xs = slice(rect[0], rect[2]), slice(rect[1], rect[3])
        after = np.array(new[ys, xs], np.uint8)
        step = Step(label, mask=Patch.capture(rect, target[ys, xs], after), layer=layer,
                    image_token_before=self._token, image_token_after=self._token)
        self._write_layer(layer, rect, after)
        self._push(step)
        self._layer_signal(layer).emit(rect)
        return True

    def clear_layer(self, label: str, layer: str = MASK) -> bool:
        """Empty ``layer`` as one undo step, touching only the box that holds its coverage."""
        bounds = self.layer_bounds(layer)
        if bounds is None:
            return False
        ys, xs = slice(bounds[0], bounds[2]), slice(bounds[1], bounds[3])
        before = self.layer(layer)[ys, xs]
        local = changed_rect(before, np.zeros_like(before))
        if local is None:
            return False
        rect = (bounds[0] + local[0], bounds[1] + local[1], bounds[0] + local[2], bounds[1] + local[3])
        old = self.layer(layer)[rect[0]:rect[2], rect[1]:rect[3]]
        zeros = np.zeros_like(old)
        step = Step(label, mask=Patch.capture(rect, old, zeros), layer=layer,
                    image_token_before=self._token, image_token_after=self._token)
        self._write_layer(layer, rect, zeros)
        self._push(step)
        self._layer_signal(layer).emit(rect)
        return True

    def _write_layer(self, layer: str, rect: Rect, values: np.ndarray) -> None:
        """Write ``values`` into ``rect`` of ``layer``, keeping its counts."""
        target = self.layer(layer)[rect[0]:rect[2], rect[1]:rect[3]]
        self._stats[layer].account(rect, target, values)
        target[...] = values

    def _layer_signal(self, layer: str):
        return self.source_changed if layer == SOURCE else self.mask_changed

    # -- image edits ------------------------------------------------------------------------------------
    def apply_pixels(self, rect: Rect, pixels: np.ndarray, label: str, clear_mask: bool = True,
                     amend: Step | None = None) -> Step:
        """Write ``pixels`` into ``rect`` of the image (and clear the mask there) as one undo step.

        With ``amend`` -- the step a previous call returned, still the latest one -- that step is changed to
        the new pixels instead of adding another (picking another variant of the same result).
        """
        ys, xs = slice(rect[0], rect[2]), slice(rect[1], rect[3])
        target = self.image.pixels[ys, xs]
        if pixels.shape != target.shape or pixels.dtype != target.dtype:
            raise ValueError(f"patch {pixels.shape} {pixels.dtype} does not fit {target.shape} {target.dtype}")
        self.originals.keep(self.image.pixels, rect)
        if amend is not None and self.history.top() is amend and amend.image is not None:
            target[...] = pixels
            amend.image.set_new(pixels)
            self.image_changed.emit(rect)
            return amend
        old_mask = self.mask[ys, xs].copy()
        new_mask = np.zeros_like(old_mask) if clear_mask else old_mask
        step = Step(label, image=Patch.capture(rect, target, pixels),
                    mask=Patch.capture(rect, old_mask, new_mask) if clear_mask else None,
                    image_token_before=self._token, image_token_after=next(_tokens))
        target[...] = pixels
        if clear_mask:
            self._write_layer(MASK, rect, new_mask)
        self._push(step)
        self._set_token(step.image_token_after)
        self.image_changed.emit(rect)
        if clear_mask:
            self.mask_changed.emit(rect)
        return step

    # -- history ----------------------------------------------------------------------------------------
    def _push(self, step: Step) -> None:
        self.history.push(step)
        self.history_changed.emit()

    def _set_token(self, token: int) -> None:
        was = self.is_dirty()
        self._token = token
        if was != self.is_dirty():
            self.dirty_changed.emit(self.is_dirty())

    def _apply(self, step: Step, which: str) -> None:
        if step.image is not None:
            step.image.write(self.image.pixels, which)
            self._set_token(step.image_token_before if which == "old" else step.image_token_after)
            self.image_changed.emit(step.image.rect)
        if step.mask is not None:
            self._write_layer(step.layer, step.mask.rect, step.mask.values(which))
            self._layer_signal(step.layer).emit(step.mask.rect)

    def undo(self) -> bool:
        step = self.history.undo()
        if step is None:
            return False
        self._apply(step, "old")
        self.history_changed.emit()
        return True

    def redo(self) -> bool:
        step = self.history.redo()
        if step is None:
            return False
        self._apply(step, "new")
        self.history_changed.emit()
        return True


class _LayerStats:
    """A mask layer's running counts: pixels covered (> 127, what the engines fill), pixels not zero (what the
    overlay shows) and a box holding every non-zero pixel (grown by edits; None once the layer is empty)."""

    def __init__(self) -> None:
        self.filled = 0
        self.inked = 0
        self.bounds: Rect | None = None

    def recount(self, layer: np.ndarray) -> None:
        self.filled = int(np.count_nonzero(layer > 127))
        self.inked = int(np.count_nonzero(layer))
        rows = np.flatnonzero(layer.any(axis=1))
        cols = np.flatnonzero(layer.any(axis=0))
        self.bounds = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1) if rows.size else None

    def account(self, rect: Rect, before: np.ndarray, after: np.ndarray) -> None:
        """``rect`` of the layer goes from ``before`` to ``after``."""
        self.filled += int(np.count_nonzero(after > 127)) - int(np.count_nonzero(before > 127))
        self.inked += int(np.count_nonzero(after)) - int(np.count_nonzero(before))
        if self.inked <= 0:
            self.inked, self.bounds = 0, None
        elif np.any(after):
            self.bounds = union(self.bounds, rect)
