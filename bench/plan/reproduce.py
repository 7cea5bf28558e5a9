"""One stored cell as a one-cell suite that reruns it (``bench reproduce``).

DomainBed's long-open question "which hyper-parameters did the selected number use?" answered by
construction: every run record (``<results>/_runs/<run_id>.json``) holds the suite as it ran
(overrides included), so the cell is rebuilt by expanding that suite, and the one-cell suite spells
out everything that cell used: the backbone with every field, the strategy with the trial's
hyper-parameters (the drawn values, not the search space), the pair, the budget, the seed, both
training stages as resolved (per-pair and per-entry fields applied) and the protocol. The rebuilt
suite is checked before it is returned: its one cell has the stored cell's identity (the same key
for trial 0; for a later trial the same hyper-parameters under trial 0, since there is no search
left to draw from).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bench.errors import SuiteError
from bench.plan.cells import Cell, expand
from bench.plan.suite import Suite
from bench.results import read_run_records

#: suite fields that are the same for every cell and go into the one-cell suite as they were
_SUITE_WIDE = ("device", "data_on_device", "threads", "resources", "search_seed")


def recorded_suite(results_dir: Path, cell_key: str) -> Suite:
    """The suite of the newest run record of ``results_dir`` that declared ``cell_key``."""
    found = None
    for record in read_run_records(results_dir):  # damaged records are skipped with a warning
        cells = record.get("cells", [])
        if any(c.get("cell_key") == cell_key for c in cells):
            found = record.get("suite_spec")
    if not isinstance(found, dict):
        raise SuiteError(f"no run record of {results_dir} declares cell {cell_key} with its suite "
                         "(records written before run records held the suite cannot be reproduced); "
                         "check the key with `bench report` or `bench run SUITE --dry-run`")
    return Suite.model_validate(found)


def stored_cell(results_dir: Path, cell_key: str) -> tuple[Suite, Cell]:
    """The suite that ran ``cell_key`` and the cell itself, rebuilt from the run record."""
    suite = recorded_suite(results_dir, cell_key)
    for cell in expand(suite):
        if cell.key() == cell_key:
            return suite, cell
    raise SuiteError(f"the suite recorded for cell {cell_key} no longer expands to it: its "
                     "strategies, backbones or domains changed since it ran (a newer version of "
                     "the harness); rerun it with the version of its row's git_sha")


def one_cell_suite(suite: Suite, cell: Cell) -> Suite:
    """A suite whose only cell is ``cell`` (trial 0 with ``cell``'s hyper-parameters)."""
    spec: dict[str, Any] = {
        "name": f"{suite.name}-{cell.key()}",
        "description": f"cell {cell.key()} of suite {suite.name}, spelt out: {cell.describe()}",
        "backbones": [cell.backbone.model_dump(mode="json")],
        "strategies": [{"name": cell.strategy, **cell.hparams}],
        "pairs": [{"source": cell.source_domain, "target": cell.target_domain}],
        "label_budgets": [cell.label_budget], "seeds": [cell.seed],
        "source": cell.source.model_dump(mode="json"), "adapt": cell.adapt.model_dump(mode="json"),
        "selection": cell.selection, "protocol": cell.protocol, "target_split": cell.target_split,
        "checkpoints": cell.checkpoints, "target_val": cell.target_val, "precision": cell.precision,
        "trials": 1,
    }
    wide = suite.model_dump(mode="json")
    one = Suite.model_validate({**spec, **{k: wide[k] for k in _SUITE_WIDE}})
    cells = expand(one)
    want = cell.model_copy(update={"suite": one.name, "trial": 0})
    if len(cells) != 1 or cells[0].key() != want.key() or cells[0].hparams != cell.hparams:
        raise SuiteError(f"cell {cell.key()} cannot be written as a one-cell suite that reruns it "
                         f"exactly (it expands to {[c.describe() for c in cells]}); please report this")
    return one


def run_options(extra: str | None) -> str:
    """What ``bench run`` needs besides the one-cell suite to rerun a stored row the way it ran:
    `` --oom-backoff`` when the row backed off (its ``extra`` lists the batch sizes tried; the
    suite keeps the planned batch, the cell's identity), else nothing."""
    try:
        facts = json.loads(extra or "{}")
    except (TypeError, ValueError):
        return ""
    return " --oom-backoff" if isinstance(facts, dict) and facts.get("oom_backoff_batch_sizes") else ""


def suite_yaml(suite: Suite) -> str:
    """The suite as a YAML file ``bench run`` reads back to the same cells."""
    return yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
