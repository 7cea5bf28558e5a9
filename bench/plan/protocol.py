"""The two protocol choices of a cell that the literature varies, stated in the suite.

``protocol``:

- ``two_stage`` (default): a source stage trains on labelled source-train and is cached, shared by
  every cell with the same source key; the strategy then adapts that source model.
- ``joint`` (the UDA literature's, e.g. the Transfer-Learning-Library): a domain-adaptation method
  (a strategy with ``adapts_jointly``) trains from the *initial* (random or pretrained) weights on
  labelled source and unlabelled target together, with no separate source stage. Its row has no
  source model to measure, so ``*_acc_before``, ``forgetting`` and ``target_gain`` are NaN.
  ``source_only`` stays source training alone and fine-tuning strategies keep their meaning
  (they adapt the source model), so a joint suite states the recipe in ``source`` too.

``target_split``:

- ``inductive`` (default): the unlabelled target data is target-train; accuracy is measured on the
  disjoint target-test split, whose inputs no strategy ever sees.
- ``transductive`` (the UDA literature's): the unlabelled target data is the *whole* target domain
  (train, val and test inputs) and accuracy is measured on those same images. Labelled target
  examples still come only from target-train within the label budget.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator

from bench.registry import source_index

if TYPE_CHECKING:  # the choices are read when a suite validates, which imports no torch
    from bench.data.base import Domain, Split

Protocol = Literal["two_stage", "joint"]
TargetSplit = Literal["inductive", "transductive"]

#: in-run rules that exist no more, and what to use instead (bench/cell/selection.py says why)
RETIRED_SELECTION = {
    "target_entropy": "it was a second entropy score beside the `entropy` validator; store checkpoints "
                      "(`checkpoints: 10`) and select at report time with `bench report --select entropy`, "
                      "or select in the run with `selection: entropy`",
}


def check_selection(rule: str) -> str:
    """The suite's in-run ``selection``: ``last`` or a rule of the validators registry, the one
    list of rules (read from its sources, so parsing a suite imports no validator)."""
    rules = ["last", *source_index("bench.validators", "VALIDATORS")]
    if rule in RETIRED_SELECTION:
        raise ValueError(f"in-run selection {rule!r} is retired: {RETIRED_SELECTION[rule]}; results "
                         "that recorded it keep their numbers")
    if rule not in rules:
        raise ValueError(f"unknown selection rule {rule!r}; in-run rules: {', '.join(rules)} "
                         "(`oracle` reads target-test labels: report time only, `bench report --select oracle`)")
    return rule


#: how the adapted model is chosen in the run (bench/cell/selection.py)
Selection = Annotated[str, AfterValidator(check_selection)]


def starts_from_initial(protocol: str, strategy_cls: Any) -> bool:
    """Whether this cell skips the source stage: a joint-training method under ``joint``."""
    return protocol == "joint" and getattr(strategy_cls, "adapts_jointly", False)


def target_pools(target_split: str, target: Domain) -> tuple[Any, Split]:
    """(unlabelled target inputs the strategy may use, the split its accuracy is measured on).

    Transductive puts target-train first, so positions in target-train (the label budget's
    indices) stay valid positions in the pool.
    """
    if target_split == "inductive":
        return target.train.x, target.test
    if target_split != "transductive":
        raise ValueError(f"target_split is 'inductive' or 'transductive', not {target_split!r}")
    whole = concat_splits([target.train, target.val, target.test])
    return whole.x, whole


def concat_splits(splits: list[Split]) -> Split:
    """One split holding every example of ``splits`` in order (image tensors or text lists)."""
    import torch

    from bench.data.base import Split

    xs = [s.x for s in splits]
    if isinstance(xs[0], torch.Tensor):
        x = torch.cat(xs)
    elif isinstance(xs[0], dict):
        x = {k: torch.cat([part[k] for part in xs]) for k in xs[0]}
    else:
        x = [item for part in xs for item in part]
    return Split(x, torch.cat([s.y for s in splits]), splits[0].augment)
