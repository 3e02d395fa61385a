"""bench.full_size's cases: holes painted across the whole photo, each shown in a window of the photo."""
import numpy as np


def test_painted_masks_reach_across_the_photo_and_stay_off_its_edges():
    from bench.full_size import painted_mask

    masks = [painted_mask(512, 768, seed) for seed in range(100, 108)]
    assert np.array_equal(masks[0], painted_mask(512, 768, 100))  # the same case on every run
    assert len({m.tobytes() for m in masks}) == len(masks)
    for m in masks:
        ys, xs = np.nonzero(m)
        assert 0.005 < m.mean() < 0.1
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < 511 and xs.max() < 767
    spans = [np.ptp(np.nonzero(m)[1]) for m in masks]
    assert np.median(spans) > 200  # the holes lie apart, so one run's region covers much of the photo


def test_each_hole_gets_a_window_inside_the_photo_around_it():
    from bench.full_size import hole_tiles

    mask = np.zeros((100, 160), bool)
    mask[2:6, 3:9] = True  # by the corner: the window is pushed inside
    mask[50:60, 100:110] = True
    tiles = hole_tiles(np.zeros((100, 160, 3)), mask, size=40)
    assert len(tiles) == 2
    for (ys, xs), (cy, cx) in zip(tiles, [(4, 6), (55, 105)]):
        assert ys.stop - ys.start == 40 and xs.stop - xs.start == 40
        assert 0 <= ys.start and ys.stop <= 100 and 0 <= xs.start and xs.stop <= 160
        assert ys.start <= cy < ys.stop and xs.start <= cx < xs.stop
