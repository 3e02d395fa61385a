"""A material's maps, loaded together, stacked into one array for a joint model, and saved back.

Every map keeps its own file name, format, bit depth and channel layout; the engines see one float
H x W x K array (``stack``), where K counts only the channels that carry information: a gray map stored
as RGB contributes one channel, a constant channel (an opaque alpha, a uniform specular) none. The
``ChannelPlan`` records how to rebuild every map from the stack, so ``unstack(stack(...))`` is exact.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from core.errors import UserError
from core.io import (EIGHT_BIT_ONLY, READ_EXTENSIONS, WRITE_EXTENSIONS, ImageData, from_float, load_image, merge_into,
                     row_bands, save_image, to_float)
from core.masks import Box
from core.material import normals as nm
from core.material.names import (DX, GL, KIND_ORDER, KIND_TOKENS, NORMAL, OTHER, SRGB_KINDS, convention_hint,
                                 detect_kind)
from core.material.tga import check_tga_writable, read_tga, write_tga

CONVENTIONS = ("auto", GL, DX)


@dataclass
class MaterialMap:
    name: str  # the file name, kept on save
    kind: str  # one of names.KIND_ORDER
    image: ImageData
    convention: str | None = None  # normal maps: GL or DX
    convention_source: str = ""  # "name" | "content" | "default" | "user"

    @property
    def colorspace(self) -> str:
        return "srgb" if self.kind in SRGB_KINDS else "linear"

    @property
    def is_normal(self) -> bool:
        return self.kind == NORMAL and self.image.channels >= 3

    def values(self) -> np.ndarray:
        """Float32 H x W x C in [0, 1] as stored (sRGB stays sRGB-encoded)."""
        return to_float(self.image)


@dataclass
class MapSet:
    maps: list[MaterialMap]
    folder: Path | None = None

    @property
    def height(self) -> int:
        return self.maps[0].image.height

    @property
    def width(self) -> int:
        return self.maps[0].image.width

    def get(self, kind: str) -> MaterialMap | None:
        """The first map of ``kind`` (for normals, an OpenGL one if there is one)."""
        found = [m for m in self.maps if m.kind == kind]
        if kind == NORMAL:
            found.sort(key=lambda m: m.convention != GL)
        return found[0] if found else None

    def describe(self) -> str:
        parts = [f"{m.name} ({m.kind}{', ' + m.convention.upper() if m.convention else ''}, {m.image.describe()})"
                 for m in self.maps]
        return "; ".join(parts)


def _read(path: Path) -> ImageData:
    if path.suffix.lower() == ".tga":
        return read_tga(path)
    return load_image(path)


def _map_files(folder: Path, exclude: Iterable[Path]) -> list[Path]:
    if not folder.exists():
        raise UserError(f"cannot read {folder}: no such folder")
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; inpaint-material takes the folder that holds the maps")
    skip = {Path(p).resolve() for p in exclude}
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in READ_EXTENSIONS
                  and p.resolve() not in skip)


def _choose_convention(m: MaterialMap, wanted: str) -> None:
    if wanted in (GL, DX):
        m.convention, m.convention_source = wanted, "user"
        return
    hint = convention_hint(m.name)
    if hint:
        m.convention, m.convention_source = hint, "name"
        return
    w = m.image.width
    scores = nm.convention_scores_in_bands(lambda y0, y1: to_float(m.image, Box(y0, 0, y1, w)), m.image.height)
    conv, confident = nm.detect_convention(None, scores=scores)
    m.convention, m.convention_source = conv, ("content" if confident else "default")


def load_map_set(source: str | os.PathLike | Sequence[str | os.PathLike], normal_convention: str = "auto",
                 exclude: Iterable[str | os.PathLike] = ()) -> MapSet:
    """Load a folder (or a list of files) as one material; ``UserError`` on anything a user must fix.

    Unknown names are kept as generic maps; at least one name must be recognised, and all maps must have
    one size. ``exclude``: files of the folder that are not maps (e.g. the mask)."""
    if normal_convention not in CONVENTIONS:
        raise UserError(f"unknown normal convention '{normal_convention}' (use {', '.join(CONVENTIONS)})")
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        files = _map_files(folder, exclude)
    else:
        files = [Path(p) for p in source]
        folder = files[0].parent if files else None
        names = [p.name for p in files]
        if len(set(names)) != len(names):
            raise UserError("two maps have the same file name; they would overwrite each other on save")
    if not files:
        raise UserError(f"no image files in {folder}")
    kinds = {p: detect_kind(p.name) for p in files}
    if all(k == OTHER for k in kinds.values()):
        examples = ", ".join(t[0] for t in list(KIND_TOKENS.values())[:4])
        raise UserError(f"no recognisable map in {folder}: file names must name the map ({examples}, ...)")
    maps = [MaterialMap(p.name, kinds[p], _read(p)) for p in files]
    sizes = {(m.image.width, m.image.height) for m in maps}
    if len(sizes) > 1:
        listing = ", ".join(f"{m.name} {m.image.width}x{m.image.height}" for m in maps)
        raise UserError(f"the maps must all have the same size: {listing}")
    for m in maps:
        if m.is_normal:
            _choose_convention(m, normal_convention)
    maps.sort(key=lambda m: (KIND_ORDER.index(m.kind), m.name))
    return MapSet(maps, folder)


# ---- joint stacking --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelPlan:
    """Per map, per channel: ("model", k) = channel k of the stack, ("copy", c) = same as channel c of this
    map, ("const", v) = the constant v."""

    entries: tuple[tuple[tuple, ...], ...]
    n_model: int

    def model_channels(self, map_index: int) -> list[int]:
        return [e[1] for e in self.entries[map_index] if e[0] == "model"]


def _bands(m: MaterialMap, box: Box | None = None) -> Iterable[tuple[int, int, np.ndarray]]:
    """A map's values (as ``MaterialMap.values``) in bands of rows, of ``box`` only when given: (y0, y1, float32
    rows), y0 and y1 counted from the box's top."""
    box = box or Box(0, 0, m.image.height, m.image.width)
    for y0, y1 in row_bands(box.height):
        yield y0, y1, to_float(m.image, Box(box.y0 + y0, box.x0, box.y0 + y1, box.x1))


def plan_channels(mapset: MapSet, known: np.ndarray | None = None) -> ChannelPlan:
    """Decide which channels the model sees, judged on the ``known`` pixels (all pixels when None).

    With a mask, a channel that is constant (or a copy) on the known pixels is filled as such in the hole:
    that is the repair a user wants for a uniform specular map or a gray map saved as RGB. The maps are read in
    bands of rows, never whole as floats."""
    entries, k = [], 0
    for m in mapset.maps:
        n = m.image.channels
        lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
        first = None  # the first known pixel's values
        equal = np.ones((n, n), bool)  # channels equal on every known pixel so far
        for y0, y1, vals in _bands(m):
            ref = vals[known[y0:y1]] if known is not None else vals.reshape(-1, n)
            if not len(ref):
                continue
            first = ref[0].copy() if first is None else first
            lo, hi = np.minimum(lo, ref.min(axis=0)), np.maximum(hi, ref.max(axis=0))
            for c in range(n):
                for c0 in range(c):
                    equal[c0, c] = equal[c0, c] and np.array_equal(ref[:, c0], ref[:, c])
        row: list[tuple] = []
        for c in range(n):
            if first is not None and lo[c] == hi[c]:
                row.append(("const", float(first[c])))
                continue
            same = next((c0 for c0 in range(c) if row[c0][0] == "model" and equal[c0, c]), None)
            if same is not None:
                row.append(("copy", same))
            else:
                row.append(("model", k))
                k += 1
        entries.append(tuple(row))
    return ChannelPlan(tuple(entries), k)


def stack(mapset: MapSet, plan: ChannelPlan | None = None, box: Box | None = None) -> np.ndarray:
    """All maps as one float32 H x W x K array (the modelled channels only, each map's values as stored), or of
    ``box`` only (h x w x K): the maps are read in bands, never whole as floats."""
    plan = plan or plan_channels(mapset)
    box = box or Box(0, 0, mapset.height, mapset.width)
    out = np.empty((box.height, box.width, plan.n_model), np.float32)
    for m, row in zip(mapset.maps, plan.entries):
        for y0, y1, vals in _bands(m, box):
            for c, e in enumerate(row):
                if e[0] == "model":
                    out[y0:y1, :, e[1]] = vals[:, :, c]
    return out


def unstack(stacked: np.ndarray, mapset: MapSet, plan: ChannelPlan) -> list[np.ndarray]:
    """A stack (or any h x w x K region of one, e.g. a preview) -> one float h x w x C array per map."""
    h, w = stacked.shape[:2]
    result = []
    for m, row in zip(mapset.maps, plan.entries):
        out = np.empty((h, w, len(row)), np.float32)
        for c, e in enumerate(row):
            if e[0] == "model":
                out[:, :, c] = stacked[:, :, e[1]]
            elif e[0] == "const":
                out[:, :, c] = e[1]
            else:
                out[:, :, c] = out[:, :, e[1]]
        result.append(out)
    return result


# ---- merging a result back ---------------------------------------------------------------------------------
def _native_continuous(img: ImageData, values: np.ndarray) -> np.ndarray:
    """Float [0, 1] engine values -> the native value range, unrounded (for normal vector decoding)."""
    if img.dtype == np.uint8 or img.dtype == np.uint16:
        return np.clip(values, 0.0, 1.0)
    return img.float_lo + np.clip(values, 0.0, 1.0) * (img.float_hi - img.float_lo)


def _merge_normal(img: ImageData, values: np.ndarray, hole: np.ndarray) -> None:
    """Inpainted normals renormalised to unit length inside ``hole``, written into ``img``'s pixels (the same
    size as ``values`` and ``hole``) in place; known pixels untouched."""
    native = _native_continuous(img, values[hole])[:, :3]
    signed = img.dtype == np.float32 and float(img.float_lo[:3].min()) < -1e-3  # float maps may store n itself
    vec = nm.unit(native if signed else native * 2.0 - 1.0)
    if img.dtype == np.uint8 or img.dtype == np.uint16:
        codes = nm.quantise_unit(vec, int(np.iinfo(img.dtype).max)).astype(img.dtype)
    else:
        codes = (vec if signed else vec * 0.5 + 0.5).astype(np.float32)
    filled = img.pixels[hole]
    filled[:, :3] = codes
    if img.channels > 3:  # an alpha next to the normal: as the engine gave it
        filled[:, 3:] = from_float(img, values[hole])[:, 3:]
    img.pixels[hole] = filled


def merge_maps(mapset: MapSet, filled: Sequence[np.ndarray], mask: np.ndarray, box: Box | None = None,
               in_place: bool = False) -> MapSet:
    """Per-map float results of ``box`` (default: the whole image) -> a new MapSet at native depth: known pixels
    exact, normals unit length. Only the native pixels are copied and the results merged into the copies; with
    ``in_place`` nothing is copied: the results go into ``mapset``'s own pixels, inside ``box``'s hole only (the
    returned set holds them)."""
    box = box or Box(0, 0, mapset.height, mapset.width)
    hole = mask[box.slices()]
    maps = []
    for m, vals in zip(mapset.maps, filled):
        img = m.image if in_place else ImageData(m.image.pixels.copy(), m.image.path, m.image.float_lo,
                                                 m.image.float_hi)
        if m.is_normal:
            _merge_normal(ImageData(img.pixels[box.slices()], None, img.float_lo, img.float_hi), vals, hole)
        else:
            merge_into(img, vals, mask, box)
        maps.append(replace(m, image=img))
    return MapSet(maps, mapset.folder)


def normal_vectors(m: MaterialMap) -> np.ndarray:
    """Unit-length OpenGL-space vectors of a normal map (H x W x 3), for shading."""
    img = m.image
    native = _native_continuous(img, m.values())[:, :, :3]
    signed = img.dtype == np.float32 and float(img.float_lo[:3].min()) < -1e-3
    return nm.unit(nm.to_opengl(native if signed else native * 2.0 - 1.0, m.convention or GL))


# ---- saving -----------------------------------------------------------------------------------------------
def _check_format(path: Path, img: ImageData) -> None:
    ext = path.suffix.lower()
    if ext == ".tga":
        check_tga_writable(img, path)
        return
    if ext not in WRITE_EXTENSIONS or not cv2.haveImageWriter(str(path)):
        raise UserError(f"cannot write {path}: this build cannot encode '{ext}' files")
    if img.dtype != np.uint8 and ext in EIGHT_BIT_ONLY:
        raise UserError(f"cannot write {path}: {ext} holds only 8-bit data and the map is {img.bit_depth}")
    if img.dtype == np.float32 and ext not in {".exr", ".tif", ".tiff"}:
        raise UserError(f"cannot write {path}: float data needs .exr or .tif")


def check_output(mapset: MapSet, out_dir: str | os.PathLike) -> Path:
    """Everything that could stop ``save_map_set``, checked before any work or any write."""
    out = Path(out_dir)
    if mapset.folder is not None and out.exists() and out.resolve() == mapset.folder.resolve():
        raise UserError(f"--out {out} is the input folder: choose another folder so the originals are kept")
    if out.exists():
        if not out.is_dir():
            raise UserError(f"cannot write to {out}: it is a file, not a folder")
        if not os.access(out, os.W_OK):
            raise UserError(f"cannot write to {out}: the folder is not writable")
    else:
        parent = out.parent if str(out.parent) else Path(".")
        if not parent.is_dir():
            raise UserError(f"cannot write to {out}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise UserError(f"cannot create {out}: folder {parent} is not writable")
    for m in mapset.maps:
        target = out / m.name
        _check_format(target, m.image)
        if target.is_dir() or (target.exists() and not os.access(target, os.W_OK)):
            raise UserError(f"cannot write {target}: it is a folder or read-only")
    return out


def save_map_set(mapset: MapSet, out_dir: str | os.PathLike) -> list[Path]:
    """Write every map under its own name, format and depth (each write atomic)."""
    out = check_output(mapset, out_dir)
    out.mkdir(exist_ok=True)
    written = []
    for m in mapset.maps:
        target = out / m.name
        written.append(write_tga(target, m.image) if target.suffix.lower() == ".tga" else save_image(target, m.image))
    return written
