"""bench.run.api: a suite as a dict or a file, run from Python, rows back as a DataFrame."""
import pandas as pd
import pytest
import yaml

from bench.errors import SuiteError
from bench.plan.cells import expand
from bench.results import read_results
from bench.run.api import run, suite_from

TINY = {"name": "tiny-api", "backbones": [{"name": "mlp", "kwargs": {"hidden": 8}}],
        "strategies": ["source_only", {"name": "dann", "steps": 3}], "pairs": ["moons -> moons-rot/30"],
        "label_budgets": [0], "seeds": [0, 1], "source": {"steps": 5, "batch_size": 32},
        "adapt": {"steps": 3, "batch_size": 32}, "threads": 1, "device": "cpu"}


def test_a_dict_suite_runs_and_returns_its_rows_in_the_suites_order(tmp_path):
    df = run(TINY, results=tmp_path / "r")
    keys = [c.key() for c in expand(suite_from(TINY))]
    assert isinstance(df, pd.DataFrame) and list(df["cell_key"]) == keys
    assert set(df["status"]) == {"ok"} and df["target_acc"].between(0, 100).all()  # percent
    on_disk = read_results(tmp_path / "r").set_index("cell_key").loc[keys].reset_index()[df.columns]
    pd.testing.assert_frame_equal(df, on_disk)


def test_a_file_with_overrides_reruns_nothing_already_there_and_leaves_other_cells_out(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(TINY))
    both = run(path, results=tmp_path / "r")
    one = run(path, results=tmp_path / "r", overrides=["seeds=[1]"])
    assert len(both) == 4 and len(one) == 2 and set(one["seed"]) == {1}
    # the seed-1 rows are the stored ones (same run id): nothing reran
    assert list(one["run_id"]) == list(both[both["seed"] == 1]["run_id"])


def test_a_bad_dict_is_one_suite_error_naming_the_field():
    with pytest.raises(SuiteError, match=r"adapt\.lr"):
        suite_from({**TINY, "adapt": {"lr": -1}})
    with pytest.raises(SuiteError, match="closest: adapt.steps"):
        suite_from(TINY, overrides=["adapt.step=1"])
