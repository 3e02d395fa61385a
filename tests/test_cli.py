"""The command-line contract of DESIGN.md.

End to end, ``python main.py ...`` in a subprocess: the success paths (telea, internal) and three bad
inputs (a corrupt image, a mask of another size, a device this machine lacks). Each such run starts an
interpreter that imports torch (~3 s on the shared 2-core test machine), so they are prepared once per
module and started two at a time.

The full bad-input matrix runs in-process through ``core.cli.main`` -- the function ``main.py`` hands its
arguments to -- with the same checks: exit status 2, the last stderr line ``error: ...``, no traceback,
nothing written.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import quantise, texture, write_native

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "main.py"


@dataclass
class Run:
    argv: list[str]
    out: Path | None
    proc: subprocess.CompletedProcess | None = None


def _env(cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["REWEAVE_CACHE_DIR"] = str(cache_dir)  # never the user's ~/.cache
    # One torch thread: the test machine is a shared 2-core box, where two threads under load are slower.
    env["OMP_NUM_THREADS"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def run_main(argv: list[str], cache_dir: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MAIN), *argv], cwd=str(ROOT), env=_env(cache_dir),
                          capture_output=True, text=True, timeout=timeout)


def _box(h, w, y0, x0, y1, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    f = {"dir": d, "cache": d / "cache"}
    f["rgb8"] = write_native(d / "rgb8.png", quantise(texture(40, 48, 3, seed=1), np.uint8))
    f["gray16"] = write_native(d / "gray16.png", quantise(texture(40, 48, 1, seed=2), np.uint16))
    rgba = texture(40, 48, 4, seed=3)
    rgba[:, :, 3] = np.linspace(0.2, 1.0, 48)[None, :]
    f["rgba8"] = write_native(d / "rgba8.png", quantise(rgba, np.uint8))
    f["tiny"] = write_native(d / "tiny.png", quantise(texture(32, 32, 3, seed=4), np.uint8))
    f["mask"] = write_native(d / "mask.png", (_box(40, 48, 12, 14, 26, 30).astype(np.uint8) * 255)[:, :, None])
    f["mask_tiny"] = write_native(d / "mask_tiny.png",
                                  (_box(32, 32, 11, 11, 21, 21).astype(np.uint8) * 255)[:, :, None])
    f["mask_small"] = write_native(d / "mask_small.png", np.full((20, 24, 1), 255, np.uint8))
    f["mask_empty"] = write_native(d / "mask_empty.png", np.zeros((40, 48, 1), np.uint8))
    f["mask_full"] = write_native(d / "mask_full.png", np.full((40, 48, 1), 255, np.uint8))
    corrupt = d / "corrupt.png"
    good = f["rgb8"].read_bytes()
    corrupt.write_bytes(good[:40] + bytes(200))  # a PNG header, then garbage
    f["corrupt"] = corrupt
    (d / "empty.png").write_bytes(b"")
    f["empty"] = d / "empty.png"
    for sub in ("ok", "bad"):
        (d / sub).mkdir()
    return f


def _bad_cases(f) -> dict[str, list[str]]:
    """name -> argv; ``{name}`` in an --out path is replaced by the case's name."""
    out = str(f["dir"] / "bad" / "{name}.png")
    rgb, mask = str(f["rgb8"]), str(f["mask"])
    telea = ["--engine", "telea"]
    internal = ["--engine", "internal", "--preset", "fast", "--train-steps", "2", "--steps", "2"]
    return {
        "corrupt image": ["inpaint", str(f["corrupt"]), "--mask", mask, "--out", out, *telea],
        "empty image file": ["inpaint", str(f["empty"]), "--mask", mask, "--out", out, *telea],
        "missing image": ["inpaint", str(f["dir"] / "nope.png"), "--mask", mask, "--out", out, *telea],
        "image is a folder": ["inpaint", str(f["dir"] / "ok"), "--mask", mask, "--out", out, *telea],
        "missing mask": ["inpaint", rgb, "--mask", str(f["dir"] / "nope_mask.png"), "--out", out, *telea],
        "corrupt mask": ["inpaint", rgb, "--mask", str(f["corrupt"]), "--out", out, *telea],
        "mask of another size": ["inpaint", rgb, "--mask", str(f["mask_small"]), "--out", out, *telea],
        "empty mask": ["inpaint", rgb, "--mask", str(f["mask_empty"]), "--out", out, *telea],
        "full mask": ["inpaint", rgb, "--mask", str(f["mask_full"]), "--out", out, *telea],
        "empty mask (internal)": ["inpaint", rgb, "--mask", str(f["mask_empty"]), "--out", out, *internal],
        "full mask (internal)": ["inpaint", rgb, "--mask", str(f["mask_full"]), "--out", out, *internal],
        "unknown engine": ["inpaint", rgb, "--mask", mask, "--out", out, "--engine", "photoshop"],
        "output folder missing": ["inpaint", rgb, "--mask", mask, "--out", str(f["dir"] / "nofolder" / "x.png"),
                                  *telea],
        "output is a folder": ["inpaint", rgb, "--mask", mask, "--out", str(f["dir"] / "ok"), *telea],
        "16-bit into jpeg": ["inpaint", str(f["gray16"]), "--mask", mask, "--out",
                             str(f["dir"] / "bad" / "16-bit into jpeg.jpg"), *telea],
        "unsupported output format": ["inpaint", rgb, "--mask", mask, "--out", str(f["dir"] / "bad" / "x.gif"), *telea],
        "cuda on a cpu machine": ["inpaint", rgb, "--mask", mask, "--out", out, *internal, "--device", "cuda"],
        "cuda on a cpu machine (telea)": ["inpaint", rgb, "--mask", mask, "--out", out, *telea, "--device", "cuda"],
        "unknown device": ["inpaint", rgb, "--mask", mask, "--out", out, *telea, "--device", "tpu"],
        "missing --mask": ["inpaint", rgb, "--out", out, *telea],
        "unknown preset": ["inpaint", rgb, "--mask", mask, "--out", out, "--preset", "turbo"],
        "unknown sampler": ["inpaint", rgb, "--mask", mask, "--out", out, *internal, "--sampler", "euler"],
        "steps out of range": ["inpaint", rgb, "--mask", mask, "--out", out, *internal[:-2], "--steps", "0"],
        "--seam for telea": ["inpaint", rgb, "--mask", mask, "--out", out, *telea, "--seam", "off"],
        "unknown --seam": ["inpaint", rgb, "--mask", mask, "--out", out, *internal, "--seam", "blend"],
        "--recipe for telea": ["inpaint", rgb, "--mask", mask, "--out", out, *telea, "--recipe", "patch"],
        "unknown --recipe": ["inpaint", rgb, "--mask", mask, "--out", out, *internal, "--recipe", "magic"],
    }


CUDA_CASES = ("cuda on a cpu machine", "cuda on a cpu machine (telea)")
# Bad inputs also run end to end through main.py (the rest only in-process, to keep the suite short).
SUBPROCESS_BAD = ("corrupt image", "mask of another size", "cuda on a cpu machine")


def _case(f, name: str) -> Run:
    argv = list(_bad_cases(f)[name])
    out = None
    if "--out" in argv:
        i = argv.index("--out") + 1
        argv[i] = argv[i].replace("{name}", name.replace(" ", "_"))
        out = Path(argv[i])
    return Run(argv, out)


@pytest.fixture(scope="module")
def runs(files) -> dict[str, Run]:
    f = files
    ok_dir = f["dir"] / "ok"
    r: dict[str, Run] = {
        "telea rgb8": Run(["inpaint", str(f["rgb8"]), "--mask", str(f["mask"]), "--out", str(ok_dir / "rgb8.png"),
                           "--engine", "telea"], ok_dir / "rgb8.png"),
        "internal tiny": Run(["inpaint", str(f["tiny"]), "--mask", str(f["mask_tiny"]), "--out",
                              str(ok_dir / "tiny.png"), "--engine", "internal", "--preset", "fast",
                              "--train-steps", "5", "--steps", "2"], ok_dir / "tiny.png"),
    }
    for name in SUBPROCESS_BAD:
        if name in CUDA_CASES and _cuda_available():
            continue
        r[name] = _case(f, name)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_main, run.argv, f["cache"]) for name, run in r.items()}
        for name, fut in futures.items():
            r[name].proc = fut.result()
    return r


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _load(path: Path) -> np.ndarray:
    px = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert px is not None, path
    return px if px.ndim == 3 else px[:, :, None]


def _check_success(returncode: int, stdout: str, stderr: str, out: Path):
    assert returncode == 0, stderr
    assert stdout == f"{out}\n"  # nothing but the output path on stdout
    assert "Traceback" not in stderr
    assert out.is_file()


def _check_bad(returncode: int, stdout: str, stderr: str, out: Path | None):
    assert returncode == 2, (returncode, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines, "nothing on stderr"
    assert lines[-1].startswith("error:"), lines[-1]
    assert len(lines[-1].strip()) > len("error:")
    assert "Traceback" not in stderr
    assert stdout == ""
    if out is not None:
        assert not out.exists() or out.is_dir()
        if out.parent.is_dir():
            assert not [q for q in out.parent.iterdir() if q.name.endswith(".tmp")]


def _check_output(files, src: str, out: Path, dtype, channels: int):
    original, result = _load(files[src]), _load(out)
    assert result.dtype == dtype
    assert result.shape == original.shape and result.shape[2] == channels
    mask = _load(files["mask_tiny" if src == "tiny" else "mask"])[:, :, 0] > 127
    np.testing.assert_array_equal(result[~mask], original[~mask])  # bit-exact at the native depth
    assert (result[mask] != original[mask]).any()  # and the hole was actually filled


# --------------------------------------------------------------------------------------------------------
# End to end: python main.py ...
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, src", [("telea rgb8", "rgb8"), ("internal tiny", "tiny")])
def test_main_inpaint_succeeds(runs, files, name, src):
    run = runs[name]
    p = run.proc
    _check_success(p.returncode, p.stdout, p.stderr, run.out)
    _check_output(files, src, run.out, np.uint8, 3)


def test_main_progress_goes_to_stderr(runs):
    err = runs["internal tiny"].proc.stderr
    assert "train" in err and "sample" in err


@pytest.mark.parametrize("name", SUBPROCESS_BAD)
def test_main_bad_input(runs, name):
    if name not in runs:
        pytest.skip("this machine has CUDA")
    run = runs[name]
    _check_bad(run.proc.returncode, run.proc.stdout, run.proc.stderr, run.out)


def test_main_read_only_output_folder(files, readonly_dir):
    out = readonly_dir / "x.png"
    p = run_main(["inpaint", str(files["rgb8"]), "--mask", str(files["mask"]), "--out", str(out),
                  "--engine", "telea"], files["cache"])
    _check_bad(p.returncode, p.stdout, p.stderr, out)
    assert list(readonly_dir.iterdir()) == []


# --------------------------------------------------------------------------------------------------------
# In-process: core.cli.main, what main.py runs for a subcommand
# --------------------------------------------------------------------------------------------------------
def cli(argv, capsys):
    from core.cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("src, engine, out_name, dtype, channels", [
    ("gray16", "telea", "gray16.tif", np.uint16, 1), ("gray16", "ns", "gray16.png", np.uint16, 1),
    ("rgba8", "telea", "rgba8.png", np.uint8, 4), ("rgb8", "ns", "rgb8.bmp", np.uint8, 3)])
def test_inpaint_keeps_format_and_known_pixels(files, capsys, src, engine, out_name, dtype, channels):
    out = files["dir"] / "ok" / f"{engine}_{out_name}"
    code, stdout, stderr = cli(["inpaint", str(files[src]), "--mask", str(files["mask"]), "--out", str(out),
                                "--engine", engine], capsys)
    _check_success(code, stdout, stderr, out)
    _check_output(files, src, out, dtype, channels)


def test_rgba_hole_alpha_is_filled_from_its_surroundings(files, capsys):
    out = files["dir"] / "ok" / "alpha.png"
    code, stdout, stderr = cli(["inpaint", str(files["rgba8"]), "--mask", str(files["mask"]), "--out", str(out),
                                "--engine", "ns", "-q"], capsys)
    _check_success(code, stdout, stderr, out)
    assert stderr == ""  # --quiet: no progress
    original, result = _load(files["rgba8"]), _load(out)
    mask = _load(files["mask"])[:, :, 0] > 127
    alpha = result[:, :, 3].astype(int)
    # the alpha ramp runs left to right: the filled alpha stays within the ramp around the hole's columns
    cols = np.nonzero(mask.any(axis=0))[0]
    cols = np.arange(cols[0] - 1, cols[-1] + 2)
    lo, hi = int(original[:, cols, 3].min()), int(original[:, cols, 3].max())
    assert lo - 2 <= alpha[mask].min() and alpha[mask].max() <= hi + 2


@pytest.mark.parametrize("name", list(_bad_cases({k: Path("/x") for k in (
    "dir", "rgb8", "mask", "gray16", "corrupt", "empty", "mask_small", "mask_empty", "mask_full")})))
def test_bad_input_exits_2_with_one_error_line_and_writes_nothing(files, capsys, name):
    if name in CUDA_CASES and _cuda_available():
        pytest.skip("this machine has CUDA")
    run = _case(files, name)
    code, stdout, stderr = cli(run.argv, capsys)
    _check_bad(code, stdout, stderr, run.out)


def test_messages_name_the_problem(files, capsys):
    def last(name):
        return cli(_case(files, name).argv, capsys)[2].strip().splitlines()[-1]

    assert "photoshop" in last("unknown engine")
    assert "same size" in last("mask of another size")
    assert "empty" in last("empty mask")
    assert "nofolder" in last("output folder missing")
    assert "nope.png" in last("missing image")
    assert "does no seam harmonisation" in last("--seam for telea") and "internal" in last("--seam for telea")
    assert "no recipe 'patch'" in last("--recipe for telea") and "internal" in last("--recipe for telea")
    if not _cuda_available():
        assert "cuda" in last("cuda on a cpu machine (telea)")


def test_engines_lists_the_builtin_engines(capsys):
    code, stdout, stderr = cli(["engines"], capsys)
    assert code == 0, stderr
    names = [line.split()[0] for line in stdout.splitlines() if line and not line[0].isspace()]
    for name in ("telea", "ns", "internal"):
        assert name in names
    assert "samplers ddpm/ddim/ddrm" in stdout
    internal_line = stdout[stdout.index("internal "):].splitlines()[1]
    assert "seam harmonisation" in internal_line and "recipes patch/noise" in internal_line


def test_recipe_reaches_the_engine_and_auto_leaves_the_choice_to_it():
    from core.cli import build_parser
    from core.cli_common import EngineSettings, engine_options

    def options(argv):
        return engine_options(EngineSettings.from_args(build_parser().parse_args(argv)))

    base = ["inpaint", "a.png", "--mask", "m.png", "--out", "o.png"]
    assert options(base + ["--recipe", "noise"])["recipe"] == "noise"
    assert "recipe" not in options(base + ["--recipe", "auto"])
    assert "recipe" not in options(base)
