"""`bench reproduce`: a stored number rerun from the one-cell suite it prints (issue 23 item 3).

A tiny real sweep (small_cnn on digits, a 2-trial search, checkpoints) is run, one of its cells
reproduced by key and one by a selection rule, and each rerun gives the stored accuracy exactly:
same machine, same versions, same seeds, so the computation is the same one."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from bench.analysis.report.select import read_checkpoints, select
from bench.cli import main
from bench.plan.suite import load_suite
from bench.results import read_results
from tests.sweep_helpers import tiny_suite


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    spec = tiny_suite([{"name": "full_finetune", "trials": 2}], name="repro", source_steps=6, adapt_steps=4)
    spec["checkpoints"] = 2
    (root / "suite.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["run", str(root / "suite.yaml"), "--results", str(root / "r"),
                                       "--executor", "inline", "--no-progress"])
    assert result.exit_code == 0, result.output
    return root


def _rerun(root, name, args):
    runner = CliRunner()
    out = root / f"{name}.yaml"
    made = runner.invoke(main, ["reproduce", str(root / "r"), *args, "--out", str(out)])
    assert made.exit_code == 0, made.output
    ran = runner.invoke(main, ["run", str(out), "--results", str(root / name), "--executor", "inline",
                               "--no-progress"])
    assert ran.exit_code == 0, ran.output
    return made, out, root / name


def test_a_later_trial_reruns_to_the_stored_accuracy(sweep):
    stored = read_results(sweep / "r")
    trial1 = stored[stored["trial"] == 1].iloc[0]
    made, out, again = _rerun(sweep, "t1", [trial1["cell_key"]])
    suite = load_suite(out)
    assert len(suite.strategies) == 1 and suite.trials == 1
    rerun = read_results(again).iloc[0]
    # the drawn hyper-parameters are spelt out, and the number is the stored one
    assert rerun["hparams"] == trial1["hparams"] and rerun["trial"] == 0
    assert rerun["target_acc"] == trial1["target_acc"]
    assert rerun["source_acc_after"] == trial1["source_acc_after"]
    assert f"bench run {out}" in made.output


def test_trial_0_keeps_its_cell_key(sweep):
    stored = read_results(sweep / "r")
    trial0 = stored[stored["trial"] == 0].iloc[0]
    _, _, again = _rerun(sweep, "t0", [trial0["cell_key"]])
    rerun = read_results(again).iloc[0]
    assert rerun["cell_key"] == trial0["cell_key"] and rerun["target_acc"] == trial0["target_acc"]


def test_a_rules_pick_names_its_step_and_reruns_to_it(sweep):
    rule = "source_val"
    picked = select(read_results(sweep / "r"), read_checkpoints([sweep / "r"]), rule).iloc[0]
    made, _, again = _rerun(sweep, "sv", ["--where", "strategy=full_finetune", "--select", rule])
    assert f"step {int(picked['selected_step'])}" in made.output
    assert f"trial {int(picked['selected_trial'])}" in made.output
    rerun = select(read_results(again), read_checkpoints([again]), rule).iloc[0]
    assert rerun["target_acc"] == picked["target_acc"]
    assert rerun["selected_step"] == picked["selected_step"]


def test_bad_requests_exit_2_with_one_line(sweep):
    runner = CliRunner()
    for args in (["0123456789abcdef"], [], ["--where", "strategy=nope"]):
        result = runner.invoke(main, ["reproduce", str(sweep / "r"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert len([line for line in result.output.splitlines() if line.lower().startswith("error")]) == 1


def test_the_leaderboards_drill_down_shows_the_command_for_each_number(sweep):
    """Each seed of a drill-down carries `bench reproduce ...`; run as printed, it names the cell
    and the step the leaderboard shows (and a path with spaces or quotes stays one argument)."""
    import shlex

    from bench.analysis.leaderboard.data import build

    payload = build([sweep / "r"], rules=["last", "source_val"])
    seen = 0
    for cell in payload["drill"].values():
        for rule, seeds in cell["seeds"].items():
            for seed in seeds:
                args = shlex.split(seed["reproduce"])
                assert args[:3] == ["bench", "reproduce", str(sweep / "r")] and seed["cell_key"] in args
                result = CliRunner().invoke(main, args[1:])
                assert result.exit_code == 0, result.output
                assert f"target_acc {seed['target_acc']:.2f}" in result.output
                seen += 1
    assert seen >= 2
