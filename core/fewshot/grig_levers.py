"""Two optional training levers for GRIG, off by default (measured in docs/engines/grig.md, "Training levers").

* ``TrainedFeatures`` -- the shipped ESDiff score network's encoder, frozen, as the feature pyramid of the
  projected discriminator and the perceptual loss (training option ``features=esdiff``). The Projected GAN
  paper reports random frozen features as its weakest choice; this encoder was trained (as a denoiser) on
  natural images, which is the nearest thing to the paper's ImageNet networks that can ship here.
* ``patch_swd_loss`` -- a patch-distribution term (training option ``swd``): the sliced Wasserstein distance
  between the 7x7 patches of the fill's Laplacian bands in the hole and the known region's, so the generator is
  paid for texture in the hole whatever its phase, which L1 and the perceptual distance to the truth are not.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.fewshot.esdiff_model import mpt

# The noise level the encoder is told its input has: low, as for a nearly clean image, but inside the range it
# was trained on (SIGMA_MIN = 0.01).
FEATURE_SIGMA = 0.02


class TrainedFeatures(nn.Module):
    """Frozen ESDiff encoder with FixedFeatures' API: features after its first two down-samplings (1/2, 1/4)
    and after its middle blocks (1/4)."""

    def __init__(self, path: str | None = None) -> None:
        from core.errors import UserError
        from core.fewshot.common import load_weights
        from core.fewshot.esdiff_model import build_model

        super().__init__()
        state, config, _ = load_weights(path, "esdiff")
        net = build_model(config)
        try:
            net.load_state_dict(state)
        except RuntimeError:
            raise UserError("the esdiff weights do not fit this version's network; features=esdiff needs "
                            "the shipped file") from None
        if len(net.down) < 3:
            raise UserError("features=esdiff needs an esdiff network with three levels")
        self.net = net.eval().requires_grad_(False)
        nf = config.get("nf", 32)
        mult = config.get("mult", (1, 2, 2))
        self.widths = (nf * mult[0], nf * mult[1], nf * mult[2])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 3, H, W) in [-1, 1] -> three feature maps."""
        net = self.net
        rgb = (x + 1.0) * 0.5  # ESDiff's images are in [0, 1]
        x12 = mpt(rgb, torch.zeros_like(rgb[:, :1]))  # no virtual mask: four copies of the image
        sigma = torch.full((x.shape[0],), FEATURE_SIGMA, device=x.device, dtype=x.dtype)
        temb = net.temb(net.fourier(torch.log(sigma)))
        h = net.head(x12)
        feats = []
        for i, (block, pool) in enumerate(zip(net.down, net.pool)):
            h = block(h, temb)
            if i < 2:
                h = pool(h)
                feats.append(h)
        for block in net.mid:
            h = block(h, temb)
        feats.append(h)
        return feats


def laplacian_bands(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The first ``levels`` bands of a Laplacian pyramid (x minus its blurred, down- and up-sampled self)."""
    bands = []
    for _ in range(levels):
        low = F.avg_pool2d(x, 2)
        bands.append(x - F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False))
        x = low
    return bands


def patch_swd_loss(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, levels: int = 2, size: int = 7,
                   projections: int = 32, samples: int = 256, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
    """Mean over the batch and the bands of the sliced Wasserstein-2 distance (squared) between the fill's patches
    centred in the hole and ``real``'s patches that lie wholly in the known region. fake, real (B, C, H, W),
    mask (B, 1, H, W), 1 = hole. Images with too few hole or known patches at a band add nothing."""
    device = fake.device
    total = fake.new_zeros(())
    count = 0
    m = mask
    for lvl, (bf, br) in enumerate(zip(laplacian_bands(fake, levels), laplacian_bands(real, levels))):
        if lvl:
            m = F.max_pool2d(m, 2)
        pf, pr = F.unfold(bf, size), F.unfold(br, size)  # (B, C * size^2, L)
        pm = F.unfold(m, size)
        centre_in_hole = pm[:, size * size // 2] > 0.5
        all_known = pm.amax(1) < 0.5
        dims = pf.shape[1]
        for b in range(fake.shape[0]):
            hole_idx = centre_in_hole[b].nonzero().squeeze(1)
            known_idx = all_known[b].nonzero().squeeze(1)
            if hole_idx.numel() < 16 or known_idx.numel() < 16:
                continue
            hi = hole_idx[torch.randint(hole_idx.numel(), (samples,), device=device, generator=generator)]
            ki = known_idx[torch.randint(known_idx.numel(), (samples,), device=device, generator=generator)]
            dirs = torch.randn(dims, projections, device=device, generator=generator)
            dirs = dirs / dirs.norm(dim=0, keepdim=True)
            a = (pf[b][:, hi].T @ dirs).sort(dim=0).values
            c = (pr[b][:, ki].T @ dirs).sort(dim=0).values
            total = total + (a - c).pow(2).mean()
            count += 1
    return total / max(count, 1)
