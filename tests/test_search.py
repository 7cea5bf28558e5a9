"""Search spaces and trial draws (bench/search.py, bench/plan/suite.py): deterministic, independent of
the rest of the grid, trial 0 = defaults, overridable per suite entry."""
import math
import random

import pytest

from bench.search import Choice, IntRange, LogUniform, choice, draw, int_range, loguniform, parse, uniform
from bench.strategies import STRATEGIES
from bench.plan.suite import Suite
from bench.plan.cells import expand
from tests.sweep_helpers import tiny_suite


def test_parse_reads_suite_text_and_rejects_nonsense():
    assert parse("loguniform(1e-4, 1e-2)") == LogUniform(1e-4, 1e-2)
    assert parse({"uniform": [0, 1]}) == uniform(0, 1)
    assert parse("choice([paper, warm_start])") == Choice(("paper", "warm_start"))
    assert parse("choice([1, 2.5, True])") == Choice((1, 2.5, True))
    assert parse("int(2, 8)") == IntRange(2, 8)
    for bad in ("gauss(0, 1)", "loguniform(0, 1)", "uniform(1)", "int(1.5, 2)", 3):
        with pytest.raises(ValueError):
            parse(bad)


def test_draws_stay_inside_their_distributions():
    rng = random.Random(0)
    lu, iv, ch = loguniform(1e-4, 1e-2), int_range(2, 5), choice(["a", "b"])
    logs = [math.log10(lu.sample(rng)) for _ in range(2000)]
    assert -4 <= min(logs) and max(logs) <= -2 and abs(sum(logs) / len(logs) + 3) < 0.1  # uniform in log
    assert {iv.sample(rng) for _ in range(200)} == {2, 3, 4, 5}
    assert {ch.sample(rng) for _ in range(200)} == {"a", "b"}


def test_trial_zero_is_the_defaults_and_draws_are_deterministic():
    space = STRATEGIES.get("dann").search_space
    assert draw("dann", 0, space) == {}
    assert draw("dann", 3, space) == draw("dann", 3, space)
    assert draw("dann", 3, space) != draw("dann", 4, space)
    assert draw("dann", 3, space) != draw("dann", 3, space, search_seed=1)
    # one dimension's draw does not depend on which other dimensions exist
    assert draw("dann", 3, {"lr": space["lr"]})["lr"] == draw("dann", 3, space)["lr"]


def _trial_hparams(raw: dict) -> dict:
    return {(c.strategy, c.trial): c.hparams for c in expand(Suite.model_validate(raw))}


def test_adding_seeds_pairs_or_backbones_never_changes_existing_draws():
    base = tiny_suite(["source_only", "dann", {"name": "mcc", "trials": 2}])
    base["trials"] = 3
    small = _trial_hparams(base)
    bigger = dict(base, seeds=[0, 1, 2], pairs=["digits -> digits", "synth-digits -> digits"],
                  backbones=["small_cnn", "mlp"])
    assert _trial_hparams(bigger) == small
    assert sorted(small) == [("dann", 0), ("dann", 1), ("dann", 2), ("mcc", 0), ("mcc", 1), ("source_only", 0)]
    assert small[("dann", 0)] == STRATEGIES.get("dann").validate_hparams({})  # trial 0: defaults
    # each trial x seed is its own cell
    cells = expand(Suite.model_validate(bigger))
    assert len({c.key() for c in cells}) == len(cells)


def test_entry_overrides_the_space_and_fixed_values_are_not_searched():
    raw = tiny_suite([{"name": "dann", "trials": 4, "trade_off": 0.5,
                       "search": {"lr": "loguniform(1e-3, 2e-3)", "schedule": None, "max_iters": None}}])
    hps = _trial_hparams(raw)
    for t in range(1, 4):
        assert 1e-3 <= hps[("dann", t)]["lr"] <= 2e-3
        assert hps[("dann", t)]["trade_off"] == 0.5 and hps[("dann", t)]["schedule"] == "paper"
    bad = tiny_suite([{"name": "dann", "trials": 2, "search": {"nope": "uniform(0, 1)"}}])
    with pytest.raises(ValueError, match="not hyper-parameters"):
        Suite.model_validate(bad)


@pytest.mark.parametrize("strategy,key_before_search", [
    ("source_only", "4cf3871d2d6edb04"), ("full_finetune", "85ffdf279d630ec6"), ("linear_probe", "36de0333e5ccd186")])
def test_cells_without_search_keep_their_keys(strategy, key_before_search):
    """trial 0 without checkpoints (and every later option at its default: protocol, precision,
    schedules) hashes as before search existed, so old results are reused. The keys on the right
    were computed by the code of commit c8341c0 for this very cell; a key is a sha256 of canonical
    JSON, the same on every machine. (dann and dan gained hyper-parameters since, so their keys
    changed on purpose.)"""
    cell = expand(Suite.model_validate(tiny_suite([strategy])))[0]
    assert cell.key() == key_before_search


def test_dry_run_lists_trials_and_their_values(tmp_path):
    import yaml
    from click.testing import CliRunner

    from bench.cli import main

    raw = tiny_suite(["source_only", "dann"])
    raw["trials"] = 3
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    out = CliRunner().invoke(main, ["run", str(tmp_path / "s.yaml"), "--dry-run", "--results", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert "4 cells" in out.output and "search dann: lr ~ loguniform" in out.output
    lr1 = expand(Suite.model_validate(raw))[2].hparams["lr"]
    assert f"lr={lr1:.3g}" in out.output
