"""Leaderboard reports from Parquet results: tables (Markdown, HTML, CSV, LaTeX) and plots.

``build_report(results_dirs, out)`` is the entry point (``bench report`` on the command line);
``bench.analysis.compare`` holds the regression check (``bench compare``). Report-time model selection is
``bench.analysis.report.select``, the aggregates across pairs ``bench.analysis.report.aggregate``.

``build_report`` is imported on first use: the light modules (``rules``, ``select``, ``aggregate``)
must not pay for matplotlib, so that ``bench --help`` and callers such as the leaderboard stay fast.
"""
from __future__ import annotations

from typing import Any

__all__ = ["build_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from bench.analysis.report.build import build_report

        return build_report
    raise AttributeError(f"module 'bench.analysis.report' has no attribute {name!r}")
