"""Model-selection rules: their names and the checkpoint column each one reads (no torch here).

A cell's adaptation run is evaluated at K checkpoints (``<results>/_checkpoints/<cell_key>.parquet``,
one row per checkpoint). Every validator's score is stored there as ``score_<rule>``, oriented so
that **higher is better** (entropy and DEV risk are stored negated). Selection at report time picks,
per (backbone, strategy, pair, budget, seed), the trial and checkpoint with the highest score.

``oracle`` reads target-test accuracy: it uses labels no strategy may see, so it exists only to
measure how far the other rules fall short of it, and every table that uses it says so.
"""
from __future__ import annotations

#: rule name -> what it picks by (one line, shown in report titles and ``--help``)
RULES: dict[str, str] = {
    "last": "trial 0 (the strategy's defaults), final weights: no selection",
    "source_val": "highest accuracy on labelled source-val",
    "dev": "lowest importance-weighted source-val risk (DEV, You et al. 2019)",
    "entropy": "lowest mean prediction entropy on unlabelled target-train",
    "im": "highest information maximisation on unlabelled target-train (diversity - entropy)",
    "snd": "highest soft neighbourhood density on unlabelled target-train (Saito et al. 2021)",
    "bnm": "highest batch nuclear-norm of target-train predictions (Cui et al. 2020)",
    "target_val": "highest accuracy on labelled target examples held out of the budget (budget > 0)",
    "oracle": "ORACLE: highest target-test accuracy (uses test labels; analysis only)",
}
ORACLE = "oracle"
#: rules that need no label beyond what the strategy was given and no checkpoint table
UNSUPERVISED = ("entropy", "im", "snd", "bnm")


def score_column(rule: str) -> str:
    """The checkpoint-table column a rule maximises (``oracle`` reads ``target_acc``)."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; known rules: {', '.join(RULES)}")
    if rule == "last":
        raise ValueError("rule 'last' reads no score column: it takes trial 0's final weights")
    return "target_acc" if rule == ORACLE else f"score_{rule}"
