"""core.lines: straight lines through a hole, found from the known pixels, and the profile PatchMatch follows."""
import numpy as np
import pytest

from core.lattice import find_lattice
from core.lines import find_lines
from core.masks import centre_box_mask


def plaid(size: int = 192, angle: float = 30.0, seed: int = 0, rows=slice(None)) -> np.ndarray:
    """Bright straight lines at ``angle`` degrees, unevenly spaced (no period, so no lattice), on grainy gray;
    ``rows``: where the lines are drawn (elsewhere only the grain)."""
    rng = np.random.default_rng(seed)
    a = np.deg2rad(angle)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    s = yy * np.cos(a) - xx * np.sin(a)
    positions = np.cumsum(rng.uniform(9, 26, 40)) + s.min()
    dist = np.abs(s[..., None] - positions).min(axis=-1)
    lines = 0.45 * np.clip(2.5 - dist, 0.0, 1.0)  # anti-aliased: a jagged raster would repeat along the lines
    drawn = np.zeros((size, size), bool)
    drawn[rows] = True
    img = 0.3 + np.where(drawn, lines, 0.0) + rng.normal(0, 0.03, (size, size))
    return np.clip(img, 0, 1).astype(np.float32)[:, :, None]


@pytest.mark.parametrize("angle", [30.0, 143.0])
def test_finds_the_lines_and_their_profile_through_a_hole(angle):
    img = plaid(angle=angle)
    hole = centre_box_mask(192, 192, 0.25)
    assert find_lattice(img, ~hole) is None  # uneven spacing: not a lattice
    lines = find_lines(img, ~hole, hole)
    assert lines is not None
    assert min(abs(lines.angle - angle), 180 - abs(lines.angle - angle)) <= 2.0
    # the profile read inside the hole says where the hidden lines are
    guide = lines.phases(192, 192)[:, :, 0]
    assert np.corrcoef(guide[hole], img[:, :, 0][hole])[0, 1] > 0.6
    assert 0.0 <= guide.min() and guide.max() <= 0.5  # the library's wrap-around never applies
    crop = lines.phases(40, 50, origin=(60, 70))[:, :, 0]
    assert np.array_equal(crop, guide[60:100, 70:120])


@pytest.mark.parametrize("texture", ["noise", "flat", "gradient"])
def test_no_lines_where_there_are_none(texture):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:128, 0:128]
    img = {"noise": rng.random((128, 128)), "flat": np.full((128, 128), 0.5),
           "gradient": (yy + 2 * xx) / 384.0}[texture].astype(np.float32)
    hole = centre_box_mask(128, 128, 0.25)
    assert find_lines(img, ~hole, hole) is None


def test_lines_on_one_side_of_the_hole_only_are_not_drawn_across_it():
    """Lines that end at the hole (here: only in the image's lower half, the hole straddling the border) would
    be drawn through it by their profile; the two sides of the hole disagree, so no family is kept."""
    img = plaid(angle=90.0, rows=slice(96, None))  # vertical lines below row 96 only
    hole = centre_box_mask(192, 192, 0.3)
    assert find_lines(img, ~hole, hole) is None
    assert find_lines(plaid(angle=90.0), ~hole, hole) is not None  # the same lines everywhere: kept


def test_line_guided_patchmatch_continues_the_lines():
    from core.engines import patchmatch as pm

    if not pm.available():
        pytest.skip("PatchMatch library not installed")
    img = np.repeat(plaid(angle=30.0, seed=3), 3, axis=2)
    hole = centre_box_mask(192, 192, 0.3)
    job = pm._Job.prepare(img, hole, None, lattice=True)
    assert job.regularity is not None and job.regularity.__class__.__name__ == "Lines"

    def error(region):
        return float(np.abs(region[job.hole] - img[job.box.slices()][job.hole]).mean())

    guided = np.mean([error(job.fill(seed, regular=True)) for seed in range(2)])
    plain = np.mean([error(job.fill(seed)) for seed in range(2)])
    assert guided < 0.8 * plain, (guided, plain)
