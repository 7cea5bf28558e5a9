"""``bench run SUITE -o PATH=VALUE``: overrides checked against the suite model, part of the suite
that runs and that the results directory records."""
import json
import re

import pytest
import yaml
from click.testing import CliRunner

from bench.cli import main
from bench.errors import SuiteError
from bench.plan.cells import expand
from bench.plan.suite import load_suite
from tests.conftest import REPO

MOONS = REPO / "suites" / "moons.yaml"


def tiny_moons(path):
    """Two strategies on the moons toy, a few steps: seconds per cell on any CPU."""
    path.write_text(yaml.safe_dump({
        "name": "tiny-moons", "backbones": [{"name": "mlp", "kwargs": {"hidden": 8}}],
        "strategies": ["source_only", {"name": "dann", "steps": 3}], "pairs": ["moons -> moons-rot/30"],
        "label_budgets": [0], "seeds": [0], "source": {"steps": 5, "batch_size": 32},
        "adapt": {"steps": 3, "batch_size": 32}, "threads": 1, "device": "cpu"}))
    return path


def dry_run_keys(*args):
    """(cell key, strategy) of each row of ``bench run --dry-run``'s table."""
    res = CliRunner().invoke(main, ["run", str(MOONS), "--dry-run", *args])
    assert res.exit_code == 0, res.output
    return re.findall(r"│ ([0-9a-f]{16}) │ \S+\s+│ (\S+)", res.output)


@pytest.mark.parametrize("override, closest", [
    ("adapt.step=50", "adapt.steps"),
    ("strategies[dann].stpes=3", "strategies[dann].steps"),
    ("strategies[dnn].trials=3", "strategies[dann].trials"),
    ("seed=[0]", "seeds"),
    ("backbones[mlp].kwarg.hidden=8", "backbones[mlp].kwargs.hidden"),
])
def test_a_misspelt_path_exits_2_with_one_line_naming_the_closest_paths(tmp_path, override, closest):
    res = CliRunner().invoke(main, ["run", str(MOONS), "-o", override, "--dry-run",
                                    "--results", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: override"), res.output
    assert closest in lines[0].split("closest: ")[1].split(", ")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override, says", [
    ("adapt", "PATH=VALUE"), ("seeds=[0", "not YAML"), ("adapt.steps=-1", "adapt.steps"),
    ("strategies[dann].trade_off=fast", "trade_off"),
])
def test_a_malformed_override_or_a_bad_value_is_one_suite_error(override, says):
    with pytest.raises(SuiteError, match=re.escape(says)):
        load_suite(MOONS, overrides=[override])


def test_overrides_set_values_as_yaml_in_order_and_leave_the_rest_alone():
    base = load_suite(MOONS)
    suite = load_suite(MOONS, overrides=["seeds=[0, 1]", "adapt.lr=0.01", "strategies[dann].steps=7",
                                         "strategies[1].trials=2", "backbones[mlp].kwargs.hidden=16",
                                         "pairs[moons -> moons-rot/30].target=moons-rot/45"])
    assert suite.seeds == [0, 1] and suite.adapt.lr == 0.01
    assert suite.adapt.model_copy(update={"lr": base.adapt.lr}) == base.adapt  # steps etc. kept
    dann = next(e for e in suite.strategies if e.name == "dann")
    assert dann.hparams == {"steps": 7} and dann.trials == 2
    assert suite.backbones[0].kwargs == {"hidden": 16}
    assert suite.pairs[0].target == "moons-rot/45"
    assert suite.model_dump(exclude={"seeds", "adapt", "strategies", "backbones", "pairs"}) == \
        base.model_dump(exclude={"seeds", "adapt", "strategies", "backbones", "pairs"})
    # a nested setting absent from the file starts from the model's default (adapt: 200 steps)
    smoke = load_suite(REPO / "suites" / "smoke.yaml", overrides=["resources.gpus=0.5"])
    assert smoke.resources.gpus == 0.5 and smoke.resources.cpus == 1


def test_dry_run_with_an_override_differs_exactly_in_the_cells_it_changes():
    without = dry_run_keys()
    with_ = dry_run_keys("-o", "strategies[dann].steps=10")
    assert len(without) == len(with_) == 65  # 13 strategies x 5 seeds
    changed = [(a, b) for a, b in zip(without, with_) if a != b]
    assert {s for (_, s), _ in changed} == {"dann"} and len(changed) == 5  # dann, 5 seeds: new keys
    assert all(a[1] == b[1] for a, b in changed)
    more = dry_run_keys("-o", "seeds=[0, 1, 2, 3, 4, 5]")
    assert set(without) < set(more) and len(more) == 6 * 13


def test_an_identity_override_lands_in_a_new_cell_key_and_the_run_records_it(tmp_path):
    suite_file, results = tiny_moons(tmp_path / "s.yaml"), tmp_path / "r"
    run = ["run", str(suite_file), "--results", str(results), "--executor", "inline", "--no-progress",
           "-o", "strategies=[source_only]"]
    assert CliRunner().invoke(main, run).exit_code == 0
    first = {p.stem for p in results.glob("*.parquet")}
    res = CliRunner().invoke(main, [*run, "-o", "seeds=[1]"])
    assert res.exit_code == 0, res.output
    second = {p.stem for p in results.glob("*.parquet")} - first
    expected = {c.key() for c in expand(load_suite(suite_file, overrides=["strategies=[source_only]",
                                                                           "seeds=[1]"]))}
    assert len(first) == 1 and second == expected and first.isdisjoint(second)
    records = [json.loads(p.read_text()) for p in (results / "_runs").glob("*.json")]
    rec = next(r for r in records if r["options"]["overrides"] == ["strategies=[source_only]", "seeds=[1]"])
    assert rec["suite_spec"]["seeds"] == [1] and [s["name"] for s in rec["suite_spec"]["strategies"]] == ["source_only"]
    # one results directory holds one suite: a protocol override (training steps) is refused there
    res = CliRunner().invoke(main, [*run, "-o", "adapt.steps=4"])
    assert res.exit_code == 2 and "another protocol" in res.output
