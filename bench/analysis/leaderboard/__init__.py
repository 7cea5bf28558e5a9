"""``bench leaderboard``: one self-contained, explorable page over any number of result snapshots.

``data.py`` aggregates (in Python, through ``bench.analysis.report``'s tables and statistics), ``history.py``
judges each cell's steps across snapshots as ``bench compare`` does, ``adapters.py`` calls model
selection and aggregates (issue 11) with a fallback, ``page.py`` embeds it all into ``index.html``.
"""
from bench.analysis.leaderboard.page import write as write_leaderboard

__all__ = ["write_leaderboard"]
