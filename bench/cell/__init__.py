"""Cell: the protocol of one cell, from source model to row (docs/protocol.md).

``run_cell.py`` runs a cell top to bottom and never raises for the cell's own failures;
``source_stage.py`` trains or loads the cached source model (``source_cache.py``: its verified
on-disk entry); ``transferability.py`` scores the source model before adaptation;
``selection.py`` applies a validator's rule during the run (in-run selection);
``checkpoints.py`` evaluates every validator during adaptation (both on its ``ProbeData``). May import ``plan/`` (the cell and
its protocol choices), ``train/``, the families and the ground floor; never ``run/`` or
``analysis/`` (tests/test_import_graph.py holds it).
"""
