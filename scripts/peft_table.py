"""The PEFT comparison table (docs/peft-and-forgetting.md) from a results directory.

    python scripts/peft_table.py results/peft

One Markdown table per backbone: strategy (and its distinguishing hyper-parameters) as rows;
mean over seeds of target accuracy (with a 95% t-interval half-width), source accuracy after,
forgetting, trainable parameters, saved adapter size, tensor-counted training footprint (see
bench/footprint.py), the CPU peak-RSS rise over the stage's baseline, and training throughput.
"""
from __future__ import annotations

import json
import sys

import pandas as pd
from scipy import stats

SHOWN_HPARAMS = ("rank",)


def label(row: pd.Series) -> str:
    hp = json.loads(row.hparams)
    extra = ", ".join(f"{k}={hp[k]}" for k in SHOWN_HPARAMS if k in hp)
    return f"{row.strategy} ({extra})" if extra else row.strategy


def ci(values: pd.Series) -> str:
    m, n = values.mean(), values.count()
    if n < 2:
        return f"{m:.1f}"
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / n ** 0.5
    return f"{m:.1f} ± {half:.1f}"


def table(df: pd.DataFrame) -> str:
    df = df.assign(method=df.apply(label, axis=1))
    extra = df.extra.map(json.loads)
    df = df.assign(footprint_mb=extra.map(lambda e: e.get("footprint_bytes", float("nan")) / 2**20),
                   rss_rise_mb=(df.peak_mem_allocated_bytes - df.mem_baseline_bytes) / 2**20,
                   adapter_kb=df.adapter_bytes / 1024)
    rows = []
    for method, g in df.groupby("method", sort=False):
        rows.append({"method": method, "seeds": len(g), "target acc": ci(g.target_acc),
                     "before": f"{g.target_acc_before.mean():.1f}",
                     "source acc after": f"{g.source_acc_after.mean():.1f}",
                     "forgetting": ci(g.forgetting), "trainable": f"{int(g.trainable_params.iloc[0]):,}",
                     "adapter KiB": "" if g.adapter_kb.isna().all() else f"{g.adapter_kb.mean():.0f}",
                     "footprint MiB": f"{g.footprint_mb.mean():.1f}",
                     "RSS rise MiB": f"{g.rss_rise_mb.mean():.1f}",
                     "train samples/s": f"{g.train_samples_per_s.mean():.0f}"})
    return pd.DataFrame(rows).to_markdown(index=False)


def main(path: str) -> None:
    from bench.results import read_results

    df = read_results(path)
    df = df[df.status == "ok"]
    for (backbone, src, tgt), g in df.groupby(["backbone", "source_domain", "target_domain"]):
        print(f"\n### {backbone}: {src} -> {tgt}\n")
        print(table(g))


if __name__ == "__main__":
    main(sys.argv[1])
