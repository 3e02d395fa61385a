"""`inpaint-material` on the command line: every map written under its own name and depth; bad input ->
exit 2, one `error:` line, nothing written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import core.io  # noqa: F401 -- sets the OpenEXR flag before cv2 is imported
from core.cli import main
from core.io import load_image
from test_material_fixtures import write_material, write_native

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--train-steps", "5", "--steps", "3", "--no-cache", "-q"]


def _mask(path: Path, h: int = 32, w: int = 32) -> Path:
    m = np.zeros((h, w, 1), np.uint8)
    m[6:18, 4:20] = 255
    return write_native(path, m)


def test_cli_writes_every_map_with_its_name_and_depth(tmp_path, capsys):
    written = write_material(tmp_path / "mat")
    mask = _mask(tmp_path / "mat" / "mask.png")  # the mask may live in the folder: it is not a map
    rc = main(["inpaint-material", str(tmp_path / "mat"), "--mask", str(mask), "--out", str(tmp_path / "out"),
               "--engine", "telea", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.strip() == str(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(written)
    hole = np.zeros((32, 32), bool)
    hole[6:18, 4:20] = True
    for name, px in written.items():
        got = load_image(tmp_path / "out" / name).pixels
        assert got.dtype == px.dtype and got.shape == px.shape, name
        assert np.array_equal(got[~hole], px[~hole]), name


def test_cli_leaves_normal_maps_out_of_seam_harmonisation_unless_told(tmp_path, capsys, monkeypatch):
    from core.engines.internal import InternalEngine

    seen = []
    real_run = InternalEngine.run
    monkeypatch.setattr(InternalEngine, "run",
                        lambda self, req: (seen.append(dict(req.options)), real_run(self, req))[1])
    write_material(tmp_path / "mat")
    mask = _mask(tmp_path / "mask.png")
    for extra in ([], ["--seam", "steps"]):
        rc = main(["inpaint-material", str(tmp_path / "mat"), "--mask", str(mask),
                   "--out", str(tmp_path / f"out{len(extra)}"),
                   "--engine", "internal", "--train-steps", "1", "--steps", "1", "--no-cache", "-q", *extra])
        assert rc == 0, capsys.readouterr().err
    # the test material stacks base colour (3), normal (3) and three one-channel maps: 9 modelled channels
    assert [o.get("seam") for o in seen] == [None, "steps"]
    for o in seen:
        assert o["seam_channels"] == [0, 1, 2, 6, 7, 8]


def test_cli_separate_mode(tmp_path, capsys):
    write_material(tmp_path / "mat")
    mask = _mask(tmp_path / "mask.png")
    rc = main(["inpaint-material", str(tmp_path / "mat"), "--mask", str(mask), "--out", str(tmp_path / "out"),
               "--engine", "internal", "--separate", "--train-steps", "1", "--steps", "2", "--no-cache", "-q"])
    assert rc == 0, capsys.readouterr().err
    assert len(list((tmp_path / "out").iterdir())) == 5


def test_main_py_end_to_end_with_the_internal_engine(tmp_path):
    write_material(tmp_path / "mat", names={"normal": "Mat_Normal_DirectX.png"})
    mask = _mask(tmp_path / "mask.png")
    proc = subprocess.run([sys.executable, "main.py", "inpaint-material", str(tmp_path / "mat"), "--mask", str(mask),
                           "--out", str(tmp_path / "out"), "--preset", "fast", "--seed", "3", *TINY],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "out")
    assert (tmp_path / "out" / "Mat_Normal_DirectX.png").is_file()


def _bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good = tmp_path / "good"
    write_material(good)
    mask = _mask(tmp_path / "mask.png")
    mixed = tmp_path / "mixed"
    write_material(mixed)
    write_native(mixed / "Mat_AO.png", np.zeros((16, 16, 1), np.uint8))
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    write_native(unknown / "holiday.png", np.zeros((32, 32, 3), np.uint8))
    corrupt = tmp_path / "corrupt"
    write_material(corrupt)
    (corrupt / "Mat_Roughness.png").write_bytes(b"\x89PNG but not really")
    empty_mask = write_native(tmp_path / "empty.png", np.zeros((32, 32, 1), np.uint8))
    out = str(tmp_path / "out")
    return {
        "mixed sizes": ([str(mixed), "--mask", str(mask), "--out", out], "same size"),
        "no recognisable map": ([str(unknown), "--mask", str(mask), "--out", out], "no recognisable map"),
        "unreadable map": ([str(corrupt), "--mask", str(mask), "--out", out], "cannot read"),
        "wrong-size mask": ([str(good), "--mask", str(_mask(tmp_path / "big.png", 40, 40)), "--out", out], "same size"),
        "empty mask": ([str(good), "--mask", str(empty_mask), "--out", out], "mask is empty"),
        "missing mask": ([str(good), "--mask", str(tmp_path / "nope.png"), "--out", out], "no such file"),
        "missing folder": ([str(tmp_path / "nowhere"), "--mask", str(mask), "--out", out], "no such folder"),
        "unknown engine": ([str(good), "--mask", str(mask), "--out", out, "--engine", "magic"], "unknown engine"),
        "out is the input": ([str(good), "--mask", str(mask), "--out", str(good)], "input folder"),
        "out parent missing": ([str(good), "--mask", str(mask), "--out", str(tmp_path / "a" / "b")], "does not exist"),
    }


CASES = ["mixed sizes", "no recognisable map", "unreadable map", "wrong-size mask", "empty mask", "missing mask",
         "missing folder", "unknown engine", "out is the input", "out parent missing"]


@pytest.mark.parametrize("case", CASES)
def test_cli_bad_input_exits_2_with_one_error_line_and_writes_nothing(tmp_path, capsys, case):
    argv, expected = _bad_cases(tmp_path)[case]
    before = sorted(p for p in tmp_path.rglob("*"))
    rc = main(["inpaint-material", *argv, "--engine", "telea", "-q"] if "--engine" not in argv
              else ["inpaint-material", *argv, "-q"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written, no output folder created


# ---- several sets in one call -------------------------------------------------------------------------------
HOLE = np.zeros((32, 32), bool)
HOLE[6:18, 4:20] = True


def _assert_repaired(folder: Path, written: dict) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(written)
    for name, px in written.items():
        got = load_image(folder / name).pixels
        assert got.dtype == px.dtype and got.shape == px.shape, name
        assert np.array_equal(got[~HOLE], px[~HOLE]), name


def test_several_sets_bad_one_reported_and_skipped_the_others_written(tmp_path, capsys):
    lib = tmp_path / "library"
    brick = write_material(lib / "Brick", seed=1)
    wood = write_material(lib / "Wood", seed=2)
    write_material(lib / "Broken", seed=3)
    (lib / "Broken" / "Mat_Roughness.png").write_bytes(b"\x89PNG but not really")
    mask = _mask(tmp_path / "mask.png")
    out = tmp_path / "out"
    rc = main(["inpaint-material", str(lib / "Brick"), str(lib / "Broken"), str(lib / "Wood"), "--mask", str(mask),
               "--out", str(out), "--engine", "telea"])  # not quiet: the bar and the summary show
    stdout, err = capsys.readouterr()
    assert rc == 1  # EXIT_FAIL: some set failed, the others were written
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: Broken: ") and "cannot read" in errors[0], err
    assert "3/3" in err and "2 of 3 sets written; failed: Broken" in err  # one bar over the sets
    assert sorted(p.name for p in out.iterdir()) == ["Brick", "Wood"]  # no Broken, no staging leftovers
    _assert_repaired(out / "Brick", brick)
    _assert_repaired(out / "Wood", wood)
    lines = stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{out / 'Brick'}: 5 maps (") and "Mat_NormalGL.png" in lines[0]
    assert lines[1].startswith(f"{out / 'Wood'}: 5 maps (")


def test_several_sets_with_a_mask_in_each_folder(tmp_path, capsys):
    lib = tmp_path / "library"
    good = write_material(lib / "Good")
    _mask(lib / "Good" / "mask.png")  # not a map: not repaired, not written
    write_material(lib / "NoMask")
    write_material(lib / "BigMask")
    _mask(lib / "BigMask" / "mask.png", 40, 40)
    out = tmp_path / "out"
    rc = main(["inpaint-material", *(str(lib / n) for n in ("Good", "NoMask", "BigMask")), "--mask-name", "mask.png",
               "--out", str(out), "--engine", "telea", "-q"])
    stdout, err = capsys.readouterr()
    assert rc == 1
    errors = err.strip().splitlines()
    assert len(errors) == 2, err
    assert errors[0].startswith("error: NoMask: ") and "no such file" in errors[0]
    assert errors[1].startswith("error: BigMask: ") and "same size" in errors[1]
    assert [p.name for p in out.iterdir()] == ["Good"]
    _assert_repaired(out / "Good", good)
    assert stdout.strip().splitlines()[0].startswith(str(out / "Good"))


def test_one_mask_for_every_set_fails_only_the_set_of_another_size(tmp_path, capsys):
    write_material(tmp_path / "Small")
    write_material(tmp_path / "Large", h=48, w=48)
    mask = _mask(tmp_path / "mask.png")
    out = tmp_path / "out"
    rc = main(["inpaint-material", str(tmp_path / "Small"), str(tmp_path / "Large"), "--mask", str(mask),
               "--out", str(out), "--engine", "telea", "-q"])
    _, err = capsys.readouterr()
    assert rc == 1
    assert err.startswith("error: Large: ") and "same size" in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["Small"]


def test_a_set_that_fails_while_writing_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    import core.material.mapset as mapset_module
    from core.errors import UserError

    first = write_material(tmp_path / "First", seed=1)
    write_material(tmp_path / "Second", seed=2)
    mask = _mask(tmp_path / "mask.png")
    out = tmp_path / "out"
    argv = ["inpaint-material", str(tmp_path / "First"), str(tmp_path / "Second"), "--mask", str(mask),
            "--out", str(out), "--engine", "telea", "-q"]
    real_save, calls = mapset_module.save_image, []

    def save_failing_on_the_third_map(path, img):
        calls.append(path)
        if len(calls) == 3:
            raise UserError(f"cannot write {path}: No space left on device")
        return real_save(path, img)

    monkeypatch.setattr(mapset_module, "save_image", save_failing_on_the_third_map)
    assert main(argv) == 1
    _, err = capsys.readouterr()
    assert err.startswith("error: First: cannot write") and "No space left" in err
    assert [p.name for p in out.iterdir()] == ["Second"]  # two maps of First were written, then taken away
    # into an existing folder (a second run): a failure leaves the earlier output as it was
    monkeypatch.setattr(mapset_module, "save_image", real_save)
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in (out / "First").iterdir()}
    monkeypatch.setattr(mapset_module, "save_image", save_failing_on_the_third_map)
    calls.clear()
    assert main(argv) == 1
    assert {p.name: p.read_bytes() for p in (out / "First").iterdir()} == before  # no leftovers either
    _assert_repaired(out / "First", first)
    capsys.readouterr()


def _bad_calls(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    write_material(tmp_path / "a" / "Brick")
    write_material(tmp_path / "b" / "Brick")
    write_material(tmp_path / "Wood")
    mask = str(_mask(tmp_path / "mask.png"))
    sets = [str(tmp_path / "a" / "Brick"), str(tmp_path / "Wood")]
    out = str(tmp_path / "out")
    return {
        "no mask": ([*sets, "--out", out], "give the mask"),
        "both masks": ([*sets, "--mask", mask, "--mask-name", "mask.png", "--out", out], "not allowed with"),
        "missing mask": ([*sets, "--mask", str(tmp_path / "nope.png"), "--out", out], "no such file"),
        "same names": ([*sets, str(tmp_path / "b" / "Brick"), "--mask", mask, "--out", out], "two sets are named"),
        "unknown engine": ([*sets, "--mask", mask, "--out", out, "--engine", "magic"], "unknown engine"),
        "out parent missing": ([*sets, "--mask", mask, "--out", str(tmp_path / "x" / "y")], "does not exist"),
        "out is a file": ([*sets, "--mask", mask, "--out", mask], "not a folder"),
    }


@pytest.mark.parametrize("case", ["no mask", "both masks", "missing mask", "same names", "unknown engine",
                                  "out parent missing", "out is a file"])
def test_several_sets_bad_call_exits_2_and_writes_nothing(tmp_path, capsys, case):
    argv, expected = _bad_calls(tmp_path)[case]
    before = sorted(p for p in tmp_path.rglob("*"))
    rc = main(["inpaint-material", *argv, "-q"] + ([] if "--engine" in argv else ["--engine", "telea"]))
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_one_folder_with_its_mask_inside_by_name(tmp_path, capsys):
    written = write_material(tmp_path / "mat")
    _mask(tmp_path / "mat" / "scratch.png")
    rc = main(["inpaint-material", str(tmp_path / "mat"), "--mask-name", "scratch.png", "--out", str(tmp_path / "o"),
               "--engine", "telea", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.strip() == str(tmp_path / "o")  # one folder: --out is the output folder, as before
    _assert_repaired(tmp_path / "o", written)
