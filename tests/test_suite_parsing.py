"""Suite files that are not what they look like (issue 26 J): a key given twice, a binary file.
Each is refused with exit 2 and one line naming the cause, never a traceback or a silent choice."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.plan.suite import SuiteError, load_suite

SUITE = ("name: t\nbackbones: [small_cnn]\nstrategies: [source_only]\n"
         "pairs: ['synth-digits -> digits']\nlabel_budgets: [0]\n")


def refused(tmp_path, path) -> str:
    res = CliRunner().invoke(main, ["run", str(path), "--results", str(tmp_path / "r"), "--dry-run"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    assert not (tmp_path / "r").exists()
    return lines[0]


@pytest.mark.parametrize("text,key,lines", [
    (SUITE + "label_budgets: [5]\n", "label_budgets", "lines 5 and 6"),          # top level
    (SUITE.replace("[source_only]", "[{name: dann, trade_off: 1, trade_off: 0.3}]"), "trade_off", "lines 3 and 3"),
    (SUITE + "adapt:\n  steps: 5\n  lr: 0.1\n  steps: 50\n", "steps", "lines 7 and 9"),  # nested
])
def test_a_key_given_twice_is_an_error(tmp_path, text, key, lines):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=f"key '{key}' is given twice.*{lines}"):
        load_suite(path)
    line = refused(tmp_path, path)
    assert f"'{key}'" in line and lines in line


def test_the_same_key_in_different_mappings_is_fine(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.replace("[source_only]", "[{name: dann, trade_off: 1}, {name: dann, trade_off: 0.3}]"))
    assert len(load_suite(path).strategies) == 2


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", SUITE.encode("utf-16"),
                                  b"name: t\x00\x01\nbackbones: [small_cnn]\n"])
def test_a_binary_suite_file_is_one_line(tmp_path, data):
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(SuiteError):
        load_suite(path)
    line = refused(tmp_path, path)
    assert str(path) in line


def test_an_unreadable_suite_is_a_suite_error(tmp_path):
    (tmp_path / "d.yaml").mkdir()   # bench run's own argument check refuses it first (exit 2)
    with pytest.raises(SuiteError, match="cannot be read"):
        load_suite(tmp_path / "d.yaml")
