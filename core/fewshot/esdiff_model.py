"""ESDiff's encoding and network: the mutual perturbation transform (MPT), its inverse, the virtual mask,
and the 12-channel VE-SDE score network.

MPT (paper Eq. 7, in the convention of our method notes). With a virtual mask M (one value per pixel,
shared by the three pairs, in [0, M_MAX] so that 1 - M >= 1 - M_MAX > 0)::

    R' = R (1 - M) + G M      G' = G (1 - M) + B M      B' = B (1 - M) + R M

and the 12-channel tensor is the stack [R, G, B, R', G, B, R, G', B, R, G, B']. i-MPT (Eq. 8) undoes
each perturbed channel with the saved mask: R = (R' - G M) / (1 - M), and so on. Both are per pixel and
linear, so the 12-channel tensor of a consistent RGB image holds four "views" of the same image.

Decisions where the paper is vague:
- The virtual mask is M = M_MAX * sigmoid(s * n), n ~ N(0, 1) per pixel (s = VM_SCALE): Gaussian-derived
  as the paper says, smooth in distribution, strictly inside [0, M_MAX], M_MAX = 0.8 so the inverse never
  amplifies by more than 5x. A fresh mask is drawn for every training crop; sampling draws one (seeded)
  and keeps it for the whole run ("the saved virtual mask").
- The score network is an NCSN++-style UNet scaled down to train on a 2-core CPU in minutes: residual
  blocks with GroupNorm and SiLU, a Gaussian-Fourier embedding of log(sigma) added in every block, 3
  resolutions (64, 32, 16 for 64x64 crops) with widths (nf, 2nf, 2nf), one block per level on the way down
  and up plus two in the middle, no attention, and the output divided by sigma (NCSN++'s
  ``scale_by_sigma``). Images are in [0, 1] (NCSN++'s ``centered=False``). Default nf = 32: 709,420
  parameters (``count_params(ScoreUNet())``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

M_MAX = 0.8
VM_SCALE = 1.0
CHANNELS = 12


# ---- the mutual perturbation transform --------------------------------------------------------------------------
def virtual_mask(shape: tuple[int, ...], generator: torch.Generator | None = None, device=None,
                 m_max: float = M_MAX, scale: float = VM_SCALE) -> torch.Tensor:
    """A virtual mask of ``shape`` (B, 1, H, W) with values in (0, m_max), m_max < 1."""
    if not 0.0 <= m_max < 1.0:
        raise ValueError("the virtual mask must stay below 1")
    n = torch.randn(shape, generator=generator, device=device)
    return m_max * torch.sigmoid(scale * n)


def mpt(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB and mask (B, 1, H, W) -> (B, 12, H, W): [RGB, R'GB, RG'B, RGB']."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    keep = 1.0 - m
    rp = r * keep + g * m
    gp = g * keep + b * m
    bp = b * keep + r * m
    return torch.cat([r, g, b, rp, g, b, r, gp, b, r, g, bp], dim=1)


def impt_views(x12: torch.Tensor, m: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """(B, 12, H, W) -> (B, 4, 3, H, W): the four RGB estimates, each perturbed channel inverted with the
    mask. The division is guarded: 1 - M is clamped to at least ``eps`` even for a mask that reaches 1."""
    keep = (1.0 - m).clamp_min(eps)
    v0 = x12[:, 0:3]
    r1 = (x12[:, 3:4] - x12[:, 4:5] * m) / keep
    v1 = torch.cat([r1, x12[:, 4:6]], dim=1)
    g2 = (x12[:, 7:8] - x12[:, 8:9] * m) / keep
    v2 = torch.cat([x12[:, 6:7], g2, x12[:, 8:9]], dim=1)
    b3 = (x12[:, 11:12] - x12[:, 9:10] * m) / keep
    v3 = torch.cat([x12[:, 9:11], b3], dim=1)
    return torch.stack([v0, v1, v2, v3], dim=1)


def impt(x12: torch.Tensor, m: torch.Tensor, weights: torch.Tensor | None = None, eps: float = 1e-3) -> torch.Tensor:
    """i-MPT: (B, 12, H, W) -> (B, 3, H, W), the weighted mean of the four views (weights (B, 4) or (4,),
    summing to 1; None = equal). For a consistent tensor every view is the image, so this is exact."""
    views = impt_views(x12, m, eps)
    if weights is None:
        return views.mean(dim=1)
    w = weights if weights.dim() == 2 else weights[None].expand(x12.shape[0], -1)
    return (views * w[:, :, None, None, None]).sum(dim=1)


def view_weights(rgb: torch.Tensor, known: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """The paper's adaptive softmax weights over the four views, (B, 4).

    Decision: logit of the plain view = 1, of each perturbed pair = the correlation coefficient of its two
    channels over the known pixels; softmax(logits / temperature). Highly correlated pairs get more weight,
    weakly correlated ones still some, and the weights lie in (0, 1) and sum to 1, as the paper describes."""
    b = rgb.shape[0]
    w = torch.ones(rgb.shape[0], 1, *rgb.shape[2:], device=rgb.device) if known is None else known
    n = w.sum(dim=(1, 2, 3)).clamp_min(1.0)

    def corr(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        ma = (a * w).sum(dim=(1, 2, 3)) / n
        mc = (c * w).sum(dim=(1, 2, 3)) / n
        da, dc = a - ma.view(b, 1, 1, 1), c - mc.view(b, 1, 1, 1)
        cov = (da * dc * w).sum(dim=(1, 2, 3))
        va, vc = (da * da * w).sum(dim=(1, 2, 3)), (dc * dc * w).sum(dim=(1, 2, 3))
        return cov / (va * vc).clamp_min(1e-12).sqrt()

    r, g, bl = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    logits = torch.stack([torch.ones(b, device=rgb.device), corr(r, g), corr(g, bl), corr(bl, r)], dim=1)
    return torch.softmax(logits / temperature, dim=1)


# ---- the score network --------------------------------------------------------------------------------------------
class GaussianFourier(nn.Module):
    """NCSN++'s Gaussian Fourier projection, applied to log(sigma)."""

    def __init__(self, dim: int, scale: float = 16.0) -> None:
        super().__init__()
        self.register_buffer("w", torch.randn(dim // 2) * scale)

    def forward(self, log_sigma: torch.Tensor) -> torch.Tensor:
        a = log_sigma[:, None] * self.w[None, :] * (2.0 * math.pi)
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch // 4), ch)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.n1, self.c1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2, self.c2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return (self.skip(x) + h) / math.sqrt(2.0)


class ScoreUNet(nn.Module):
    """s(x, sigma) for the 12-channel tensor: a small NCSN++-style UNet whose output is divided by sigma."""

    def __init__(self, channels: int = CHANNELS, nf: int = 32, mult: tuple[int, ...] = (1, 2, 2)) -> None:
        super().__init__()
        self.config = {"channels": channels, "nf": nf, "mult": list(mult)}
        tdim = 4 * nf
        self.fourier = GaussianFourier(nf)
        self.temb = nn.Sequential(nn.Linear(nf, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.head = nn.Conv2d(channels, nf, 3, padding=1)
        widths = [nf * k for k in mult]
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        cin = nf
        for i, w in enumerate(widths):
            self.down.append(ResBlock(cin, w, tdim))
            self.pool.append(nn.Conv2d(w, w, 3, stride=2, padding=1) if i + 1 < len(widths) else nn.Identity())
            cin = w
        self.mid = nn.ModuleList([ResBlock(cin, cin, tdim), ResBlock(cin, cin, tdim)])
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(cin + w, w, tdim))
            cin = w
        self.out_norm = _norm(cin)
        self.out = nn.Conv2d(cin, channels, 3, padding=1)
        self.levels = len(widths)

    @property
    def multiple(self) -> int:
        return 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """x (B, 12, H, W) with H, W multiples of ``multiple``; sigma (B,) -> score (B, 12, H, W)."""
        temb = self.temb(self.fourier(torch.log(sigma)))
        h = self.head(x)
        skips = []
        for block, pool in zip(self.down, self.pool):
            h = block(h, temb)
            skips.append(h)
            h = pool(h)
        for block in self.mid:
            h = block(h, temb)
        for block in self.up:
            s = skips.pop()
            if h.shape[-1] != s.shape[-1] or h.shape[-2] != s.shape[-2]:
                h = F.interpolate(h, size=s.shape[-2:], mode="nearest")
            h = block(torch.cat([h, s], dim=1), temb)
        h = self.out(F.silu(self.out_norm(h)))
        return h / sigma.view(-1, 1, 1, 1).to(h.dtype)


def build_model(config: dict | None = None) -> ScoreUNet:
    c = dict(config or {})
    return ScoreUNet(int(c.get("channels", CHANNELS)), int(c.get("nf", 32)), tuple(c.get("mult", (1, 2, 2))))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
