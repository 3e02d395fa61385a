"""Speed benchmark: where the time goes, with each CPU optimisation on and off.

    python -m bench.speed [--quick]

Prints, in one run:
1. training ms/step (batch x crop as the engine uses them) with the glibc allocator tuning on/off,
   bf16 autocast on/off, channels_last on/off, and 1 thread vs one per physical core. The allocator
   setting is process-wide, so each configuration runs in its own subprocess;
2. sampling seconds for a 20-step DDRM (and 50-step DDIM) at 256x256 and 512x512, fp32 vs bf16,
   contiguous vs channels_last;
3. end to end: the `fast` preset on a 256x256 texture with a 15-25% stroke hole, and on a 2048x2048
   image with the same hole (work is confined to the hole's region, so it should cost about the same).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.common import Timer, print_table, test_images

TRAIN_WORKER = r"""
import json, os, sys, time, torch
cfg = json.loads(sys.argv[1])
from core import runtime
if cfg["mallopt"]:
    runtime.tune_allocator()
torch.set_num_threads(cfg["threads"])
from core.diffusion.unet import TinyUNet
from core.diffusion.training import TrainConfig, train
from core.diffusion.schedule import linear_schedule
g = torch.Generator().manual_seed(0)
img = torch.randn(3, 256, 256, generator=g); hole = torch.zeros(1, 256, 256); hole[:, 100:130, 90:150] = 1
model = TinyUNet(3)
if cfg["channels_last"]:
    model = model.to(memory_format=torch.channels_last)
tc = TrainConfig(steps=cfg["warm"] + cfg["steps"], crop=cfg["crop"], batch=cfg["batch"], stroke_width=(8, 20),
                 channels_last=cfg["channels_last"])
ac = torch.bfloat16 if cfg["bf16"] else None
t0 = None
for step, loss in train(model, img, hole, linear_schedule(), tc, 0, ac):
    if step == cfg["warm"] - 1:
        t0 = time.perf_counter()
print(json.dumps({"ms": (time.perf_counter() - t0) / cfg["steps"] * 1000}))
"""


def train_ms(**cfg) -> float:
    env = dict(os.environ, REWEAVE_NO_MALLOPT="1")
    out = subprocess.run([sys.executable, "-c", TRAIN_WORKER, json.dumps(cfg)], capture_output=True, text=True,
                         env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["ms"]


def sampling_seconds(size: int, sampler: str, steps: int, channels_last: bool, bf16: bool,
                     max_nfe: int | None = None) -> float:
    import torch
    from core.diffusion.samplers import SAMPLERS
    from core.diffusion.schedule import linear_schedule, spaced_timesteps
    from core.diffusion.unet import TinyUNet

    model = TinyUNet(3).eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    known = torch.randn(1, 3, size, size).contiguous(memory_format=fmt)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    mask = mask.contiguous(memory_format=fmt)
    ts = spaced_timesteps(steps)
    if max_nfe:  # very slow configurations: time a few evaluations and scale
        ts_run = ts[:max_nfe]
    else:
        ts_run = ts

    def denoise(x, t):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x.contiguous(memory_format=fmt), known, mask, torch.full((1,), t)).float()

    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(known.shape, generator=gen)
    with torch.inference_mode():
        denoise(noise, 500)  # warm-up (allocations, kernels)
        t0 = time.perf_counter()
        for _ in SAMPLERS[sampler](denoise, noise, known, mask, linear_schedule(), ts_run, gen):
            pass
        dt = time.perf_counter() - t0
    return dt * len(ts) / len(ts_run)


def end_to_end(preset: str, big: int | None) -> dict:
    from core.engines.base import InpaintRequest, Progress, Result
    from core.engines.internal import InternalEngine
    from core.engines.model_cache import ModelCache
    from core.engines.registry import default_registry
    from core.masks import stroke_mask_for_bench

    name, tex = test_images("textures", 1, 256)[0]
    mask = stroke_mask_for_bench(256, 256, 0)
    image = tex
    if big:  # the texture tiled to big x big, the same hole at the same place
        reps = big // 256
        image = np.tile(tex, (reps, reps, 1))
        m = np.zeros((big, big), bool)
        m[:256, :256] = mask
        mask = m
    engine = InternalEngine(default_registry().capabilities("internal"), cache=ModelCache(None))
    req = InpaintRequest(image, mask, seed=0, preset=preset, options={"cache": False, "preview_every": 0})
    t_train_end = None
    with Timer() as tm:
        for ev in engine.run(req):
            if isinstance(ev, Progress) and ev.stage == "sample" and ev.step == 0:
                t_train_end = time.perf_counter()
            if isinstance(ev, Result):
                info = ev.info
    return {"image": f"{name} {image.shape[1]}x{image.shape[0]}", "hole": f"{mask.mean() * 100:.1f}%",
            "total_s": tm.seconds, "train_s": t_train_end - tm.t0, "sample_s": tm.t0 + tm.seconds - t_train_end,
            "train_steps": info["train_steps"], "region": info["region"], "recipe": info["recipe"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer configurations (no bf16 at 512, no 1-thread)")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end runs")
    ap.add_argument("--e2e-presets", default="fast", help="presets of the end-to-end runs, e.g. fast,balanced")
    args = ap.parse_args(argv)
    from core import runtime

    runtime.tune_allocator()
    cores = runtime.set_threads()
    print(f"CPU: {cores} physical cores, native bf16: {runtime.cpu_has_native_bf16()}\n", flush=True)

    rows = []
    if args.e2e_only:
        return end_to_end_table(args.e2e_presets.split(","))
    # The baseline is what the engine does on this machine: allocator tuning, channels_last training, bf16
    # autocast where the CPU has native bf16 (runtime.autocast_dtype); each row flips one of them.
    native = runtime.cpu_has_native_bf16()
    base = dict(crop=64, batch=8, mallopt=True, bf16=native, channels_last=True, threads=cores, warm=5, steps=25)
    slow_bf16 = {} if native else {"steps": 5, "warm": 2}  # emulated bf16: seconds per step
    configs = [(f"engine default ({'bf16' if native else 'fp32'}, channels_last, allocator tuned)", {}),
               ("allocator tuning off", {"mallopt": False}),
               ("fp32 (bf16 off)" if native else "bf16 autocast on", {"bf16": not native, **slow_bf16}),
               ("channels_last off", {"channels_last": False})]
    if not args.quick:
        configs.append(("1 thread", {"threads": 1}))
    for crop, batch in ((64, 8), (128, 2)):
        for label, change in configs:
            cfg = dict(base, crop=crop, batch=batch, **change)
            rows.append([f"{batch}x{crop}^2", label, train_ms(**cfg)])
            print(f"  train {rows[-1]}", flush=True)
    print_table(["batch x crop", "configuration", "ms/step"], rows, title="\nTraining step (TinyUNet, RGB)")

    srows = []
    for size in (256, 512):
        for sampler, steps in (("ddrm", 20), ("ddim", 50)):
            for cl in (True, False):
                for bf in (False, True):
                    if bf and not native and (args.quick or not cl):
                        continue  # bf16 without native support: minutes per image
                    s = sampling_seconds(size, sampler, steps, cl, bf, max_nfe=None if native or not bf else 2)
                    default = cl and bf == native
                    srows.append([f"{size}x{size}", f"{sampler} {steps}", "channels_last" if cl else "contiguous",
                                  ("bf16" if bf else "fp32") + (" (engine default)" if default else ""), s])
                    print(f"  sample {srows[-1]}", flush=True)
    print_table(["region", "sampler", "layout", "dtype", "seconds"], srows, title="\nSampling (once trained)")
    print("target: ddrm 20 on 512x512 <= 3 s")

    if not args.skip_e2e:
        end_to_end_table(args.e2e_presets.split(","))
    return 0


def end_to_end_table(presets: list[str]) -> int:
    erows = []
    for preset in presets:
        for big in (None, 2048):
            r = end_to_end(preset, big)
            erows.append([preset, r["image"], r["hole"], r["recipe"], r["train_steps"], r["train_s"], r["sample_s"],
                          r["total_s"]])
            print(f"  e2e {erows[-1]}", flush=True)
    print_table(["preset", "image", "hole", "recipe", "train steps", "start + train s", "sample s", "total s"], erows,
                title="\nEnd to end (internal engine)")
    for i in range(0, len(erows), 2):
        print(f"{erows[i][0]}: 2048x2048 / 256x256 time ratio {erows[i + 1][-1] / erows[i][-1]:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
