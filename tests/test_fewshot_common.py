"""The few-shot engines' shared machinery: weights files, checkpoints and resume, the training loop's stop,
tiling, and the `train-fewshot` command's bad-input contract (with a stand-in trainable engine)."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from core.engines.base import Capabilities, Loss, Progress
from core.engines.registry import Registry
from core.errors import Cancelled, UserError
from core.fewshot import common
from core.fewshot.common import (CropSampler, TrainDone, TrainRequest, checkpoint_path, load_weights, read_tensors,
                                 run_training, save_weights)
from core.tiling import blend_window, run_tiled, tile_starts


class TinyTrainable:
    """A linear model fitted to a fixed target: enough to check the loop's bookkeeping exactly."""

    engine = "tiny"

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.net = torch.nn.Linear(4, 1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=5e-2)
        self.x = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self.steps_run = 0

    def train_step(self, step: int) -> dict[str, float]:
        loss = torch.mean((self.net(self.x) - self.y) ** 2)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps_run += 1
        return {"mse": float(loss.detach())}

    def checkpoint_tensors(self):
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        out.update(common.optimizer_tensors(self.opt, "opt"))
        return out

    def load_checkpoint_tensors(self, tensors):
        self.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        common.load_optimizer_tensors(self.opt, tensors, "opt")

    def export(self):
        return dict(self.net.state_dict()), {"features": 4}

    def extra_state(self):
        return {"steps_run": self.steps_run}

    def restore_extra_state(self, state):
        self.steps_run = int(state.get("steps_run", 0))


def _drain(events):
    out = list(events)
    return out, [e for e in out if isinstance(e, TrainDone)]


def test_training_writes_weights_and_loss_falls(tmp_path):
    model = TinyTrainable()
    req = TrainRequest(images=[], out=tmp_path / "w.safetensors", seed=0)
    events, done = _drain(run_training(model, req, total_steps=60, report_every=10))
    losses = [e.value for e in events if isinstance(e, Loss)]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    assert done and done[0].steps == 60
    state, config, meta = load_weights(req.out, "tiny")
    assert config == {"features": 4} and meta["steps"] == "60"
    assert torch.equal(state["weight"], model.net.weight.detach())


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tmp_path):
    straight = TinyTrainable()
    _drain(run_training(straight, TrainRequest([], tmp_path / "a.safetensors"), total_steps=40))

    first = TinyTrainable()
    req = TrainRequest([], tmp_path / "b.safetensors")
    gen = run_training(first, req, total_steps=40, report_every=5)
    for ev in gen:
        if isinstance(ev, Progress) and ev.step >= 15:
            break
    gen.close()  # a stop mid-run leaves a checkpoint
    assert checkpoint_path(req.out).is_file() and not req.out.exists()
    second = TinyTrainable(seed=99)  # different init: everything must come from the checkpoint
    _, done = _drain(run_training(second, TrainRequest([], req.out, resume=True), total_steps=40))
    assert done[0].steps == 40 and second.steps_run == 40
    assert torch.allclose(second.net.weight, straight.net.weight, atol=1e-6)


def test_cancel_stops_within_one_step_and_checkpoints(tmp_path):
    model = TinyTrainable()
    req = TrainRequest([], tmp_path / "c.safetensors")
    gen = run_training(model, req, total_steps=1000, report_every=1)
    with pytest.raises(Cancelled):
        for ev in gen:
            if isinstance(ev, Progress) and ev.step == 3:
                req.cancel.set()
    assert model.steps_run == 3
    _, meta = read_tensors(checkpoint_path(req.out))
    assert meta["step"] == "3"


def test_time_budget_stops_and_still_saves(tmp_path):
    model = TinyTrainable()
    req = TrainRequest([], tmp_path / "t.safetensors", minutes=1e-9)
    _, done = _drain(run_training(model, req, total_steps=10_000))
    assert done and done[0].steps < 10_000 and req.out.is_file()


def test_weights_errors_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="no tiny weights"):
        load_weights(tmp_path / "missing.safetensors", "tiny")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="damaged"):
        load_weights(bad, "tiny")
    other = save_weights(tmp_path / "other.safetensors", "grig", {"w": torch.zeros(2)}, {})
    with pytest.raises(UserError, match="'grig', not 'tiny'"):
        load_weights(other, "tiny")


def test_crop_sampler_is_seeded_and_restorable():
    imgs = [np.random.default_rng(i).random((80, 100, 3), dtype=np.float32) for i in range(3)]
    a, b = CropSampler(imgs, 32, seed=5, scale=(0.8, 1.5)), CropSampler(imgs, 32, seed=5, scale=(0.8, 1.5))
    assert torch.equal(a.batch(4), b.batch(4))
    state = a.state()
    first = a.batch(3)
    a.restore(state)
    assert torch.equal(a.batch(3), first)
    assert first.shape == (3, 3, 32, 32) and 0.0 <= float(first.min()) and float(first.max()) <= 1.0


@pytest.mark.parametrize("length,tile,overlap", [(64, 64, 16), (100, 64, 16), (257, 64, 8), (1000, 128, 32)])
def test_tiles_cover_with_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(length, bool)
    for s in starts:
        assert 0 <= s and s + min(tile, length) <= length
        covered[s:s + tile] = True
    assert covered.all()
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_run_tiled_fills_only_the_hole_and_blends_smoothly():
    h, w = 150, 200
    region = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    hole = np.zeros((h, w), bool)
    hole[40:110, 30:180] = True
    calls = []

    def fill(img, th):  # a constant per tile: blending must give values between the constants
        calls.append(th.shape)
        return np.full(img.shape, 0.1 * len(calls), np.float32)

    out = run_tiled(region, hole, tile=64, overlap=16, fill=fill)
    assert np.array_equal(out[~hole], region[~hole])
    vals = out[hole]
    assert vals.min() >= 0.1 - 1e-6 and vals.max() <= 0.1 * len(calls) + 1e-6
    assert len(calls) > 1 and blend_window(64, 64, 16).min() > 0


# ---- train-fewshot on the command line ----------------------------------------------------------------
@pytest.fixture()
def tiny_registry(monkeypatch):
    """The default registry plus a stand-in trainable engine 'tiny' whose trainer fits TinyTrainable."""
    reg = Registry()
    from core.engines.registry import register_builtin

    register_builtin(reg)
    caps = Capabilities("Tiny", "test engine", needs_weights=True, retrainable=True)

    def trainer(request):
        return run_training(TinyTrainable(request.seed), request, total_steps=request.steps or 20)

    reg.register("tiny", caps, lambda: None, trainer=trainer)
    monkeypatch.setattr("core.engines.registry.default_registry", lambda: reg)
    return reg


def _write_images(folder, n=2, size=72):
    from core.io import ImageData, save_image

    folder.mkdir()
    for i in range(n):
        px = (np.random.default_rng(i).random((size, size, 3)) * 255).astype(np.uint8)
        save_image(folder / f"img{i}.png", ImageData(px))
    return folder


def test_train_fewshot_cli_trains_and_prints_the_path(tiny_registry, tmp_path, capsys):
    from core.cli import main

    data = _write_images(tmp_path / "data")
    out = tmp_path / "tiny.safetensors"
    assert main(["train-fewshot", "--engine", "tiny", "--data", str(data), "--out", str(out), "--steps", "30",
                 "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    _, _, meta = load_weights(out, "tiny")
    assert meta["images"] == "img0.png,img1.png" and meta["steps"] == "30"


def test_train_fewshot_options_reach_the_trainer(tiny_registry, tmp_path):
    import argparse

    from core.fewshot_cli import TrainSettings, add_args, build_request

    p = argparse.ArgumentParser()
    add_args(p)
    data = _write_images(tmp_path / "data")
    args = p.parse_args(["--engine", "tiny", "--data", str(data), "--out", str(tmp_path / "w.safetensors"),
                         "--option", "l1=0", "--option", "use_patch=false", "--option", "mode=fast",
                         "--batch", "3"])
    _, request = build_request(TrainSettings.from_args(args), tiny_registry)
    assert request.options == {"l1": 0.0, "use_patch": False, "mode": "fast", "batch": 3}


@pytest.mark.parametrize("case", ["internal", "unknown", "nofolder", "empty", "corrupt", "badext", "nodir", "small",
                                  "badoption", "grig_unknown_option"])
def test_train_fewshot_bad_input_exits_2_and_writes_nothing(tiny_registry, tmp_path, capsys, case):
    from core.cli import main

    data = _write_images(tmp_path / "data")
    out = tmp_path / "w.safetensors"
    engine = {"internal": "internal", "unknown": "nope"}.get(case, "tiny")
    if case == "nofolder":
        data = tmp_path / "absent"
    elif case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "corrupt":
        (data / "broken.png").write_bytes(b"not a png")
    elif case == "badext":
        out = tmp_path / "w.pt"
    elif case == "nodir":
        out = tmp_path / "no" / "w.safetensors"
    elif case == "small":
        data = _write_images(tmp_path / "smalldata", size=20)
    extra = {"badoption": ["--option", "l1"], "grig_unknown_option": ["--option", "textures=3"]}.get(case, [])
    if case == "grig_unknown_option":
        engine = "grig"
    code = main(["train-fewshot", "--engine", engine, "--data", str(data), "--out", str(out), "--steps", "5", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:")
    assert not out.exists() and not checkpoint_path(out).exists()


def test_inpaint_rejects_weights_for_an_engine_that_takes_none(tmp_path, capsys):
    from core.cli import main
    from core.io import ImageData, save_image

    img = save_image(tmp_path / "i.png", ImageData(np.zeros((32, 32, 3), np.uint8)))
    m = np.zeros((32, 32, 1), np.uint8)
    m[8:16, 8:16] = 255
    mask = save_image(tmp_path / "m.png", ImageData(m))
    code = main(["inpaint", str(img), "--mask", str(mask), "--out", str(tmp_path / "o.png"), "--engine", "telea",
                 "--weights", str(tmp_path / "x.safetensors")])
    assert code == 2 and "takes no weights" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
