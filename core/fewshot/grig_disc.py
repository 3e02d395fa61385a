"""GRIG's two discriminators and the fixed feature network they (and the perceptual loss) share.

* ``PatchDiscriminator`` -- the forged-patch discriminator: a PatchGAN (k4, strides 2, 2, 2, 1, 1, spectral
  norm) whose every output unit judges one receptive-field patch. ``forged_labels`` builds the label map X
  of Eq. 4 from the mask by a max-pool cascade with the same kernels, strides and paddings, so X[i, j] = 1
  exactly when unit (i, j)'s receptive field touches a hole pixel.
* ``FixedFeatures`` -- a frozen, randomly initialised conv pyramid (fixed seed). It stands in for the
  ImageNet-pretrained EfficientNet (projected D) and VGG (LPIPS) of the paper, which cannot be downloaded
  here: random conv features are known to carry texture statistics, and being fixed they cannot be gamed.
* ``ProjectedDiscriminator`` -- Projected-GAN style: fixed features -> fixed random cross-channel mixing
  (1x1) and cross-scale mixing (top-down) -> one trainable mini discriminator on the largest mixed scale
  (the paper keeps only that one), giving a small map of logits.
* ``perceptual_loss`` -- LPIPS-like distance on the fixed features (unit-normalised channels, squared
  difference, spatial mean, summed over layers).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SN = nn.utils.spectral_norm
FEATURE_SEED = 1234  # the fixed random features; part of the method, never trained


# ---- forged-patch discriminator ------------------------------------------------------------------------------
PATCH_STRIDES = (2, 2, 2, 1, 1)
PATCH_KERNEL = 4
PATCH_PAD = 1


class PatchDiscriminator(nn.Module):
    """``sees_mask``: the mask is a fourth input channel, for real and forged crops alike (as DeepFill v2's
    SN-PatchGAN), so D knows where the hole is and only has to judge what fills it."""

    def __init__(self, base: int = 32, sees_mask: bool = False) -> None:
        super().__init__()
        self.sees_mask = sees_mask
        chans = [4 if sees_mask else 3, base, 2 * base, 4 * base, 8 * base, 1]
        layers: list[nn.Module] = []
        for i, s in enumerate(PATCH_STRIDES):
            layers.append(SN(nn.Conv2d(chans[i], chans[i + 1], PATCH_KERNEL, s, PATCH_PAD)))
            if i < len(PATCH_STRIDES) - 1:
                layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, 3, H, W) in [-1, 1], mask (B, 1, H, W) 1 = hole (used when ``sees_mask``) -> logits (B, 1, h', w')."""
        if self.sees_mask:
            if mask is None:
                raise ValueError("this discriminator sees the mask: pass it")
            x = torch.cat([x, mask * 2 - 1], 1)
        return self.net(x)


def forged_labels(mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) mask, 1 = hole -> (B, 1, h', w') labels, 1 = the unit's receptive field holds a hole pixel.

    Max-pooling mirrors each conv (padding counts as 'no hole', as zero padding carries no hole pixel).
    """
    x = mask.float()
    for s in PATCH_STRIDES:
        x = F.max_pool2d(x, PATCH_KERNEL, s, PATCH_PAD)
    return x


def hole_share(mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) mask -> each D unit's share of hole pixels, by average pooling that mirrors D's convolutions
    (so pixels near the centre of the receptive field weigh more, as they do in D's effective field)."""
    x = mask.float()
    for s in PATCH_STRIDES:
        x = F.avg_pool2d(x, PATCH_KERNEL, s, PATCH_PAD, count_include_pad=True)
    return x


def patch_targets(mask: torch.Tensor, min_share: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(forged, real) unit maps for the forged-patch losses.

    ``min_share`` = 0 is the paper's Eq. 4: forged iff the receptive field holds any hole pixel, real otherwise.
    With ``min_share`` > 0 a unit is forged only when at least that share of it is hole; units that touch the
    hole less are in neither term. Why: at our 128-px crops 76-98 % of the 70-px units touch a CoMod hole,
    so under Eq. 4 "forged" mostly means "a real patch with a fill somewhere in it", and a D trained that way
    never separated the fills from real crops (``bench.grig_dcheck``); at 20 % it does.
    """
    touched = forged_labels(mask)
    if min_share <= 0:
        return touched, 1.0 - touched
    return (hole_share(mask) >= min_share).float() * touched, 1.0 - touched


# ---- fixed random features -------------------------------------------------------------------------------------
class FixedFeatures(nn.Module):
    """Frozen random conv pyramid: features at 1/2, 1/4, 1/8 (16, 32, 64 channels by default)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), seed: int = FEATURE_SEED) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.stages = nn.ModuleList()
        cin = 3
        for w in widths:
            c1 = nn.Conv2d(cin, w, 3, 2, 1)
            c2 = nn.Conv2d(w, w, 3, 1, 1)
            for c in (c1, c2):
                fan_in = c.weight[0].numel()
                with torch.no_grad():
                    c.weight.copy_(torch.randn(c.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                    c.bias.zero_()
            self.stages.append(nn.Sequential(c1, nn.LeakyReLU(0.2), c2, nn.LeakyReLU(0.2)))
            cin = w
        self.requires_grad_(False)
        self.widths = widths

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for st in self.stages:
            x = st(x)
            feats.append(x)
        return feats


def perceptual_loss(feats: FixedFeatures, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS-like distance per batch element, summed over the batch (as the paper's 1.5 * sum LPIPS)."""
    loss = a.new_zeros(())
    for fa, fb in zip(feats(a), feats(b)):
        fa = fa / (fa.norm(dim=1, keepdim=True) + 1e-6)
        fb = fb / (fb.norm(dim=1, keepdim=True) + 1e-6)
        loss = loss + (fa - fb).pow(2).sum(1).mean((1, 2)).sum()
    return loss


# ---- projected discriminator ---------------------------------------------------------------------------------
class ProjectedDiscriminator(nn.Module):
    def __init__(self, features: FixedFeatures, mix: int = 64, base: int = 64, seed: int = FEATURE_SEED + 1) -> None:
        super().__init__()
        self.features = features  # shared, frozen
        g = torch.Generator().manual_seed(seed)
        # Fixed random cross-channel mixing (CCM) and cross-scale mixing (CSM), as in Projected GAN.
        self.ccm = nn.ModuleList(nn.Conv2d(w, mix, 1) for w in features.widths)
        self.csm = nn.ModuleList(nn.Conv2d(mix, mix, 3, 1, 1) for _ in features.widths[:-1])
        for m in list(self.ccm) + list(self.csm):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / m.weight[0].numel()) ** 0.5)
                m.bias.zero_()
            m.requires_grad_(False)
        # The trainable mini discriminator on the largest mixed scale (1/2 of the input).
        self.head = nn.Sequential(
            SN(nn.Conv2d(mix, base, 4, 2, 1)), nn.LeakyReLU(0.2),
            SN(nn.Conv2d(base, 2 * base, 4, 2, 1)), nn.LeakyReLU(0.2),
            SN(nn.Conv2d(2 * base, 4 * base, 4, 2, 1)), nn.LeakyReLU(0.2),
            SN(nn.Conv2d(4 * base, 1, 4, 1, 0)))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        feats = [c(f) for c, f in zip(self.ccm, self.features(x))]
        y = feats[-1]
        for i in range(len(feats) - 2, -1, -1):  # top-down: upsample the coarser map, add, mix
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False) + feats[i]
            y = self.csm[i](y)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) in [-1, 1] -> logits (B, 1, h'', w'') (about H/16 - 3 on a side)."""
        y = self.project(x)
        last = len(self.head) - 1
        for i, layer in enumerate(self.head):
            if i == last and min(y.shape[-2:]) < 4:  # small crops: let the final 4x4 conv see a 4x4 map
                ph, pw = max(0, 4 - y.shape[-2]), max(0, 4 - y.shape[-1])
                y = F.pad(y, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
            y = layer(y)
        return y


def trainable_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)
