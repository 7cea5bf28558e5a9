"""``source_only``: no adaptation; the source model is evaluated as it is (the baseline)."""
from bench.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register("source_only")
class SourceOnly(Strategy):
    trains = False
    search_space = {}  # nothing to tune: one trial
