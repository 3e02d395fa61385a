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
