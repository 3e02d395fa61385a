"""Material repairs on large sets: the stack holds only the region the engine reads, results go back into that
region only, the normal convention is judged in bands -- and the fills are the same as with the whole set."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import core.io  # noqa: F401 -- sets the OpenEXR flag before cv2 is imported
from core.material import MaterialRepair, inpaint_material, load_map_set, run_material
from core.material import normals as nm
from core.material.mapset import stack
from core.masks import Box
from test_material_fixtures import height_field, normals_from_height, write_material

pytestmark = pytest.mark.usefixtures("torch_threads_1")

QUICK = dict(train_steps=4, steps=2, options={"cache": False, "preview_every": 0, "batch": 2, "crop": 32})


@pytest.fixture
def big_set(tmp_path):
    """A five-map set (tests/test_material_fixtures.write_material) of 640 x 700 px and a small hole in it."""
    write_material(tmp_path / "maps", 640, 700, seed=2, names={"normal": "Mat_Normal.png"})  # content decides
    mask = np.zeros((640, 700), bool)
    mask[300:318, 330:356] = True
    return tmp_path / "maps", mask


def whole_set_reads(monkeypatch, engine: str) -> None:
    """The engine's ``reads`` says "all of it": the repair stacks the whole set, as before regions."""
    from core.engines.registry import default_registry

    inner = default_registry().get(engine).engine
    monkeypatch.setattr(type(inner), "reads", lambda self, mask, options: None)


@pytest.mark.parametrize("engine, args", [("telea", {}), ("internal", QUICK)])
def test_a_repair_on_the_region_equals_the_repair_on_the_whole_set(big_set, monkeypatch, engine, args):
    folder, mask = big_set
    ms = load_map_set(folder)
    repair = MaterialRepair(ms, mask, engine, options=args.get("options"))
    assert repair.filled.shape[:2] == (repair.box.height, repair.box.width)
    assert repair.box.height * repair.box.width < 0.8 * mask.size  # a crop
    events = list(inpaint_material(ms, mask, engine, **args))
    region_result = events[-1]
    previews = [e for e in events if hasattr(e, "maps")]
    for p in previews:  # previews' boxes are in the maps' coordinates: around the hole
        assert p.box.y0 <= 300 and p.box.y1 >= 318 and p.box.x0 <= 330 and p.box.x1 >= 356
    with monkeypatch.context() as m:
        whole_set_reads(m, engine)
        assert MaterialRepair(ms, mask, engine).box == Box(0, 0, 640, 700)
        whole_result = run_material(ms, mask, engine, **args)
    for a, b in zip(region_result.mapset.maps, whole_result.mapset.maps):
        assert np.array_equal(a.image.pixels, b.image.pixels), a.name
    assert region_result.info["runs"][0]["region"] == whole_result.info["runs"][0]["region"]


def test_finish_in_place_writes_into_the_maps_and_copies_nothing(big_set):
    folder, mask = big_set
    ms = load_map_set(folder)
    before = [m.image.pixels.copy() for m in ms.maps]
    repair = MaterialRepair(ms, mask, "telea")
    for job in repair.jobs:
        from core.engines.base import InpaintRequest, Result
        from core.engines.registry import default_registry

        req = InpaintRequest(image=job.image, mask=repair.hole, options=repair.job_options(job))
        repair.set_result(job, [e for e in default_registry().get("telea").run(req) if isinstance(e, Result)][-1])
    copied = repair.finish()
    for m, old in zip(ms.maps, before):  # a copy: the loaded maps untouched
        assert np.array_equal(m.image.pixels, old)
    tracemalloc.start()
    try:
        done = repair.finish(in_place=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the hole's box, not a map
    for m, new, c, old in zip(ms.maps, done.mapset.maps, copied.mapset.maps, before):
        assert new.image.pixels is m.image.pixels
        assert np.array_equal(new.image.pixels, c.image.pixels)
        assert np.array_equal(new.image.pixels[~mask], old[~mask])


def test_the_stack_is_built_for_the_region_without_whole_float_maps(tmp_path):
    """A 2048 px set: building the repair traces about the region's stack, far from the set's float stack."""
    write_material(tmp_path / "maps", 2048, 2048, seed=1)
    ms = load_map_set(tmp_path / "maps")
    mask = np.zeros((2048, 2048), bool)
    mask[1000:1010, 1000:1030] = True
    tracemalloc.start()
    try:
        repair = MaterialRepair(ms, mask, "internal")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_stack = 2048 * 2048 * repair.plan.n_model * 4
    assert repair.filled.nbytes < whole_stack / 8
    # bands of rows (plan_channels, stack) and imports: tens of MB; the whole stack would be 151 MB
    assert peak < whole_stack / 3, f"{peak / 1e6:.0f} MB traced; the whole stack is {whole_stack / 1e6:.0f} MB"
    np.testing.assert_array_equal(repair.filled, stack(ms, repair.plan)[repair.box.slices()])


def test_convention_scores_in_bands_are_the_whole_maps():
    hf = height_field(300, 90, seed=5)
    for conv in ("gl", "dx"):
        values = nm.encode(normals_from_height(hf, convention=conv))
        whole = nm.convention_scores(values)
        banded = nm.convention_scores_in_bands(lambda y0, y1: values[y0:y1], 300)
        np.testing.assert_allclose(banded, whole, rtol=1e-5)
        assert nm.detect_convention(None, scores=banded) == (conv, True)


def test_a_tall_map_is_judged_on_bands_spread_over_it(monkeypatch):
    monkeypatch.setattr(nm, "SCORE_BAND_ROWS", 16)
    monkeypatch.setattr(nm, "SCORE_BANDS", 5)
    hf = height_field(400, 64, seed=6)
    values = nm.encode(normals_from_height(hf, convention="dx"))
    read = []

    def rows(y0, y1):
        read.append((y0, y1))
        return values[y0:y1]

    assert nm.detect_convention(None, scores=nm.convention_scores_in_bands(rows, 400)) == ("dx", True)
    assert len(read) == 5 and read[0][0] == 0 and read[-1][1] == 400
    assert sum(y1 - y0 for y0, y1 in read) < 200


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_tga_is_written_band_by_band_and_reads_back_exactly(tmp_path, channels):
    from core.io import ImageData
    from core.material.tga import read_tga, write_tga

    px = np.random.default_rng(channels).integers(0, 256, (601, 333, channels), dtype=np.uint8)  # > 2 bands
    back = read_tga(write_tga(tmp_path / "x.tga", ImageData(px)))
    np.testing.assert_array_equal(back.pixels, px)
    assert (tmp_path / "x.tga").stat().st_size == 18 + px.nbytes
