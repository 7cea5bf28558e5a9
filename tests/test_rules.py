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
