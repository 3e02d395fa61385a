"""The nonlocal low-rank step: block matching finds repeats, the group threshold keeps or removes what it
should, and completion restores known pixels exactly while filling scattered holes from self-similarity."""
from __future__ import annotations

import torch

from core.nonlocal_lowrank import group_lowrank, match_windows, nonlocal_complete, threshold


def _periodic(h: int = 48, w: int = 48, period: int = 6, seed: int = 0) -> torch.Tensor:
    """(3, h, w) texture that repeats exactly every ``period`` pixels in both directions."""
    g = torch.Generator().manual_seed(seed)
    cell = torch.rand((3, period, period), generator=g)
    return cell.repeat(1, h // period + 1, w // period + 1)[:, :h, :w].contiguous()


def test_block_matching_finds_the_exact_repeats_and_puts_the_reference_first():
    x = _periodic()
    patch, wp = 8, 48 - 8 + 1
    index = match_windows(x, patch=patch, radius=12, stride=4, group=5)  # >= 9 exact repeats in reach
    assert index.shape[1] == 5
    assert int(index.min()) >= 0 and int(index.max()) < wp * wp
    # references lie on a stride-4 grid; the first column of each group is the reference itself
    ref = index[:, 0]
    assert torch.all((ref // wp) % 4 == 0) or torch.all(((ref // wp) % 4 == 0) | (ref // wp == wp - 1))
    cols = torch.nn.functional.unfold(x[None], patch)[0]  # (D, positions)
    groups = cols[:, index]  # (D, n_ref, group)
    # every member of every group is an exact copy of its reference (shifts by a multiple of the period)
    assert torch.allclose(groups, groups[:, :, :1].expand_as(groups), atol=1e-6)


def test_zero_threshold_keeps_the_image_and_a_huge_one_keeps_only_the_group_means():
    x = torch.rand((3, 32, 32), generator=torch.Generator().manual_seed(1))
    index = match_windows(x, patch=8, radius=4, stride=4, group=8)
    assert torch.allclose(group_lowrank(x, index, 0.0), x, atol=1e-5)
    flat = group_lowrank(x, index, 1e6)
    # group means average distinct windows: the result is smoother (lower variance) than noise
    assert float(flat.var()) < 0.5 * float(x.var())


def test_threshold_removes_noise_from_a_repeating_texture():
    clean = _periodic(seed=2)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    index = match_windows(noisy, patch=8, radius=12, stride=4, group=9)
    out = group_lowrank(noisy, index, threshold(0.1))
    assert float(((out - clean) ** 2).mean()) < 0.25 * float(((noisy - clean) ** 2).mean())


def test_completion_keeps_known_pixels_and_fills_scattered_holes_from_repeats():
    # a smooth texture repeating every 5 px: 25 exact repeats within the search radius of 10
    clean = torch.nn.functional.avg_pool2d(_periodic(70, 70, 5, seed=4)[None], 3, 1, 1, count_include_pad=False)
    clean = clean[:, :, 3:67, 3:67].contiguous()
    g = torch.Generator().manual_seed(5)
    hole = (torch.rand((1, 1, 64, 64), generator=g) < 0.5).float()
    known = torch.where(hole > 0.5, torch.zeros_like(clean), clean)
    start = torch.where(hole > 0.5, torch.full_like(clean, 0.5), clean)
    taus = [threshold(0.1 * 0.7 ** k) for k in range(10)]
    out = nonlocal_complete(start, known, hole, taus, tile=40, overlap=8)  # tiles: 64 > 40
    keep = hole.expand_as(clean) < 0.5
    assert torch.equal(out[keep], clean[keep])
    err_start = float(((start - clean) ** 2)[~keep].mean())
    err_out = float(((out - clean) ** 2)[~keep].mean())
    assert err_out < 0.01 * err_start
