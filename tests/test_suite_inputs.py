"""Suite inputs that used to mean something other than what they say: each is now refused when the
suite loads, with a message that names the entry and what to do."""
from __future__ import annotations

import pytest

from bench.strategies import STRATEGIES, Strategy
from bench.plan.suite import SuiteError, load_suite

BASE = """
name: {name}
backbones: [small_cnn]
strategies: {strategies}
pairs: ["synth-digits -> digits"]
label_budgets: [0]
seeds: {seeds}
"""


def suite_file(tmp_path, name="t", strategies="[source_only]", seeds="[0]"):
    path = tmp_path / "s.yaml"
    path.write_text(BASE.format(name=name, strategies=strategies, seeds=seeds))
    return path


def test_duplicated_seeds_are_refused(tmp_path):
    with pytest.raises(SuiteError, match="listed twice: 0"):
        load_suite(suite_file(tmp_path, seeds="[0, 0]"))


def test_duplicated_strategy_entries_are_refused(tmp_path):
    with pytest.raises(SuiteError, match="listed twice: source_only"):
        load_suite(suite_file(tmp_path, strategies="[source_only, source_only]"))
    # the same strategy with other hyper-parameters is a different entry
    load_suite(suite_file(tmp_path, strategies="[{name: dann, trade_off: 1}, {name: dann, trade_off: 0.3}]"))


def test_yaml_off_is_a_name_not_false(tmp_path):
    assert load_suite(suite_file(tmp_path, name="off")).name == "off"
    assert load_suite(suite_file(tmp_path, name="no")).name == "no"


def test_hparam_error_names_the_strategy_as_the_suite_spells_it(tmp_path):
    with pytest.raises(SuiteError) as e:
        load_suite(suite_file(tmp_path, strategies="[{name: discriminative_lr, decay: -1}]"))
    assert "discriminative_lr" in str(e.value) and "DiscriminativeLR" not in str(e.value)


class NeedsAMissingPackage(Strategy):
    """A strategy whose optional package is not installed."""

    requires = ("a_package_that_is_not_installed",)


@pytest.fixture
def missing_extra_strategy():
    name = "test-needs-missing-package"
    STRATEGIES.register(name)(NeedsAMissingPackage)
    yield name
    STRATEGIES._entries.pop(name)


def test_a_missing_optional_package_is_named_when_the_suite_loads(tmp_path, missing_extra_strategy):
    with pytest.raises(SuiteError) as e:
        load_suite(suite_file(tmp_path, strategies=f"[{missing_extra_strategy}]"))
    assert "a_package_that_is_not_installed" in str(e.value) and "pip install" in str(e.value)


def test_every_declared_optional_package_maps_to_an_extra():
    from bench.backbones import BACKBONES
    from bench.extras import EXTRA_OF

    declared = {m for n in STRATEGIES.names() for m in STRATEGIES.get(n).requires}
    declared |= {m for n in ("hf/x",) for m in getattr(BACKBONES.get(n), "requires", ())}
    assert declared and declared <= set(EXTRA_OF)
