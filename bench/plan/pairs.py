"""Pair lists that one entry of a suite's ``pairs`` stands for (``bench.plan.suite.parse_pair``)."""
from __future__ import annotations

from typing import Any

from bench.results.schema import SOURCES_SEP


def leave_one_out_pairs(item: dict[str, Any]) -> list[dict[str, str]]:
    """Every domain in turn held out; with ``lodo_validation: true`` also the cells DomainBed's
    leave-one-domain-out validation reads: for each held-out t and each other domain v, sources
    all but t and v, target v (DomainBed trains one run with ``test_envs = [t, v]``; a cell here has
    one target, so v is its target and t, never used by it, is left out). These come after the
    main pairs, so the main pairs' cells (and keys) are the same with or without them."""
    names, validation = item["leave_one_out"], item.get("lodo_validation", False)
    if set(item) - {"leave_one_out", "lodo_validation"} or not isinstance(names, list) or len(names) < 2:
        raise ValueError("leave_one_out takes a list of at least two domains and nothing beside it "
                         "but lodo_validation: true")
    if not isinstance(validation, bool) or (validation and len(names) < 3):
        raise ValueError("lodo_validation is true or false, and needs at least three domains (a validation "
                         "cell trains on all but two)")
    pairs = [{"source": joined([n for n in names if n != held]), "target": held} for held in names]
    if validation:
        pairs += [{"source": joined([n for n in names if n not in (held, val)]), "target": val}
                  for held in names for val in names if val != held]
    return pairs


def joined(names: list[Any]) -> str:
    return SOURCES_SEP.join(str(n).strip() for n in names)
