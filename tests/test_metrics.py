"""The quality figures beside hole PSNR (bench.metrics): low-pass hole PSNR and patch SWD."""
import numpy as np
import pytest

from bench.common import DATA, shifted_truths
from bench.common import test_images as bench_images
from bench.metrics import laplacian_levels, lowpass, lowpass_psnr, patch_swd
from core.engines.classical import cv_inpaint
from core.masks import centre_box_mask

pytestmark = pytest.mark.skipif(not (DATA / "textures").is_dir(), reason="shared data not present")


@pytest.fixture(scope="module")
def texture():
    name, img = bench_images("textures", 1, 128)[0]
    return img


def test_patch_swd_is_zero_for_the_truth_low_out_of_phase_and_high_for_a_blur(texture):
    mask = centre_box_mask(128, 128, 0.25)
    telea = texture.copy()
    telea[mask] = cv_inpaint(texture, mask)[mask]
    shifted = np.mean([patch_swd(s, texture, mask) for s in shifted_truths(texture, mask)])
    assert patch_swd(texture, texture, mask) == 0.0
    assert shifted < 0.5 * patch_swd(telea, texture, mask)  # the right texture in the wrong place beats a blur
    flat = texture.copy()
    flat[mask] = texture[mask].mean()
    assert patch_swd(flat, texture, mask) > patch_swd(telea, texture, mask)  # flatter = further


def test_patch_swd_is_deterministic_and_sees_every_channel(texture):
    mask = centre_box_mask(128, 128, 0.25)
    rgb = np.concatenate([texture, texture, texture], axis=2)
    noisy = rgb.copy()
    noisy[mask, 2] = np.random.default_rng(0).random(int(mask.sum()))  # one channel wrong
    assert patch_swd(noisy, rgb, mask) == patch_swd(noisy, rgb, mask)
    assert patch_swd(noisy, rgb, mask) > 0.1


def test_lowpass_psnr_ignores_grain_but_not_a_colour_shift():
    rng = np.random.default_rng(1)
    truth = np.full((64, 64, 3), 0.5, np.float32) + 0.1 * rng.standard_normal((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    regrained = truth.copy()
    regrained[mask] = 0.5 + 0.1 * rng.standard_normal((int(mask.sum()), 3))  # other grain, same colour
    shifted = truth.copy()
    shifted[mask] += 0.1  # same grain, wrong colour
    assert lowpass_psnr(regrained, truth, mask) > 30.0
    assert lowpass_psnr(shifted, truth, mask) < 22.0
    assert lowpass(truth[:, :, 0]).shape == (64, 64, 1)


def test_laplacian_levels_add_back_to_the_image():
    import cv2

    img = np.random.default_rng(2).random((40, 56, 3)).astype(np.float32)
    b0, b1, g2 = laplacian_levels(img)
    assert g2.shape == (10, 14, 3)
    up1 = cv2.pyrUp(g2, dstsize=(28, 20)) + b1
    np.testing.assert_allclose(cv2.pyrUp(up1, dstsize=(56, 40)) + b0, img, atol=1e-5)
