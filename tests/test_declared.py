"""A suite validates and expands with the strategies' declarations compiled from their source
(bench.strategies.declared), not their classes: each must say exactly what its real class says, or
a cell key computed without torch would differ from one computed with it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.registry import source_modules
from bench.search import draw
from bench.strategies import STRATEGIES
from bench.strategies.declared import DECLARED, Declaration, _compile, declared
from tests.conftest import REPO

NAMES = sorted(source_modules("bench.strategies", "STRATEGIES"))
FLAGS = ("needs_target_labels", "trains", "adapts_jointly", "sees_target", "requires", "search_space")


def _compiled(name: str) -> type[Declaration]:
    """``name``'s declaration compiled afresh from its module's source (whatever is imported)."""
    compiled = _compile(source_modules("bench.strategies", "STRATEGIES")[name]).registered
    assert name in compiled, f"{name}: its declaration cannot be compiled, so a dry run imports its module"
    return compiled[name]


def test_every_strategy_is_declared_and_the_declarations_are_all_a_plan_reads():
    # the package's own strategies: other tests of the session register plug-in strategies of
    # their own (tests.*), which no source index of bench/strategies can know
    own = [n for n in STRATEGIES.names() if STRATEGIES.get(n).__module__.startswith("bench.strategies.")]
    assert len(NAMES) == len(own) and set(NAMES) == set(own)
    assert set(FLAGS) | {"Hparams", "total_steps", "validate_hparams"} == DECLARED


@pytest.mark.parametrize("name", NAMES)
def test_a_compiled_declaration_says_what_the_strategy_class_says(name):
    real, compiled = STRATEGIES.get(name), _compiled(name)
    assert compiled is not real and not hasattr(compiled, "update")  # no method that needs torch
    assert {f: getattr(compiled, f) for f in FLAGS} == {f: getattr(real, f) for f in FLAGS}
    hp, hp_real = compiled.Hparams, real.Hparams
    assert hp.__name__ == hp_real.__name__ and hp.added_later == hp_real.added_later
    assert repr(hp.model_fields) == repr(hp_real.model_fields)  # names, order, types, defaults, bounds
    assert hp.model_json_schema() == hp_real.model_json_schema()
    assert hp.model_config == hp_real.model_config
    # what a cell's key hashes: the validated hyper-parameters of every trial a search draws
    for trial in range(6):
        raw = draw(name, trial, real.search_space)
        assert compiled.validate_hparams(raw) == real.validate_hparams(raw)
        assert (compiled.total_steps(hp(**raw), 123) == real.total_steps(hp_real(**raw), 123))
    assert _refusal(compiled, name) == _refusal(real, name)


def _refusal(strategy: type[Declaration], name: str) -> str:
    """The suite error for a misspelt and an out-of-range hyper-parameter."""
    with pytest.raises(ValueError) as refused:
        strategy.validate_hparams({"no_such_field": 1, "lr": -1.0}, name=name)
    return str(refused.value)


def test_gradual_unfreeze_counts_its_stages_in_the_declaration_too():
    compiled = _compiled("gradual_unfreeze")
    stages = compiled.Hparams(stages=[{"steps": 3}, {"steps": 4, "lr": 0.1}])
    assert compiled.total_steps(stages, 100) == 7 == STRATEGIES.get("gradual_unfreeze").total_steps(
        STRATEGIES.get("gradual_unfreeze").Hparams(stages=[{"steps": 3}, {"steps": 4, "lr": 0.1}]), 100)


def test_declared_is_the_class_once_its_module_is_imported():
    assert declared("dann") is STRATEGIES.get("dann")


def test_the_declarations_need_no_torch_and_import_no_strategy_module():
    code = ("import sys\nfrom bench.registry import source_modules\nfrom bench.strategies.declared import declared\n"
            "names = source_modules('bench.strategies', 'STRATEGIES')\n"
            "kinds = {declared(n).__module__ for n in names}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'timm', 'transformers', 'peft'}))\n"
            "print(sorted(m for m in sys.modules if m.startswith('bench.strategies.')))\n"
            "print(len(names))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    heavy, imported, count = out.stdout.splitlines()
    assert heavy == "[]" and imported == "['bench.strategies.declared']" and int(count) == len(NAMES)
