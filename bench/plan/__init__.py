"""Plan: what a suite asks for, before anything runs.

``suite.py`` reads and validates the YAML file; ``cells.py`` expands it into cells and says what a
cell is (its key, protocol hash and source key); ``sharding.py`` splits the cells into cost-balanced
shards; ``protocol.py`` holds the protocol choices (two-stage or joint training, inductive or
transductive target). Nothing here trains or touches a results directory. May import the families
(strategies, backbones, data: their registries check names and hyper-parameters),
``bench.train.config`` and the ground floor (results, errors, registry, extras, search); never
``run/``, ``cell/`` or ``analysis/`` (tests/test_import_graph.py holds it).
"""
