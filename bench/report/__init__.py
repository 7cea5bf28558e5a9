"""Leaderboard reports from Parquet results: tables (Markdown, HTML, CSV, LaTeX) and plots.

``build_report(results_dirs, out)`` is the entry point (``bench report`` on the command line);
``bench.compare`` holds the regression check (``bench compare``).
"""
from bench.report.build import build_report

__all__ = ["build_report"]
