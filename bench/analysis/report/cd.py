"""Critical-difference analysis (Demsar 2006): Friedman test over blocks, Nemenyi post-hoc, CD diagram.

Blocks: one per (pair, seed) on which every method of the slice finished ok. Seeds are paired across
methods (seed s of every method shares its source model and data draws), so a (pair, seed) is a
repeated-measures block; with one pair the blocks are its seeds, and the report states how many of
each it used. Seeds of one pair are not independent data sets: the test then speaks about this
pair's seed-to-seed variation, not about generalisation across pairs.

Post-hoc: Nemenyi (all pairs of methods, family-wise error controlled through the studentized range),
Demsar's recommendation after Friedman and the test a CD diagram's bars draw. Wilcoxon signed-rank
with Holm was rejected: with the 3-6 blocks these suites have, its smallest exact two-sided p-value
(2/2^n: 0.25 at n=3) can never reach 0.05, so it could not find any difference.

Computed with scipy (``friedmanchisquare``) and scikit-posthocs (``posthoc_nemenyi_friedman``,
``critical_difference_diagram``); the test in tests/test_cd.py checks them on a planted table.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ALPHA = 0.05
TEST = ("Friedman test over (pair, seed) blocks, Nemenyi post-hoc (scikit-posthocs), alpha 0.05 "
        "(Demsar 2006)")


@dataclass
class CDResult:
    blocks: pd.DataFrame        # (pair, seed) x method, the values tested
    statistic: float            # Friedman chi-square
    p_value: float
    mean_ranks: pd.Series       # 1 = best
    pvalues: pd.DataFrame       # Nemenyi p-values, method x method

    @property
    def rejects(self) -> bool:
        return bool(self.p_value < ALPHA)

    def differing_pairs(self) -> pd.DataFrame:
        """Every pair of methods with its mean ranks, Nemenyi p-value and whether they differ."""
        methods = list(self.mean_ranks.sort_values().index)
        rows = [{"better": a, "worse": b, "rank_better": self.mean_ranks[a],
                 "rank_worse": self.mean_ranks[b], "p_nemenyi": float(self.pvalues.at[a, b]),
                 "differ": bool(self.rejects and self.pvalues.at[a, b] < ALPHA)}
                for i, a in enumerate(methods) for b in methods[i + 1:]]
        return pd.DataFrame(rows)


def block_table(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(pair, seed) x method values, keeping only blocks where every method has a value."""
    t = ok.pivot_table(index=["pair", "seed"], columns="method", values=metric, aggfunc="mean")
    return t.dropna(axis=0, how="any")


def cd_test(blocks: pd.DataFrame, higher_is_better: bool = True) -> CDResult | None:
    """Friedman + Nemenyi on a blocks x methods table; None with fewer than 2 blocks or 3 methods."""
    import scikit_posthocs as sp
    from scipy.stats import friedmanchisquare, rankdata

    if blocks.shape[0] < 2 or blocks.shape[1] < 3:
        return None
    signed = blocks if higher_is_better else -blocks
    stat, p = friedmanchisquare(*[signed[c].to_numpy() for c in signed.columns])
    ranks = pd.DataFrame(rankdata(-signed.to_numpy(), axis=1), index=blocks.index, columns=blocks.columns)
    pvals = sp.posthoc_nemenyi_friedman(signed.reset_index(drop=True))
    return CDResult(blocks, float(stat), float(p), ranks.mean(axis=0), pvals)


def diagram(res: CDResult, title: str):
    """The CD diagram (scikit-posthocs): methods on the mean-rank axis, bars join methods that the
    Nemenyi test cannot tell apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    from bench.analysis.report.plots import plot_text

    n = len(res.mean_ranks)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.28 * n))
    # the diagram writes the methods' names: escaped, so a `$` in one is not mathtext
    names = {m: plot_text(m) for m in res.mean_ranks.index}
    pvalues = res.pvalues.rename(index=names, columns=names)
    sp.critical_difference_diagram(res.mean_ranks.rename(index=names), pvalues, ax=ax, alpha=ALPHA)
    ax.set_title(plot_text(title), fontsize=10)
    fig.tight_layout()
    return fig


def cd_statement(part: pd.DataFrame, metric: str, higher: bool) -> tuple[str, CDResult | None]:
    """The test run on one slice and what it says, in one paragraph, with its result (None when it
    could not run or did not reject: then there is no diagram to draw)."""
    ok = part[(part["status"] == "ok") & part[metric].notna()]
    blocks = block_table(ok, metric)
    res = cd_test(blocks, higher)
    if res is None:
        return (f"No critical-difference test: it needs at least 2 complete (pair, seed) blocks and 3 "
                f"methods; this slice has {blocks.shape[0]} block(s) and {blocks.shape[1]} method(s)."), None
    n_pairs = blocks.index.get_level_values("pair").nunique()
    stated = (f"{TEST}: {len(blocks)} blocks = {n_pairs} pair(s) x seeds, {blocks.shape[1]} methods. "
              f"Friedman chi2 = {res.statistic:.2f}, p = {res.p_value:.3g}.")
    if n_pairs == 1:
        stated += " One pair: the blocks are its seeds, so this is about seed variation on that pair."
    if not res.rejects:
        return stated + (" The test cannot reject that all methods rank alike: no diagram is drawn, "
                         "since its bars would mean nothing."), None
    n_diff = int(res.differing_pairs()["differ"].sum())
    return stated + (f" It rejects: {n_diff} of {len(res.differing_pairs())} pairs of methods differ "
                     "(Nemenyi p < 0.05). Bars in the diagram join methods that do not differ."), res


def cd_blocks(out: Path, part: pd.DataFrame, metric: str, higher: bool, title: str,
              slug: str) -> list[tuple]:
    """Report blocks: a statement of the test and its result, the diagram and the pairs table."""
    from bench.analysis.report import plots, render

    head = [("h3", f"critical differences, {metric}, {title}")]
    stated, res = cd_statement(part, metric, higher)
    if res is None:
        return head + [("p", stated)]
    table = res.differing_pairs()
    shown = table[table["differ"]]  # every pair with its p-value goes to the CSV
    text = shown.assign(rank_better=table["rank_better"].map("{:.2f}".format),
                        rank_worse=table["rank_worse"].map("{:.2f}".format),
                        p_nemenyi=table["p_nemenyi"].map("{:.3g}".format),
                        differ=table["differ"].map({True: "yes", False: "no"})).astype(str)
    text.index = pd.Index(range(1, len(text) + 1), name="#")
    bold = pd.DataFrame(False, index=text.index, columns=text.columns)
    bold["differ"] = True
    render.write_table(out, f"cd__{slug}", text, bold, table, f"Nemenyi pairs, {metric}, {title}")
    png = plots.save(diagram(res, f"critical differences ({metric}): {title}"), out / "plots" / f"cd__{slug}.png")
    return head + [("p", stated + " The pairs that differ are listed below (every pair's p-value: "
                         "tables/cd__*.csv)."),
                   ("img", png, f"critical-difference diagram, {metric}, {title}"),
                   ("table", text, bold)]


def cd_view(part: pd.DataFrame, metric: str, higher: bool, title: str) -> dict:
    """The leaderboard's critical-difference view of one slice: the statement, the diagram as
    base64 PNG (None when there is nothing to draw) and the pairs of methods that differ."""
    import base64
    import io

    import matplotlib.pyplot as plt

    stated, res = cd_statement(part, metric, higher)
    if res is None:
        return {"text": stated, "png": None, "pairs": []}
    fig, buf = diagram(res, f"critical differences ({metric}): {title}"), io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    table = res.differing_pairs()
    # the p-value as text: the page rounds numbers to 2 places
    pairs = [{"better": r.better, "worse": r.worse, "rank_better": round(float(r.rank_better), 2),
              "rank_worse": round(float(r.rank_worse), 2), "p_nemenyi": f"{r.p_nemenyi:.3g}"}
             for r in table[table["differ"]].itertuples()]
    return {"text": stated, "png": base64.b64encode(buf.getvalue()).decode("ascii"), "pairs": pairs}
