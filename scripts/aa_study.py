"""The A/A study of the calibrated regression gate (issue 24) on real runs of one suite.

    python scripts/aa_study.py results/aa/r1 results/aa/r2 ... [--cross results/aa/x1 ...]
                               [--out results/aa/study.md]

The runs are of one commit and suite on one machine. (RUN1, RUN2), (RUN3, RUN4), ... are the study's
disjoint A/A pairs; each in turn plays (baseline, A/A partner: the calibration `make ci-noise`
writes), and every other run is a same-code candidate. Every verdict is the exit code and the table
of the real `bench compare` CLI on the real directories (a subprocess, as CI calls it); the study
only counts them:

- spread: per cell and metric, the same-code spread of each disjoint pair
  (``bench.analysis.noise.spreads``, the gate's own rule) and the calibrated thresholds it gives;
- false alarms: ``bench compare BASE CAND`` with the fixed gate (defaults, and CI's
  ``--throughput-threshold 50``), ``--calibrate PARTNER``, and ``--calibrate PARTNER --paired``;
  and RUN1 calibrated on every other run but the candidate (leave-one-out);
- a planted drop: a candidate copied, ``target_acc`` of every seed of one cell lowered by D points
  (nothing else touched), then ``bench compare BASE PLANTED --calibrate PARTNER [--paired]``:
  caught at D = 3 under each pair, and the smallest D caught (bisection to 0.01 point) under
  (RUN1, RUN2) with RUN3 as the candidate;
- --cross: runs of the same commit under another thread count or ``ATEN_CPU_CAPABILITY=default``
  (the source of cross-machine differences): their accuracy spread against RUN1 and the verdicts
  with RUN2 as the calibration.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.analysis.compare import checks
from bench.analysis.noise import calibrate, spreads

BENCH = [str(Path(sys.executable).parent / "bench")]  # the installed CLI, as CI calls it
FIXED = {"fixed (defaults)": [], "fixed (CI: --throughput-threshold 50)": ["--throughput-threshold", "50"]}


def bench_compare(base: Path, cand: Path, extra: list[str]) -> tuple[int, list[tuple[str, str]]]:
    """Exit code of ``bench compare BASE CAND EXTRA`` and its (strategy, metric) REGRESSION rows."""
    with tempfile.TemporaryDirectory() as tmp:
        md = Path(tmp) / "compare.md"
        r = subprocess.run(BENCH + ["compare", str(base), str(cand), "--markdown", str(md), *extra],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1):
            raise SystemExit(f"bench compare {base} {cand} {' '.join(extra)}: exit {r.returncode}\n"
                             f"{r.stderr}")
        return r.returncode, flagged(md.read_text())


def flagged(markdown: str) -> list[tuple[str, str]]:
    """The (strategy, metric) of each **REGRESSION** row of ``bench compare --markdown``'s table."""
    rows, header = [], None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif "REGRESSION" in line and len(cells) == len(header):
            row = dict(zip(header, cells))
            rows.append((row["strategy"], row["metric"]))
    return rows


def plant_drop(run: Path, out: Path, strategy: str, points: float) -> Path:
    """A copy of ``run`` with ``target_acc`` of every seed of ``strategy`` lowered by ``points``."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("_source_models", "_locks"))
    for path in out.glob("*.parquet"):
        table = pq.read_table(path)
        if table.column("strategy")[0].as_py() != strategy:
            continue
        i = table.schema.get_field_index("target_acc")
        acc = [None if v is None else v - points for v in table.column("target_acc").to_pylist()]
        table = table.set_column(i, table.schema.field(i), pa.array(acc, table.schema.field(i).type))
        pq.write_table(table, path)
    return out


def caught(base: Path, planted: Path, strategy: str, extra: list[str]) -> bool:
    return (strategy, "target_acc") in bench_compare(base, planted, extra)[1]


def smallest_caught(base: Path, run: Path, strategy: str, extra: list[str], tmp: Path,
                    hi: float = 6.0, step: float = 0.01) -> float:
    """The smallest drop (to ``step``) of ``strategy``'s accuracy that the gate flags (bisection;
    caught at ``hi`` is checked first, so the answer is a drop it catches)."""
    test = lambda d: caught(base, plant_drop(run, tmp / "probe", strategy, d), strategy, extra)  # noqa: E731
    if not test(hi):
        return float("nan")
    lo = 0.0
    while hi - lo > step:
        mid = round((lo + hi) / 2, 4)
        lo, hi = (lo, mid) if test(mid) else (mid, hi)
    return hi


def disjoint_pairs(runs: list[Path]) -> list[tuple[Path, Path]]:
    """(RUN1, RUN2), (RUN3, RUN4), ...: the independent A/A pairs of the study."""
    return [(runs[i], runs[i + 1]) for i in range(0, len(runs) - 1, 2)]


def spread_table(runs: list[Path]) -> list[str]:
    """Per (strategy, metric): the same-code spread over the disjoint A/A pairs (median, max) and
    the calibrated threshold each pair gives (smallest, largest)."""
    per: dict[tuple, list[float]] = {}
    cal: dict[tuple, list[float]] = {}
    for a, b in disjoint_pairs(runs):
        for (key, metric), s in spreads(a, b).items():
            per.setdefault((key[1], metric), []).append(s)
        for (key, metric), t in calibrate([(a, b)]).items():
            cal.setdefault((key[1], metric), []).append(t)
    units = {c.metric: "%" if c.relative else " pts" for c in checks()}
    lines = ["| cell | metric | A/A pairs | spread: median | max | calibrated threshold: min | max |",
             "|---|---|---|---|---|---|---|"]
    for (strategy, metric), vals in sorted(per.items()):
        vals, u, t = sorted(vals), units[metric], cal[(strategy, metric)]
        lines.append(f"| {strategy} | {metric} | {len(vals)} | {vals[len(vals) // 2]:.2f}{u} | "
                     f"{vals[-1]:.2f}{u} | {min(t):.2f}{u} | {max(t):.2f}{u} |")
    return lines


def gates(partner: Path) -> dict[str, list[str]]:
    return {**FIXED, "calibrated (--calibrate PARTNER)": ["--calibrate", str(partner)],
            "calibrated, paired (--calibrate PARTNER --paired)": ["--calibrate", str(partner), "--paired"]}


def false_alarms(runs: list[Path]) -> list[str]:
    """Each disjoint A/A pair in turn is the (baseline, calibration); every other run is a
    same-code candidate: the comparisons each gate flags (target 0), and which rows."""
    pairs = disjoint_pairs(runs)
    lines = ["| gate | comparisons | flagged | rows flagged (candidate vs baseline: cell metric) |",
             "|---|---|---|---|"]
    for name in gates(runs[1]):
        results = [(c, base, bench_compare(base, c, gates(partner)[name]))
                   for base, partner in pairs for c in runs if c not in (base, partner)]
        lines.append(_alarm_line(name, results))
    base = runs[0]
    for paired in (False, True):  # leave-one-out: RUN1 calibrated on every run but itself and RUNk
        results = []
        for c in runs[1:]:
            cal = [a for o in runs[1:] if o != c for a in ("--calibrate", str(o))]
            results.append((c, base, bench_compare(base, c, cal + (["--paired"] if paired else []))))
        name = (f"RUN1 calibrated on the {len(runs) - 2} other runs (leave-one-out)"
                + (", paired" if paired else ""))
        lines.append(_alarm_line(name, results))
    return lines


def _alarm_line(name: str, results: list[tuple[Path, Path, tuple[int, list]]]) -> str:
    hits = [f"{c.name} vs {b.name}: " + ", ".join(f"{s} {m}" for s, m in rows)
            for c, b, (code, rows) in results if code == 1]
    return f"| {name} | {len(results)} | {len(hits)} | {'; '.join(hits) or '-'} |"


def planted(runs: list[Path], tmp: Path) -> list[str]:
    """A drop planted in one cell of a same-code candidate: caught at 3 points under each disjoint
    pair as (baseline, calibration), and the smallest drop caught under the first pair."""
    pairs = disjoint_pairs(runs)
    strategies = sorted({k[1] for k, _ in spreads(runs[0], runs[1])})
    lines = [f"| cell | gate | 3-point drop caught (of {len(pairs)} A/A pairs) | smallest drop caught "
             f"(RUN1, RUN2; candidate {runs[2].name}) |", "|---|---|---|---|"]
    for strategy in strategies:
        for name in list(gates(runs[1]))[1:]:
            hits = 0
            for base, partner in pairs:
                cand = next(c for c in runs if c not in (base, partner))
                drop = plant_drop(cand, tmp / "drop3", strategy, 3.0)
                hits += caught(base, drop, strategy, gates(partner)[name])
            low = smallest_caught(runs[0], runs[2], strategy, gates(runs[1])[name], tmp)
            lines.append(f"| {strategy} | {name} | {hits} | {low:.2f} pts |")
    return lines


def cross(runs: list[Path], others: list[Path]) -> list[str]:
    lines = ["| run | accuracy spread vs RUN1: max over cells (target_acc / forgetting) | "
             "calibrated | calibrated, paired |", "|---|---|---|---|"]
    for x in others:
        s = spreads(runs[0], x)
        acc = max((v for (k, m), v in s.items() if m == "target_acc"), default=float("nan"))
        fgt = max((v for (k, m), v in s.items() if m == "forgetting"), default=float("nan"))
        verdicts = []
        for extra in (["--calibrate", str(runs[1])], ["--calibrate", str(runs[1]), "--paired"]):
            code, rows = bench_compare(runs[0], x, extra)
            verdicts.append("no regression" if code == 0 else ", ".join(f"{a} {b}" for a, b in rows))
        lines.append(f"| {x.name} | {acc:.3f} / {fgt:.3f} pts | {verdicts[0]} | {verdicts[1]} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="same-commit runs: baseline, A/A partner, candidates")
    p.add_argument("--cross", nargs="*", type=Path, default=[], help="runs under other threads / kernels")
    p.add_argument("--out", type=Path, help="also write the study as Markdown here")
    p.add_argument("--no-plant", action="store_true", help="skip the planted-drop bisection")
    a = p.parse_args(argv)
    if len(a.runs) < 3:
        p.error("give at least 3 runs: baseline, its A/A partner, one candidate")
    names = ", ".join(f"RUN{i + 1} = {r}" for i, r in enumerate(a.runs))
    out = [f"# A/A study: {len(a.runs)} runs ({names})", "", "## Same-code spread", ""]
    out += spread_table(a.runs) + ["", "## False alarms on same-code candidates", ""]
    out += false_alarms(a.runs)
    if not a.no_plant:
        with tempfile.TemporaryDirectory() as tmp:
            out += ["", f"## A planted accuracy drop on one cell of {a.runs[2]}", ""]
            out += planted(a.runs, Path(tmp))
    if a.cross:
        out += ["", "## Same commit, other threads / kernels", ""] + cross(a.runs, a.cross)
    text = "\n".join(out) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
