"""Critical-difference analysis: the Friedman statistic and Nemenyi p-values equal scipy's and
scikit-posthocs' on a planted table (and the Friedman closed form), the report states when the test
cannot reject, and the diagram renders inside the report page in headless Chromium."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs as sp
from scipy.stats import friedmanchisquare, rankdata

from bench.analysis.report import build_report
from bench.analysis.report.cd import block_table, cd_test
from tests.report_rows import row, write
from tests.test_report_browser import CHROMIUM, PROBE, chromium

METHODS = ["a", "b", "c", "d"]
PAIRS = ["p1->q1", "p2->q2"]


def planted(spread: float) -> list[dict]:
    """a > b > c > d by 10 points per step on every block, plus seed noise of +-spread."""
    rng = np.random.default_rng(0)
    return [row(m, p, s, 90 - 10 * i + spread * rng.uniform(-1, 1))
            for i, m in enumerate(METHODS) for p in PAIRS for s in range(3)]


def frame(rows):
    df = pd.DataFrame(rows)
    df["pair"] = df["source_domain"] + "->" + df["target_domain"]
    return df.rename(columns={"strategy": "method"})


def test_friedman_and_nemenyi_equal_scipy_and_scikit_posthocs():
    df = frame(planted(spread=12.0))
    blocks = block_table(df, "target_acc")
    assert blocks.shape == (6, 4)  # 2 pairs x 3 seeds, every method present
    res = cd_test(blocks)
    stat, p = friedmanchisquare(*[blocks[m].to_numpy() for m in METHODS])
    assert res.statistic == pytest.approx(stat, rel=1e-12) and res.p_value == pytest.approx(p, rel=1e-12)
    # Friedman's closed form from the mean ranks (no ties in this table)
    n, k = blocks.shape
    r = rankdata(-blocks.to_numpy(), axis=1).mean(axis=0)
    closed = 12 * n / (k * (k + 1)) * (np.sum(r ** 2) - k * (k + 1) ** 2 / 4)
    assert res.statistic == pytest.approx(closed, rel=1e-12)
    assert list(res.mean_ranks.index) == METHODS and np.allclose(res.mean_ranks.to_numpy(), r)
    expected = sp.posthoc_nemenyi_friedman(blocks.reset_index(drop=True))
    assert np.allclose(res.pvalues.loc[METHODS, METHODS].to_numpy(),
                       expected.loc[METHODS, METHODS].to_numpy(), rtol=1e-12)
    pairs = res.differing_pairs()
    assert res.rejects and pairs.loc[(pairs.better == "a") & (pairs.worse == "d"), "differ"].item()


def test_lower_is_better_reverses_ranks():
    blocks = block_table(frame(planted(spread=1.0)), "target_acc")
    assert cd_test(blocks, higher_is_better=False).mean_ranks.idxmin() == "d"


def test_report_says_when_the_test_cannot_reject(tmp_path):
    # identical methods up to noise much larger than their differences: Friedman cannot reject
    rng = np.random.default_rng(1)
    rows = [row(m, "p1->q1", s, 70 + rng.normal(0, 5)) for m in METHODS for s in range(2)]
    write(tmp_path / "r", rows)
    md = build_report([tmp_path / "r"], tmp_path / "rep").read_text()
    part = md.split("### critical differences", 1)[1]
    assert ("cannot reject" in part.split("###")[0]) or ("needs at least" in part.split("###")[0])
    assert not list((tmp_path / "rep" / "plots").glob("cd__*.png"))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium chromium-driver; .ci/run installs it)")
def test_cd_diagram_renders_in_the_report_page(tmp_path):
    write(tmp_path / "r", planted(spread=2.0))
    out = tmp_path / "rep"
    md = build_report([tmp_path / "r"], out).read_text()
    assert "It rejects" in md and list((out / "plots").glob("cd__*.png"))
    page = (out / "index.html").read_text()
    probe_js = PROBE.replace("'PROBE images='", "'CD=' + [...document.images].filter(i => i.alt.startsWith("
                             "'critical-difference') && i.naturalWidth > 100).length + ' PROBE images='")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + probe_js, 1))
    res = chromium(["--dump-dom", probed.as_uri()], tmp_path)
    found = re.search(r"CD=(\d+) PROBE images=(\d+) tables=(\d+) errors=(.*)", res.stdout)
    assert found, res.stderr[-1500:]
    assert int(found.group(1)) == 1, found.group(0)
    assert found.group(4).strip().startswith("[]"), found.group(4)


def test_the_leaderboard_shows_the_reports_test_per_rule_and_group(tmp_path):
    """The leaderboard's critical-difference view of each (rule, group) is the report's: the same
    statement, the diagram only when the test rejects, and the pairs the report lists as differing."""
    import base64

    from bench.analysis.leaderboard.data import build
    from bench.analysis.report.cd import cd_statement
    from bench.analysis.report.data import load

    write(tmp_path / "r", planted(spread=2.0))
    payload = build([tmp_path / "r"])
    assert set(payload["cd"]) == {f"{r}|{g}" for r in payload["rules"] for g in payload["groups"]}
    rows = load([tmp_path / "r"])
    ok = rows[rows["status"] == "ok"]
    res = cd_test(block_table(ok, "target_acc"))
    view = payload["cd"][f"last|{payload['groups'][0]}"]
    assert view["text"] == cd_statement(rows, "target_acc", True)[0] and "It rejects" in view["text"]
    assert base64.b64decode(view["png"]).startswith(b"\x89PNG")
    table = res.differing_pairs()
    assert [(p["better"], p["worse"]) for p in view["pairs"]] == \
        [(r.better, r.worse) for r in table[table["differ"]].itertuples()]
