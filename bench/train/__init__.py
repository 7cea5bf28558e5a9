"""Train: the primitives that every stage trains and measures with.

``loop.py`` (the step loop, supervised fitting, evaluation, optimisers), ``schedules.py``
(learning-rate schedules, parameter groups), ``config.py`` (``TrainConfig``), ``precision.py``
(fp32 / tf32 / bf16 / fp16), ``placement.py`` (model and data on the device), ``footprint.py``
(tensor-counted memory), ``entropy.py`` (the one Shannon entropy), ``measure.py`` (peak memory, device names, provenance). Knows no suite,
cell or strategy: may import the ``data`` and ``backbones`` families and the ground floor only
(tests/test_import_graph.py holds it).
"""
