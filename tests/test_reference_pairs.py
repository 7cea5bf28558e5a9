"""Per-pair published references (the Transfer-Learning-Library's digits table): the report prints
the published number, the measured seed mean and their difference for each pair and method."""
from __future__ import annotations

import re

import pandas as pd

from bench.analysis.reference import PUBLISHED_PAIRS, pair_reference_blocks
from bench.analysis.report import render
from tests.report_rows import row


def test_published_measured_and_difference_per_pair_and_method():
    accs = {"erm": [80.0, 81.0, 82.0], "dann": [90.0, 92.0, 94.0]}
    rows = [row(m, "mnist-full->usps@28", s, a, backbone="lenet", budget="0")
            for m, vals in accs.items() for s, a in enumerate(vals)]
    rows.append(row("dann", "usps@28->mnist-full", 0, 50.0, backbone="small_cnn", budget="0"))  # other backbone
    text = render.markdown(pair_reference_blocks(pd.DataFrame(rows)))
    published = PUBLISHED_PAIRS["tllib-digits"]["pairs"][("mnist-full", "usps@28")]
    for method, vals in accs.items():
        mean = sum(vals) / len(vals)
        line = next(ln for ln in text.splitlines() if re.search(rf"\|\s*{method}\s*\|", ln))
        assert f"{published[method]:.1f}" in line and f"{mean:.1f}" in line
        assert f"{mean - published[method]:+.1f}" in line and re.search(r"\|\s*3\s*\|", line)
    assert "usps@28->mnist-full" not in text.replace("\\", "")  # no lenet row on that pair
    assert "the oracle" in text


def test_no_block_without_matching_rows():
    rows = [row("dann", "mnist-full->usps@28", 0, 90.0, backbone="lenet", budget="10")]
    assert pair_reference_blocks(pd.DataFrame(rows)) == []


def test_each_rules_pick_gets_its_own_column_beside_the_published_number():
    """``by_rule``: the rows as each rule picked them; each rule's column is its own mean over
    seeds and its difference to the published number, and a rule with no row there says n/a."""
    rows = [row("dann", "mnist-full->usps@28", s, a, backbone="lenet", budget="0")
            for s, a in enumerate([88.0, 90.0])]
    by_rule = {"oracle": pd.DataFrame([row("dann", "mnist-full->usps@28", s, a, backbone="lenet", budget="0")
                                       for s, a in enumerate([91.0, 93.0])]),
               "im": pd.DataFrame([row("erm", "mnist-full->usps@28", 0, 70.0, backbone="lenet", budget="0")])}
    text = render.markdown(pair_reference_blocks(pd.DataFrame(rows), by_rule))
    published = PUBLISHED_PAIRS["tllib-digits"]["pairs"][("mnist-full", "usps@28")]["dann"]
    header = next(ln for ln in text.splitlines() if ln.startswith("| pair"))
    columns = [c.strip() for c in header.split("|")]
    assert columns.index("oracle") < columns.index("im")
    line = next(ln for ln in text.splitlines() if re.search(r"\|\s*dann\s*\|", ln))
    assert f"92.0 ({92.0 - published:+.1f})" in line and f"{89.0 - published:+.1f}" in line
    assert line.rstrip(" |").endswith("n/a")  # im picked no dann row on that pair
