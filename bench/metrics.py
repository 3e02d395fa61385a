"""How a fill is judged beyond hole PSNR: is it the right colour and structure, and is it the right texture?

Hole PSNR rewards blur: a smooth fill is never far from anything, while a sharp, realistic fill that puts a
grain where the truth has none pays twice. Two figures separate the questions:

- ``lowpass_psnr``: PSNR over the hole's pixels after a Gaussian blur (sigma 3 px) of both the result and the
  truth. Texture is blurred away; what is left is the fill's colour and large-scale structure.
- ``patch_swd``: the sliced Wasserstein distance (Karras et al., "Progressive growing of GANs", ICLR 2018,
  section 5) between the 7x7 neighbourhoods centred on the hole's pixels in the result and in the truth, on
  three levels of a Laplacian pyramid (two band-pass levels and the 1/4-scale Gaussian), each level's patch
  channels normalised by the truth's mean and std, with 256 random unit projections and 128 quantiles of each
  projected set; the mean absolute quantile difference, averaged over the levels. It compares distributions,
  not positions: 0 for the truth, low for the truth's own texture out of phase, high for a blur.
"""
from __future__ import annotations

import cv2
import numpy as np

LOWPASS_SIGMA = 3.0
SWD_PATCH = 7
SWD_LEVELS = 3
SWD_PROJECTIONS = 256
SWD_QUANTILES = 128
SWD_SEED = 1234  # fixed projections: the same inputs always give the same figure


def _hwc(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a[:, :, None] if a.ndim == 2 else a


def lowpass(img: np.ndarray, sigma: float = LOWPASS_SIGMA) -> np.ndarray:
    img = _hwc(img)
    out = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def lowpass_psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray, sigma: float = LOWPASS_SIGMA) -> float:
    """PSNR (data range 1) over the hole after blurring result and truth with a Gaussian of ``sigma`` px."""
    err = np.mean((lowpass(result, sigma)[mask] - lowpass(truth, sigma)[mask]) ** 2)
    return float(10 * np.log10(1.0 / max(err, 1e-12)))


def _down(img: np.ndarray) -> np.ndarray:
    out = cv2.pyrDown(img)
    return out.reshape(out.shape[0], out.shape[1], img.shape[2])


def _up(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = cv2.pyrUp(img, dstsize=(shape[1], shape[0]))
    return out.reshape(shape[0], shape[1], img.shape[2])


def laplacian_levels(img: np.ndarray, levels: int = SWD_LEVELS) -> list[np.ndarray]:
    """[band 1/1, band 1/2, ..., Gaussian 1/2^(levels-1)] of an H x W x C float image."""
    gauss = [_hwc(img)]
    for _ in range(levels - 1):
        gauss.append(_down(gauss[-1]))
    bands = [gauss[i] - _up(gauss[i + 1], gauss[i].shape[:2]) for i in range(levels - 1)]
    return bands + [gauss[-1]]


def _mask_levels(mask: np.ndarray, levels: int) -> list[np.ndarray]:
    """The hole at each pyramid level: a pixel belongs when any of the pixels it covers does."""
    out = [mask.astype(bool)]
    for _ in range(levels - 1):
        m = out[-1]
        h, w = (m.shape[0] + 1) // 2, (m.shape[1] + 1) // 2
        padded = np.zeros((2 * h, 2 * w), bool)
        padded[:m.shape[0], :m.shape[1]] = m
        out.append(padded.reshape(h, 2, w, 2).any(axis=(1, 3)))
    return out


def _patches(img: np.ndarray, centres: tuple[np.ndarray, np.ndarray], size: int) -> np.ndarray:
    """(N, size*size*C) neighbourhoods centred on ``centres`` (reflect padding at the border)."""
    r = size // 2
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    ys, xs = centres
    dy, dx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return padded[ys[:, None] + dy.ravel()[None], xs[:, None] + dx.ravel()[None]].reshape(len(ys), -1)


def _sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    dirs = rng.standard_normal((a.shape[1], SWD_PROJECTIONS)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    qs = (np.arange(SWD_QUANTILES) + 0.5) / SWD_QUANTILES
    pa = np.quantile(a @ dirs, qs, axis=0)
    pb = np.quantile(b @ dirs, qs, axis=0)
    return float(np.mean(np.abs(pa - pb)))


def patch_swd(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Patch sliced Wasserstein distance of the hole (see the module docstring); 0 = the truth's statistics."""
    rng = np.random.default_rng(SWD_SEED)
    res_levels, tru_levels = laplacian_levels(result), laplacian_levels(truth)
    scores = []
    for res, tru, hole in zip(res_levels, tru_levels, _mask_levels(mask, SWD_LEVELS)):
        centres = np.nonzero(hole)
        if len(centres[0]) == 0:
            continue
        pr, pt = _patches(res, centres, SWD_PATCH), _patches(tru, centres, SWD_PATCH)
        c = tru.shape[2]
        # normalise each image channel by the truth's statistics over its hole patches
        tv = pt.reshape(len(pt), -1, c)
        mean, std = tv.mean(axis=(0, 1)), np.maximum(tv.std(axis=(0, 1)), 1e-6)
        pr = ((pr.reshape(len(pr), -1, c) - mean) / std).reshape(len(pr), -1)
        pt = ((tv - mean) / std).reshape(len(pt), -1)
        scores.append(_sliced_wasserstein(pr, pt, rng))
    return float(np.mean(scores)) if scores else 0.0
