"""Published reference numbers, shown beside measured ones in reports.

Transfer-Learning-Library (TLL) benchmark, ResNet-50 pretrained on ImageNet, Office-31, average
accuracy over the six pairs. TLL selects models with target labels and trains transductively on
all target images, so the harness's numbers (source-val selection, disjoint target test split)
are expected to be somewhat lower.
"""
from __future__ import annotations

import pandas as pd

PUBLISHED = {
    "office31": {
        "source": "Transfer-Learning-Library, ResNet-50 (ImageNet), Office-31 average of 6 pairs",
        "backbone_prefix": "timm/resnet50",
        "avg": {"source_only": 79.5, "dann": 86.1, "dan": 83.7, "cdan": 87.7, "mcc": 89.6},
    },
}


def reference_blocks(df: pd.DataFrame) -> list[tuple]:
    """Report blocks: published average vs the measured one (label budget 0, the backbone the
    reference used, mean over pairs of the seed means); empty when no matching results exist."""
    blocks: list[tuple] = []
    for dataset, ref in PUBLISHED.items():
        part = df[(df["status"] == "ok") & (df["label_budget"] == "0")
                  & df["source_domain"].str.startswith(f"{dataset}/")
                  & df["backbone"].str.startswith(ref["backbone_prefix"])]
        if part.empty:
            continue
        per_pair = part.groupby(["strategy", "source_domain", "target_domain"])["target_acc"].mean()
        measured = per_pair.groupby("strategy").agg(["mean", "size"])
        rows = []
        for strategy, published in ref["avg"].items():
            have = strategy in measured.index
            rows.append({"strategy": strategy, "published": f"{published:.1f}",
                         "measured": f"{measured.loc[strategy, 'mean']:.1f}" if have else "n/a",
                         "pairs measured": int(measured.loc[strategy, "size"]) if have else 0})
        table = pd.DataFrame(rows).set_index("strategy").astype(str)
        blocks += [("h2", f"Published reference: {dataset}"),
                   ("p", f"{ref['source']}; measured: label budget 0, backbones "
                         f"`{ref['backbone_prefix']}*`. Published numbers select models with target "
                         "labels, so ours are expected to be somewhat lower."),
                   ("table", table, table.map(lambda _: False))]
    return blocks
