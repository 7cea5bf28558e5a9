"""A planted two-night history for the leaderboard tests (full-schema rows via tests/report_rows).

Each night: three methods on two pairs, 3 seeds each, method i on pair j at 60 + 6 i + 2 j + seed^2 / 2
(full_finetune best, source_only worst), costs growing with i, one failed seed, one strategy skipped
at this budget. Night 2 (the newest) has ``linear_probe`` on the first pair 10 points below night 1
on every seed: a regression ``bench compare`` flags.
"""
from __future__ import annotations

from pathlib import Path

from tests.report_rows import row, write

PAIRS = ["synth-digits->digits", "digits->digits-c/gaussian_noise"]
METHODS = ["source_only", "linear_probe", "full_finetune"]
REGRESSED = ("linear_probe", PAIRS[0])


def night_rows(day: int) -> list[dict]:
    rows = []
    for i, m in enumerate(METHODS):
        for j, p in enumerate(PAIRS):
            for s in range(3):
                acc = 60 + 6 * i + 2 * j + 0.5 * s * s  # skewed over seeds: IQM != mean
                if day == 1 and (m, p) == REGRESSED:
                    acc -= 10
                rows.append(row(m, p, s, acc, day=day, forgetting=3 * i - s + j,
                                trainable=1000 * 10 ** i, mem=(100 + 20 * i) * 2**20,
                                train_sps=3000.0 - 900 * i))
    failed = row("full_finetune", PAIRS[1], 3, 0.0, day=day, status="failed")
    skipped = row("dann", PAIRS[0], 0, 0.0, day=day, status="skipped")
    skipped["error"] = "not applicable: planted"
    return rows + [failed, skipped]


def write_history(root: Path) -> list[Path]:
    """night1 and night2 under ``root``; returns both, oldest first."""
    return [write(root / f"night{d + 1}", night_rows(d)) for d in (0, 1)]
