"""bench.material's figures and verdicts on tiny synthetic arrays: no engine runs, no shared data."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

import core.io  # noqa: F401 -- sets the OpenEXR flag before cv2 is imported
from bench import material as bm
from core.io import ImageData
from core.material import MapSet, MaterialMap, ShadingInputs
from core.material import normals as nm
from test_material_fixtures import height_field, normals_from_height, quantise

H = W = 48


@pytest.fixture(scope="module")
def relief():
    """Unit normals of round bumps (3-8 px radius, steep) and a box hole in the middle."""
    normals = normals_from_height(height_field(H, W, 0), strength=8.0)
    mask = np.zeros((H, W), bool)
    mask[14:34, 12:36] = True
    return normals, mask


def inside(mask: np.ndarray, fill: np.ndarray, outside: np.ndarray) -> np.ndarray:
    return np.where(mask[:, :, None], fill, outside).astype(np.float32)


def shading(normals: np.ndarray, albedo: float | np.ndarray = 0.3) -> ShadingInputs:
    diffuse = np.broadcast_to(np.asarray(albedo, np.float32), (H, W, 3)).copy() if np.ndim(albedo) < 3 else albedo
    return ShadingInputs(diffuse.astype(np.float32), np.full((H, W, 3), 0.04, np.float32),
                         normals.astype(np.float32), np.full((H, W), 0.6, np.float32))


def test_the_truth_scores_zero_angle_zero_swd_and_exact_psnr(relief):
    normals, mask = relief
    truth = bm.renders(shading(normals))
    assert len(truth) == 4
    assert bm.normal_angle_error(normals, normals, mask) == 0.0
    assert bm.mean_swd(truth, truth, mask) == 0.0
    assert bm.pooled_psnr(truth, truth, mask) >= 100 and bm.pooled_psnr(truth, truth, mask, 3.0) >= 100


def test_a_flattened_normal_map_is_further_off_than_the_truth_shifted_by_two_px(relief):
    normals, mask = relief
    shifted = inside(mask, np.roll(normals, 2, axis=1), normals)
    flat = inside(mask, np.array([0.0, 0.0, 1.0]), normals)
    near, far = bm.normal_angle_error(shifted, normals, mask), bm.normal_angle_error(flat, normals, mask)
    assert 0.5 < near and far > 2 * near
    # the same ranking in the texture of a low light's render: a flat patch has none of the relief's shading
    truth = bm.renders(shading(normals))[:1]
    assert bm.mean_swd(bm.renders(shading(flat))[:1], truth, mask) > 2 * bm.mean_swd(
        bm.renders(shading(shifted))[:1], truth, mask)


def test_angle_error_is_measured_after_the_blur_and_renormalisation(relief):
    normals, mask = relief
    rng = np.random.default_rng(0)
    tilt = inside(mask, normals + 0.25 * rng.standard_normal((H, W, 3)), normals)  # 1 px noise, zero mean
    tilt = tilt / np.linalg.norm(tilt, axis=-1, keepdims=True)
    raw = np.degrees(np.arccos(np.clip(np.sum(tilt * normals, axis=-1), -1, 1)))[mask].mean()
    assert bm.normal_angle_error(tilt, normals, mask) < 0.3 * raw  # the grain averages out
    assert bm.normal_angle_error(tilt, normals, mask, sigma=0.3) > 0.8 * raw


def test_render_lowpass_psnr_ignores_one_px_grain_but_not_an_albedo_shift(relief):
    normals, mask = relief
    yy, xx = np.mgrid[0:H, 0:W]
    checker = np.where((yy + xx) % 2 == 0, 1.0, -1.0)[:, :, None]
    truth = bm.renders(shading(normals, 0.3))
    grain = bm.renders(shading(normals, inside(mask, 0.3 * (1 + 0.3 * checker), np.full((H, W, 3), 0.3))))
    shift = bm.renders(shading(normals, inside(mask, np.full((H, W, 3), 0.39), np.full((H, W, 3), 0.3))))
    assert bm.pooled_psnr(grain, truth, mask) < 26  # the plain render PSNR charges the grain...
    assert bm.pooled_psnr(grain, truth, mask, 3.0) > 40  # ...the low-pass one does not
    assert bm.pooled_psnr(shift, truth, mask, 3.0) < 30  # a 30 % brighter albedo it does


def material(normals: np.ndarray, base: np.ndarray, rough: np.ndarray) -> MapSet:
    """An 8-bit base colour / OpenGL normal / gray roughness set in memory."""
    return MapSet([MaterialMap("m_basecolor.png", "basecolor", ImageData(quantise(base, np.uint8))),
                   MaterialMap("m_normal.png", "normal", ImageData(quantise(nm.encode(normals), np.uint8)),
                               convention="gl"),
                   MaterialMap("m_roughness.png", "roughness", ImageData(quantise(rough[:, :, None], np.uint8)))])


def with_map(ms: MapSet, k: int, pixels: np.ndarray) -> MapSet:
    maps = list(ms.maps)
    maps[k] = replace(maps[k], image=ImageData(pixels))
    return MapSet(maps)


def test_case_scores_per_map_and_the_known_pixel_check(relief):
    normals, mask = relief
    hf = height_field(H, W, 0)
    truth = material(normals, np.stack([0.3 + 0.5 * hf, 0.2 + 0.3 * hf, 0.1 + 0.0 * hf], -1), 0.8 - 0.5 * hf)
    truth_renders = bm.renders(truth)
    same = bm.case_scores(truth, truth_renders, truth, truth_renders, mask)
    assert same["render_swd"] == 0.0 and same["normal_angle"] == 0.0 and same["known_exact"]
    assert set(same["maps"]) == {"base", "normal", "rough"}
    assert all(v["swd"] == 0.0 and v["lowpass"] >= 100 for v in same["maps"].values())

    rough = truth.maps[2].image.pixels.copy()
    rough[mask] = np.clip(rough[mask].astype(int) + 40, 0, 255)  # a roughness regression in the hole only
    worse = with_map(truth, 2, rough)
    assert bm.known_exact(worse, truth, mask)
    scores = bm.map_scores(worse, truth, mask)
    assert scores["rough"]["lowpass"] < 30 and scores["rough"]["swd"] > 0.1
    assert scores["base"]["lowpass"] >= 100 and scores["normal"]["swd"] == 0.0  # the other maps untouched

    rough[0, 0] ^= 1  # one known pixel off by one code
    assert not bm.known_exact(with_map(truth, 2, rough), truth, mask)


def test_unit_length_check_at_8_bits(relief):
    normals, mask = relief
    ms = material(normals, np.full((H, W, 3), 0.5), np.full((H, W), 0.5))
    v = np.random.default_rng(0).normal(size=(H, W, 3))
    v[..., 2] = np.abs(v[..., 2]) + 0.2
    v = nm.unit(v)
    tol = bm.unit_tolerance(ms)
    assert tol == 0.0035
    best = with_map(ms, 1, nm.quantise_unit(v, 255).astype(np.uint8))
    plain = with_map(ms, 1, np.rint((v * 0.5 + 0.5) * 255).astype(np.uint8))
    assert bm.normal_unit_error(best, mask) <= tol < bm.normal_unit_error(plain, mask)


def records(swd: dict, lowpass: dict, unit_err: float = 0.003, exact: bool = True) -> list[dict]:
    """Fake records: swd / lowpass map method -> one value per material (a single mask each)."""
    out = []
    for method in swd:
        for i, (s, lp) in enumerate(zip(swd[method], lowpass[method])):
            out.append({"material": f"m{i}", "seed": 0, "method": method, "render_swd": s, "render_lowpass": lp,
                        "normal_unit_err": unit_err, "unit_tol": 0.0035, "known_exact": exact})
    return out


def test_verdicts_pass_and_fail_on_the_targets():
    j, p, t = bm.JOINT, bm.PER_MAP, bm.TELEA
    swd = {j: [0.1, 0.1, 0.1, 0.1, 0.5], p: [0.2] * 5, t: [0.3] * 5}  # joint lowest on 4 of 5
    lowpass = {j: [30.0, 30.0, 30.0, 30.0, 20.0], p: [29.0] * 5, t: [30.0] * 5}  # joint 2 dB below Telea on mean
    passed = [ok for _, ok in bm.verdicts(records(swd, lowpass))]
    assert passed == [True, False, True, True]

    swd[j][3] = 0.25  # joint now lowest on 3 of 5, and worse than per-map there
    lowpass[j][4] = 29.0  # mean 29.8 dB: within 0.5 dB of Telea's 30
    passed = [ok for _, ok in bm.verdicts(records(swd, lowpass))]
    assert passed == [False, True, False, True]

    lowpass[j][4] = 26.5  # mean 29.3 dB: 0.7 dB below Telea's
    assert [ok for _, ok in bm.verdicts(records(swd, lowpass))][1] is False
    assert [ok for _, ok in bm.verdicts(records(swd, lowpass, unit_err=0.004))][3] is False
    assert [ok for _, ok in bm.verdicts(records(swd, lowpass, exact=False))][3] is False
    lines = bm.verdicts(records({j: swd[j]}, {j: lowpass[j]}))  # joint alone: nothing to compare it with
    assert [ok for _, ok in lines] == [None, None, None, True]


def test_tables_and_verdicts_reprint_from_a_saved_run(tmp_path, capsys):
    recs = records({bm.JOINT: [0.2, 0.3], bm.TELEA: [0.25, 0.25]}, {bm.JOINT: [30.0, 29.0], bm.TELEA: [30.0, 30.0]})
    for r in recs:
        r.update(render_psnr=25.0, render_sharpness=0.5, normal_angle=3.0, seconds=1.0,
                 maps={"base": {"psnr": 30.0, "lowpass": 35.0, "swd": 0.1},
                       "spec": {"psnr": 120.0, "lowpass": 120.0, "swd": 0.0}})
    recs[0]["maps"] = {"base": {"psnr": 120.0, "lowpass": 120.0, "swd": 0.0}, "spec": recs[0]["maps"]["spec"]}
    path = tmp_path / "run.json"
    path.write_text(bm.json.dumps(recs))
    assert bm.main(["--tables-from", str(path)]) == 0
    out = re.sub(" +", " ", capsys.readouterr().out)
    assert "| mean of 2 cases | joint internal | 25.000 | 29.500 | 0.250 | 3.000 |" in out
    # per map: m0's base colour was uniform (filled exactly): 'exact' there, left out of the mean of the cases
    assert "| m0 | joint internal | exact | 0.000 | exact | 0.000 |" in out
    assert "| mean of 2 cases | joint internal | 35.000 | 0.100 | exact | 0.000 |" in out
    assert "FAIL (1) joint has the lowest render SWD of joint / telea per map on 1/2" in out


def test_tables_merge_saved_runs_a_later_case_replacing_an_earlier(tmp_path):
    old = records({bm.JOINT: [0.2, 0.3], bm.TELEA: [0.25, 0.25]}, {bm.JOINT: [30.0, 29.0], bm.TELEA: [30.0, 30.0]})
    new = [dict(r, render_swd=0.1) for r in old if r["method"] == bm.JOINT][:1]  # joint, first case, run again
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(bm.json.dumps(old))
    b.write_text(bm.json.dumps(new))
    merged = bm.merged_records([str(a), str(b)])
    assert len(merged) == len(old)
    joint = [r["render_swd"] for r in merged if r["method"] == bm.JOINT]
    assert sorted(joint) == [0.1, 0.3]
