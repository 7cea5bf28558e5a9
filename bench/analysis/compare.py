"""``bench compare BASELINE CANDIDATE``: per-cell deltas and a regression verdict that ignores seed noise.

Cells are matched by (backbone, strategy, hparams, pair, label budget) *and* ``protocol_hash`` (steps,
learning rates, selection, ...: everything about how a cell is measured); the seeds of a cell are its
samples. Cells with the same names but another protocol are never compared: they are listed, and
when nothing matches the comparison is refused (exit 2). For each metric the delta is ``mean(candidate) - mean(baseline)`` (points for accuracies,
percent of the baseline for costs) with a 95% bootstrap CI (seeds of each side resampled apart).
A **regression** is a delta in the bad direction that

1. is beyond the metric's threshold, and
2. is larger than the seed noise: the whole CI lies on the bad side of zero.

With a single seed on either side the noise is unknown: then the threshold alone decides, and the
row says so. ``--paired`` (``bench.analysis.paired``) replaces condition 2 with a one-sided paired
t-test on the same-seed differences, which catches smaller drops on every seed. A cell that
finished ok in the baseline but not in the candidate is a regression too.
Cost metrics (throughput, memory) only mean something on the same hardware: when the two sides
ran on different devices they are shown but never counted (``--strict-hardware`` counts them).

Both sides go through the same report-time selection rule (``bench.analysis.report.select``, ``--select``):
``last`` (default) compares trial 0's recorded rows; any other rule first picks, on each side and for
each seed, the trial and checkpoint with the best score, so that hyper-parameter searches are
compared as searches. The selected trial's hyper-parameters may differ per seed, so under a rule
other than ``last`` cells match without ``hparams``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis import paired
from bench.analysis.report.select import SelectionError, read_checkpoints, select
from bench.analysis.report.stats import Estimate, bootstrap_delta
from bench.results import read_results

NAMES = ["backbone", "strategy", "hparams", "pair", "label_budget"]
MATCH = NAMES + ["protocol_hash"]


@dataclass(frozen=True)
class Check:
    metric: str
    threshold: float   # in the metric's points, or percent of the baseline when relative
    relative: bool
    higher_is_better: bool
    is_cost: bool


DEFAULT_THRESHOLDS = {"accuracy": 2.0, "forgetting": 2.0, "throughput": 25.0, "memory": 10.0}


def checks(accuracy=2.0, forgetting=2.0, throughput=25.0, memory=10.0) -> list[Check]:
    """The gate's checks; a threshold must be a finite number >= 0 (``nan`` would make every
    comparison false, so a 10-point drop would pass; a negative one flags every change)."""
    given = {"--acc-threshold": accuracy, "--forgetting-threshold": forgetting,
             "--throughput-threshold": throughput, "--memory-threshold": memory}
    for option, value in given.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise CompareError(f"{option} {value} is not a finite number >= 0; give the tolerated "
                               "change, e.g. 2")
    return [Check("target_acc", accuracy, False, True, False),
            Check("forgetting", forgetting, False, False, False),
            Check("train_samples_per_s", throughput, True, True, True),
            Check("infer_samples_per_s", throughput, True, True, True),
            Check("peak_mem_allocated_bytes", memory, True, False, True)]


class CompareError(RuntimeError):
    """The two result sets cannot be compared (exit code 2)."""


@dataclass
class Comparison:
    rows: pd.DataFrame          # one row per (cell group, metric)
    missing: pd.DataFrame       # cell groups in the baseline only
    new: pd.DataFrame           # cell groups in the candidate only
    same_hardware: bool
    notes: list[str]

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "REGRESSION"]

    @property
    def exit_code(self) -> int:
        return 1 if len(self.regressions) else 0


def _load(path: Path, rule: str = "last") -> pd.DataFrame:
    df = read_results(path)
    if df.empty:
        raise CompareError(f"{path} holds no results; run a suite into it first "
                           "(bench run SUITE --results DIR)")
    _check_core(df, path)
    df["label_budget"] = df["label_budget"].astype(str)
    # rows written before protocol_hash existed: their protocol is unknown, not "the same"
    df["protocol_hash"] = df["protocol_hash"].fillna("").replace("", "unknown")
    try:
        df = select(df, read_checkpoints([path]), rule)
    except SelectionError as e:
        raise CompareError(f"{path}: {e}") from None
    df["pair"] = df["source_domain"] + "->" + df["target_domain"]
    df["hparams"] = df["hparams"].fillna("{}") if rule == "last" else f"(selected by {rule})"
    return df[df["status"] != "skipped"]


#: what a comparison cannot do without: a result file lacking one (it reads as null) is no baseline
CORE = ["status", "target_acc", "backbone", "strategy", "source_domain", "target_domain", "label_budget"]


def _check_core(df: pd.DataFrame, path: Path) -> None:
    """Refuse (CompareError) a side without the core columns, or whose metrics are not numbers.

    ``target_acc`` stored as text is refused rather than parsed: the harness writes float64, so
    text means the file came from elsewhere or was edited, and a gate must not guess at it."""
    # a column no file has reads as all-null objects; all-NaN floats are present (judged per row)
    empty = [c for c in CORE if df[c].isna().all() and not pd.api.types.is_float_dtype(df[c])]
    if empty:
        raise CompareError(f"{path}: column(s) {', '.join(empty)} missing or empty in every result "
                           "file; these are not bench results a CI gate can compare (rerun the suite)")
    for c in ["target_acc"] + [m for m in ("forgetting", "train_samples_per_s", "infer_samples_per_s",
                                           "peak_mem_allocated_bytes") if m in df.columns]:
        values = df[c].dropna()
        if len(values) and not (pd.api.types.is_numeric_dtype(values)
                                and not pd.api.types.is_bool_dtype(values)):
            raise CompareError(f"{path}: column {c} holds {values.map(type).iloc[0].__name__} values, "
                               "not numbers; these result files were not written by bench run "
                               "(rerun the suite)")


def _decide(bad: float, threshold: float, worse_beyond_noise: bool, better_beyond_noise: bool,
            count: bool) -> str:
    """The verdict of a delta that moved ``bad`` (> 0: in the bad direction) and of the noise
    condition each way (True also when the noise is unknown: the threshold alone decides)."""
    if bad > threshold and worse_beyond_noise:
        return "REGRESSION" if count else "worse (not counted: different hardware)"
    if bad > threshold:
        return "within noise"
    if -bad > threshold and better_beyond_noise:
        return "improved"
    return "ok"


def _verdict(c: Check, d, count: bool) -> str:
    """Unpaired: the noise condition is the seed-bootstrap CI of the delta excluding 0."""
    if math.isnan(d.mean):
        return "n/a"
    bad = -d.mean if c.higher_is_better else d.mean          # > 0: moved in the bad direction
    if math.isnan(d.lo):  # one seed on a side: noise unknown
        return _decide(bad, c.threshold, True, True, count)
    worse, better = (d.hi < 0, d.lo > 0) if c.higher_is_better else (d.lo > 0, d.hi < 0)
    return _decide(bad, c.threshold, worse, better, count)


def paired_verdict(c: Check, p: paired.Paired, count: bool) -> str:
    """Paired (``bench.analysis.paired``): the noise condition is the one-sided paired t-test."""
    if math.isnan(p.mean):
        return "n/a"
    bad = -p.mean if c.higher_is_better else p.mean
    if math.isnan(p.p_worse):  # under two paired seeds: noise unknown
        return _decide(bad, c.threshold, True, True, count)
    return _decide(bad, c.threshold, p.p_worse < paired.ALPHA, p.p_better < paired.ALPHA, count)


def judge(chk: Check, base_values, cand_values, count: bool = True,
          fast: bool = False) -> tuple[Estimate, str]:
    """The delta of one metric between two groups of seed values, and its verdict.

    ``fast``: skip the bootstrap when the mean delta is within the threshold either way; the verdict
    is then ``ok`` whatever the interval (same verdict, no CI; for long histories).
    """
    b, c = np.asarray(base_values, dtype=float), np.asarray(cand_values, dtype=float)
    b, c = b[~np.isnan(b)], c[~np.isnan(c)]
    if len(b) and len(c):
        raw = c.mean() - b.mean()
        delta = raw * 100.0 / b.mean() if chk.relative and b.mean() != 0 else raw
        if fast and abs(delta) <= chk.threshold:
            return Estimate(float(delta), math.nan, math.nan, min(len(b), len(c))), "ok"
    d = bootstrap_delta(b, c, relative=chk.relative)
    return d, _verdict(chk, d, count)


def compare(baseline: Path, candidate: Path, thresholds: list[Check] | None = None,
            strict_hardware: bool = False, rule: str = "last",
            cell_thresholds: dict[tuple, float] | None = None, paired_seeds: bool = False) -> Comparison:
    """Compare two results directories cell by cell, both sides selected by ``rule``.

    ``cell_thresholds``: (cell key, metric) -> threshold, calibrated on an A/A pair
    (``bench.analysis.noise.calibrate``); it replaces the metric's fixed threshold for those cells.
    ``paired_seeds``: judge each metric by its same-seed differences (``bench.analysis.paired``)
    instead of the unpaired seed bootstrap; the table gains a ``paired`` column."""
    thresholds = thresholds or checks()
    base, cand = _load(Path(baseline), rule), _load(Path(candidate), rule)
    hw_b, hw_c = set(base["device_name"].dropna()), set(cand["device_name"].dropna())
    same_hw = hw_b == hw_c
    notes = [] if same_hw else [f"hardware differs (baseline {sorted(hw_b)}, candidate {sorted(hw_c)}): "
                                "cost deltas shown but not counted as regressions"
                                + (" (--strict-hardware: counted anyway)" if strict_hardware else "")]
    if (base["protocol_hash"] == "unknown").all() or (cand["protocol_hash"] == "unknown").all():
        # one side predates protocol_hash: match on names alone, and say so
        side = "baseline" if (base["protocol_hash"] == "unknown").all() else "candidate"
        notes.append(f"the {side} has no protocol_hash (written before it existed): cells matched by "
                     "name only, their protocols (steps, lr, selection) are not verified; refresh it")
        base, cand = base.assign(protocol_hash="unknown"), cand.assign(protocol_hash="unknown")
    keys_b, keys_c, common = _matched_cells(base, cand, baseline, candidate, notes)
    gb, gc = base.groupby(MATCH), cand.groupby(MATCH)
    count_cost = same_hw or strict_hardware
    # under `last` a seed's row is its cell (one key per seed); under a rule, the seed's pick
    pair_on = (["cell_key", "seed"] if rule == "last" else ["seed"]) if paired_seeds else None
    rows = [r for key in common for r in _cell_rows(key, gb.get_group(key), gc.get_group(key), thresholds,
                                                    cell_thresholds, count_cost, pair_on)]
    frame = lambda ks: pd.DataFrame(sorted(ks), columns=MATCH)  # noqa: E731
    notes.append(f"model selection on both sides: {rule}"
                 + (" [ORACLE: target-test labels, analysis only]" if rule == "oracle" else ""))
    if paired_seeds:
        notes.append(paired.RULE)
    notes += _blind_note(cell_thresholds or {}, thresholds)
    table = pd.DataFrame(rows)
    if paired_seeds and "paired" in table.columns:
        table["paired"] = table["paired"].fillna("")
    return Comparison(table, frame(keys_b - keys_c), frame(keys_c - keys_b), same_hw, notes)


def _blind_note(cell_thresholds: dict[tuple, float], thresholds: list[Check]) -> list[str]:
    """A note for calibrated thresholds that no change can pass: a drop of a higher-is-better cost
    (throughput) is at most 100% of the baseline, so a calibrated threshold of 100% or more (an A/A
    pair whose throughput differed by 1/K of the baseline or more) switches that check off."""
    bounded = {c.metric for c in thresholds if c.relative and c.higher_is_better}
    off = sorted({m for (_, m), t in cell_thresholds.items() if m in bounded and t >= 100.0})
    n = sum(1 for (_, m), t in cell_thresholds.items() if m in bounded and t >= 100.0)
    return [f"{n} calibrated threshold(s) of {', '.join(off)} are 100% or more: no drop can pass them, "
            "so the A/A pair's measured noise switches those checks off (calibrate on a quieter runner "
            "to gate throughput)"] if n else []


def _matched_cells(base: pd.DataFrame, cand: pd.DataFrame, baseline: Path, candidate: Path,
                   notes: list[str]) -> tuple[set, set, list]:
    """The cells of each side and those on both (by ``MATCH``); a note for cells whose protocol
    differs, and a ``CompareError`` saying why when no cell matches."""
    keys_b = set(map(tuple, base[MATCH].drop_duplicates().to_numpy()))
    keys_c = set(map(tuple, cand[MATCH].drop_duplicates().to_numpy()))
    common = sorted(keys_b & keys_c)
    names_b, names_c = {k[:-1] for k in keys_b}, {k[:-1] for k in keys_c}
    other_protocol = (names_b & names_c) - {k[:-1] for k in common}
    if other_protocol:
        notes.append(f"{len(other_protocol)} cell(s) exist on both sides under different protocols "
                     "(protocol_hash differs: steps, lr, selection, ...): not compared, listed as "
                     "missing and new")
    if not common:
        why = (f"baseline protocols {sorted(set(base['protocol_hash']))} vs candidate "
               f"{sorted(set(cand['protocol_hash']))}: the cells were run under different protocols "
               "(steps, lr, selection, ...); refresh the baseline with the candidate's suite"
               if other_protocol else "were they run from the same suite?")
        raise CompareError(f"no cell of {baseline} matches one of {candidate} by "
                           f"({', '.join(MATCH)}); {why}")
    return keys_b, keys_c, common


def _cell_rows(key: tuple, b: pd.DataFrame, c: pd.DataFrame, thresholds: list[Check],
               cell_thresholds: dict[tuple, float] | None, count_cost: bool,
               pair_on: list[str] | None = None) -> list[dict]:
    """The comparison rows of one cell: a status regression, an ok row without accuracy, or one
    row per metric with its verdict (cost metrics counted only when ``count_cost``; seeds paired
    by the columns ``pair_on`` when given)."""
    b_ok, c_ok = b[b["status"] == "ok"], c[c["status"] == "ok"]
    ident = dict(zip(MATCH, key))
    if len(b_ok) and not len(c_ok):
        return [{**ident, "metric": "status", "baseline": f"{len(b_ok)} ok", "candidate":
                 ", ".join(sorted(c["status"].unique())), "delta": "", "ci": "",
                 "seeds": f"{len(b_ok)}/0", "threshold": "", "verdict": "REGRESSION"}]
    no_acc = int(c_ok["target_acc"].isna().sum())
    if no_acc:  # "ok" with no accuracy is a broken result, never "no values, no regression"
        return [{**ident, "metric": "target_acc", "baseline": _fmt(b_ok["target_acc"].mean(), checks()[0]),
                 "candidate": f"{no_acc} ok row(s) without a value", "delta": "", "ci": "",
                 "seeds": f"{len(b_ok)}/{len(c_ok)}", "threshold": "", "verdict": "REGRESSION"}]
    rows = []
    for chk in thresholds:
        if cell_thresholds and (key, chk.metric) in cell_thresholds:
            chk = replace(chk, threshold=cell_thresholds[(key, chk.metric)])
        rows.append({**ident, **_metric_row(chk, b_ok, c_ok, not chk.is_cost or count_cost, pair_on)})
    return rows


def _metric_row(chk: Check, b_ok: pd.DataFrame, c_ok: pd.DataFrame, count: bool,
                pair_on: list[str] | None) -> dict:
    """One metric of one cell: the two means, the delta and its seed-bootstrap CI, and the verdict
    (unpaired; with ``pair_on``, the paired delta's and its verdict instead)."""
    d, verdict = judge(chk, b_ok[chk.metric], c_ok[chk.metric], count)
    unit = "%" if chk.relative else ""
    row = {"metric": chk.metric,
           "baseline": _fmt(b_ok[chk.metric].mean(), chk), "candidate": _fmt(c_ok[chk.metric].mean(), chk),
           "delta": "" if math.isnan(d.mean) else f"{d.mean:+.2f}{unit}",
           "ci": "no values" if math.isnan(d.mean) else "noise unknown (1 seed)"
           if math.isnan(d.lo) else f"[{d.lo:+.2f}, {d.hi:+.2f}]{unit}",
           "seeds": f"{len(b_ok)}/{len(c_ok)}",
           "threshold": f"{chk.threshold:g}{unit or ' pts'}",
           "verdict": verdict}
    if pair_on is not None:
        p = paired.paired_test(paired.differences(b_ok, c_ok, chk.metric, pair_on, chk.relative),
                               chk.higher_is_better)
        row.update(paired=paired.describe(p, unit), verdict=paired_verdict(chk, p, count))
    return row


def _fmt(v: float, chk: Check) -> str:
    if pd.isna(v):
        return "-"
    if chk.metric.startswith("peak_mem"):
        return f"{v / 2**20:,.0f} MiB"
    return f"{v:,.1f}"


def to_markdown(cmp: Comparison, baseline: Path, candidate: Path) -> str:
    verdict = (f"**{len(cmp.regressions)} regression(s)**" if cmp.exit_code else "**no regression**")
    lines = [f"## bench compare: {verdict}", "",
             f"Baseline `{baseline}`, candidate `{candidate}`. Delta = candidate - baseline "
             "(accuracy and forgetting in points, costs in % of the baseline), 95% bootstrap CI over "
             "seeds. A regression is beyond its threshold in the bad direction and its CI excludes 0.", ""]
    lines += [f"- {n}" for n in cmp.notes]
    shown = cmp.rows.copy()
    shown["verdict"] = shown["verdict"].map(lambda v: f"**{v}**" if v == "REGRESSION" else v)
    lines += ["", shown.to_markdown(index=False), ""]
    for title, frame in (("Cells only in the baseline (missing from the candidate)", cmp.missing),
                         ("Cells only in the candidate (new)", cmp.new)):
        lines += [f"### {title}: {len(frame)}", ""]
        if len(frame):
            lines += [frame.to_markdown(index=False), ""]
    return "\n".join(lines) + "\n"


def print_table(cmp: Comparison) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=200)
    table = Table(title="bench compare (delta = candidate - baseline)")
    cols = [c for c in cmp.rows.columns if c != "hparams"]
    for c in cols:
        table.add_column(c)
    for r in cmp.rows.itertuples(index=False):
        d = r._asdict()
        style = "bold red" if d["verdict"] == "REGRESSION" else "green" if d["verdict"] == "improved" else None
        table.add_row(*[Text(str(d[c])) for c in cols], style=style)  # data, never rich markup
    console.print(table)
    for n in cmp.notes:
        console.print(f"note: {n}", markup=False, emoji=False)
    for label, frame in (("missing from the candidate", cmp.missing), ("new in the candidate", cmp.new)):
        if len(frame):
            console.print(f"{len(frame)} cell(s) {label}:")
            for r in frame.itertuples(index=False):
                console.print("  " + " | ".join(map(str, r)), markup=False, emoji=False)
    n = len(cmp.regressions)
    console.print(f"[bold red]{n} regression(s)[/]" if n else "[green]no regression[/]")
