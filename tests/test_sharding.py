"""--shard i/n: deterministic, disjoint, complete, cost-balanced; shards share one results dir."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.results import read_results
from bench.plan.sharding import assign, parse_shard, shard_cells, shard_load
from bench.plan.suite import SuiteError
from bench.plan.cells import expand
from tests.sweep_helpers import make_suite, write_suite


@pytest.fixture(autouse=True)
def bench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))


def grid():
    return expand(make_suite(strategies=["source_only", "full_finetune", {"name": "full_finetune", "steps": 40},
                                         "linear_probe", "target_only"],
                             budgets=[5, "all"], seeds=[0, 1, 2]))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 40])
def test_shards_partition_the_grid_the_same_way_every_time(n):
    cells = grid()
    shards = assign(cells, n)
    keys = [c.key() for s in shards for c in s]
    assert sorted(keys) == sorted(c.key() for c in cells) and len(set(keys)) == len(keys)
    again = assign(list(reversed(cells)), n)  # order of the input does not matter
    assert [sorted(c.key() for c in s) for s in again] == [sorted(c.key() for c in s) for s in shards]


def test_shards_are_balanced_by_expected_cost():
    cells = grid()
    biggest_cell = max(shard_load([c]) for c in cells)
    for n in (2, 3, 4, 5):
        loads = [shard_load(s) for s in assign(cells, n)]
        assert max(loads) - min(loads) <= biggest_cell  # greedy LPT: off by at most about one cell
        assert max(loads) <= shard_load(cells)  # never worse than one machine


def test_cells_sharing_a_source_model_stay_together_when_that_balances():
    cells = grid()  # 3 seeds = 3 source models: 3 shards get one each
    for s in assign(cells, 3):
        assert len({c.source_key() for c in s}) == 1


@pytest.mark.parametrize("bad", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_bad_shard_specs_say_what_is_expected(bad):
    with pytest.raises(SuiteError, match="INDEX"):
        parse_shard(bad)


def test_two_shards_into_one_results_dir_give_every_cell_once(tmp_path):
    suite_file = write_suite(tmp_path / "s.yaml", strategies=["source_only", "full_finetune"], seeds=[0, 1])
    res = tmp_path / "res"
    for i in range(2):
        out = CliRunner().invoke(main, ["run", str(suite_file), "--results", str(res), "--shard", f"{i}/2",
                                        "--executor", "inline", "--no-progress"])
        assert out.exit_code == 0, out.output
        assert f"shard {i}/2" in out.output
    df = read_results(res)
    from bench.plan.suite import load_suite

    assert sorted(df.cell_key) == sorted(c.key() for c in expand(load_suite(suite_file)))
    assert len(shard_cells(expand(load_suite(suite_file)), "0/2")) == 2
