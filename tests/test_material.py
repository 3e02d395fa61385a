"""Material mode core (issue 5): name tokens, normal conventions and unit length, exact joint stacking,
merging/saving with names and depths kept, shading, and the joint/separate repair event stream."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import core.io  # noqa: F401 -- sets the OpenEXR flag before cv2 is imported
from core.errors import UserError
from core.io import ImageData, load_image
from core.material import (MaterialPreview, MaterialResult, inpaint_material, load_map_set, merge_maps,
                           plan_channels, render, run_material, save_map_set, shade, shading_inputs, stack,
                           unstack)
from core.material import normals as nm
from core.material.names import convention_hint, detect_kind, tokenize
from core.material.tga import read_tga, write_tga
from test_material_fixtures import height_field, normals_from_height, quantise, write_material, write_native

ROOT = Path(__file__).resolve().parents[1]
# Engine runs in tests: a handful of tiny training steps, three sampling steps (the CPU is shared).
FAST = dict(train_steps=5, steps=3, options={"cache": False, "preview_every": 0, "batch": 2})


# ---- names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kind", [
    ("Rock058_2K_NormalGL.png", "normal"), ("T_Brick_BaseColor.tga", "basecolor"), ("wood_rough.jpg", "roughness"),
    ("Rock058_2K_Color.jpg", "basecolor"), ("Metal055A_1K_Metalness.png", "metallic"),
    ("metal_plate_diff_2k.jpg", "basecolor"),  # the material's name says metal, the map's name says diffuse
    ("rock_nor_dx_2k.png", "normal"), ("rock_disp_2k.exr", "height"), ("Bricks_AmbientOcclusion.png", "ao"),
    ("T_Crate_AO.tga", "ao"), ("crate_base_color.png", "basecolor"), ("crate-albedo.png", "basecolor"),
    ("Wood_Glossiness.png", "gloss"), ("wood_spec.png", "specular"), ("wood_SPC.png", "specular"),
    ("stone_NRM.png", "normal"), ("stone_nrml.png", "normal"), ("stone_norm.png", "normal"),
    ("floor_RGH.png", "roughness"), ("floor_mtl.png", "metallic"), ("floor_Bump.png", "height"),
    ("floor_dsp.tif", "height"), ("floor_Displacement.png", "height"), ("diffuse.png", "basecolor"),
    ("specular.png", "specular"), ("preview.png", "other"), ("T_Wall_ORM.png", "other"),
])
def test_detect_kind_from_realistic_names(name, kind):
    assert detect_kind(name) == kind


def test_tokenize_splits_separators_camel_case_and_digits():
    assert tokenize("Rock058_2K_NormalGL") == ["rock", "058", "2", "k", "normal", "gl"]
    assert tokenize("T_Brick_BaseColor") == ["t", "brick", "base", "color"]
    assert tokenize("AOMap") == ["ao", "map"]


@pytest.mark.parametrize("name, hint", [
    ("Rock058_2K_NormalGL.png", "gl"), ("Rock058_2K_NormalDX.png", "dx"), ("rock_nor_gl_2k.png", "gl"),
    ("T_Wall_Normal_DirectX.png", "dx"), ("wall_normal_OpenGL.png", "gl"), ("wall_normal.png", None),
])
def test_convention_hints_in_names(name, hint):
    assert convention_hint(name) == hint


# ---- normals ----------------------------------------------------------------------------------------------
def test_convention_detected_from_content():
    hf = height_field(64, 64, seed=3)
    gl = nm.encode(normals_from_height(hf, convention="gl"))
    dx = nm.encode(normals_from_height(hf, convention="dx"))
    assert nm.detect_convention(gl) == ("gl", True)
    assert nm.detect_convention(dx) == ("dx", True)


def test_convention_undecidable_for_one_axis_relief_defaults_to_opengl():
    hf = np.tile(np.sin(np.arange(64) / 3.0)[None, :], (64, 1)).astype(np.float32)  # grooves along y only
    assert nm.detect_convention(nm.encode(normals_from_height(hf))) == ("gl", False)


def test_convention_choice_name_then_content_then_user(tmp_path):
    hf = height_field(32, 32, seed=1)
    write_native(tmp_path / "a_diffuse.png", quantise(np.repeat(hf[:, :, None], 3, 2), np.uint8))
    dx_pixels = quantise(nm.encode(normals_from_height(hf, convention="dx")), np.uint8)
    write_native(tmp_path / "a_normal.png", dx_pixels)
    m = load_map_set(tmp_path).get("normal")
    assert (m.convention, m.convention_source) == ("dx", "content")
    m = load_map_set(tmp_path, normal_convention="gl").get("normal")
    assert (m.convention, m.convention_source) == ("gl", "user")
    (tmp_path / "a_normal.png").rename(tmp_path / "a_normal_gl.png")  # the name wins over the content
    m = load_map_set(tmp_path).get("normal")
    assert (m.convention, m.convention_source) == ("gl", "name")


def test_opengl_and_directx_decode_to_the_same_shading_vectors(tmp_path):
    hf = height_field(32, 32, seed=2)
    for conv in ("gl", "dx"):
        d = tmp_path / conv
        d.mkdir()
        write_native(d / f"m_normal_{conv}.png",
                     quantise(nm.encode(normals_from_height(hf, convention=conv)), np.uint16))
    from core.material import normal_vectors
    a = normal_vectors(load_map_set(tmp_path / "gl").maps[0])
    b = normal_vectors(load_map_set(tmp_path / "dx").maps[0])
    assert np.abs(a - b).max() < 1e-3
    assert np.abs(a - normals_from_height(hf)).max() < 1e-3


def test_unit_renormalises_and_keeps_normals_facing_out():
    v = np.array([[0.3, 0.1, 0.5], [0.0, 0.0, 0.0], [0.2, -0.4, -0.9], [2.0, 0.0, 0.0]], np.float32)
    u = nm.unit(v)
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-6)
    assert (u[:, 2] > 0).all()
    assert np.allclose(u[1], [0, 0, 1])


def test_quantise_unit_beats_plain_rounding_at_8_bit():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20000, 3))
    v[:, 2] = np.abs(v[:, 2]) + 0.2
    v = nm.unit(v)
    best = nm.quantise_unit(v, 255) / 255 * 2 - 1
    plain = np.rint((v * 0.5 + 0.5) * 255) / 255 * 2 - 1
    assert nm.length_error(best) < 0.004 < nm.length_error(plain)
    assert np.abs(np.linalg.norm(best, axis=1) - 1).mean() < 1e-3
    assert np.abs(best - v).max() <= 2.0 / 255 + 1e-6  # within one code step of the exact value


@pytest.mark.parametrize("dtype, tol", [(np.uint8, 0.004), (np.uint16, 1e-4)])
def test_merged_normals_are_unit_length_in_the_hole_and_exact_outside(tmp_path, dtype, tol):
    hf = height_field(32, 32)
    px = quantise(nm.encode(normals_from_height(hf)), dtype)
    write_native(tmp_path / "x_normal.png", px)
    ms = load_map_set(tmp_path)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:26] = True
    garbage = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)  # far from unit length
    out = merge_maps(ms, [garbage], mask).maps[0].image
    assert out.dtype == dtype
    top = np.iinfo(dtype).max
    assert nm.length_error(out.pixels[mask].astype(np.float64) / top * 2 - 1) < tol
    assert np.array_equal(out.pixels[~mask], px[~mask])


# ---- stacking -----------------------------------------------------------------------------------------------
def test_joint_stacking_round_trip_is_exact(tmp_path):
    write_material(tmp_path)
    rng = np.random.default_rng(5)
    write_native(tmp_path / "Mat_Mystery.png", rng.integers(0, 65536, (32, 32, 3), dtype=np.uint16))  # generic map
    ms = load_map_set(tmp_path)
    assert [m.kind for m in ms.maps] == ["basecolor", "normal", "roughness", "metallic", "height", "other"]
    plan = plan_channels(ms)
    # base 3 + normal 3 + roughness (gray saved as RGB) 1 + metallic (alpha opaque) 1 + height 1 + generic 3
    assert plan.n_model == 12
    st = stack(ms, plan)
    assert st.shape == (32, 32, 12) and st.dtype == np.float32
    for m, back in zip(ms.maps, unstack(st, ms, plan)):
        assert np.array_equal(back, m.values()), m.name
    assert plan.entries[2][1] == ("copy", 0) and plan.entries[3][3] == ("const", 1.0)


def test_channels_constant_on_known_pixels_are_filled_with_the_constant(tmp_path):
    spec = np.full((32, 32, 3), 11, np.uint8)
    spec[10:20, 10:20] = (200, 30, 90)  # a logo on a uniform specular map
    write_native(tmp_path / "m_specular.png", spec)
    write_native(tmp_path / "m_diffuse.png", quantise(np.random.default_rng(0).uniform(0, 1, (32, 32, 3)), np.uint8))
    ms = load_map_set(tmp_path)
    mask = np.zeros((32, 32), bool)
    mask[9:21, 9:21] = True
    result = run_material(ms, mask, "telea")
    assert (result.mapset.get("specular").image.pixels == 11).all()
    assert result.info["channels"] == 3  # only the base colour needed a model


def test_mixed_sizes_no_recognisable_map_and_unreadable_files_are_user_errors(tmp_path):
    write_material(tmp_path / "ok")
    write_native(tmp_path / "ok" / "Mat_AO.png", np.zeros((16, 32, 1), np.uint8))
    with pytest.raises(UserError, match="same size"):
        load_map_set(tmp_path / "ok")
    (tmp_path / "none").mkdir()
    write_native(tmp_path / "none" / "photo.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="no recognisable map"):
        load_map_set(tmp_path / "none")
    write_material(tmp_path / "bad")
    (tmp_path / "bad" / "Mat_Roughness.png").write_bytes(b"not a png at all")
    with pytest.raises(UserError, match="cannot read"):
        load_map_set(tmp_path / "bad")


# ---- saving ----------------------------------------------------------------------------------------------
def test_tga_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for c in (1, 3, 4):
        px = rng.integers(0, 256, (5, 7, c), dtype=np.uint8)
        write_tga(tmp_path / f"a{c}.tga", ImageData(px))
        assert np.array_equal(read_tga(tmp_path / f"a{c}.tga").pixels, px)
    (tmp_path / "bad.tga").write_bytes(b"\x00" * 10)
    with pytest.raises(UserError):
        read_tga(tmp_path / "bad.tga")


def test_saved_set_keeps_names_formats_depths_and_known_pixels(tmp_path):
    src = tmp_path / "src"
    written = write_material(src, names={"basecolor": "T_Mat_BaseColor.tga", "height": "T_Mat_Height.tif"})
    ms = load_map_set(src)
    mask = np.zeros((32, 32), bool)
    mask[5:15, 12:30] = True
    result = run_material(ms, mask, "internal", **FAST)
    paths = save_map_set(result.mapset, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(written)
    for name, px in written.items():
        out = read_tga(tmp_path / "out" / name) if name.endswith(".tga") else load_image(tmp_path / "out" / name)
        assert out.pixels.dtype == px.dtype and out.pixels.shape == px.shape, name
        assert np.array_equal(out.pixels[~mask], px[~mask]), name
    assert not np.array_equal(load_image(tmp_path / "out" / "Mat_NormalGL.png").pixels, written["Mat_NormalGL.png"])


# ---- the repair event stream -------------------------------------------------------------------------------------
def _set_with_box(tmp_path) -> tuple:
    """The test material written to ``tmp_path`` and loaded, with a 12 x 16 px box hole."""
    write_material(tmp_path)
    mask = np.zeros((32, 32), bool)
    mask[6:18, 4:20] = True
    return load_map_set(tmp_path), mask


def test_joint_and_separate_repairs_stream_previews_and_keep_normals_unit(tmp_path):
    ms, mask = _set_with_box(tmp_path)
    events = list(inpaint_material(ms, mask, "internal", **FAST))
    previews = [e for e in events if isinstance(e, MaterialPreview)]
    assert previews and set(previews[-1].maps) == set(range(len(ms.maps)))  # joint: every map at once
    assert previews[-1].maps[1].shape[2] == 3
    result = events[-1]
    assert isinstance(result, MaterialResult) and result.info["mode"] == "joint" and len(result.info["runs"]) == 1
    n = result.mapset.get("normal").image.pixels[mask].astype(np.float64) / 255 * 2 - 1
    assert nm.length_error(n) < 0.004
    sep = run_material(ms, mask, "internal", separate=True, **FAST)
    assert sep.info["mode"] == "separate" and len(sep.info["runs"]) == 5  # one run per map
    for a, b in zip(sep.mapset.maps, ms.maps):
        assert np.array_equal(a.image.pixels[~mask], b.image.pixels[~mask])


def test_seam_harmonisation_trims_normal_maps_and_callers_can_override(tmp_path, monkeypatch):
    from core.engines.registry import default_registry
    from core.material import MaterialRepair

    ms, mask = _set_with_box(tmp_path)
    joint = MaterialRepair(ms, mask, "internal")
    job = joint.jobs[0]
    normal_cols = set(joint.plan.model_channels(next(i for i, m in enumerate(ms.maps) if m.is_normal)))
    chosen = joint.engine_options(job)["seam_channels"]
    assert chosen and not normal_cols & {job.columns[k] for k in chosen}
    assert len(chosen) == len(job.columns) - len(normal_cols)
    # the normal vectors are harmonised apart, with trimmed means
    assert {job.columns[k] for k in joint.engine_options(job)["seam_trimmed"]} == normal_cols
    sep = MaterialRepair(ms, mask, "internal", separate=True)
    for j in sep.jobs:
        is_normal = ms.maps[j.map_indices[0]].is_normal
        everything = list(range(len(j.columns)))
        assert sep.engine_options(j)["seam_channels"] == ([] if is_normal else everything)
        assert sep.engine_options(j)["seam_trimmed"] == (everything if is_normal else [])
    assert MaterialRepair(ms, mask, "telea").engine_options(job) == {}  # engines that do not harmonise
    assert "recipe" not in joint.engine_options(job)  # the engine picks by the hole, as for an image
    # what the engine receives: the set's channels, unless the caller chose
    seen = []
    engine = default_registry().get("internal")
    real_run = type(engine).run
    monkeypatch.setattr(type(engine), "run", lambda self, req: (seen.append(dict(req.options)), real_run(self, req))[1])
    run_material(ms, mask, "internal", **FAST)
    run_material(ms, mask, "internal", **{**FAST, "options": {**FAST["options"], "seam_channels": [0]}})
    assert seen[0]["seam_channels"] == chosen and seen[1]["seam_channels"] == [0]


def test_joint_repair_hands_the_engine_its_maps(tmp_path):
    """Engines that match map by map (PatchMatch, and the internal engine for its PatchMatch start) get the joint
    stack's maps as groups of its columns (every modelled column in exactly one group, a map's columns together);
    a separate repair, one map per run, gets none to use, and engines without the capability get no such option."""
    from core.engines.patchmatch import available, checked_map_groups
    from core.material import MaterialRepair
    from core.material.inpaint import MIN_MAP_WEIGHT

    if not available():
        pytest.skip("PatchMatch library not installed")
    ms, mask = _set_with_box(tmp_path)
    for engine in ("patchmatch", "internal"):
        joint = MaterialRepair(ms, mask, engine)
        job = joint.jobs[0]
        groups = joint.engine_options(job)["map_groups"]
        per_map = [sorted(job.columns.index(c) for c in joint.plan.model_channels(i)) for i in range(len(ms.maps))]
        assert sorted(map(sorted, groups)) == sorted(g for g in per_map if g)
        assert sorted(k for g in groups for k in g) == list(range(len(job.columns)))
        assert len(checked_map_groups(groups, len(job.columns))) == len(groups) >= 2
        # one weight per map, relative to the most visible map's, none below the floor
        weights = joint.engine_options(job)["map_weights"]
        assert len(weights) == len(groups) and max(weights) == 1.0 and min(weights) >= MIN_MAP_WEIGHT
        sep = MaterialRepair(ms, mask, engine, separate=True)
        for j in sep.jobs:
            assert checked_map_groups(sep.engine_options(j)["map_groups"], len(j.columns)) == ()
            assert "map_weights" not in sep.engine_options(j)
    assert "map_groups" not in MaterialRepair(ms, mask, "telea").engine_options(job)


def test_closing_the_stream_stops_the_work(tmp_path):
    ms, mask = _set_with_box(tmp_path)
    gen = inpaint_material(ms, mask, "internal", train_steps=10_000, steps=3,
                           options={"cache": False, "batch": 2})
    for ev in gen:
        if getattr(ev, "stage", "") == "train":
            break
    t0 = time.monotonic()
    gen.close()  # 10,000 steps would take minutes: closing must end the run at once
    assert time.monotonic() - t0 < 10
    with pytest.raises(StopIteration):
        next(gen)


# ---- shading -----------------------------------------------------------------------------------------------
def test_shading_is_vectorised_and_lights_the_slopes_facing_the_light(tmp_path):
    write_material(tmp_path, h=64, w=64)
    inp = shading_inputs(load_map_set(tmp_path))
    from_right = shade(inp, (1.0, 0.0, 0.3))
    from_left = shade(inp, (-1.0, 0.0, 0.3))
    assert from_right.shape == (64, 64, 3) and from_right.dtype == np.float32 and np.isfinite(from_right).all()
    facing_right = inp.normal[:, :, 0] > 0.3
    assert from_right[facing_right].mean() > from_left[facing_right].mean()
    img = render(inp, (0.3, 0.3, 0.9))
    assert img.min() >= 0 and img.max() <= 1
    big = type(inp)(*(np.tile(a, (8, 8, 1)[:a.ndim]) if a is not None else None
                      for a in (inp.diffuse, inp.f0, inp.normal, inp.roughness, inp.ao)))
    t0 = time.perf_counter()
    shade(big, (0.4, 0.2, 0.9))  # 512 x 512
    assert time.perf_counter() - t0 < 1.0  # interactive (tens of ms on the dev CPU)


def test_flat_white_lambertian_matches_the_closed_form():
    h = w = 4
    from core.material.shading import ShadingInputs
    inp = ShadingInputs(diffuse=np.ones((h, w, 3), np.float32), f0=np.zeros((h, w, 3), np.float32),
                        normal=np.dstack([np.zeros((h, w)), np.zeros((h, w)), np.ones((h, w))]).astype(np.float32),
                        roughness=np.full((h, w), 0.5, np.float32))
    out = shade(inp, (0.0, 0.6, 0.8), intensity=1.0, ambient=0.0)
    assert np.allclose(out, 0.8 / np.pi, atol=1e-5)


def test_core_material_never_imports_qt():
    code = ("import sys, core.material, core.material_cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', 'superqt')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
