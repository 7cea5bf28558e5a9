"""Report figures (matplotlib, Agg): Pareto plots of the metric against each cost, forgetting
against target gain, per-pair bars with confidence intervals, and the trend over snapshots.

Each function returns a Figure or None when there is nothing to draw; ``save`` writes a PNG.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["text.usetex"] = False  # labels are data: never handed to TeX, whatever a matplotlibrc says
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.analysis.report.data import higher_is_better  # noqa: E402
from bench.analysis.report.stats import bootstrap_mean, pareto_front  # noqa: E402
from bench.analysis.report.tables import MetricTable  # noqa: E402

COSTS = [  # column, axis label, scale, lower is better, log axis
    ("peak_mem_allocated_bytes", "peak memory (MiB)", 1 / 2**20, True, False),
    ("trainable_params", "trainable parameters (symlog)", 1.0, True, True),
    ("train_samples_per_s", "train throughput (samples/s)", 1.0, False, False),
]


def plot_text(value) -> str:
    """``value`` (a method, pair, backbone or snapshot name: data) as a matplotlib text that draws
    as written: every ``$`` escaped, so no part of it is read as mathtext (``$\\foo$`` would fail
    the draw, ``$x$`` would draw an italic x). Numeric tick labels keep their own mathtext."""
    return str(value).replace("$", r"\$")


def _colors(methods: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(sorted(methods))}


def pareto(part: pd.DataFrame, metric: str, title: str) -> plt.Figure | None:
    """``metric`` (mean over pairs and seeds) against each cost; the Pareto front as a dashed line."""
    ok = part[part["status"] == "ok"]
    if ok.empty:
        return None
    per = ok.groupby("method")[[metric] + [c[0] for c in COSTS]].mean()
    colors = _colors(list(per.index))
    fig, axes = plt.subplots(1, len(COSTS), figsize=(5 * len(COSTS), 4), squeeze=False)
    sign = 1 if higher_is_better(metric) else -1
    for ax, (col, label, scale, lower, log) in zip(axes[0], COSTS):
        d = per[[metric, col]].dropna()
        x, y = d[col].to_numpy() * scale, d[metric].to_numpy()
        for m, xi, yi in zip(d.index, x, y):
            ax.scatter(xi, yi, color=colors[m], s=50, label=plot_text(m), zorder=3)
        if len(d):
            front = pareto_front(x, sign * y, cost_lower_is_better=lower)
            order = np.argsort(x[front])
            ax.plot(x[front][order], y[front][order], "k--", lw=1, zorder=2, label="Pareto front")
            ax.scatter(x[front], y[front], facecolors="none", edgecolors="k", s=140, zorder=4)
        if log:
            ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel(label + ("  (better: left)" if lower else "  (better: right)"))
        ax.set_ylabel(plot_text(metric))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.suptitle(plot_text(title))
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    return fig


def forgetting_vs_gain(part: pd.DataFrame, title: str) -> plt.Figure | None:
    """One point per (method, pair): target gain (right is better) against forgetting (down is better)."""
    ok = part[part["status"] == "ok"]
    if ok.empty:
        return None
    per = ok.groupby(["method", "pair"])[["target_gain", "forgetting"]].mean().reset_index()
    colors = _colors(list(per["method"].unique()))
    # more pairs than markers (a leave-one-out suite has 9): the markers repeat
    markers = dict(zip(sorted(per["pair"].unique()), itertools.cycle("osD^vP*X")))
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in per.itertuples():
        ax.scatter(r.target_gain, r.forgetting, color=colors[r.method], marker=markers[r.pair], s=60)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    for m, c in colors.items():
        ax.scatter([], [], color=c, label=plot_text(m))
    for p, mk in markers.items():
        ax.scatter([], [], color="grey", marker=mk, label=plot_text(p))
    ax.legend(fontsize=7, loc="best")
    ax.set_xlabel("target gain (points; better: right)")
    ax.set_ylabel("forgetting (points; better: down)")
    ax.set_title(plot_text(title))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def pair_bars(t: MetricTable, title: str) -> plt.Figure | None:
    """One panel per pair: a bar per method at its mean, error bars at the 95% CI."""
    if not t.est:
        return None
    colors = _colors(t.methods)
    fig, axes = plt.subplots(1, len(t.pairs), figsize=(max(4.5, 1.0 * len(t.methods)) * len(t.pairs), 4.2),
                             squeeze=False)
    for ax, p in zip(axes[0], t.pairs):
        ms = [m for m in t.methods if (m, p) in t.est]
        means = np.array([t.est[(m, p)].mean for m in ms])
        lo = np.array([t.est[(m, p)].lo for m in ms])
        hi = np.array([t.est[(m, p)].hi for m in ms])
        err = np.nan_to_num(np.vstack([means - lo, hi - means]))
        ax.bar(range(len(ms)), means, yerr=err, capsize=4, color=[colors[m] for m in ms])
        ax.set_xticks(range(len(ms)), [plot_text(m) for m in ms], rotation=35, ha="right", fontsize=8)
        ax.set_title(plot_text(p), fontsize=10)
        ax.set_ylabel(plot_text(t.metric))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(plot_text(title))
    fig.tight_layout()
    return fig


def trend(df: pd.DataFrame, metric: str, snapshots: list[str], title: str) -> plt.Figure | None:
    """Per pair: each method's mean and 95% CI in every snapshot, oldest left, so drift shows."""
    ok = df[df["status"] == "ok"]
    pairs = sorted(ok["pair"].unique())
    if ok.empty or len(snapshots) < 2:
        return None
    colors = _colors(list(ok["method"].unique()))
    pos = {s: i for i, s in enumerate(snapshots)}
    fig, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4), squeeze=False)
    for ax, p in zip(axes[0], pairs):
        for m, rows in ok[ok["pair"] == p].groupby("method"):
            pts = sorted((pos[s], bootstrap_mean(r[metric])) for s, r in rows.groupby("snapshot"))
            x = [i for i, _ in pts]
            y = np.array([e.mean for _, e in pts])
            err = np.nan_to_num(np.array([[e.mean - e.lo, e.hi - e.mean] for _, e in pts]).T)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colors[m], label=plot_text(m))
        ax.set_xticks(range(len(snapshots)), [plot_text(Path(s).name) for s in snapshots], rotation=30,
                      ha="right", fontsize=8)
        ax.set_title(plot_text(p), fontsize=10)
        ax.set_ylabel(plot_text(metric))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(plot_text(title))
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
