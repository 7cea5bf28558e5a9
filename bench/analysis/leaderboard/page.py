"""Write the leaderboard: one self-contained ``index.html`` (works from ``file://``, no network).

Embedded, in this order: the page's CSS; DataTables (sorting, filtering, paging of the tables) through
itables' offline loader (``itables`` ships DataTables + jQuery as one bundle and a loader that
imports it from the page itself, no CDN); plotly.js from the ``plotly`` package (interactive plots,
hover labels); the data as one JSON block; ``leaderboard.js``, the page's own ~200 lines of wiring.

Why these: DataTables is the most used embeddable table library and the one pip can install with
its assets (itables); plotly's Python package carries plotly.js, so neither needs a network or npm.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from bench.analysis.leaderboard.data import build

HERE = Path(__file__).parent

CSS = """
body{font-family:"DejaVu Sans",sans-serif;margin:1em auto;max-width:1500px;color:#222;padding:0 1em;font-size:14px}
h1{margin:.2em 0}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.note{color:#555;font-size:13px}.hint{font-size:13px;font-weight:normal;color:#777}
#controls{display:flex;flex-wrap:wrap;gap:.4em 1.2em;background:#f5f5f5;padding:.6em;border-radius:4px}
#controls label{font-size:13px}select{margin-left:.3em}
tr.best td{background:#e6f4ea}.pub{font-size:11px;background:#fde9c9;border-radius:3px;padding:0 4px}
.bad{color:#c62828}#cells tbody tr{cursor:pointer}#regressions tbody tr{cursor:pointer}
.cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1.5em}
table.plain{border-collapse:collapse;font-size:12px}table.plain td,table.plain th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:right}
table.plain th{background:#f3f3f3}dl{display:grid;grid-template-columns:max-content auto;gap:2px 10px;font-size:12px}
dt{font-weight:bold}dd{margin:0;word-break:break-all}pre{font-size:12px;background:#f7f7f7;padding:4px}
.plot{min-height:280px}
"""


def tables_loader() -> tuple[str, str]:
    """(HTML that loads DataTables from the page itself, name of the promise it sets on window)."""
    import itables
    from itables.javascript import generate_init_offline_itables_html

    html = generate_init_offline_itables_html(Path(itables.__file__).parent / "html" / "dt_bundle.js")
    promise = re.search(r"window\.(_itables_\w+) = injectModule", html)
    if promise is None:
        raise RuntimeError(f"itables {itables.__version__}'s offline loader changed shape; "
                           "install itables 2.x (pip install 'itables>=2.9,<3')")
    return html, promise.group(1)


#: characters that could end the JSON block or start markup; written as JSON escapes, which
#: JSON.parse reads back as the same characters (a label like ``</script><img ...>`` stays data)
_JSON_IN_HTML = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                               "\u2028": "\\u2028", "\u2029": "\\u2029"})


def embed_json(payload: dict) -> str:
    """``payload`` as JSON text that is safe inside ``<script type="application/json">``."""
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).translate(_JSON_IN_HTML)


def render(payload: dict) -> str:
    """The page as one HTML string."""
    from plotly.offline import get_plotlyjs

    loader, promise = tables_loader()
    data = embed_json(payload)
    app = f"const LB_TABLES_PROMISE = {json.dumps(promise)};\n" + (HERE / "leaderboard.js").read_text()
    rest, parts = (HERE / "template.html").read_text(), []
    for marker, content in (("/*CSS*/", CSS), ("<!--TABLES-->", loader), ("/*PLOTLY*/", get_plotlyjs()),
                            ("/*DATA*/", data), ("/*APP*/", app)):
        head, rest = rest.split(marker, 1)  # inserted text is never searched for the next marker
        parts += [head, content]
    return "".join(parts + [rest])


def write(results: list, out: str | Path, rules: list[str] | None = None) -> Path:
    """Build the payload from ``results`` and write ``out/index.html``; returns its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(render(build(list(results), rules)), encoding="utf-8")
    tmp.replace(page)  # a reader (or a CI upload) never sees a half-written page
    return page
