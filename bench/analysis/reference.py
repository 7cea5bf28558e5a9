"""Published reference numbers, shown beside measured ones in reports (the one home for them).

DomainBed (``DOMAINBED``): its ColoredMNIST, RotatedMNIST and VLCS tables, per selection rule, shown
by the report's DomainBed-layout section (``bench.analysis.report.domainbed``).

Transfer-Learning-Library (TLL) benchmark, ResNet-50 pretrained on ImageNet, Office-31, average
accuracy over the six pairs. TLL trains jointly and transductively on all target images and keeps
the best epoch by accuracy on those (target labels); the block says which selection rule,
protocol and target split the measured rows used (``suites/tllib-office31.yaml`` matches TLL's
protocol; selection stays label-free).
"""
from __future__ import annotations

import pandas as pd

PUBLISHED = {
    "office31": {
        "source": "Transfer-Learning-Library, ResNet-50 (ImageNet), Office-31 average of 6 pairs",
        "backbone_prefix": "timm/resnet50",
        "avg": {"source_only": 79.5, "dann": 86.1, "dan": 83.7, "cdan": 87.7, "mcc": 89.6},
        "selection": "best epoch by accuracy on the target images (uses target labels)",
        "protocol": "joint, transductive",
    },
}


#: published numbers per (source, target) pair, with the harness's names for the domains and methods
PUBLISHED_PAIRS = {
    "tllib-digits": {
        "source": "Transfer-Learning-Library, LeNet from scratch, digits (docs/dalib/benchmarks/"
                  "image_classification.rst, 'Digits accuracy'); ours: USPS is GPML's 4,649 / 4,649 "
                  "split of the 9,298 images, TLL's the 7,291 / 2,007 one",
        "backbone_prefix": "lenet",
        "pairs": {("mnist-full", "usps@28"): {"erm": 82.1, "dann": 91.7, "dan": 86.0, "cdan": 96.0, "mcc": 95.1},
                  ("usps@28", "mnist-full"): {"erm": 74.6, "dann": 95.2, "dan": 89.5, "cdan": 97.7, "mcc": 94.6}},
        "selection": "best epoch by accuracy on the target test set (the oracle)",
    },
}


#: DomainBed (Gulrajani & Lopez-Paz, ICLR 2021), facebookresearch/DomainBed,
#: domainbed/results/2020_10_06_7df6f06/results.tex: per dataset the held-out domains (the harness's
#: names -> the table's column labels) and, per selection rule (the harness's rule names: source_val =
#: "training-domain validation set", leave_one_out = "leave-one-domain-out cross-validation", oracle =
#: "test-domain validation set (oracle)"), each
#: algorithm's row: the published table's held-out domains in column order, then Avg (means over 3
#: trial seeds; the file's standard errors are not transcribed). Algorithms under the harness's
#: names: CORAL and MMD are ``dg_coral`` / ``dg_mmd`` and DANN is ``dg_dann`` (``coral`` / ``mmd`` /
#: ``dann`` are the UDA ones). Rows the harness lacks (MTL, SagNet, ARM, RSC) are left out.
#: ``columns`` (where given): the published table's column labels when the harness has only some of
#: them (VLCS: ``vlcs-mini`` has Caltech, LabelMe and SUN, not VOC2007); the row's values follow
#: ``columns``, its Avg is over all of them and so is no Avg of ours (``domainbed_published``).
DOMAINBED = {
    "source": "DomainBed, facebookresearch/DomainBed domainbed/results/2020_10_06_7df6f06/results.tex "
              "(5,000 steps, 20 hyper-parameter draws x 3 trial seeds; MNIST_CNN on the MNIST datasets, "
              "ResNet-50 (ImageNet) at 224 px on VLCS)",
    "datasets": {
        "ColoredMNIST": {
            "domains": {"cmnist/90": "+90%", "cmnist/80": "+80%", "cmnist/-90": "-90%"},
            "source_val": {
                "erm": (71.7, 72.9, 10.0, 51.5), "irm": (72.5, 73.3, 10.2, 52.0),
                "group_dro": (73.1, 73.2, 10.0, 52.1), "mixup": (72.7, 73.4, 10.1, 52.1),
                "mldg": (71.5, 73.1, 9.8, 51.5), "dg_coral": (71.6, 73.1, 9.9, 51.5),
                "dg_mmd": (71.4, 73.1, 9.9, 51.5), "cdann": (72.0, 73.0, 10.2, 51.7),
                "dg_dann": (71.4, 73.1, 10.0, 51.5), "vrex": (72.4, 72.9, 10.2, 51.8)},
            "leave_one_out": {
                "erm": (50.0, 50.1, 10.0, 36.7), "irm": (46.7, 51.2, 23.1, 40.3),
                "group_dro": (50.1, 50.0, 10.2, 36.8), "mixup": (36.6, 53.4, 10.2, 33.4),
                "mldg": (50.1, 50.1, 10.0, 36.7), "dg_coral": (49.5, 59.5, 10.2, 39.7),
                "dg_mmd": (50.3, 50.0, 9.9, 36.8), "cdann": (63.2, 44.4, 9.9, 39.1),
                "dg_dann": (49.9, 62.1, 10.0, 40.7), "vrex": (50.2, 50.5, 10.1, 36.9)},
            "oracle": {
                "erm": (71.8, 72.9, 28.7, 57.8), "irm": (72.0, 72.5, 58.5, 67.7),
                "group_dro": (73.5, 73.0, 36.8, 61.1), "mixup": (72.5, 73.9, 28.6, 58.4),
                "mldg": (71.9, 73.5, 29.1, 58.2), "dg_coral": (71.1, 73.4, 31.1, 58.6),
                "dg_mmd": (69.0, 70.4, 50.6, 63.3), "cdann": (71.8, 72.9, 33.8, 59.5),
                "dg_dann": (72.4, 73.9, 24.9, 57.0), "vrex": (72.8, 73.0, 55.2, 67.0)},
        },
        "RotatedMNIST": {
            "domains": {f"rmnist/{a}": str(a) for a in (0, 15, 30, 45, 60, 75)},
            "source_val": {
                "erm": (95.9, 98.9, 98.8, 98.9, 98.9, 96.4, 98.0),
                "irm": (95.5, 98.8, 98.7, 98.6, 98.7, 95.9, 97.7),
                "group_dro": (95.6, 98.9, 98.9, 99.0, 98.9, 96.5, 98.0),
                "mixup": (95.8, 98.9, 98.9, 98.9, 98.8, 96.5, 98.0),
                "mldg": (95.8, 98.9, 99.0, 98.9, 99.0, 95.8, 97.9),
                "dg_coral": (95.8, 98.8, 98.9, 99.0, 98.9, 96.4, 98.0),
                "dg_mmd": (95.6, 98.9, 99.0, 99.0, 98.9, 96.0, 97.9),
                "cdann": (95.7, 98.8, 98.9, 98.9, 98.9, 96.1, 97.9),
                "dg_dann": (95.0, 98.9, 99.0, 99.0, 98.9, 96.3, 97.8),
                "vrex": (95.9, 99.0, 98.9, 98.9, 98.7, 96.2, 97.9)},
            "leave_one_out": {
                "erm": (95.3, 98.9, 98.9, 98.8, 98.5, 96.2, 97.7),
                "irm": (94.5, 98.2, 98.7, 96.6, 98.4, 95.8, 97.0),
                "group_dro": (95.7, 98.7, 98.9, 98.6, 98.6, 95.3, 97.6),
                "mixup": (94.8, 98.8, 98.9, 99.0, 98.9, 96.4, 97.8),
                "mldg": (94.3, 98.8, 99.0, 98.8, 98.8, 96.0, 97.6),
                "dg_coral": (95.7, 98.5, 98.9, 98.6, 98.8, 96.3, 97.8),
                "dg_mmd": (95.8, 98.7, 99.0, 98.8, 98.7, 96.1, 97.8),
                "cdann": (94.3, 98.4, 98.9, 98.7, 98.9, 95.7, 97.5),
                "dg_dann": (95.1, 98.3, 98.5, 99.0, 98.6, 96.1, 97.6),
                "vrex": (95.8, 98.7, 98.5, 98.9, 74.0, 95.5, 93.6)},
            "oracle": {
                "erm": (95.3, 98.7, 98.9, 98.7, 98.9, 96.2, 97.8),
                "irm": (94.9, 98.7, 98.6, 98.6, 98.7, 95.2, 97.5),
                "group_dro": (95.9, 99.0, 98.9, 98.8, 98.6, 96.3, 97.9),
                "mixup": (95.8, 98.7, 99.0, 98.8, 98.8, 96.6, 98.0),
                "mldg": (95.7, 98.9, 98.8, 98.9, 98.6, 95.8, 97.8),
                "dg_coral": (96.2, 98.8, 98.8, 98.8, 98.9, 96.4, 98.0),
                "dg_mmd": (96.1, 98.9, 99.0, 98.8, 98.9, 96.4, 98.0),
                "cdann": (95.9, 98.8, 98.7, 98.9, 98.8, 96.1, 97.9),
                "dg_dann": (95.9, 98.9, 98.6, 98.7, 98.9, 96.3, 97.9),
                "vrex": (95.5, 99.0, 98.7, 98.8, 98.8, 96.4, 97.9)},
        },
        "VLCS": {
            "domains": {"vlcs-mini/caltech": "C", "vlcs-mini/labelme": "L", "vlcs-mini/sun": "S"},
            "columns": ("C", "L", "S", "V"),  # V = VOC2007: not in the vlcs-mini sample
            "source_val": {
                "erm": (97.7, 64.3, 73.4, 74.6, 77.5), "irm": (98.6, 64.9, 73.4, 77.3, 78.5),
                "group_dro": (97.3, 63.4, 69.5, 76.7, 76.7), "mixup": (98.3, 64.8, 72.1, 74.3, 77.4),
                "mldg": (97.4, 65.2, 71.0, 75.3, 77.2), "dg_coral": (98.3, 66.1, 73.4, 77.5, 78.8),
                "dg_mmd": (97.7, 64.0, 72.8, 75.3, 77.5), "dg_dann": (99.0, 65.1, 73.1, 77.2, 78.6),
                "cdann": (97.1, 65.1, 70.7, 77.1, 77.5), "vrex": (98.4, 64.4, 74.1, 76.2, 78.3)},
            "leave_one_out": {
                "erm": (98.0, 62.6, 70.8, 77.5, 77.2), "irm": (98.6, 66.0, 69.3, 71.5, 76.3),
                "group_dro": (98.1, 66.4, 71.0, 76.1, 77.9), "mixup": (98.4, 63.4, 72.9, 76.1, 77.7),
                "mldg": (98.5, 61.7, 73.6, 75.0, 77.2), "dg_coral": (96.9, 65.7, 73.3, 78.7, 78.7),
                "dg_mmd": (98.3, 65.6, 69.7, 75.7, 77.3), "dg_dann": (97.3, 63.7, 72.6, 74.2, 76.9),
                "cdann": (97.6, 63.4, 70.5, 78.6, 77.5), "vrex": (96.9, 64.8, 69.7, 75.5, 76.7)},
            "oracle": {
                "erm": (97.6, 67.9, 70.9, 74.0, 77.6), "irm": (97.3, 66.7, 71.0, 72.8, 76.9),
                "group_dro": (97.7, 65.9, 72.8, 73.4, 77.4), "mixup": (97.8, 67.2, 71.5, 75.7, 78.1),
                "mldg": (97.1, 66.6, 71.5, 75.0, 77.5), "dg_coral": (97.3, 67.5, 71.6, 74.5, 77.7),
                "dg_mmd": (98.8, 66.4, 70.8, 75.6, 77.9), "dg_dann": (99.0, 66.3, 73.4, 80.1, 79.7),
                "cdann": (98.2, 68.8, 74.3, 78.1, 79.9), "vrex": (98.4, 66.4, 72.8, 75.0, 78.1)},
        },
    },
}


def domainbed_dataset(domains: set[str]) -> str | None:
    """The DomainBed dataset whose held-out domains are exactly ``domains`` (None: not one)."""
    return next((name for name, d in DOMAINBED["datasets"].items() if set(d["domains"]) == set(domains)), None)


def domainbed_columns(dataset: str) -> tuple[str, ...]:
    """The published table's held-out-domain column labels, in its order."""
    ref = DOMAINBED["datasets"][dataset]
    return tuple(ref.get("columns", ref["domains"].values()))


def domainbed_row(dataset: str, rule: str, strategy: str) -> dict[str, float]:
    """``{column label or "Avg": published accuracy}``: one row of DomainBed's table as published,
    every column of it ({} if none)."""
    ref = DOMAINBED["datasets"].get(dataset, {})
    values = ref.get(rule, {}).get(strategy)
    return dict(zip([*domainbed_columns(dataset), "Avg"], values)) if values else {}


def domainbed_missing(dataset: str) -> tuple[str, ...]:
    """The published table's columns that the harness has no domain for (VLCS: ``("V",)``)."""
    have = set(DOMAINBED["datasets"][dataset]["domains"].values())
    return tuple(c for c in domainbed_columns(dataset) if c not in have)


def domainbed_published(dataset: str, rule: str, strategy: str) -> dict[str, float]:
    """``{held-out domain or "Avg": published accuracy}`` for one row of DomainBed's table ({} if
    none), under the harness's domain names; "Avg" only where the harness has every column of the
    table (else the published Avg is over other domains than ours: not comparable)."""
    row = domainbed_row(dataset, rule, strategy)
    if not row:
        return {}
    out = {domain: row[label] for domain, label in DOMAINBED["datasets"][dataset]["domains"].items()}
    return out if domainbed_missing(dataset) else {**out, "Avg": row["Avg"]}


def has_published_pair(df: pd.DataFrame) -> bool:
    """Whether any row is a cell of a published per-pair table (its pair, its backbone)."""
    return any(len(_measured(df, ref["backbone_prefix"], src, tgt))
               for ref in PUBLISHED_PAIRS.values() for src, tgt in ref["pairs"])


def _measured(rows: pd.DataFrame, prefix: str, src: str, tgt: str, strategy: str | None = None) -> pd.Series:
    """target_acc of the ok label-budget-0 rows of one published cell (``strategy`` None: any)."""
    if rows.empty:
        return pd.Series(dtype=float)
    keep = ((rows["status"] == "ok") & (rows["label_budget"] == "0") & rows["backbone"].str.startswith(prefix)
            & (rows["source_domain"] == src) & (rows["target_domain"] == tgt))
    if strategy is not None:
        keep &= rows["strategy"] == strategy
    return rows.loc[keep, "target_acc"]


def pair_reference_blocks(df: pd.DataFrame, by_rule: dict[str, pd.DataFrame] | None = None) -> list[tuple]:
    """Report blocks: per pair and method, the published number, the measured mean over seeds
    (rows as selected by the report's rule) and the difference in points. ``by_rule``: the rows as
    each other selection rule picks them (oracle first, then the label-free validators), one more
    column each, ``mean (difference)``, so a published oracle pick stands beside every rule's."""
    blocks: list[tuple] = []
    by_rule = by_rule or {}
    for name, ref in PUBLISHED_PAIRS.items():
        prefix, rows = ref["backbone_prefix"], []
        for (src, tgt), methods in ref["pairs"].items():
            for strategy, published in methods.items():
                vals = _measured(df, prefix, src, tgt, strategy)
                if not len(vals):
                    continue
                row = {"pair": f"{src}->{tgt}", "strategy": strategy, "published": f"{published:.1f}",
                       "measured": f"{vals.mean():.1f}", "difference": f"{vals.mean() - published:+.1f}",
                       "seeds": str(len(vals))}
                for rule, picked in by_rule.items():
                    v = _measured(picked, prefix, src, tgt, strategy)
                    row[rule] = f"{v.mean():.1f} ({v.mean() - published:+.1f})" if len(v) else "n/a"
                rows.append(row)
        if not rows:
            continue
        table = pd.DataFrame(rows).set_index("pair").astype(str)
        also = (f" Then one column per selection rule applied to the same checkpoints ({', '.join(by_rule)}): "
                "`mean (measured - published)`." if by_rule else "")
        part = df[(df["status"] == "ok") & (df["label_budget"] == "0") & df["backbone"].str.startswith(prefix)]
        blocks += [("h2", f"Published reference: {name}"),
                   ("p", f"{ref['source']}. Published selection: {ref['selection']}; measured: "
                         f"{_values(part, 'selection_rule')} (run `bench report --select oracle` for the "
                         "published rule). Measured: mean over seeds; difference = measured - published, points."
                         + also),
                   ("table", table, table.map(lambda _: False))]
    return blocks


def reference_blocks(df: pd.DataFrame, by_rule: dict[str, pd.DataFrame] | None = None) -> list[tuple]:
    """Report blocks: published average vs the measured one (label budget 0, the backbone the
    reference used, mean over pairs of the seed means), then the per-pair references (with
    ``by_rule``'s columns, see :func:`pair_reference_blocks`); empty when no matching results exist."""
    blocks: list[tuple] = pair_reference_blocks(df, by_rule)
    for dataset, ref in PUBLISHED.items():
        part = df[(df["status"] == "ok") & (df["label_budget"] == "0")
                  & df["source_domain"].str.startswith(f"{dataset}/")
                  & df["backbone"].str.startswith(ref["backbone_prefix"])]
        if part.empty:
            continue
        # one measured column per protocol, so a nightly report holding both the nightly
        # protocol and the published one never averages them together
        part = part.assign(protocol=_column(part, "protocol", "two_stage"),
                           target_split=_column(part, "target_split", "inductive"))
        combos = sorted(part.groupby(["protocol", "target_split"]).groups)
        rows = []
        for strategy, published in ref["avg"].items():
            row = {"strategy": strategy, "published": f"{published:.1f}"}
            for proto, split in combos:
                sub = part[(part["protocol"] == proto) & (part["target_split"] == split)
                           & (part["strategy"] == strategy)]
                per_pair = sub.groupby(["source_domain", "target_domain"])["target_acc"].mean()
                tag = "" if len(combos) == 1 else f" ({proto}, {split})"
                row[f"measured{tag}"] = f"{per_pair.mean():.1f}" if len(per_pair) else "n/a"
                row[f"pairs measured{tag}"] = len(per_pair)
            rows.append(row)
        table = pd.DataFrame(rows).set_index("strategy").astype(str)
        blocks += [("h2", f"Published reference: {dataset}"),
                   ("p", f"{ref['source']}; measured: label budget 0, backbones "
                         f"`{ref['backbone_prefix']}*`."),
                   ("p", f"Selection rule: published: {ref['selection']}; measured: "
                         f"{_values(part, 'selection_rule')}. Protocol: published: {ref['protocol']}; "
                         f"measured: {_values(part, 'protocol')}, {_values(part, 'target_split')}. "
                         "A published number whose epoch was picked with target labels is an upper "
                         "bound for a label-free rule."),
                   ("table", table, table.map(lambda _: False))]
    return blocks



def _column(df: pd.DataFrame, column: str, default: str) -> pd.Series:
    """A column as strings; rows from before the column existed count as its default."""
    return df[column].fillna(default).astype(str) if column in df else pd.Series(default, index=df.index)


def _values(df: pd.DataFrame, column: str) -> str:
    from bench.analysis.report.render import md_code  # here: the report package imports this module

    return " / ".join(md_code(v) for v in sorted(set(_column(df, column, "n/a"))))
