"""core.lattice: the repeat of a regular texture from its known pixels, and the phases PatchMatch is guided by."""
import numpy as np
import pytest

from core.lattice import find_lattice
from core.masks import centre_box_mask


def bricks(h: int = 192, w: int = 192, period_y: float = 16.0, period_x: float = 24.0, seed: int = 0) -> np.ndarray:
    """Running-bond bricks: mortar every ``period_y`` rows, joints every ``period_x`` columns shifted by half a
    brick on alternate courses, a little noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    course = np.floor(yy / period_y)
    xs = xx + (course % 2) * period_x / 2
    mortar = (np.mod(yy, period_y) < 2.5) | (np.mod(xs, period_x) < 2.5)
    img = np.where(mortar, 0.8, 0.35) + np.random.default_rng(seed).normal(0, 0.03, (h, w))
    return np.clip(img, 0, 1).astype(np.float32)[:, :, None]


def test_finds_the_bricks_periods_through_a_hole():
    img = bricks()
    mask = centre_box_mask(192, 192, 0.2)
    lat = find_lattice(img, ~mask)
    assert lat is not None and lat.v2 is not None
    # Whatever basis it picks, the courses' period (16 rows) and the brick's repeat (a shift of (32, 0) or
    # (16, +-12)) are lattice vectors: integer coordinates in its basis.
    basis = np.array([[lat.v1[0], lat.v2[0]], [lat.v1[1], lat.v2[1]]])
    for true in ((0.0, 24.0), (32.0, 0.0), (16.0, 12.0)):
        coords = np.linalg.solve(basis, np.array(true))
        assert np.abs(coords - np.round(coords)).max() < 0.05, (true, coords, lat)


def test_phases_repeat_with_the_period_and_follow_the_origin():
    lat = find_lattice(bricks(), np.ones((192, 192), bool))
    ph = lat.phases(100, 120)
    vy, vx = (int(round(c)) for c in lat.v1)
    y0, x0 = 30, 40
    y1, x1 = y0 + vy, x0 + vx
    d = np.abs(ph[y0, x0, :2] - ph[y1, x1, :2])
    assert np.minimum(d, 1 - d).max() < 0.05  # a period away: the same phase (with wrap-around)
    assert np.abs(ph[y0, x0 + 3, :2] - ph[y0, x0, :2]).max() > 0.01  # a fraction of it: another phase
    crop = lat.phases(20, 20, origin=(y0, x0))
    assert np.allclose(crop[0, 0], ph[y0, x0], atol=1e-5)


@pytest.mark.parametrize("texture", ["noise", "flat"])
def test_no_lattice_where_nothing_repeats(texture):
    rng = np.random.default_rng(1)
    img = rng.random((128, 128, 1)).astype(np.float32) if texture == "noise" else np.full((128, 128, 1), 0.5,
                                                                                          np.float32)
    assert find_lattice(img, ~centre_box_mask(128, 128, 0.2)) is None


def test_hole_does_not_invent_a_period():
    """A smooth gradient with a big hole: the hole's edges must not read as structure (masked normalisation)."""
    yy, xx = np.mgrid[0:128, 0:128]
    img = ((yy + xx) / 256.0).astype(np.float32)[:, :, None]
    assert find_lattice(img, ~centre_box_mask(128, 128, 0.3)) is None


def test_patchmatch_uses_the_lattice_on_wide_holes_only():
    from core.engines import patchmatch as pm

    if not pm.available():
        pytest.skip("PatchMatch library not installed")
    img = np.repeat(bricks(), 3, axis=2)
    box = centre_box_mask(192, 192, 0.25)
    wide = pm._Job.prepare(img, box, None, lattice=True)
    assert wide.regularity is not None
    line = np.zeros((192, 192), bool)
    line[90:96, 20:170] = True  # a scratch 6 px wide: its borders align it
    thin = pm._Job.prepare(img, line, None, lattice=True)
    assert thin.regularity is None
    band = np.zeros((192, 192), bool)
    band[76:116, 20:170] = True  # a stroke 40 px wide, over a period wide yet aligned by its borders
    assert pm._Job.prepare(img, band, None, lattice=True).regularity is None
    assert pm._Job.prepare(img, box, None).regularity is None  # not asked for
    region = wide.fill(0, regular=True)
    known = ~wide.hole
    assert np.array_equal(region[known], img[wide.box.slices()][known])
    assert not np.array_equal(region, wide.fill(0))  # the guide changes the fill
