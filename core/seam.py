"""Seam harmonisation: keep a fill's texture, match its low frequencies to the pixels around the hole.

A generated fill can be sharp and plausible yet sit a few levels off the surrounding colour, so the hole
shows as a patch (the internal engine's fills on materials: acg_metal055a's base colour 0.023 too dark on
average). Gradient-domain blending (Perez et al., "Poisson image editing", 2003 -- what a healing brush
does) fixes that: the result f keeps the fill's gradients inside the hole and meets the known pixels at
the seam. With f = fill + c, the correction c is harmonic inside the hole (discrete Laplace equation) with
the seam's mismatch as boundary data, so it carries no texture of its own.

The mismatch is measured between local means, not single pixels: known pixels within ``radius`` of the
seam's outer side against fill pixels within ``radius`` of its inner side. Pixel-to-pixel differences
carry both sides' texture, and the harmonic interpolation would smear that noise into thin holes.

Pure torch on the tensors' own device; solved by conjugate gradients, one system per image and channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# The internal engine's fast fills, harmonised after sampling, hole PSNR on bench.quality's dev images (Brodatz
# textures / Kodak photos x strokes / box, 256 px) and bench.material's mean render PSNR, against no harmonisation
# (13.74 / 11.75 / 12.07 / 13.04 dB; 23.95 dB): radius 2: 13.47 / 11.57 / 12.08 / 12.76; 4: 13.52 / 11.53 /
# 13.07 / 13.25, 24.86; 8: 13.73 / 11.64 / 13.96 / 13.66, 24.73; 12: 13.79 / 11.73 / 14.08 / 13.74, 24.58;
# 24: 13.87 / 11.76 / 13.91 / 13.61, 24.38. Sharpness moved by at most 0.01 in any group. Averaging the seam's
# mismatch along the seam as well (radius 4 or 16 along it) did no better.
DEFAULT_RADIUS = 8
# Trimmed local means (``inlier_weights``) for channels whose steepest pixels are structure, not level: a normal
# map's grooves and cracks. A groove along the seam pulls the known side's plain local mean by several degrees
# of tilt, the harmonic correction spreads that tilt over the fill, and a glossy surface then sparkles (parquet:
# -4.6 dB of render PSNR). Left out of the means, the pixels farthest from the known pixels' median keep the
# normals' correction to the surface's level. bench.material's 15 cases (5 materials x 3 masks, fast, joint),
# the finished fills' normals harmonised afterwards with the kept share of known pixels at 1.0 (plain) / 0.9 /
# 0.75 / 0.5, against normals left alone (23.91 dB mean render PSNR): 23.42 / 23.88 / 24.26 / 24.24. Inside the
# engine (the README's run) the mean stayed 23.90: rock +0.7 to +0.9 dB on every mask, the others within 0.25 dB,
# except parquet, whose glints swing a case by up to 3 dB either way with any change.
TRIM_KEEP = 0.75
COARSE_SIDE = 64  # regions at least twice this on their short side are solved coarse to fine


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the 4-neighbours of every pixel, zero beyond the image edge."""
    p = F.pad(x, (1, 1, 1, 1))
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def _box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, zeros beyond the edge, as two 1-D passes (a 17x17 window in one 2-D pass
    cost 4 ms per 256x256 map, most of a harmonisation)."""
    k = 2 * radius + 1
    x = F.avg_pool2d(x, (k, 1), stride=1, padding=(radius, 0))
    return F.avg_pool2d(x, (1, k), stride=1, padding=(0, radius))


def _local_mean(x: torch.Tensor, weight: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of x over the pixels where weight = 1 within a (2r+1)^2 window (x itself where r = 0)."""
    if radius <= 0:
        return x
    return _box_mean(x * weight, radius) / _box_mean(weight, radius).clamp_min(1e-6)


def _trimmed_local_mean(x: torch.Tensor, weight: torch.Tensor, inlier: torch.Tensor | None,
                        radius: int) -> torch.Tensor:
    """The local mean over the inlier pixels; where a window holds none, the plain local mean."""
    plain = _local_mean(x, weight, radius)
    if inlier is None:
        return plain
    w = weight * inlier
    den = _box_mean(w, radius) if radius > 0 else w
    return torch.where(den > 1e-3, _local_mean(x, w, radius), plain)


def inlier_weights(fill: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, keep: float = TRIM_KEEP,
                   scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(known, fill) inlier weights (B, 1, H, W) for trimmed local means over all channels together.

    A pixel's distance is the length of its vector (its channels, times ``scale`` to put them in data units)
    from the known pixels' per-channel median; the ``keep`` share of known pixels nearest the median are
    inliers, and so are the fill's pixels within the same distance.
    """
    s = scale if scale is not None else 1.0
    hole = mask > 0.5
    n, _, h, w = fill.shape
    wk = torch.zeros((n, 1, h, w), dtype=torch.float32, device=fill.device)
    wf = torch.zeros_like(wk)

    def item(t, b):  # batch item b of a tensor that may be shared by the whole batch (batch size 1)
        return t[min(b, t.shape[0] - 1)]
    for b in range(n):
        kb, out = item(known, b), ~item(hole, b)[0]
        kvals = kb[:, out]  # C x N
        if kvals.shape[1] == 0:
            wk[b], wf[b] = 1.0, 1.0
            continue
        # sort rather than median/kthvalue: one op that every backend (CUDA, MPS, CPU) has
        med = kvals.sort(dim=1).values[:, (kvals.shape[1] - 1) // 2][:, None, None]
        sb = item(s, b) if isinstance(s, torch.Tensor) and s.dim() == 4 else s
        dist_k = ((kb - med) * sb).float().norm(dim=0)
        dist_f = ((fill[b] - med) * sb).float().norm(dim=0)
        inside = dist_k[out]
        limit = inside.sort().values[max(1, int(round(keep * inside.numel()))) - 1]
        wk[b, 0] = (dist_k <= limit).float()
        wf[b, 0] = (dist_f <= limit).float()
    return wk, wf


def harmonic_correction(fill: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, radius: int = DEFAULT_RADIUS,
                        max_iters: int | None = None, tol: float = 1e-4,
                        inliers: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The correction c (zero outside the hole) that makes ``fill + c`` meet ``known`` at the seam.

    fill, known: (B, C, H, W); mask: (B, 1, H, W), 1 = hole. For every hole pixel p,
    deg(p) c_p - sum_{q in hole} c_q = sum_{q known} (m_known(q) - m_fill(p)) over its 4-neighbours q, where
    m_* are the local means; edges of the image are free (no condition there). ``inliers``: (known, fill)
    weights from ``inlier_weights``; the local means are then taken over those pixels only (trimmed).
    """
    work = torch.float32 if fill.dtype in (torch.float16, torch.bfloat16) else fill.dtype
    fill, known = fill.to(work), known.to(work)
    hole = (mask > 0.5).to(work)
    kn = 1.0 - hole
    deg = _neighbour_sum(torch.ones_like(hole))
    in_k, in_f = (None, None) if inliers is None else (inliers[0].to(work), inliers[1].to(work))
    m_known = _trimmed_local_mean(known, kn, in_k, radius)
    m_fill = _trimmed_local_mean(fill, hole, in_f, radius)
    n_known = _neighbour_sum(kn) * hole
    rhs = (_neighbour_sum(m_known * kn) - n_known * m_fill) * hole

    def apply(v: torch.Tensor) -> torch.Tensor:
        v = v * hole
        return (deg * v - _neighbour_sum(v)) * hole

    if max_iters is None:  # CG needs about as many iterations as the hole is wide; 4x that is ample
        max_iters = 4 * int(max(fill.shape[-2:])) + 50
    h, w = fill.shape[-2:]
    if min(h, w) >= 2 * COARSE_SIDE:
        # Coarse to fine: the correction is smooth, so half resolution gets its broad shape in a quarter of the
        # pixels and CG here only refines it (a 512 px box in a 1024 px region: 12.8 s -> 6.3 s, 2 threads).
        def half(t: torch.Tensor, pool) -> torch.Tensor:
            return pool(F.pad(t, (0, w % 2, 0, h % 2), mode="replicate"), 2)

        coarse_inliers = None if inliers is None else (half(in_k, F.avg_pool2d), half(in_f, F.avg_pool2d))
        coarse = harmonic_correction(half(fill, F.avg_pool2d), half(known, F.avg_pool2d), half(hole, F.max_pool2d),
                                     max(1, radius // 2), tol=tol, inliers=coarse_inliers)
        x = F.interpolate(coarse, scale_factor=2.0, mode="bilinear", align_corners=False)[..., :h, :w] * hole
    else:
        x = torch.zeros_like(fill)
    dims = (-2, -1)
    r = rhs - apply(x)
    p = r.clone()
    rs = (r * r).sum(dims, keepdim=True)
    stop = (tol ** 2) * (rhs * rhs).sum(dims, keepdim=True).clamp_min(1e-20)
    for it in range(max_iters):
        ap = apply(p)
        alpha = rs / (p * ap).sum(dims, keepdim=True).clamp_min(1e-20)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = (r * r).sum(dims, keepdim=True)
        if it % 8 == 7 and bool((rs_new <= stop).all()):  # checked now and then: on a GPU each check syncs
            break
        p = r + (rs_new / rs.clamp_min(1e-20)) * p
        rs = rs_new
    return x * hole


def harmonize(fill: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, radius: int = DEFAULT_RADIUS,
              lo: torch.Tensor | None = None, hi: torch.Tensor | None = None, trim: float | None = None,
              scale: torch.Tensor | None = None) -> torch.Tensor:
    """``fill`` with its hole shifted to meet the known pixels (known pixels returned exactly as ``known``).

    lo / hi (broadcastable to fill): the data range to clamp the corrected hole to. trim: the share of known
    pixels kept in trimmed local means (``inlier_weights``; the channels judged together, in data units
    ``x * scale``); None = plain means.
    """
    out = fill.to(torch.float32 if fill.dtype in (torch.float16, torch.bfloat16) else fill.dtype)
    inliers = None if trim is None else inlier_weights(out, known.to(out.dtype), mask, trim, scale)
    # Only the hole's bounding box, grown by the local means' reach (radius + 1), takes part: the correction is
    # zero outside the hole and every local mean it reads lies within that margin, so the crop is exact.
    rows = torch.nonzero((mask > 0.5).any(0).any(0).any(1)).flatten()
    cols = torch.nonzero((mask > 0.5).any(0).any(0).any(0)).flatten()
    if rows.numel() == 0:
        return torch.where(mask > 0.5, out, known.to(out.dtype)).to(fill.dtype)
    m = radius + 2
    h, w = out.shape[-2:]
    y0, y1 = max(0, int(rows[0]) - m), min(h, int(rows[-1]) + 1 + m)
    x0, x1 = max(0, int(cols[0]) - m), min(w, int(cols[-1]) + 1 + m)
    win = (..., slice(y0, y1), slice(x0, x1))
    crop_inliers = None if inliers is None else (inliers[0][win], inliers[1][win])
    out = out.clone()
    out[win] = out[win] + harmonic_correction(out[win], known[win], mask[win], radius, inliers=crop_inliers)
    if lo is not None:
        out = torch.maximum(out, lo)
    if hi is not None:
        out = torch.minimum(out, hi)
    hole = mask > 0.5
    return torch.where(hole, out, known.to(out.dtype)).to(fill.dtype)
