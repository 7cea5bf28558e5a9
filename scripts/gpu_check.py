"""The device check: does the harness run at full speed on this GPU? (``scripts/gpu-check OUT``)

Everything it needs is generated on the spot (no downloads: a GPU machine may have no network).
In order of what matters most, each step recorded in ``summary.md`` / ``summary.json`` as soon as
it is done, so that a check cut short by its device time still says what it measured:

1. **the anchor** (scripts/gpu_anchor.py): ResNet-50 and ViT-B/16 (timm, random weights) at batch
   32, 128 and 256, bf16, the harness's ``full_finetune`` throughput against timm's own
   ``benchmark.py --bench train`` (``--timm-benchmark FILE``) and against a bare loop, each timed
   over the same steps after the same warm-up;
2. **peak memory** of ViT-B/16 at bf16 under qlora, lora and full fine-tuning (target: in that order);
3. **cells per GPU**: 16 small_cnn cells one at a time, then 2 and 4 per GPU (``--gpus 0
   --cells-per-gpu K``), judged on the cells' span (first start to last end);
4. while device time is left (``--budget-s``): the anchor at fp32, then compiled.

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
sys.path.insert(0, str(REPO / "scripts"))
import gpu_anchor  # noqa: E402  (the script's sibling module)

MEMORY_STRATEGIES = ["full_finetune", {"name": "lora", "rank": 8, "alpha": 16},
                     {"name": "qlora", "rank": 8, "alpha": 16}]


def sizes(tiny: bool) -> dict:
    if tiny:
        return dict(px=32, per_class=20, budget=10, batches=[8, 16], multi_steps=30, mem_steps=6,
                    cnn="resnet10t", vit="test_vit", kwargs={"test_vit": {"img_size": 32, "patch_size": 8}})
    return dict(px=224, per_class=20, budget=10, batches=[32, 128, 256], multi_steps=200, mem_steps=30,
                cnn="resnet50", vit="vit_base_patch16_224", kwargs={})


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


def bench(*args: str, env: dict) -> float:
    """Run the real ``bench`` command; its wall time in seconds."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=REPO)
    if done.returncode not in (0, 1):  # 1: some cell not ok (their rows say why): still report
        # the later steps still run: a check cut short on a lent GPU should say all it can
        print(f"[gpu-check] bench {' '.join(args)} exited with {done.returncode}", flush=True)
    return time.perf_counter() - t0


def cells_span_s(results: Path) -> float:
    """First cell's start to last cell's end: the sweep's steady state, without the command's own
    start-up (imports, worker spawn), which a nightly sweep of hundreds of cells pays once."""
    import pandas as pd

    from bench.results import read_results

    rows = read_results(results)
    return (pd.to_datetime(rows.finished_at).max() - pd.to_datetime(rows.started_at).min()).total_seconds()


def memory_yaml(s: dict, threads: int) -> dict:
    """ViT-B/16 at bf16 under full fine-tuning, LoRA and QLoRA: peak memory of the adaptation."""
    vit = {"name": f"timm/{s['vit']}", "precision": "bf16", **({"kwargs": s["kwargs"][s["vit"]]}
                                                              if s["vit"] in s["kwargs"] else {})}
    train = {"batch_size": s["batches"][0], "optimizer": "sgd", "momentum": 0.9}
    return {"name": "gpu-check-memory", "backbones": [vit], "strategies": MEMORY_STRATEGIES,
            "pairs": [f"office31/amazon@{s['px']} -> office31/webcam@{s['px']}"],
            "label_budgets": [s["budget"]], "seeds": [0], "source": {**train, "steps": 5, "lr": 0.01},
            "adapt": {**train, "steps": s["mem_steps"], "lr": 0.001}, "threads": threads}


def multi_yaml(s: dict, threads: int) -> dict:
    return {"name": "gpu-check-multi", "backbones": ["small_cnn"],
            "strategies": ["full_finetune", "dann", "lora", "mcc"], "pairs": ["digits -> digits"],
            "label_budgets": [10], "seeds": [0, 1, 2, 3], "source": {"steps": s["multi_steps"], "batch_size": 64},
            "adapt": {"steps": s["multi_steps"], "batch_size": 64}, "threads": threads}


def memory_result(results: Path) -> dict:
    from bench.results import read_results

    rows = read_results(results)
    mem = {r.strategy: (int(r.peak_mem_allocated_bytes) if r.status == "ok" else f"{r.status}")
           for r in rows.itertuples()}
    ints = [mem.get(k) for k in ("qlora", "lora", "full_finetune")]
    ordered = ints[0] < ints[1] < ints[2] if all(isinstance(v, int) for v in ints) else None
    return {"vit_bf16_peak_mem_allocated_bytes": mem, "mem_order_qlora_lt_lora_lt_full": ordered}


def multi_result(out: Path, walls: dict) -> dict:
    spans = {k: cells_span_s(out / f"multi-{k}") for k in walls}
    return {"multi_wall_s": walls, "multi_span_s": spans,
            "cells_per_gpu_speedup_span": {k: spans["k1"] / spans[k] for k in spans},
            "cells_per_gpu_speedup_wall": {k: walls["k1"] / walls[k] for k in walls}}


class Summary:
    """``summary.json`` and ``summary.md``, rewritten after every step."""

    def __init__(self, out: Path, device: str, tiny: bool):
        import torch, timm  # noqa: E401  (versions for the record)

        from bench.train import measure

        self.out = out
        self.res: dict = {"device": measure.device_name(device), "tiny": tiny, "torch": torch.__version__,
                          "timm": timm.__version__, "steps_done": []}

    def update(self, **parts) -> None:
        self.res.update(parts)
        (self.out / "summary.json").write_text(json.dumps(self.res, indent=1, default=str))
        (self.out / "summary.md").write_text("\n".join(self.lines()) + "\n")

    def lines(self) -> list[str]:
        r = self.res
        lines = [f"# gpu-check on {r['device']}{' (TINY: CPU check of the script)' if r['tiny'] else ''}",
                 "", f"torch {r['torch']}, timm {r['timm']}; steps done: {', '.join(r['steps_done'])}", ""]
        for key, title in (("anchor", "bf16"), ("anchor_fp32", "fp32"), ("anchor_compiled", "bf16, compiled")):
            if key in r:
                lines += [f"## train samples/s: harness against timm's benchmark.py and a bare loop ({title})",
                          "", *gpu_anchor.anchor_lines(r[key]), ""]
        if "mem_order_qlora_lt_lora_lt_full" in r:
            lines += ["## ViT-B/16 bf16 peak_mem_allocated_bytes (target: qlora < lora < full_finetune)", "",
                      f"{r['vit_bf16_peak_mem_allocated_bytes']}: in order: {r['mem_order_qlora_lt_lora_lt_full']}", ""]
        if "multi_span_s" in r:
            lines += ["## cells per GPU (16 small_cnn cells; speed-up in cells per hour against one at a time)", "",
                      "| cells per GPU | wall s | cells' span s | speed-up (span) | speed-up (wall) |",
                      "|---|---|---|---|---|"]
            for k in r["multi_span_s"]:
                lines.append(f"| {k[1:]} | {r['multi_wall_s'][k]:.1f} | {r['multi_span_s'][k]:.1f} | "
                             f"{r['cells_per_gpu_speedup_span'][k]:.2f} | {r['cells_per_gpu_speedup_wall'][k]:.2f} |")
        return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for rows, suites and summary (created)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="tiny models and images: checks the script on CPU")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: 8 on "
                    "GPU, 1 with --tiny)")
    ap.add_argument("--timm-benchmark", type=Path, default=None, help="timm's benchmark.py (from timm's "
                    "repository at the installed version's tag; the wheel does not ship it)")
    ap.add_argument("--budget-s", type=float, default=420, help="start no new step after this many "
                    "seconds (default 420); what was measured is in the summary")
    args = ap.parse_args()
    import yaml

    sys.path.insert(0, str(REPO))
    out = args.out.resolve()
    (out / "suites").mkdir(parents=True, exist_ok=True)
    s = sizes(args.tiny)
    threads = args.threads or (1 if args.tiny else 8)
    # keep a PYTHONPATH already set (a GPU machine may carry the missing packages in one)
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "BENCH_DATA_OFFICE31": str(out / "data" / "office31"), "BENCH_CACHE": str(out / "cache")}
    os.environ.update({k: env[k] for k in ("HF_HUB_OFFLINE", "BENCH_CACHE", "BENCH_DATA_OFFICE31")})
    t0 = time.perf_counter()
    deadline = t0 + args.budget_s
    summary = Summary(out, args.device, args.tiny)

    def done(step: str, **parts) -> None:
        summary.res["steps_done"].append(f"{step} ({time.perf_counter() - t0:.0f} s)")
        summary.update(**parts)
        print(f"[gpu-check] {step} done at {time.perf_counter() - t0:.0f} s", flush=True)

    make_office31(out / "data" / "office31", s["px"], s["per_class"])
    done("data")
    common = dict(device=args.device, px=s["px"], budget=s["budget"], threads=threads, out=out,
                  timm_script=args.timm_benchmark, bench=bench, env=env, model_kwargs=s["kwargs"], deadline=deadline)
    models = [s["cnn"], s["vit"]]
    rows = gpu_anchor.run_anchor(gpu_anchor.grid(models, s["batches"], ["bf16"], [False], args.tiny),
                                 record=lambda r: summary.update(anchor=r), **common)
    done("anchor bf16", anchor=rows)
    if time.perf_counter() < deadline:
        (out / "suites" / "memory.yaml").write_text(yaml.safe_dump(memory_yaml(s, threads), sort_keys=False))
        bench("run", str(out / "suites" / "memory.yaml"), "--results", str(out / "memory"), "--device",
              args.device, "--no-progress", "--fresh", env=env)
        done("memory", **memory_result(out / "memory"))
    (out / "suites" / "multi.yaml").write_text(yaml.safe_dump(multi_yaml(s, threads), sort_keys=False))
    walls = {}
    for k in ("1", "2", "4"):
        if time.perf_counter() > deadline:
            break
        walls[f"k{k}"] = bench("run", str(out / "suites" / "multi.yaml"), "--results", str(out / f"multi-k{k}"),
                               "--device", args.device, "--gpus", "0", "--cells-per-gpu", k,
                               "--no-progress", "--fresh", env=env)
        done(f"cells per GPU {k}", **multi_result(out, walls))
    for key, precisions, compiled in (("anchor_fp32", ["fp32"], [False]), ("anchor_compiled", ["bf16"], [True])):
        if time.perf_counter() < deadline:
            cfgs = gpu_anchor.grid(models, s["batches"][:1], precisions, compiled, args.tiny)
            rows = gpu_anchor.run_anchor(cfgs, record=lambda r, key=key: summary.update(**{key: r}), **common)
            done(key, **{key: rows})
    print("\n".join(summary.lines()))
    print(f"[gpu-check] done in {time.perf_counter() - t0:.0f} s; summary in {out / 'summary.md'}")


if __name__ == "__main__":
    main()
