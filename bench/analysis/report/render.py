"""Render a report (a list of blocks) as Markdown, standalone HTML, and tables as CSV / LaTeX.

A block is one of ``("h1"|"h2"|"h3"|"p", text)``, ``("table", text_frame, bold_mask)`` or
``("img", png_path, alt)``. The HTML embeds every image as a data URI and loads nothing from the
network, so the file can be mailed, archived or opened from a CI artifact.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:2em auto;max-width:1400px;
color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
th,td{border-bottom:1px solid #ddd;padding:4px 9px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
td.best{font-weight:bold;background:#e6f4ea}
p.note{color:#555;font-size:13px}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em}
"""


#: Markdown's inline syntax (GitHub's included: tables, strikethrough, math), backslash-escaped in
#: data; ``_`` only where it could open or close emphasis (``full_finetune`` stays as it is), ``]``
#: only where a link or image would follow (``62.0 [60.1, 63.2]`` stays as it is: a bracket alone
#: is a link only with a reference definition, and data never starts a line to define one)
_MD_SPECIAL = re.compile(r"[\\`*<|~$&]|\](?=[(\[:])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
#: a backslash escape or a code span in a note, read before anything else as CommonMark does
_MD_LITERAL = re.compile(r"\\([!-/:-@\[-`{-~])|`([^`]+)`")


def md_text(value) -> str:
    """``value`` (a label, a pair, a path: data) as Markdown that shows it literally: one line, every
    character that Markdown or a table would read as syntax backslash-escaped."""
    one_line = " ".join(str(value).splitlines())  # a newline would end the heading or the table row
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), one_line)


def md_code(value) -> str:
    """``value`` as a code span (literal by construction); a backtick in it becomes ``'`` so it
    cannot close the span early."""
    return "`" + " ".join(str(value).splitlines()).replace("`", "'") + "`"


def markdown(blocks: list[tuple]) -> str:
    """Headings and table cells are data and escaped here; a ``p`` block is Markdown already (its
    authors escape the data in it with ``md_text`` / ``md_code``)."""
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out += ["#" * int(kind[1]) + " " + md_text(b[1]), ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "table":
            text, bold = b[1], b[2]
            shown = text.copy()
            for j, c in enumerate(shown.columns):
                shown[c] = [f"**{md_text(v)}**" if bold.iat[k, j] else md_text(v) for k, v in enumerate(shown[c])]
            shown.columns = [md_text(c) for c in shown.columns]
            names = [None if n is None else md_text(n) for n in shown.index.names]
            if isinstance(shown.index, pd.MultiIndex):
                shown.index = pd.MultiIndex.from_tuples([tuple(map(md_text, i)) for i in shown.index], names=names)
            else:
                shown.index = pd.Index([md_text(i) for i in shown.index], name=names[0])
            out += [shown.to_markdown(disable_numparse=True), ""]
        # images live in index.html only: a CI summary cannot show local files
    return "\n".join(out).rstrip() + "\n"


def _img_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _table_html(text: pd.DataFrame, bold: pd.DataFrame) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in [text.index.name or ""] + list(text.columns))
    rows = []
    for k, i in enumerate(text.index):
        cells = [f"<td>{e(str(i))}</td>"]
        for j in range(len(text.columns)):
            cls = ' class="best"' if bold.iat[k, j] else ""
            cells.append(f"<td{cls}>{e(str(text.iat[k, j]))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def html_page(blocks: list[tuple], title: str) -> str:
    body = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(b[1])}</{kind}>")
        elif kind == "p":
            body.append(f'<p class="note">{_inline(b[1])}</p>')
        elif kind == "table":
            body.append(_table_html(b[1], b[2]))
        elif kind == "img":
            body.append(_img_tag(b[1], b[2]))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """Markdown's backslash escapes, `code` and **bold** in notes, as HTML (escaped data stays text)."""
    literal: list[str] = []

    def keep(m: re.Match) -> str:
        literal.append(html.escape(m.group(1)) if m.group(1) else f"<code>{html.escape(m.group(2))}</code>")
        return f"\0{len(literal) - 1}\0"

    t = html.escape(_MD_LITERAL.sub(keep, text.replace("\0", "")))
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return re.sub("\0(\\d+)\0", lambda m: literal[int(m.group(1))], t)


#: LaTeX's special characters (the set pandas' ``escape="latex"`` handles in the cells)
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_SPECIAL = re.compile("|".join(map(re.escape, _TEX)))


def tex_text(value) -> str:
    """``value`` as LaTeX text that typesets literally: no command, no column, no comment; one line
    (a blank line would end the paragraph inside a caption)."""
    return _TEX_SPECIAL.sub(lambda m: _TEX[m.group(0)], " ".join(str(value).splitlines()))


def latex(text: pd.DataFrame, bold: pd.DataFrame, caption: str) -> str:
    """A booktabs table (pandas Styler), best cells in bold."""
    frame = text.reset_index()
    mask = bold.reset_index(drop=True)
    mask.insert(0, frame.columns[0], False)
    mask.columns = frame.columns
    styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    # np.where, not DataFrame.replace: replace on a bool frame raises IndexError in some pandas
    # releases (seen with the pandas of a CUDA machine image)
    css = pd.DataFrame(np.where(mask.to_numpy(dtype=bool), "font-weight: bold", ""), index=frame.index,
                       columns=frame.columns)
    styler = styler.apply(lambda _: css, axis=None)
    return styler.to_latex(hrules=True, convert_css=True, caption=tex_text(caption),
                           column_format="l" + "r" * (len(frame.columns) - 1))


def write_table(out: Path, name: str, text: pd.DataFrame, bold: pd.DataFrame, numeric: pd.DataFrame,
                caption: str) -> None:
    tables = out / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    numeric.to_csv(tables / f"{name}.csv", index=numeric.index.name is not None)
    (tables / f"{name}.tex").write_text(latex(text, bold, caption))
