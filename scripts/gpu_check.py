"""The device check: does the harness run at full speed on this GPU? (``scripts/gpu-check OUT``)

Everything it needs is generated on the spot (no downloads: a GPU machine may have no network):

1. an Office-31-layout tree (amazon, webcam; 31 classes) of generated JPEGs at 224 px;
2. a suite of ResNet-50 and ViT-B/16 (timm, random weights) x source_only, full_finetune, lora,
   qlora, dann, linear_probe x fp32 and bf16, short steps, 1 seed, run with ``bench run``;
3. a bare PyTorch training loop of the same model, batch and precision on data already on the
   GPU: the harness's train throughput as a ratio of it;
4. a small_cnn suite run once one cell at a time and once with ``--gpus 0 --cells-per-gpu 2``:
   the speed-up in cells per hour;
5. ``bench report`` of the rows, and ``summary.md`` / ``summary.json`` with the ratios and the
   targets they are held to.

``--tiny --device cpu`` runs the same steps with tiny models and images (a CPU check of the
script itself; its numbers mean nothing for a GPU).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
STRATEGIES = ["source_only", "full_finetune", {"name": "lora", "rank": 8, "alpha": 16},
              {"name": "qlora", "rank": 8, "alpha": 16}, {"name": "dann", "label_budgets": [0]},
              "linear_probe"]


def sizes(tiny: bool) -> dict:
    if tiny:
        return dict(px=32, per_class=5, source=4, adapt=12, batch=8, bare=12, multi_steps=30,
                    cnn="timm/resnet10t", vit={"name": "timm/test_vit",
                                               "kwargs": {"img_size": 32, "patch_size": 8}})
    return dict(px=224, per_class=8, source=30, adapt=100, batch=32, bare=100, multi_steps=400,
                cnn="timm/resnet50", vit={"name": "timm/vit_base_patch16_224"})


def make_office31(root: Path, px: int, per_class: int) -> None:
    """``root/<domain>/images/<class>/*.jpg``: a class colour plus a domain tint plus noise."""
    from PIL import Image

    from bench.data.office31 import CLASSES

    for d, domain in enumerate(["amazon", "webcam"]):
        for label, name in enumerate(CLASSES):
            folder = root / domain / "images" / name
            folder.mkdir(parents=True, exist_ok=True)
            base = np.array([(label * 37) % 256, (label * 91) % 256, (label * 53) % 256]) + 20 * d
            for i in range(per_class):
                rng = np.random.default_rng(10_000 * d + 100 * label + i)
                arr = np.clip(base + rng.integers(-40, 40, size=(px, px, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(folder / f"frame_{i:04d}.jpg", quality=90)


def suite_yaml(s: dict, px: int, threads: int) -> dict:
    backbones = []
    for precision in ("fp32", "bf16"):
        backbones.append({"name": s["cnn"], "precision": precision})
        backbones.append({**s["vit"], "precision": precision})
    return {"name": "gpu-check", "backbones": backbones, "strategies": STRATEGIES,
            "pairs": [f"office31/amazon@{px} -> office31/webcam@{px}"], "label_budgets": [3],
            "seeds": [0], "source": {"steps": s["source"], "batch_size": s["batch"], "lr": 0.01,
                                     "optimizer": "sgd", "momentum": 0.9},
            "adapt": {"steps": s["adapt"], "batch_size": s["batch"], "lr": 0.001, "optimizer": "sgd",
                      "momentum": 0.9}, "threads": threads}


def multi_yaml(s: dict, threads: int) -> dict:
    return {"name": "gpu-check-multi", "backbones": ["small_cnn"],
            "strategies": ["full_finetune", "dann", "lora", "mcc"], "pairs": ["digits -> digits"],
            "label_budgets": [10], "seeds": [0, 1, 2, 3], "source": {"steps": s["multi_steps"], "batch_size": 64},
            "adapt": {"steps": s["multi_steps"], "batch_size": 64}, "threads": threads}


def bench(*args: str, env: dict) -> float:
    """Run the real ``bench`` command; its wall time in seconds."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=REPO)
    if done.returncode not in (0, 1):  # 1: some cell not ok (their rows say why): still report
        raise SystemExit(f"bench {' '.join(args)} exited with {done.returncode}")
    return time.perf_counter() - t0


def bare_loop(s: dict, device: str, precision: str, steps: int, px: int) -> float:
    """Samples per second of a plain loop: same model, batch, optimiser, precision and memory
    format as the harness's full_finetune, data already on the device, no harness at all."""
    import torch
    import torch.nn.functional as F

    from bench.backbones import BackboneSpec, create_model
    from bench.train.placement import place_model
    from bench.train.precision import Amp, configure_backends

    spec = BackboneSpec(name=s["cnn"])
    torch.manual_seed(0)
    model = place_model(create_model(spec, num_classes=31, in_chans=3), spec, device)
    configure_backends(precision, device)
    amp = Amp(precision, device)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    xs = torch.randint(0, 256, (4, s["batch"], 3, px, px), dtype=torch.uint8, generator=gen).to(device)
    ys = torch.randint(0, 31, (4, s["batch"]), generator=gen).to(device)
    model.train()
    warmup = min(5, steps // 5)
    for step in range(steps):
        if step == warmup:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with amp.autocast():
            loss = F.cross_entropy(model(xs[step % 4]), ys[step % 4])
        amp.backward_step(opt, loss)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (steps - warmup) * s["batch"] / (time.perf_counter() - t0)


def cells_span_s(results: Path) -> float:
    """First cell's start to last cell's end: the sweep's steady state, without the command's own
    start-up (imports, worker spawn), which a nightly sweep of hundreds of cells pays once."""
    import pandas as pd

    from bench.results import read_results

    rows = read_results(results)
    return (pd.to_datetime(rows.finished_at).max() - pd.to_datetime(rows.started_at).min()).total_seconds()


def summarise(out: Path, s: dict, device: str, bare: dict, walls: dict) -> dict:
    import pandas as pd

    from bench.train import measure
    from bench.results import read_results

    rows = read_results(out / "results")
    ok = rows[rows.status == "ok"]

    def cell(bb: str, strategy: str, precision: str):
        m = ok[(ok.backbone == bb) & (ok.strategy == strategy) & (ok.precision == precision)]
        return m.iloc[0] if len(m) else None

    vit = s["vit"]["name"]
    ft = {p: cell(s["cnn"], "full_finetune", p) for p in ("fp32", "bf16")}
    tput = {p: (float(r.train_samples_per_s) if r is not None else float("nan")) for p, r in ft.items()}
    mem = {st: (int(r.peak_mem_allocated_bytes) if (r := cell(vit, st, "bf16")) is not None else None)
           for st in ("qlora", "lora", "full_finetune")}
    res = {
        "device": measure.device_name(device), "tiny": s["px"] != 224,
        "cells": {k: int(v) for k, v in rows.status.value_counts().items()},
        "harness_samples_per_s": tput, "bare_samples_per_s": bare,
        "harness_over_bare": {p: tput[p] / bare[p] for p in bare},
        "bf16_over_fp32": tput["bf16"] / tput["fp32"],
        "vit_bf16_peak_mem_allocated_bytes": mem,
        "mem_order_qlora_lt_lora_lt_full": (None if None in mem.values()
                                            else mem["qlora"] < mem["lora"] < mem["full_finetune"]),
        "multi_wall_s": walls, "cells_per_gpu_2_speedup_wall": walls["k1"] / walls["k2"],
        "multi_span_s": {k: cells_span_s(out / f"multi-{k}") for k in ("k1", "k2")},
        "main_suite_wall_s": walls["main"],
        "compile_s": {f"{r.backbone} {r.strategy} {r.precision}": r.compile_s for r in ok.itertuples()
                      if pd.notna(r.compile_s)},
    }
    res["cells_per_gpu_2_speedup"] = res["multi_span_s"]["k1"] / res["multi_span_s"]["k2"]
    targets = [("harness / bare loop, ResNet-50 bf16", res["harness_over_bare"]["bf16"], ">= 0.9"),
               ("bf16 / fp32 train throughput, ResNet-50", res["bf16_over_fp32"], ">= 2"),
               ("ViT-B peak memory qlora < lora < full_finetune", res["mem_order_qlora_lt_lora_lt_full"], "true"),
               ("cells per hour, 2 cells per GPU / 1 (small_cnn, first start to last end)",
                res["cells_per_gpu_2_speedup"], ">= 1.5"),
               ("the same from the command's wall time (start-up included)",
                res["cells_per_gpu_2_speedup_wall"], "-")]
    lines = [f"# gpu-check on {res['device']}{' (TINY: CPU check of the script)' if res['tiny'] else ''}", "",
             f"cells: {res['cells']}; main suite wall time {walls['main']:.0f} s", "",
             "| measure | value | target |", "|---|---|---|"]
    for name, value, target in targets:
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown} | {target} |")
    lines += ["", f"train samples/s, harness: {tput}; bare loop: {bare}",
              f"ViT bf16 peak_mem_allocated_bytes: {mem}",
              f"small_cnn suite wall: 1 cell at a time {walls['k1']:.1f} s, 2 per GPU {walls['k2']:.1f} s; "
              f"cells' span: {res['multi_span_s']['k1']:.1f} s and {res['multi_span_s']['k2']:.1f} s"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(res, indent=1, default=str))
    print("\n".join(lines))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for rows, report and summary (created)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="tiny models and images: checks the script on CPU")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: 8 on "
                    "GPU, 1 with --tiny)")
    args = ap.parse_args()
    import yaml

    sys.path.insert(0, str(REPO))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    s = sizes(args.tiny)
    threads = args.threads or (1 if args.tiny else 8)
    # keep a PYTHONPATH already set (a GPU machine may carry the missing packages in one)
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "BENCH_DATA_OFFICE31": str(out / "data" / "office31"), "BENCH_CACHE": str(out / "cache")}
    os.environ.update({k: env[k] for k in ("HF_HUB_OFFLINE", "BENCH_CACHE", "BENCH_DATA_OFFICE31")})
    t0 = time.perf_counter()
    print(f"[gpu-check] generating the Office-31-layout tree at {s['px']} px", flush=True)
    make_office31(out / "data" / "office31", s["px"], s["per_class"])
    suites = out / "suites"
    suites.mkdir(exist_ok=True)
    (suites / "gpu-check.yaml").write_text(yaml.safe_dump(suite_yaml(s, s["px"], threads), sort_keys=False))
    (suites / "multi.yaml").write_text(yaml.safe_dump(multi_yaml(s, threads), sort_keys=False))

    print("[gpu-check] main suite: ResNet-50 / ViT-B x 6 strategies x fp32, bf16", flush=True)
    walls = {"main": bench("run", str(suites / "gpu-check.yaml"), "--results", str(out / "results"),
                           "--device", args.device, "--no-progress", "--fresh", env=env)}
    print("[gpu-check] bare training loop on device-resident data", flush=True)
    import torch

    torch.set_num_threads(threads)
    bare = {p: bare_loop(s, args.device, p, s["bare"], s["px"]) for p in ("fp32", "bf16")}
    print("[gpu-check] small_cnn suite: one cell at a time, then two per GPU", flush=True)
    for k in ("1", "2"):
        walls[f"k{k}"] = bench("run", str(suites / "multi.yaml"), "--results", str(out / f"multi-k{k}"),
                               "--device", args.device, "--gpus", "0", "--cells-per-gpu", k,
                               "--no-progress", "--fresh", env=env)
    bench("report", str(out / "results"), "--out", str(out / "report"), env=env)
    summarise(out, s, args.device, bare, walls)
    print(f"[gpu-check] done in {time.perf_counter() - t0:.0f} s; rows in {out / 'results'}, report in "
          f"{out / 'report'}, summary in {out / 'summary.md'}")


if __name__ == "__main__":
    main()
