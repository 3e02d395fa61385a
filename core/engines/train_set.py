"""What a per-image model learns from: the hole's neighbourhood by default, or what the artist points at.

* a **sampling area** (``source``, bool H x W): training crops come only from there -- a person standing next to
  a wall must not teach the model "person" when the artist wants "wall". The hole's own surroundings still
  condition the sample;
* **reference images** (``references``, H x W x C arrays of any size): more of the same material (three photos
  of one facade, the other tiles of a set). Crops are drawn from the open image and the references, the open
  image taking ``own_share`` of them. Each colour channel of a reference is first shifted to the level of the
  pixels around the hole (``level_matched``): the same material shot or scanned under other light would otherwise
  be copied in and taught at its own brightness.

Everything here is arrays; the engine normalises them and hands them to core.diffusion.training.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from core.diffusion.training import CropSites, crop_sites
from core.errors import UserError
from core.masks import Box, grow_box, hole_bbox

MAX_REFERENCE_SIDE = 1024  # larger references are cropped around their centre: their texture, not their size
OWN_SHARE = 0.5  # the open image's share of the crops when references are given
MIN_CROP_INSIDE = 0.5  # a crop counts as from the sampling area when at least this much of it lies inside
# References are shifted to the mean of the known pixels within this distance of the hole (px): what the fill must
# sit next to. Measured with PatchMatch (bench.teaching's 8 texture cases, 3 seeds, low-pass dB / SWD): the same
# texture file's other rows as they are 26.38 / 0.155, shifted to this ring's mean 27.21 / 0.132 (to the whole
# image's 26.95 / 0.142, mean and spread 26.65 / 0.167), no reference 26.99 / 0.149.
LEVEL_RING = 16


@dataclass
class TrainSet:
    """Training images (the open image's region first), their holes, and where crops may be taken."""

    images: list[np.ndarray]  # float32 h x w x C
    holes: list[np.ndarray]  # bool h x w (True = unknown)
    allowed: list[np.ndarray]  # bool h x w: crops must lie mostly here
    shares: list[float]
    box: Box  # the open image's region
    restricted: bool  # False: crops anywhere in the open image's region, as without a source or references

    def sites(self, crop: int) -> CropSites | None:
        """Where crops of ``crop`` px are drawn, or None for anywhere (the default, unrestricted case)."""
        if not self.restricted:
            return None
        sites = crop_sites(self.allowed, crop, self.shares, MIN_CROP_INSIDE)
        if sites is None:
            raise UserError(f"the sampling area leaves too little to learn from: paint at least about {crop}x{crop} "
                            "px of it")
        return sites

    def own_known(self) -> np.ndarray:
        """The known pixels the model learns the open image from (normalisation statistics), N x C."""
        return self.images[0][self.allowed[0]]


def checked_references(references, channels: int) -> list[np.ndarray]:
    """Reference images as float32 H x W x C (C = the open image's), cropped to MAX_REFERENCE_SIDE; a UserError
    for one with another channel count or one that is not an image."""
    out = []
    for i, ref in enumerate(references or ()):
        ref = np.asarray(ref)
        if ref.ndim == 2:
            ref = ref[:, :, None]
        if ref.ndim != 3 or ref.dtype.kind != "f" or min(ref.shape[:2]) < 8:
            raise UserError(f"reference image {i + 1} is not an image of at least 8x8 px")
        if ref.shape[2] != channels:
            raise UserError(f"reference image {i + 1} has {ref.shape[2]} channels but the image has {channels}; "
                            "use references of the same kind (gray, RGB, RGBA, or the same map set)")
        h, w = ref.shape[:2]
        y0, x0 = max(0, (h - MAX_REFERENCE_SIDE) // 2), max(0, (w - MAX_REFERENCE_SIDE) // 2)
        out.append(np.ascontiguousarray(ref[y0:y0 + MAX_REFERENCE_SIDE, x0:x0 + MAX_REFERENCE_SIDE], np.float32))
    return out


def level_matched(references: list[np.ndarray], image: np.ndarray, mask: np.ndarray,
                  source: np.ndarray | None = None) -> list[np.ndarray]:
    """``references`` with each colour channel shifted to the mean of ``image``'s known pixels within LEVEL_RING px
    of the hole (those inside ``source`` when it reaches the ring): gray, RGB and RGBA only (alpha and stacked
    material maps, whose levels mean tilt or coverage, are left as they are). New arrays; the references are not
    changed."""
    colours = image.shape[2] if image.shape[2] in (1, 3) else 3 if image.shape[2] == 4 else 0
    if not references or not colours or not mask.any():
        return list(references)
    box = grow_box(hole_bbox(mask), LEVEL_RING, mask.shape, multiple=1)
    hole = mask[box.slices()]
    near = cv2.dilate(hole.astype(np.uint8), np.ones((2 * LEVEL_RING + 1,) * 2, np.uint8)).astype(bool) & ~hole
    if source is not None and (near & source[box.slices()]).any():
        near &= source[box.slices()]  # the area is the material; elsewhere in the ring may be the wrong thing
    if not near.any():
        return list(references)
    level = image[box.slices()][near][:, :colours].astype(np.float64).mean(axis=0)
    out = []
    for ref in references:
        shifted = np.array(ref, np.float32)
        shift = level - ref[:, :, :colours].reshape(-1, colours).astype(np.float64).mean(axis=0)
        shifted[:, :, :colours] = np.clip(shifted[:, :, :colours] + shift.astype(np.float32), 0.0, 1.0)
        out.append(shifted)
    return out


def checked_share(value) -> float:
    if value is None:
        return OWN_SHARE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UserError(f"option own_share must be a number from 0 to 1 (got {value!r})")
    return float(value)


def train_set(image: np.ndarray, mask: np.ndarray, region: Box, source: np.ndarray | None,
              references: list[np.ndarray], own_share: float = OWN_SHARE) -> TrainSet:
    """The training images for a hole whose default training region is ``region``.

    With a sampling area the open image's part is the area's bounding box (wherever it lies), crops come from
    inside it, and the pixels outside it count as unknown (``holes``); references are added whole, sharing
    (1 - own_share) of the crops equally."""
    if source is not None:
        region = grow_box(hole_bbox(source & ~mask), 32, mask.shape, multiple=8)
    own_img, own_hole = image[region.slices()], mask[region.slices()]
    if source is not None:
        # A crop may lie half outside the area: what lies there is hidden from the model like the hole, neither
        # shown as context nor taught (bench.teaching, 3 seeds: D006 pasted 0.120 -> 0.111 of patch SWD)
        own_hole = own_hole | ~source[region.slices()]
    images, holes, allowed = [own_img], [own_hole], [~own_hole]
    shares = [1.0 if not references else own_share]
    for ref in references:
        images.append(ref)
        holes.append(np.zeros(ref.shape[:2], bool))
        allowed.append(np.ones(ref.shape[:2], bool))
        shares.append((1.0 - own_share) / len(references))
    return TrainSet(images, holes, allowed, shares, region, restricted=source is not None or bool(references))


def teaching_digest(source: np.ndarray | None, references: list[np.ndarray]) -> str:
    """A short digest of what the model was pointed at: models taught from different sets are not shared."""
    if source is None and not references:
        return ""
    h = hashlib.sha1()
    for a in ([source] if source is not None else []) + references:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]
