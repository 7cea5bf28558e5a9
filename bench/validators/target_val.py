"""``target_val``: accuracy on labelled target-train examples held out of the label budget.

At label budget ``k > 0`` the suite's ``target_val: v`` carves ``v`` labels per class out of the
budget before the strategy starts (it trains on the other ``k - v``; the row's ``extra`` records
both counts). NaN at budget 0 or with ``target_val: 0``: the rule then does not apply.
"""
from bench.validators import VALIDATORS, Probe
from bench.validators.source_val import accuracy


@VALIDATORS.register("target_val")
def target_val(probe: Probe) -> float:
    """highest accuracy on labelled target examples held out of the budget (budget > 0)"""
    return accuracy(probe.target_val_logits, probe.target_val_y)
