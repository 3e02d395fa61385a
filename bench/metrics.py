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

from core.patch_stats import (LEVELS as SWD_LEVELS, PATCH as SWD_PATCH, SEED as SWD_SEED, as_hwc, laplacian_levels,
                              mask_levels, normalised_pair, patches_at, sliced_wasserstein)

LOWPASS_SIGMA = 3.0

__all__ = ["LOWPASS_SIGMA", "laplacian_levels", "lowpass", "lowpass_psnr", "patch_swd"]


def lowpass(img: np.ndarray, sigma: float = LOWPASS_SIGMA) -> np.ndarray:
    img = as_hwc(img)
    out = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def lowpass_psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray, sigma: float = LOWPASS_SIGMA) -> float:
    """PSNR (data range 1) over the hole after blurring result and truth with a Gaussian of ``sigma`` px."""
    err = np.mean((lowpass(result, sigma)[mask] - lowpass(truth, sigma)[mask]) ** 2)
    return float(10 * np.log10(1.0 / max(err, 1e-12)))


def patch_swd(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Patch sliced Wasserstein distance of the hole (see the module docstring); 0 = the truth's statistics."""
    rng = np.random.default_rng(SWD_SEED)
    res_levels, tru_levels = laplacian_levels(result), laplacian_levels(truth)
    scores = []
    for res, tru, hole in zip(res_levels, tru_levels, mask_levels(mask, SWD_LEVELS)):
        centres = np.nonzero(hole)
        if len(centres[0]) == 0:
            continue
        # each image channel normalised by the truth's statistics over its hole patches
        pr, pt = normalised_pair(patches_at(res, centres, SWD_PATCH), patches_at(tru, centres, SWD_PATCH),
                                 tru.shape[2])
        scores.append(sliced_wasserstein(pr, pt, rng))
    return float(np.mean(scores)) if scores else 0.0
