"""The score-vs-accuracy rank-correlation table, on planted results with a known tau."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from bench.analysis.report.transferability import predictor_frame, predictor_table

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

MODELS = ["a", "b", "c", "d"]
SCORE = [1.0, 2.0, 3.0, 4.0]
# target accuracy of models a..d per seed: perfectly concordant, one adjacent swap, reversed
ACC = {0: [10, 20, 30, 40], 1: [10, 20, 40, 30], 2: [40, 30, 20, 10]}
TAU = {0: 1.0, 1: 1 - 4 / (4 * 3), 2: -1.0}   # one discordant pair of 6: tau = 1 - 2/6
HIT = {0: True, 1: False, 2: False}


def planted(models=MODELS, acc=ACC, score=SCORE, pair=("synth-digits", "digits"), budget="5") -> pd.DataFrame:
    rows = []
    for seed, accs in acc.items():
        for m, s, a in zip(models, score, accs):
            rows.append({"backbone": m, "strategy": "full_finetune", "status": "ok", "seed": seed,
                         "source_domain": pair[0], "target_domain": pair[1], "label_budget": budget,
                         "target_acc": float(a), "logme": s, "leep": -s, "nce": s, "hscore": float("nan")})
            # another strategy's rows must not enter the fine-tuned accuracy
            rows.append({**rows[-1], "strategy": "source_only", "target_acc": 100.0 - a})
    return pd.DataFrame(rows)


def test_tau_mean_ci_and_hit_rate_on_planted_results():
    frame = predictor_frame(planted()).set_index("score")
    expected = sum(TAU.values()) / 3
    assert frame.loc["logme", "tau"] == pytest.approx(expected)
    assert frame.loc["leep", "tau"] == pytest.approx(-expected)     # the reversed score
    assert frame.loc["logme", "tau_lo"] <= expected <= frame.loc["logme", "tau_hi"]
    assert frame.loc["logme", "tau_lo"] >= -1 and frame.loc["logme", "tau_hi"] <= 1
    assert frame.loc["logme", "top1_hit"] == pytest.approx(sum(HIT.values()) / 3)
    assert frame.loc["logme", "seeds"] == 3 and frame.loc["logme", "models"] == 4
    assert "hscore" not in frame.index   # no finite value: no row, not a made-up tau


def test_identical_seeds_give_a_collapsed_interval():
    frame = predictor_frame(planted(acc={s: [10, 20, 30, 40] for s in range(3)})).set_index("score")
    assert frame.loc["nce", "tau"] == frame.loc["nce", "tau_lo"] == frame.loc["nce", "tau_hi"] == 1.0
    assert frame.loc["nce", "top1_hit"] == 1.0


def test_source_lengths_axis_ranks_the_variants_of_one_backbone():
    models = ["cnn@10", "cnn@100", "cnn@1000", "other"]
    rows = planted(models=models, acc={0: [10, 30, 20, 40]}, score=[1.0, 2.0, 3.0, 0.0])
    frame = predictor_frame(rows)
    lengths = frame[(frame["axis"] == "source lengths of cnn") & (frame["score"] == "logme")].iloc[0]
    assert lengths["models"] == 3 and lengths["tau"] == pytest.approx(1 / 3)  # 2 of 3 pairs agree
    assert math.isnan(lengths["tau_lo"])    # one seed: no interval
    everything = frame[(frame["axis"] == "all source models") & (frame["score"] == "logme")].iloc[0]
    assert everything["models"] == 4 and everything["top1_hit"] == 0.0


def test_table_marks_the_best_score():
    text, bold = predictor_table(predictor_frame(planted()))
    assert list(text.columns) == ["logme", "leep", "nce"]
    assert bold.iloc[0].tolist() == [True, False, True]   # logme and nce tie for the best tau
    assert text.iloc[0]["logme"].startswith("+0.22")


def test_fewer_than_three_models_give_no_tau():
    rows = planted(models=["a", "b"], acc={0: [1, 2]}, score=[1.0, 2.0])
    assert predictor_frame(rows).empty


def test_report_code_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, bench.analysis.report.transferability; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=Path(__file__).parent.parent).returncode == 0


def test_report_blocks_write_the_table_files(tmp_path):
    from bench.analysis.report.render import markdown
    from bench.analysis.report.transferability import transferability_blocks

    blocks = transferability_blocks(planted(), tmp_path)
    text = markdown(blocks)
    assert "none of the four scores depends on the adapted model" in text and "+0.22" in text
    csv = pd.read_csv(tmp_path / "tables" / "transferability.csv")
    assert set(csv["score"]) == {"logme", "leep", "nce"}
    assert (tmp_path / "tables" / "transferability.tex").exists()
