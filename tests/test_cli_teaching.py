"""`inpaint --source AREA --reference IMG --own-share F`: what the fill may copy or learn from, from the CLI."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import texture, write_native
from core.engines.patchmatch import available as patchmatch_available


def cli(argv, capsys):
    from core.cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def halves(tmp_path, write_mask):
    """Dark stripes left, bright flat right, a hole across the border; the source area is the left part."""
    img = np.empty((64, 64, 3), np.float32)
    img[:, :32] = 0.15 + 0.1 * (np.arange(32) % 4 < 2)[None, :, None]
    img[:, 32:] = 0.85
    hole = np.zeros((64, 64), bool)
    hole[24:40, 24:40] = True
    source = np.zeros((64, 64), bool)
    source[:, :28] = True
    return dict(image=write_native(tmp_path / "img.png", np.rint(img * 255).astype(np.uint8)),
                mask=write_mask(hole, "hole.png"), source=write_mask(source, "source.png"),
                small=write_mask(source[:32], "small.png"), hole=hole, dir=tmp_path)


@pytest.mark.skipif(not patchmatch_available(), reason="PatchMatch library not available")
def test_the_source_area_is_where_the_fill_copies_from(halves, capsys):
    means = {}
    for name, extra in (("plain", []), ("source", ["--source", str(halves["source"])])):
        out = halves["dir"] / f"{name}.png"
        code, stdout, stderr = cli(["inpaint", str(halves["image"]), "--mask", str(halves["mask"]), "--out",
                                    str(out), "--engine", "patchmatch", "-q", *extra], capsys)
        assert code == 0, stderr
        means[name] = cv2.imread(str(out))[halves["hole"]].mean() / 255.0
    assert means["source"] < 0.3 < means["plain"]  # dark stripes only, against a fill that also took bright


@pytest.mark.parametrize("extra, words", [
    (["--engine", "telea", "--source", "{source}"], "takes no sampling area"),
    (["--engine", "patchmatch", "--source", "{small}"], "same size"),
    (["--engine", "patchmatch", "--source", "{mask}"], "no known pixels"),
    (["--engine", "telea", "--reference", "{image}"], "no reference images"),
    (["--engine", "internal", "--reference", "{rgba}"], "channels"),
    (["--engine", "internal", "--reference", "{image}", "--own-share", "1.5"], "--own-share"),
    (["--engine", "internal", "--reference", "{missing}"], "no such file"),
])
def test_bad_teaching_is_one_error_line_and_writes_nothing(halves, capsys, extra, words):
    rgba = write_native(halves["dir"] / "rgba.png", np.full((20, 30, 4), 200, np.uint8))
    paths = {k: str(v) for k, v in halves.items() if k in ("image", "mask", "source", "small")}
    paths.update(rgba=str(rgba), missing=str(halves["dir"] / "nope.png"))
    out = halves["dir"] / "out.png"
    if "patchmatch" in extra and not patchmatch_available():
        pytest.skip("PatchMatch library not available")
    code, stdout, stderr = cli(["inpaint", paths["image"], "--mask", paths["mask"], "--out", str(out), "-q",
                                *[e.format(**paths) for e in extra]], capsys)
    assert code == 2 and stdout == "" and not out.exists()
    assert stderr.strip().splitlines()[-1].startswith("error:") and words in stderr


def test_references_reach_the_engine_as_images_of_the_image_kind(halves, tmp_path):
    from core.engines.registry import default_registry
    from core.inpaint_cli import Teaching, teaching_options
    from core.io import load_image

    ref_pixels = np.rint(texture(40, 72, 3, seed=5) * 255).astype(np.uint8)
    ref = write_native(tmp_path / "ref.png", ref_pixels)
    image = load_image(halves["image"])
    options = teaching_options(Teaching(references=(str(ref), str(ref)), own_share=0.25), image, halves["hole"],
                               default_registry().capabilities("internal"), "internal")
    assert options["own_share"] == 0.25 and len(options["references"]) == 2
    first = options["references"][0]
    assert first.shape == (40, 72, 3) and first.dtype == np.float32
    assert np.abs(first * 255 - ref_pixels).max() < 0.01  # the file's own pixels, in RGB order
