"""Run: a suite's cells through to rows on disk.

``runner.py`` expands a suite, skips what the results directory already holds (``resume.py``) and
hands the rest to an executor (``executors/``: inline, worker processes, Ray) behind a progress bar
(``progress.py``); ``dry_run.py`` prints the cells ``--dry-run`` would run; ``estimate.py`` predicts a suite's device-hours before it runs. The top of the
flow below the command line: may import ``plan/``, ``cell/``, ``train/`` (device and provenance),
the families and the ground floor (results, errors, locks, ...); never ``analysis/``
(tests/test_import_graph.py holds it).
"""
