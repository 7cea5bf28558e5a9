"""The DANN paper's toy through the harness: moons -> moons-rot/30, mlp backbone, every DA method.

    python scripts/moons_toy.py [--seeds 0 1 2] [--degrees 30]

Prints target accuracy per strategy (mean over seeds) and the proxy A-distance before / after.
"""
from __future__ import annotations

import argparse
import tempfile

import pandas as pd
import torch

from bench.cell import run_cell
from bench.suite import Suite, expand

#: adversarial methods get 1500 steps: lambda_p ramps up over training, and with 600 steps DANN
#: only reached 84% (vs 82% source-only) on seeds 0-1, with 1500 steps 94% (seeds 0-2)
METHODS = ["source_only", {"name": "dann", "steps": 1500}, "mmd", "dan", "coral",
           {"name": "cdan", "steps": 1500}, {"name": "cdan+e", "steps": 1500}, "mcc", "adabn",
           "pseudo_label", "tent", {"name": "target_only", "label_budgets": ["all"]}]


def toy_suite(seeds: list[int], degrees: float = 30, methods=None, steps: int = 600) -> Suite:
    return Suite(name="moons-toy", backbones=[{"name": "mlp", "kwargs": {"hidden": 32}}],
                 strategies=methods or METHODS, pairs=[f"moons -> moons-rot/{degrees:g}"],
                 label_budgets=[0], seeds=seeds,
                 source={"steps": 400, "batch_size": 64, "lr": 0.01},
                 adapt={"steps": steps, "batch_size": 64, "lr": 0.003})


def run(suite: Suite) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_cell(c, tmp) for c in expand(suite)]
    return pd.DataFrame(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--degrees", type=float, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    df = run(toy_suite(args.seeds, args.degrees))
    bad = df[df.status != "ok"]
    if len(bad):
        print(bad[["strategy", "status", "error"]].to_string())
    cols = ["target_acc_before", "target_acc", "source_acc_after", "a_distance_before", "a_distance_after", "adapt_wall_s"]
    print(df[df.status == "ok"].groupby("strategy", sort=False)[cols].agg(["mean", "std"]).round(2).to_string())
