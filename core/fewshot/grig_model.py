"""The GRIG generator, scaled for a laptop CPU: it predicts a residual that one iteration adds to the hole.

Structure (after GRIG, Lu et al., scaled down ~15x): a conv stem, residual down-sampling blocks (FastGAN's
DownBlockComp idea: a strided conv path averaged with an avg-pool + 1x1 path), AOT blocks (four dilated
branches fused and gated) at 1/4 scale, a small Restormer stack (MDTA channel attention + gated-dconv FFN)
at 1/8, skip-layer excitation (SLE) gates from the low-resolution features onto the decoder's
high-resolution ones, and an up-sampling decoder (bilinear up, conv, noise injection, GLU) with skip
connections. The output is the residual Delta (3 channels, no tanh); ``iterate`` applies Eq. 1:

    x_k = (x_{k-1} + G(x_{k-1}, M)) * M + I * (1 - M),   x_0 = I * (1 - M)

Images are in [-1, 1] with the hole set to 0; the mask is 1 in the hole. Sizes must be multiples of 8.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

DOWNSAMPLE = 8  # input sides must be multiples of this


@dataclass(frozen=True)
class GenConfig:
    widths: tuple[int, int, int, int] = (16, 32, 64, 128)  # full, 1/2, 1/4, 1/8
    aot_blocks: int = 2  # at 1/4 in the encoder (+1 at 1/8 in the decoder)
    transformer_blocks: int = 4  # Restormer blocks at 1/8
    heads: int = 4
    ffn_factor: float = 2.66
    spectral_norm: bool = False
    # The last decoder block convolves (and injects noise) after up-sampling to full resolution, not before.
    # False (the shipped weights): 4x cheaper, but the hole's first-pass content is a bilinear up-sampling of a
    # 1/2-resolution map -- the truth itself, through such a bottleneck, keeps only 0.66 of its sharpness on
    # bench.grig's images, below the 0.8.
    full_res_decoder: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @staticmethod
    def from_dict(d: dict) -> "GenConfig":
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(int(v) for v in d["widths"])
        known = {k: d[k] for k in GenConfig.__dataclass_fields__ if k in d}
        return GenConfig(**known)


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, sn: bool = False,
         bias: bool = True, groups: int = 1) -> nn.Module:
    pad = dilation * (k - 1) // 2
    c = nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=bias, groups=groups)
    return nn.utils.spectral_norm(c) if sn else c


class DownBlock(nn.Module):
    """Residual down-sampling: (strided conv -> act -> conv -> act) averaged with (avg-pool -> 1x1 conv)."""

    def __init__(self, cin: int, cout: int, sn: bool) -> None:
        super().__init__()
        self.main = nn.Sequential(conv(cin, cout, 3, 2, sn=sn), nn.LeakyReLU(0.2),
                                  conv(cout, cout, 3, sn=sn), nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2), conv(cin, cout, 1, sn=sn), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.main(x) + self.direct(x))


def _layer_norm_2d(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean((2, 3), keepdim=True)
    std = x.std((2, 3), keepdim=True) + 1e-9
    return 2 * (x - mean) / std - 1 + 5


class AOTBlock(nn.Module):
    """Aggregated contextual transformation: dilated branches (1, 2, 4, 8) fused, mixed in by a learnt gate."""

    def __init__(self, c: int, rates: tuple[int, ...] = (1, 2, 4, 8), sn: bool = False) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(conv(c, c // 4, 3, dilation=r, sn=sn), nn.ReLU())
                                      for r in rates)
        self.fuse = conv(c // 4 * len(rates), c, 3, sn=sn)
        self.gate = conv(c, c, 3, sn=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fuse(torch.cat([b(x) for b in self.branches], 1))
        g = torch.sigmoid(_layer_norm_2d(self.gate(x)))
        return x * (1 - g) + out * g


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at every pixel (Restormer's WithBias LayerNorm)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, c, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention: attention across channels (C x C per head), linear in pixels."""

    def __init__(self, c: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(c, 3 * c, 1, bias=False)
        self.dw = nn.Conv2d(3 * c, 3 * c, 3, padding=1, groups=3 * c, bias=False)
        self.proj = nn.Conv2d(c, c, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.dw(self.qkv(x)).chunk(3, 1)
        q = F.normalize(q.reshape(b, self.heads, c // self.heads, h * w), dim=-1)
        k = F.normalize(k.reshape(b, self.heads, c // self.heads, h * w), dim=-1)
        v = v.reshape(b, self.heads, c // self.heads, h * w)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.temperature, dim=-1)
        return self.proj((attn @ v).reshape(b, c, h, w))


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network."""

    def __init__(self, c: int, factor: float) -> None:
        super().__init__()
        hidden = int(c * factor)
        self.inp = nn.Conv2d(c, 2 * hidden, 1, bias=False)
        self.dw = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.out = nn.Conv2d(hidden, c, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.dw(self.inp(x)).chunk(2, 1)
        return self.out(F.gelu(g) * a)


class RestormerBlock(nn.Module):
    def __init__(self, c: int, heads: int, factor: float) -> None:
        super().__init__()
        self.n1, self.attn = ChannelLayerNorm(c), MDTA(c, heads)
        self.n2, self.ffn = ChannelLayerNorm(c), GDFN(c, factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.n1(x))
        return x + self.ffn(self.n2(x))


class SLE(nn.Module):
    """Skip-layer excitation (FastGAN): a low-resolution feature map gates a high-resolution one per channel."""

    def __init__(self, c_small: int, c_big: int, sn: bool) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), conv(c_small, c_big, 4, sn=sn), nn.LeakyReLU(0.1),
                                 conv(c_big, c_big, 1, sn=sn), nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        g = self.net(small)  # 4x4 conv with padding 1 on 4x4 -> 3x3; average to a channel vector
        return big * g.mean((2, 3), keepdim=True)


class NoiseInjection(nn.Module):
    """x + w * n with n ~ N(0, 1) per pixel (shared over channels) and a learnt per-channel weight w."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        n = torch.randn((b, 1, h, w), generator=gen, device=x.device, dtype=x.dtype)
        return x + self.weight * n


class UpBlock(nn.Module):
    """Bilinear x2 -> conv (to 2*cout) -> noise -> GLU. ``conv_first`` convolves before up-sampling (4x
    cheaper; used for the full-resolution block, whose detail comes from the stem's skip connection)."""

    def __init__(self, cin: int, cout: int, sn: bool, conv_first: bool = False) -> None:
        super().__init__()
        self.conv = conv(cin, 2 * cout, 3, sn=sn)
        self.noise = NoiseInjection(2 * cout)
        self.conv_first = conv_first

    def forward(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        if self.conv_first:
            x = F.glu(self.noise(self.conv(x), gen), dim=1)
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return F.glu(self.noise(self.conv(x), gen), dim=1)


class GRIGGenerator(nn.Module):
    def __init__(self, cfg: GenConfig = GenConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        c0, c1, c2, c3 = cfg.widths
        sn = cfg.spectral_norm
        self.stem = nn.Sequential(conv(4, c0, 3, sn=sn), nn.LeakyReLU(0.2))
        self.down1 = DownBlock(c0, c1, sn)
        self.down2 = DownBlock(c1, c2, sn)
        self.aot_enc = nn.Sequential(*[AOTBlock(c2, sn=sn) for _ in range(cfg.aot_blocks)])
        self.down3 = DownBlock(c2, c3, sn)
        self.transformer = nn.Sequential(*[RestormerBlock(c3, cfg.heads, cfg.ffn_factor)
                                           for _ in range(cfg.transformer_blocks)])
        self.aot_dec = AOTBlock(c3, sn=sn)
        self.up3 = UpBlock(c3, c2, sn)
        self.up2 = UpBlock(c2, c1, sn)
        self.up1 = UpBlock(c1, c0, sn, conv_first=not cfg.full_res_decoder)
        self.sle2 = SLE(c3, c1, sn)  # 1/8 features gate the 1/2 decoder features
        self.sle1 = SLE(c2, c0, sn)  # 1/4 features gate the full-resolution decoder features
        self.out = conv(c0, 3, 3, sn=sn)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """x: (B, 3, H, W) in [-1, 1] (current estimate), mask: (B, 1, H, W) 1 = hole -> residual (B, 3, H, W)."""
        e0 = self.stem(torch.cat([x, mask], 1))
        e1 = self.down1(e0)
        e2 = self.aot_enc(self.down2(e1))
        e3 = self.transformer(self.down3(e2))
        d3 = self.aot_dec(e3)
        d2 = self.up3(d3, gen) + e2
        d1 = self.sle2(e3, self.up2(d2, gen) + e1)
        d0 = self.sle1(e2, self.up1(d1, gen) + e0)
        return self.out(d0)


def iterate(gen_net: GRIGGenerator, image: torch.Tensor, mask: torch.Tensor, steps: int,
            noise: torch.Generator | None = None):
    """Yield x_1 .. x_T of Eq. 1 (each detached from the previous one). image in [-1, 1]; mask 1 = hole."""
    known = image * (1 - mask)
    x = known
    for _ in range(steps):
        x = (x.detach() + gen_net(x.detach(), mask, noise)) * mask + known * (1 - mask)
        yield x


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
