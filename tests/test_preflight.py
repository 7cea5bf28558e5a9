"""Faults of the input and of the machine are found before the first cell: ``bench run`` exits 2 with
one line naming the cause and what to do, and stores nothing as a cell's result (a stored ``failed``
row would make the same command say "nothing to run" once the fault is fixed)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.plan.suite import SuiteError, load_suite
from bench.results import result_files

SUITE = """
name: t
backbones: [small_cnn]
strategies: [{strategies}]
pairs: ["{pair}"]
label_budgets: [0]
seeds: [{seeds}]
source: {{steps: 2, batch_size: 16}}
adapt: {{steps: 2, batch_size: 16, lr: {lr}}}
threads: 1
device: cpu
"""


def suite_file(tmp_path, strategies="source_only", pair="digits -> digits", seeds="0", lr="0.001"):
    path = tmp_path / "t.yaml"
    path.write_text(SUITE.format(strategies=strategies, pair=pair, seeds=seeds, lr=lr))
    return path


def bench_run(tmp_path, suite, *extra):
    """``bench run`` in this process; (exit code, output, results directory)."""
    results = tmp_path / "results"
    out = CliRunner().invoke(main, ["run", str(suite), "--results", str(results), "--no-progress",
                                    "--executor", "inline", *extra])
    return out.exit_code, out.output, results


def one_line_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


# --- numbers in a suite: refused when it parses ------------------------------------------------

@pytest.mark.parametrize("lr", [".inf", "-.inf", ".nan", "-0.1", "0"])
def test_a_learning_rate_that_is_not_a_finite_positive_number_is_refused(tmp_path, lr):
    with pytest.raises(SuiteError, match="adapt.lr"):
        load_suite(suite_file(tmp_path, lr=lr))
    code, output, results = bench_run(tmp_path, suite_file(tmp_path, lr=lr))
    assert code == 2 and "adapt.lr" in one_line_error(output)
    assert not results.exists()


@pytest.mark.parametrize("field", ["weight_decay", "momentum", "anneal_gamma", "backbone_lr_mult"])
def test_every_float_of_a_training_stage_must_be_finite(tmp_path, field):
    path = tmp_path / "s.yaml"
    path.write_text(suite_file(tmp_path).read_text().replace("source: {", f"source: {{{field}: .inf, "))
    with pytest.raises(SuiteError, match=f"source.{field}: .*finite"):
        load_suite(path)


@pytest.mark.parametrize("entry", ["{name: dann, trade_off: .inf}", "{name: full_finetune, lr: .nan}",
                                   "{name: full_finetune, search: {lr: 'loguniform(1e-4, 1e999)'}}",
                                   "{name: full_finetune, search: {lr: 'uniform(0.1, 1e999)'}}"])
def test_strategy_hyper_parameters_and_search_ranges_must_be_finite(tmp_path, entry):
    with pytest.raises(SuiteError, match="finite"):
        load_suite(suite_file(tmp_path, strategies=entry))


def test_resources_must_be_finite(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(suite_file(tmp_path).read_text() + "resources: {cpus: .inf}\n")
    with pytest.raises(SuiteError, match="resources.cpus"):
        load_suite(path)


@pytest.mark.parametrize("seed", [str(2**64), str(2**32), "-1"])
def test_a_seed_outside_what_the_generators_take_is_refused(tmp_path, seed):
    code, output, results = bench_run(tmp_path, suite_file(tmp_path, seeds=seed))
    assert code == 2 and "seeds.0" in one_line_error(output)
    assert not results.exists()
    assert load_suite(suite_file(tmp_path, seeds=str(2**32 - 1))).seeds == [2**32 - 1]
