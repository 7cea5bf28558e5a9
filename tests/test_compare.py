"""bench compare: a planted 5-point drop over 5 seeds is flagged, seed noise alone is not."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.analysis.compare import CompareError, compare
from tests.report_rows import row, write

PAIR = "synth-digits->digits"
SEEDS = range(5)


def draws(rng_seed: int, mean: float, sd: float) -> list[float]:
    return list(np.random.default_rng(rng_seed).normal(mean, sd, len(SEEDS)))


def results(path, accs, **kw):
    return write(path, [row("full_finetune", PAIR, s, a, **kw) for s, a in zip(SEEDS, accs)])


def verdict(cmp, metric="target_acc"):
    return cmp.rows.set_index("metric").at[metric, "verdict"]


def test_planted_five_point_drop_is_a_regression(tmp_path):
    base = results(tmp_path / "base", draws(1, 80, 1))
    cand = results(tmp_path / "cand", draws(2, 75, 1))
    cmp = compare(base, cand)
    assert verdict(cmp) == "REGRESSION" and cmp.exit_code == 1
    assert verdict(cmp, "forgetting") == "ok"


def test_seed_noise_alone_is_not_a_regression(tmp_path):
    for trial in range(5):
        base = results(tmp_path / f"b{trial}", draws(10 + trial, 80, 1))
        cand = results(tmp_path / f"c{trial}", draws(20 + trial, 80, 1))
        cmp = compare(base, cand)
        assert cmp.exit_code == 0, cmp.rows


def test_drop_beyond_threshold_but_within_noise_is_not_flagged(tmp_path):
    base = results(tmp_path / "base", draws(3, 80, 12))
    cand = results(tmp_path / "cand", draws(4, 75, 12))
    cmp = compare(base, cand)
    assert verdict(cmp) != "REGRESSION" and cmp.exit_code == 0


def test_cost_regressions_count_only_on_the_same_hardware(tmp_path):
    acc = draws(5, 80, 1)
    base = results(tmp_path / "base", acc, train_sps=1000.0)
    slow = [row("full_finetune", PAIR, s, a, train_sps=400.0 + s) for s, a in zip(SEEDS, acc)]
    same_hw = compare(base, write(tmp_path / "same", slow))
    assert verdict(same_hw, "train_samples_per_s") == "REGRESSION"
    other = [dict(r, device_name="cpu: other") for r in slow]
    other_hw = compare(base, write(tmp_path / "other", other))
    assert other_hw.exit_code == 0 and "not counted" in verdict(other_hw, "train_samples_per_s")


def test_failed_missing_and_new_cells(tmp_path):
    base = write(tmp_path / "base", [row("full_finetune", PAIR, s, 80) for s in SEEDS]
                 + [row("linear_probe", PAIR, s, 70) for s in SEEDS])
    cand = write(tmp_path / "cand", [row("full_finetune", PAIR, s, 0, status="failed") for s in SEEDS]
                 + [row("bitfit", PAIR, s, 70) for s in SEEDS])
    cmp = compare(base, cand)
    assert verdict(cmp, "status") == "REGRESSION"
    assert list(cmp.missing["strategy"]) == ["linear_probe"] and list(cmp.new["strategy"]) == ["bitfit"]


def test_cli_exit_codes_and_markdown(tmp_path):
    base = results(tmp_path / "base", draws(1, 80, 1))
    same = results(tmp_path / "same", draws(6, 80, 1))
    drop = results(tmp_path / "drop", draws(2, 75, 1))
    runner = CliRunner()
    md = tmp_path / "cmp.md"
    ok = runner.invoke(main, ["compare", str(base), str(same), "--markdown", str(md)])
    assert ok.exit_code == 0, ok.output
    assert "no regression" in md.read_text()
    bad = runner.invoke(main, ["compare", str(base), str(drop), "--markdown", str(md)])
    assert bad.exit_code == 1 and "REGRESSION" in md.read_text()
    # a looser threshold than the drop: no regression
    assert runner.invoke(main, ["compare", str(base), str(drop), "--acc-threshold", "8"]).exit_code == 0
    (tmp_path / "empty").mkdir()
    assert runner.invoke(main, ["compare", str(base), str(tmp_path / "empty")]).exit_code == 2
    assert runner.invoke(main, ["compare", str(base), str(tmp_path / "nowhere")]).exit_code == 2
    other = write(tmp_path / "other", [row("lora", PAIR, 0, 80)])
    assert runner.invoke(main, ["compare", str(base), str(other)]).exit_code == 2


def test_a_baseline_from_before_protocol_hash_is_matched_by_name_with_a_note(tmp_path):
    base = results(tmp_path / "base", draws(1, 80, 1), protocol="")
    cand = results(tmp_path / "cand", draws(6, 80, 1))
    cmp = compare(base, cand)
    assert cmp.exit_code == 0 and any("not verified" in n for n in cmp.notes)


def test_other_protocol_is_never_compared(tmp_path):
    """Same names, different protocol (e.g. 5 vs 60 steps): refused, not a false regression."""
    base = results(tmp_path / "base", draws(1, 80, 1), protocol="steps5")
    cand = results(tmp_path / "cand", draws(2, 60, 1), protocol="steps60")
    with pytest.raises(CompareError, match="different protocols"):
        compare(base, cand)
    out = CliRunner().invoke(main, ["compare", str(base), str(cand)])
    assert out.exit_code == 2 and "protocol" in out.output


def test_cells_under_another_protocol_are_listed_not_compared(tmp_path):
    base = write(tmp_path / "base", [row("full_finetune", PAIR, s, 80) for s in SEEDS]
                 + [row("linear_probe", PAIR, s, 80, protocol="old") for s in SEEDS])
    cand = write(tmp_path / "cand", [row("full_finetune", PAIR, s, 80) for s in SEEDS]
                 + [row("linear_probe", PAIR, s, 50, protocol="new") for s in SEEDS])
    cmp = compare(base, cand)
    assert cmp.exit_code == 0 and set(cmp.rows["strategy"]) == {"full_finetune"}
    assert any("different protocols" in n for n in cmp.notes)
    assert list(cmp.missing["strategy"]) == ["linear_probe"] == list(cmp.new["strategy"])


def test_results_without_a_protocol_hash_column_at_all_still_compare(tmp_path):
    """Files written before the column existed (e.g. a stored baseline) lack it entirely."""
    import pyarrow.parquet as pq

    base = results(tmp_path / "base", draws(1, 80, 1))
    for path in base.glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop(["protocol_hash"]).replace_schema_metadata(table.schema.metadata), path)
    cmp = compare(base, results(tmp_path / "cand", draws(6, 80, 1)))
    assert cmp.exit_code == 0 and any("not verified" in n for n in cmp.notes)
