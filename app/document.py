"""The open image, its two painted mask layers and their undo history.

The layers are the hole mask (``mask``: what must be filled) and the sampling area (``source``: where the
fill may take its material from; empty = anywhere, as before there was one). Both are kept as 8-bit coverage
(0..255) so that soft brushes show their edge; what the engines get -- and what is exported -- is
``coverage > 127``, the same rule as the command line's mask files. Every change goes through this class so
that undo, the unsaved-changes flag and the canvas stay in step.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.history import DEFAULT_BUDGET, LAYERS, MASK, SOURCE, History, Patch, Rect, Step, changed_rect
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
        self.original = image.pixels.copy()  # what "compare with the original" shows
        h, w = image.height, image.width
        self.mask = np.zeros((h, w), np.uint8)
        if mask is not None:
            self.mask[np.asarray(mask, bool)] = 255
        self.source = np.zeros((h, w), np.uint8)
        self.history = History(budget_bytes)
        self._token = next(_tokens)
        self._saved_token = self._token
        self._edit: tuple[str, np.ndarray] | None = None  # the layer a drag edits, and its content before

    # -- state ------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self.image.path

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.height, self.image.width

    def mask_bool(self) -> np.ndarray:
        return self.mask > 127

    def has_mask(self) -> bool:
        return bool((self.mask > 127).any())

    def layer(self, name: str) -> np.ndarray:
        """The coverage array of mask layer ``name`` (``MASK`` or ``SOURCE``), edited in place by the tools."""
        if name not in LAYERS:
            raise ValueError(f"no mask layer {name!r}")
        return self.source if name == SOURCE else self.mask

    def source_bool(self) -> np.ndarray:
        return self.source > 127

    def has_source(self) -> bool:
        return bool((self.source > 127).any())

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
        """Call before changing a layer in place (a brush drag); ``end_mask_edit`` makes it one step."""
        self._edit = (layer, self.layer(layer).copy())

    def notify_mask(self, rect: Rect | None, layer: str = MASK) -> None:
        self._layer_signal(layer).emit(rect)

    def end_mask_edit(self, label: str) -> bool:
        edit, self._edit = self._edit, None
        if edit is None:
            return False
        layer, before = edit
        after = self.layer(layer)
        rect = changed_rect(before, after)
        if rect is None:
            return False
        ys, xs = slice(rect[0], rect[2]), slice(rect[1], rect[3])
        self._push(Step(label, mask=Patch.capture(rect, before[ys, xs], after[ys, xs]), layer=layer,
                        image_token_before=self._token, image_token_after=self._token))
        return True

    def set_mask(self, new_mask: np.ndarray, label: str, layer: str = MASK) -> bool:
        """Replace a whole layer (import, clear, invert, a rectangle...) as one undo step."""
        new = np.asarray(new_mask)
        if new.dtype == bool:
            new = new.astype(np.uint8) * 255
        self.begin_mask_edit(layer)
        self.layer(layer)[...] = new
        changed = self.end_mask_edit(label)
        if changed:
            self._layer_signal(layer).emit(None)
        return changed

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
            self.mask[ys, xs] = new_mask
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
            step.mask.write(self.layer(step.layer), which)
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
