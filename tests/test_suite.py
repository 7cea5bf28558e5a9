"""Suite files: validation with clear messages, expansion, stable cell keys."""
import pytest

from bench.plan.suite import SuiteError, Suite, load_suite

from bench.plan.cells import expand
from tests.conftest import REPO, bench_cli

BASE = {
    "name": "t",
    "backbones": ["small_cnn"],
    "strategies": ["source_only", {"name": "discriminative_lr", "decay": 0.3}],
    "pairs": ["synth-digits -> digits"],
    "label_budgets": [0, 5],
    "seeds": [0, 1],
}


def write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_expand_is_the_full_grid_with_per_entry_budgets():
    suite = Suite.model_validate({**BASE, "strategies": [
        "source_only", {"name": "target_only", "label_budgets": ["all"]}]})
    cells = expand(suite)
    assert len(cells) == 2 * 2 + 1 * 2  # source_only x 2 budgets x 2 seeds + target_only x all x 2
    assert {c.label_budget for c in cells if c.strategy == "target_only"} == {"all"}
    assert len({c.key() for c in cells}) == len(cells)


def test_cell_key_is_stable_and_depends_on_what_determines_the_result():
    a = expand(Suite.model_validate(BASE))
    b = expand(Suite.model_validate({**BASE, "name": "renamed"}))
    assert [c.key() for c in a] == [c.key() for c in b]  # the suite's name is not part of it
    c = expand(Suite.model_validate({**BASE, "strategies": [{"name": "discriminative_lr", "decay": 0.4}]}))
    keys_a = {x.key() for x in a if x.strategy == "discriminative_lr"}
    assert keys_a.isdisjoint({x.key() for x in c})
    # the source stage is shared by every strategy and budget of one (backbone, source, seed)
    assert len({x.source_key() for x in a}) == 2


def test_defaults_are_filled_into_hparams():
    cells = expand(Suite.model_validate(BASE))
    dlr = next(c for c in cells if c.strategy == "discriminative_lr")
    assert dlr.hparams == {"lr": None, "steps": None, "decay": 0.3}


@pytest.mark.parametrize("change, expected", [
    ({"strategies": ["ful_finetune"]}, "Did you mean 'full_finetune'"),
    ({"backbones": ["small_cn"]}, "Did you mean 'small_cnn'"),
    ({"pairs": ["synth-digit -> digits"]}, "Did you mean 'synth-digits'"),
    ({"pairs": ["digits to digits"]}, "must look like 'source -> target'"),
    ({"strategies": [{"name": "discriminative_lr", "decay": "fast"}]}, "decay"),
    ({"strategies": [{"name": "full_finetune", "rnak": 4}]}, "rnak"),
    ({"label_budgets": [-1]}, "label budgets are 0"),
    ({"selection": "oracle"}, "selection"),
    ({"epochs": 3}, "epochs"),
])
def test_bad_suites_say_what_was_expected(change, expected):
    with pytest.raises(Exception) as err:
        Suite.model_validate({**BASE, **change})
    assert expected in str(err.value)


def test_load_suite_reports_file_and_field(tmp_path):
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(SuiteError, match="expected a mapping"):
        load_suite(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(SuiteError, match=r"strategies: .*Did you mean 'linear_probe'"):
        load_suite(write(tmp_path, "backbones: [small_cnn]\nstrategies: [linear_prob]\n"
                                   "pairs: ['digits -> digits']\n"))
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "nope.yaml")


def test_shipped_suites_validate():
    for path in sorted((REPO / "suites").glob("*.yaml")):
        assert expand(load_suite(path)), path


def test_cli_bad_suite_is_one_clear_line_not_a_traceback(tmp_path):
    bad = write(tmp_path, "backbones: [small_cnn]\nstrategies: [fine_tune]\npairs: ['digits -> digits']\n")
    out = bench_cli("run", str(bad), "--results", str(tmp_path / "r"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "unknown strategy 'fine_tune'" in out.stderr and "full_finetune" in out.stderr
    assert not (tmp_path / "r").exists()
