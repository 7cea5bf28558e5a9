"""Model-selection rules: their names and the checkpoint column each one reads (no torch here).

A cell's adaptation run is evaluated at K checkpoints (``<results>/_checkpoints/<cell_key>.parquet``,
one row per checkpoint). Every validator's score is stored there as ``score_<rule>``, oriented so
that **higher is better** (entropy and DEV risk are stored negated). Selection at report time picks,
per (backbone, strategy, pair, budget, seed), the trial and checkpoint with the highest score.

``oracle`` reads target-test accuracy: it uses labels no strategy may see, so it exists only to
measure how far the other rules fall short of it, and every table that uses it says so.
"""
from __future__ import annotations

from bench.registry import source_index

#: rule name -> what it picks by (one line, shown in report titles, ``bench list`` and ``--help``).
#: The validators registry is the one list of rules: every ``@VALIDATORS.register`` in
#: ``bench/validators/`` is a rule, described by its function's docstring (read from the source
#: files, so that reports never import torch); ``last`` (no selection) and the labelled ``oracle``
#: are the two that are not validators.
RULES: dict[str, str] = {
    "last": "trial 0 (the strategy's defaults) as recorded: final weights, or what the row's in-run "
            "selection kept",
    **source_index("bench.validators", "VALIDATORS"),
    "oracle": "ORACLE: highest target-test accuracy (uses test labels; analysis only)",
}
ORACLE = "oracle"
#: DomainBed's leave-one-domain-out cross-validation (``bench.analysis.report.lodo``)
LODO = "leave_one_out"
#: rules no one cell's checkpoints can score: each joins other cells' checkpoints (so they are no
#: validator, and not in RULES: the checkpoint tables have no column of theirs)
CROSS_CELL_RULES: dict[str, str] = {
    LODO: "leave-one-domain-out cross-validation: mean target accuracy of a multi-source cell's "
          "validation cells at the same trial and step (a suite's lodo_validation: true)",
}


def score_column(rule: str) -> str:
    """The checkpoint-table column a rule maximises (``oracle`` reads ``target_acc``)."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; known rules: {', '.join(RULES)}")
    if rule == "last":
        raise ValueError("rule 'last' reads no score column: it takes trial 0's final weights")
    return "target_acc" if rule == ORACLE else f"score_{rule}"


def rule_help(rule: str) -> tuple[list[str], int] | None:
    """None when ``rule`` is a rule; else the lines to print (every rule with its description,
    after an error line unless ``rule`` is ``help``) and the exit code: 0 for help, 2 otherwise."""
    if rule in RULES or rule in CROSS_CELL_RULES:
        return None
    listing = [f"  {name:<13} {what}" for name, what in {**RULES, **CROSS_CELL_RULES}.items()]
    if rule == "help":
        return listing, 0
    return [f"error: unknown selection rule {rule!r}", *listing], 2
