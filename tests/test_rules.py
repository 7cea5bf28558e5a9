"""The selection-rule names and their checkpoint columns (bench.analysis.report.rules) stay torch-free."""
import subprocess
import sys

import pytest

from bench.analysis.report.rules import ORACLE, RULES, score_column


def test_every_rule_but_last_reads_a_column_and_oracle_reads_test_accuracy():
    assert score_column(ORACLE) == "target_acc"
    assert "ORACLE" in RULES[ORACLE]  # labelled as such wherever its description is shown
    for rule in RULES:
        if rule not in ("last", ORACLE):
            assert score_column(rule) == f"score_{rule}"
    with pytest.raises(ValueError, match="known rules"):
        score_column("nope")


def test_rules_module_imports_without_torch():
    code = "import sys, bench.analysis.report.rules; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_validators_registry_is_the_one_list_of_rules():
    """Every registered validator is a rule described by its function's docstring, and the only
    other rules are ``last`` (no selection) and the labelled ``oracle``: a new validator file is a
    new rule in `bench list`, `--select help`, the report and the leaderboard, touching nothing else."""
    from bench.validators import VALIDATORS

    assert list(RULES) == ["last", *VALIDATORS.names(), ORACLE]
    for name in VALIDATORS.names():
        doc = (VALIDATORS.get(name).__doc__ or "").strip().splitlines()
        assert doc and RULES[name] == doc[0], name


def test_select_help_lists_every_rule_of_the_registry():
    from click.testing import CliRunner

    from bench.cli import main

    result = CliRunner().invoke(main, ["report", "results/none", "--select", "help"])
    assert result.exit_code == 0
    for name, what in RULES.items():
        assert f"{name} " in result.output and what in result.output


@pytest.mark.numeric
def test_one_entropy_serves_losses_and_validators():
    """``bench.train.entropy`` is the only entropy: the strategies and the validators use it, and
    both floors give the definition on planted rows (0 log 0 = 0, uniform rows log C)."""
    import math

    import torch

    from bench.strategies import _alignment
    from bench.train.entropy import entropy, mean_entropy
    from bench.validators import entropy as entropy_validator, im as im_validator

    assert _alignment.entropy is entropy
    assert entropy_validator.mean_entropy is mean_entropy and im_validator.mean_entropy is mean_entropy
    p = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25] * 4, [0.5, 0.5, 0.0, 0.0]], dtype=torch.float64)
    exact = [0.0, math.log(4), math.log(2)]
    assert entropy(p, eps=1e-12, floor="clamp").tolist() == pytest.approx(exact, rel=1e-12, abs=0)
    assert mean_entropy(p) == pytest.approx(sum(exact) / 3, rel=1e-12)
    eps = 1e-8  # the losses' floor: log(p + eps), by hand
    by_hand = [-sum(q * math.log(q + eps) for q in row) for row in p.tolist()]
    assert entropy(p, eps=eps).tolist() == pytest.approx(by_hand, rel=1e-12, abs=1e-15)
