"""Values from a suite or a row are data in every output, never markup (issue 26 C, D and the
``$`` of matplotlib labels).

C: the report's README.md (Markdown tables and headings) and tables/*.tex (LaTeX tables and their
captions) escape data: a backbone label ``tex\\input{/etc/passwd} 100% & | x`` adds no table
column, no LaTeX command and no comment.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.analysis.report import build_report
from bench.analysis.report.render import md_text, tex_text
from tests.report_rows import row, write

LABEL = r"tex\input{/etc/passwd} 100% & | x"
PAIR = "src|$a$->tgt_*b*"
METHODS = ("source_only", "linear_probe", "full_finetune")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("unsafe-labels")
    rows = [row(m, p, s, 50.0 + 5 * i + s * s + j, backbone=LABEL)
            for i, m in enumerate(METHODS) for j, p in enumerate([PAIR, "a->b"]) for s in range(3)]
    failed = row("full_finetune", PAIR, 3, 0.0, backbone=LABEL, status="failed")
    failed["error"] = "failed: a | b & c"
    out = root / "rep"
    build_report([write(root / "r`|x", rows + [failed])], out)
    return out


def _unescaped(char: str, line: str) -> int:
    return len(re.findall(r"(?<!\\)" + re.escape(char), line))


def test_markdown_tables_keep_their_columns(report):
    md = (report / "README.md").read_text()
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables, current = tables + [current], []
    assert len(tables) >= 3
    for t in tables:   # every row of a table has its header's number of cells
        assert len({_unescaped("|", ln) for ln in t}) == 1, t
    assert md_text(LABEL) in md and LABEL not in md


def test_latex_tables_and_captions_add_no_command_or_column(report):
    texs = list((report / "tables").glob("*.tex"))
    assert texs
    for tex in texs:
        text = tex.read_text()
        assert r"\input" not in text and LABEL not in text
        body = text.split(r"\midrule", 1)[-1].split(r"\bottomrule", 1)[0]
        rows = [ln for ln in body.splitlines() if ln.strip().endswith(r"\\")]
        header = text.split(r"\toprule", 1)[1].split(r"\midrule", 1)[0]
        columns = _unescaped("&", header.strip())
        for ln in rows:
            assert _unescaped("&", ln) == columns, (tex.name, ln)
        assert not re.search(r"(?<!\\)%", text), tex.name   # a bare % would comment the rest out
    captions = [t.read_text() for t in texs if tex_text(LABEL) in t.read_text()]
    assert captions, "the label should appear, escaped, in the captions"


def test_escaping_helpers_are_literal():
    assert tex_text(LABEL) == r"tex\textbackslash{}input\{/etc/passwd\} 100\% \& | x"
    assert md_text("full_finetune") == "full_finetune" and md_text("_x_") == r"\_x\_"
    assert md_text("a\nb|c") == r"a b\|c" and md_text("[a](u) [1, 2]") == r"[a\](u) [1, 2]"


# ---- D: names printed through rich are text, never rich markup ------------------------------------
RICH = "cnn[/x] [bold]b[/bold] :smile:"


def test_dry_run_prints_a_label_with_brackets_literally(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text("name: t\nbackbones: [{name: small_cnn, label: 'cnn[/x] [bold]b[/bold] :smile:'}]\n"
                     "strategies: [source_only]\npairs: ['synth-digits -> digits']\nlabel_budgets: [0]\n")
    res = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert RICH in res.output


def test_compare_prints_a_label_with_brackets_literally(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    base = write(tmp_path / "base", [row("source_only", "a->b", s, 80.0 + s, backbone=RICH) for s in range(3)])
    cand = write(tmp_path / "cand", [row("source_only", "a->b", s, 80.0 + s, backbone=RICH) for s in range(3)]
                 + [row("linear_probe", "a->b", 0, 70.0, backbone=RICH)])
    res = CliRunner().invoke(main, ["compare", str(base), str(cand)])
    assert res.exit_code == 0, res.output
    assert RICH in res.output and "no regression" in res.output


def test_progress_prints_names_and_errors_literally():
    import io

    from rich.console import Console

    from bench.run.progress import SuiteProgress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=300)
    with SuiteProgress(1, console=console) as p:
        p.start_cell(RICH)   # the cell column of the bar
        p.progress.refresh()
        p.finish_cell({"status": "failed", "strategy": "x[/y]", "source_domain": RICH,
                       "target_domain": "t", "seed": 0, "error": "boom [/red] :smile:"})
    out = buf.getvalue()
    assert f"x[/y] on {RICH}->t seed 0: boom [/red] :smile:" in out


# ---- $ in figure labels: text, never mathtext -------------------------------------------------------
def test_figures_draw_labels_with_dollars_as_written(tmp_path):
    """``$\\nocommand$`` would be mathtext (a ValueError when drawn: unknown symbol) and ``$x$`` an
    italic x. Every figure of the report, the critical-difference diagram included, draws them as
    written: the report builds, and each name in the diagram is as wide as the same characters
    drawn with mathtext off."""
    from bench.analysis.report.cd import block_table, cd_test, diagram

    label = r"cnn $\nocommand$"
    methods = [r"m $\nocommand$", "m $x$", "source_only"]
    rows = [row(m, p, s, 50.0 + 5 * i + s + j, backbone=label, day=d, train_sps=1000.0 + i)
            for d in (0, 1) for i, m in enumerate(methods) for j, p in enumerate(["a$1$->b", "c->d"])
            for s in range(3)]
    dirs = [write(tmp_path / f"n{d}$x$", [r for r in rows if r["run_id"] == f"run-{d}"]) for d in (0, 1)]
    build_report(dirs, tmp_path / "rep")
    pngs = {p.name.split("__")[0] for p in (tmp_path / "rep" / "plots").glob("*.png")}
    assert {"cd", "pareto", "bars", "trend", "forgetting_gain"} <= pngs

    from bench.analysis.report.data import load

    newest = load([dirs[1]]).assign(method=lambda f: f["strategy"])
    fig = diagram(cd_test(block_table(newest, "target_acc")), label)
    renderer = fig.canvas.get_renderer()
    drawn = {t.get_text(): t for t in fig.findobj(lambda a: hasattr(a, "get_parse_math")) if "$" in t.get_text()}
    assert len(drawn) >= 3   # both methods and the title
    ax = fig.axes[0]
    for name in methods[:2] + [label]:   # the diagram writes "name (rank)"
        text, shown = next((text, t) for text, t in drawn.items() if name in text.replace("\\$", "$"))
        plain = ax.text(0, 0, text.replace("\\$", "$"), fontproperties=shown.get_fontproperties(),
                        parse_math=False)
        assert shown.get_window_extent(renderer).width == pytest.approx(plain.get_window_extent(renderer).width)
