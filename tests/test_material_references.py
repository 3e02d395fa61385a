"""Reference map sets (core.material.references): stacked like the set repaired, map by map, and handed to the
engine with each job's columns; the command line's --reference; bad references are one clear message."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import core.io  # noqa: F401 -- sets the OpenEXR flag before cv2 is imported
from core.cli import main
from core.errors import UserError
from core.material import MaterialRepair, load_map_set
from core.material.references import align, reference_stack
from test_material_fixtures import write_material, write_native


def _mask(h: int = 32, w: int = 32) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[6:18, 4:20] = True
    return m


def test_reference_is_stacked_like_the_set(tmp_path):
    write_material(tmp_path / "mat", seed=0)
    write_material(tmp_path / "ref", 48, 40, seed=5)  # another size is fine
    ms, ref = load_map_set(tmp_path / "mat"), load_map_set(tmp_path / "ref")
    repair = MaterialRepair(ms, _mask(), "telea", references=[])
    stacked = reference_stack(ref, ms, repair.plan)
    assert stacked.shape == (48, 40, repair.plan.n_model)
    # each modelled column holds the reference's own map channel
    for i, (m, r) in enumerate(zip(ms.maps, align(ref, ms))):
        assert m.kind == r.kind
        for c, e in enumerate(repair.plan.entries[i]):
            if e[0] == "model":
                np.testing.assert_array_equal(stacked[:, :, e[1]], r.values()[:, :, c])


def test_reference_normals_in_the_other_convention_are_flipped(tmp_path):
    write_material(tmp_path / "mat", seed=0)
    write_material(tmp_path / "ref", seed=0, names={"normal": "Mat_NormalDX.png", "convention": "dx"})
    ms, ref = load_map_set(tmp_path / "mat"), load_map_set(tmp_path / "ref")
    plan = MaterialRepair(ms, _mask(), "telea").plan
    stacked = reference_stack(ref, ms, plan)
    i = next(k for k, m in enumerate(ms.maps) if m.is_normal)
    green = plan.entries[i][1]
    own = MaterialRepair(ms, _mask(), "telea").plan  # the same set stacked as its own reference
    same = reference_stack(ms, ms, own)
    assert green[0] == "model"
    # the DirectX reference, flipped, says what the OpenGL set says (within 8-bit rounding of each)
    np.testing.assert_allclose(stacked[:, :, green[1]], same[:, :, green[1]], atol=2.5 / 255)


def test_gray_maps_stored_either_way_are_one_thing(tmp_path):
    """A roughness stored as one gray channel serves a set that stores it as gray RGB (and the other way)."""
    write_material(tmp_path / "mat", seed=0)  # roughness: gray in RGB
    ref_dir = tmp_path / "ref"
    write_material(ref_dir, seed=2)
    rough = load_map_set(ref_dir).get("roughness")
    one = rough.image.pixels[:, :, :1].copy()
    (ref_dir / rough.name).unlink()
    write_native(ref_dir / "Mat_Roughness.png", one)
    ms, ref = load_map_set(tmp_path / "mat"), load_map_set(ref_dir)
    assert ref.get("roughness").image.channels == 1 and ms.get("roughness").image.channels == 3
    plan = MaterialRepair(ms, _mask(), "telea").plan
    stacked = reference_stack(ref, ms, plan)
    i = next(k for k, m in enumerate(ms.maps) if m.kind == "roughness")
    col = next(e[1] for e in plan.entries[i] if e[0] == "model")
    np.testing.assert_array_equal(stacked[:, :, col], one[:, :, 0] / np.float32(255))
    back = reference_stack(ms, ref, MaterialRepair(ref, _mask(), "telea").plan)  # RGB gray -> one channel
    assert np.isfinite(back).all()


def test_jobs_get_their_columns_of_the_references(tmp_path):
    write_material(tmp_path / "mat", seed=0)
    write_material(tmp_path / "ref", 40, 40, seed=3)
    ms, ref = load_map_set(tmp_path / "mat"), load_map_set(tmp_path / "ref")
    joint = MaterialRepair(ms, _mask(), "patchmatch", references=[ref])
    (job,) = joint.jobs
    (r,) = joint.job_options(job)["references"]
    assert r.shape == (40, 40, len(job.columns))
    separate = MaterialRepair(ms, _mask(), "internal", separate=True, references=[ref])
    for job in separate.jobs:
        (r,) = separate.job_options(job)["references"]
        np.testing.assert_array_equal(r, joint.reference_stacks[0][:, :, job.columns])


def test_bad_references_are_one_clear_message(tmp_path):
    write_material(tmp_path / "mat", seed=0)
    ms = load_map_set(tmp_path / "mat")
    folder = tmp_path / "partial"
    folder.mkdir()
    write_native(folder / "Other_BaseColor.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(UserError, match="no normal map"):
        MaterialRepair(ms, _mask(), "internal", references=[load_map_set(folder)])
    gray = tmp_path / "gray"
    write_material(gray, seed=1)
    write_native(gray / "Mat_BaseColor.png", np.zeros((32, 32, 1), np.uint8))  # gray where the set has RGB
    with pytest.raises(UserError, match="basecolor map Mat_BaseColor.png has 1 channel"):
        MaterialRepair(ms, _mask(), "internal", references=[load_map_set(gray)])
    with pytest.raises(UserError, match="no reference"):
        MaterialRepair(ms, _mask(), "telea", references=[load_map_set(tmp_path / "mat")])


def test_cli_reference_folder(tmp_path, capsys):
    from core.engines.patchmatch import available

    write_material(tmp_path / "mat", seed=0)
    write_material(tmp_path / "ref", 40, 40, seed=3)
    mask = write_native(tmp_path / "mask.png", (_mask()[:, :, None] * 255).astype(np.uint8))
    engine = "patchmatch" if available() else "internal"
    rc = main(["inpaint-material", str(tmp_path / "mat"), "--mask", str(mask), "--out", str(tmp_path / "out"),
               "--engine", engine, "--reference", str(tmp_path / "ref"), "--train-steps", "5", "--steps", "3",
               "--no-cache", "-q"])
    assert rc == 0
    assert len(list(Path(tmp_path / "out").iterdir())) == 5
    rc = main(["inpaint-material", str(tmp_path / "mat"), "--mask", str(mask), "--out", str(tmp_path / "out2"),
               "--engine", "telea", "--reference", str(tmp_path / "ref"), "-q"])
    assert rc == 2 and "no reference" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()
