"""The fair GPU anchor of ``scripts/gpu-check``: the harness's training throughput held against
timm's own ``benchmark.py --bench train`` and against a bare PyTorch loop.

For each configuration (model, batch, precision, compile) the three are timed over the same steps,
with the same warm-up, kept out of the timed window (:func:`bench.train.loop.timing_warmup`: 50 steps
before a 500-step window; cuDNN's autotuning happens on the first step, inside the warm-up):

- **timm**: the ``benchmark.py`` of timm's repository (the wheel does not ship it; pass the file
  from the tag of the installed version), run as a subprocess with ``--bench train``,
  ``--num-warm-iter`` / ``--num-bench-iter``, ``--channels-last`` for convolutional models,
  ``--amp --amp-dtype bfloat16`` at bf16, ``--torchcompile`` when compiling. Its loop synchronises
  after every step and draws random targets on the GPU.
- **bare**: ``timm.create_model`` with 31 classes, SGD with momentum, random inputs already on the
  device in the model's memory format, no synchronisation inside the window.
- **harness**: ``bench run`` of a ``full_finetune`` cell (``data_on_device``), its row's
  ``train_samples_per_s``: the harness's own sampler, augmentation-free gather, normalisation and
  loop, all on the clock.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    model: str  # timm's name, without the harness's "timm/" prefix
    batch: int
    precision: str  # fp32 or bf16
    compile: bool
    steps: int  # warm-up included

    @property
    def label(self) -> str:
        return f"{self.model} b{self.batch} {self.precision}{' compiled' if self.compile else ''}"


def steps_for(batch: int, tiny: bool) -> int:
    """Warm-up plus timed steps: a 500-step window at batch 32 as the anchor asks; larger batches
    (2.7x to 7x the work per step) get a 55-step window, which fits the device time a check has."""
    if tiny:
        return 12
    return 550 if batch <= 32 else 60


def grid(models: list[str], batches: list[int], precisions: list[str], compiled: list[bool],
         tiny: bool) -> list[Config]:
    return [Config(m, b, p, c, steps_for(b, tiny)) for c in compiled for p in precisions
            for m in models for b in batches]


def warm_and_timed(cfg: Config) -> tuple[int, int]:
    sys.path.insert(0, str(REPO))
    from bench.train.loop import timing_warmup

    warm = timing_warmup(cfg.steps)
    return warm, cfg.steps - warm


def is_cnn(model: str) -> bool:
    return not model.startswith(("vit", "test_vit", "deit"))


def timm_benchmark(cfg: Config, script: Path, device: str, px: int, out: Path,
                   model_kwargs: dict | None = None) -> dict:
    """Samples per second from timm's own benchmark script, or ``{"error": ...}``."""
    warm, timed = warm_and_timed(cfg)
    res = out / f"timm-{cfg.label.replace(' ', '-')}.json"
    cmd = [sys.executable, str(script), "--bench", "train", "--model", cfg.model, "-b", str(cfg.batch),
           "--img-size", str(px), "--num-classes", "31", "--num-warm-iter", str(warm),
           "--num-bench-iter", str(timed), "--device", device, "--no-retry",
           "--results-file", str(res), "--results-format", "json"]
    if is_cnn(cfg.model):
        cmd.append("--channels-last")
    if cfg.precision == "bf16":
        cmd += ["--amp", "--amp-dtype", "bfloat16"]
    if cfg.compile:
        cmd += ["--torchcompile", "inductor"]
    if model_kwargs:
        cmd += ["--model-kwargs", *(f"{k}={v}" for k, v in model_kwargs.items())]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not res.exists():
        return {"error": (done.stderr or done.stdout)[-600:]}
    got = json.loads(res.read_text())
    if "error" in got:
        return {"error": str(got["error"])[-600:]}
    return {"samples_per_s": float(got["train_samples_per_sec"]), "step_ms": float(got["train_step_time"])}


def bare_loop(cfg: Config, device: str, px: int, model_kwargs: dict | None = None) -> dict:
    """Samples per second of a plain training loop: nothing between the steps but the steps."""
    import timm
    import torch
    import torch.nn.functional as F

    warm, timed = warm_and_timed(cfg)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if is_cnn(cfg.model) else torch.contiguous_format
    model = timm.create_model(cfg.model, num_classes=31, **(model_kwargs or {}))
    model = model.to(device, memory_format=fmt).train()
    if cfg.compile:
        model.compile()
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    xs = torch.randn(4, cfg.batch, 3, px, px, device=device).contiguous(memory_format=torch.contiguous_format)
    xs = [x.contiguous(memory_format=fmt) for x in xs]
    ys = torch.randint(0, 31, (4, cfg.batch), device=device)
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        if step == warm:
            sync()
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(xs[step % 4]), ys[step % 4])
        loss.backward()
        opt.step()
    sync()
    elapsed = time.perf_counter() - t0
    del model, opt, xs
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"samples_per_s": timed * cfg.batch / elapsed, "step_ms": 1000 * elapsed / timed}


def harness_suite(cfgs: list[Config], px: int, budget: int, threads: int,
                  model_kwargs: dict[str, dict]) -> dict:
    """One ``bench run`` suite for configurations of one batch size: a full_finetune cell each."""
    batch, steps = cfgs[0].batch, cfgs[0].steps
    assert all(c.batch == batch and c.steps == steps for c in cfgs)
    backbones = [{"name": f"timm/{c.model}", "precision": c.precision, "compile": c.compile,
                  "label": c.label, **({"kwargs": model_kwargs[c.model]} if c.model in model_kwargs else {})}
                 for c in cfgs]
    train = {"batch_size": batch, "optimizer": "sgd", "momentum": 0.9}
    return {"name": f"gpu-anchor-b{batch}", "backbones": backbones, "strategies": ["full_finetune"],
            "pairs": [f"office31/amazon@{px} -> office31/webcam@{px}"], "label_budgets": [budget],
            "seeds": [0], "source": {**train, "steps": 5, "lr": 0.01},
            "adapt": {**train, "steps": steps, "lr": 0.001}, "data_on_device": True, "threads": threads}


def harness_throughput(results: Path) -> dict[str, dict]:
    """label -> the harness row's throughput (or its status when the cell did not finish)."""
    from bench.results import read_results

    out = {}
    for r in read_results(results).itertuples():
        if r.status == "ok":
            out[r.backbone] = {"samples_per_s": float(r.train_samples_per_s),
                               "step_ms": 1000 * int(r.batch_size) / float(r.train_samples_per_s)}
        else:
            out[r.backbone] = {"error": f"{r.status}: {str(getattr(r, 'error', ''))[-300:]}"}
    return out


def run_anchor(cfgs: list[Config], *, device: str, px: int, budget: int, threads: int, out: Path,
               timm_script: Path | None, bench: Callable[..., float], env: dict,
               model_kwargs: dict[str, dict], deadline: float, record: Callable[[list], None]) -> list[dict]:
    """timm, bare and harness for every configuration, one batch size at a time (the harness's
    configurations of a batch size share one ``bench run``); stops starting new ones at ``deadline``
    (``time.perf_counter()``), recording what it has after each batch size."""
    import yaml

    rows: list[dict] = []
    for batch in sorted({c.batch for c in cfgs}, key=lambda b: [c.batch for c in cfgs].index(b)):
        group = [c for c in cfgs if c.batch == batch]
        if time.perf_counter() > deadline:
            rows += [{**asdict(c), "label": c.label, "skipped": "out of device time"} for c in group]
            continue
        found = {}
        for c in group:
            kw = model_kwargs.get(c.model)
            t = timm_benchmark(c, timm_script, device, px, out, kw) if timm_script else {"error": "no script"}
            found[c.label] = {"timm": t, "bare": bare_loop(c, device, px, kw)}
        suite = out / "suites" / f"anchor-b{batch}.yaml"
        suite.write_text(yaml.safe_dump(harness_suite(group, px, budget, threads, model_kwargs), sort_keys=False))
        results = out / f"anchor-b{batch}"
        bench("run", str(suite), "--results", str(results), "--device", device, "--no-progress", "--fresh", env=env)
        harness = harness_throughput(results)
        for c in group:
            row = {**asdict(c), "label": c.label, **found[c.label],
                   "harness": harness.get(c.label, {"error": "no row"})}
            h, t, b = (row[k].get("samples_per_s") for k in ("harness", "timm", "bare"))
            row["harness_over_timm"] = h / t if h and t else None
            row["harness_over_bare"] = h / b if h and b else None
            row["bare_over_timm"] = b / t if b and t else None
            rows.append(row)
        record(rows)
    return rows


def anchor_lines(rows: list[dict]) -> list[str]:
    """The anchor as a markdown table: samples/s of each, and the ratios."""
    lines = ["| config | steps (warm-up + timed) | timm benchmark.py | bare loop | harness | harness / timm "
             "| harness / bare |", "|---|---|---|---|---|---|---|"]

    def num(d: dict) -> str:
        return f"{d['samples_per_s']:.0f}" if "samples_per_s" in d else "error"

    def ratio(v: float | None) -> str:
        return f"{v:.3f}" if v else "-"

    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['label']} | - | {r['skipped']} | | | | |")
            continue
        warm, timed = warm_and_timed(Config(r["model"], r["batch"], r["precision"], r["compile"], r["steps"]))
        lines.append(f"| {r['label']} | {warm} + {timed} | {num(r['timm'])} | {num(r['bare'])} | {num(r['harness'])} "
                     f"| {ratio(r['harness_over_timm'])} | {ratio(r['harness_over_bare'])} |")
    errors = [f"- {r['label']} {k}: {r[k]['error']}" for r in rows if "skipped" not in r
              for k in ("timm", "bare", "harness") if "error" in r[k]]
    return lines + (["", "errors:", *errors] if errors else [])
