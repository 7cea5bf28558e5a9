"""Analysis: what the stored rows say, read back from results directories.

``report/`` (tables, plots, report-time model selection: ``bench report``), ``leaderboard/`` (one
explorable page over result snapshots: ``bench leaderboard``), ``compare.py`` (the regression check:
``bench compare``), ``reference.py`` (published numbers set beside ours), ``export/`` (rows into an
experiment tracker: ``bench export``). The end of the flow: it
reads rows through ``bench.results`` and may import only the ground floor (results, errors, ...),
never ``plan/``, ``run/``, ``cell/``, ``train/`` or the families, so that reading results needs no
torch; only the command line imports it (tests/test_import_graph.py holds it).
"""
