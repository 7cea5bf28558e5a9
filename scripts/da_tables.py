"""The README's domain-adaptation tables from a results directory of suites/da.yaml (or any suite
run with trials and checkpoints): target accuracy per strategy under several report-time
selection rules, each seed against source_only, and the selection-regret table.

    PYTHONPATH=. python scripts/da_tables.py results/da [--rules last source_val dev snd oracle] [--pair 'a->b']

Selection is bench.analysis.report.select.select (the same as `bench report --select RULE`, issue 11b); nothing reruns.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from bench.analysis.report.rules import ORACLE, RULES, UNSUPERVISED
from bench.analysis.report.select import read_checkpoints, select
from bench.analysis.report.selection_tables import regret
from bench.results import read_results

BASELINE = "source_only"


def per_seed(rows: pd.DataFrame, ckpt: pd.DataFrame, rule: str) -> pd.DataFrame:
    """strategy x seed -> selected target accuracy under ``rule``."""
    picked = select(rows, ckpt, rule)
    picked = picked[picked.status == "ok"]
    return picked.pivot_table(index="strategy", columns="seed", values="target_acc", aggfunc="mean")


def label(rule: str) -> str:
    return "oracle (test labels: analysis only)" if rule == ORACLE else rule


def accuracy_table(tables: dict[str, pd.DataFrame]) -> str:
    rules = list(tables)
    head = "| strategy | " + " | ".join(label(r) for r in rules) + " |"
    lines = [head, "|---|" + "---|" * len(rules)]
    base = {r: t.loc[BASELINE] for r, t in tables.items() if BASELINE in t.index}
    means = pd.concat([t.mean(axis=1) for t in tables.values()], axis=1).max(axis=1)
    order = means.sort_values().index  # every strategy, by its best rule's mean
    for strategy in order:
        cells = []
        for r in rules:
            t = tables[r]
            if strategy not in t.index:
                cells.append("–")
                continue
            accs = t.loc[strategy].dropna()
            cell = f"{accs.mean():.1f} ± {accs.std(ddof=1):.1f}" if len(accs) > 1 else f"{accs.mean():.1f}"
            if strategy != BASELINE and r in base:
                worst = (accs - base[r].reindex(accs.index)).min()
                cell += f" ({worst:+.1f})"
            cells.append(cell)
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def regret_table(reg: pd.DataFrame, rules: list[str]) -> str:
    reg = reg[reg.rule.isin(rules)]
    wide = reg.pivot_table(index="method", columns="rule", values="regret", aggfunc="mean")
    wide = wide[[r for r in rules if r in wide.columns]]
    lines = ["| method | " + " | ".join(wide.columns) + " |", "|---|" + "---|" * len(wide.columns)]
    for method, row in wide.iterrows():
        lines.append(f"| {method} | " + " | ".join(f"{v:.1f}" for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--rules", nargs="+", default=["last", "source_val", "dev", "entropy", "im", "snd", "bnm", ORACLE])
    ap.add_argument("--pair", help="only this pair, e.g. 'mnist->digits' (default: every pair, pooled per seed)")
    args = ap.parse_args()
    rows, ckpt = read_results(args.results), read_checkpoints([args.results])
    if args.pair:
        rows = rows[(rows.source_domain + "->" + rows.target_domain) == args.pair.replace(" ", "")]
        if rows.empty:
            raise SystemExit(f"no rows of pair {args.pair!r} in {args.results}")
    rows = rows[rows.label_budget == "0"] if (rows.label_budget == "0").any() else rows
    tables = {r: per_seed(rows, ckpt, r) for r in args.rules}
    print(f"Target accuracy (%), mean ± sd over seeds; in brackets the worst seed's difference to "
          f"{BASELINE} under the same rule. Rules: " + "; ".join(f"`{r}`: {RULES[r]}" for r in args.rules))
    print()
    print(accuracy_table(tables))
    reg_rules = ["last", "source_val", "dev", *UNSUPERVISED]
    reg = regret(rows, ckpt, [r for r in reg_rules if r in RULES])
    print()
    print("Selection regret: oracle's selected accuracy minus the rule's, mean over seeds (points; 0 = as good as "
          "picking by target-test labels).")
    print()
    print(regret_table(reg, reg_rules))
    overall = reg[reg.method == reg.method.iloc[-1]] if len(reg) else reg
    print()
    print(f"all methods, mean regret: " + ", ".join(f"{r} {v:.1f}" for r, v in
                                                  zip(overall.rule, overall.regret)))
    n = rows.groupby(["strategy", "trial"]).seed.nunique()
    print(f"\n{len(rows)} cells ({(rows.status == 'ok').sum()} ok); trials x seeds per strategy: "
          + ", ".join(f"{s} {len(g)}x{g.max()}" for s, g in n.groupby(level=0)))


if __name__ == "__main__":
    main()
