"""Values from a suite or a row are data in the leaderboard page, never markup (issue 26 B).

A history whose backbone label, method, pair, budget and snapshot name carry
``<img src=x onerror=document.title='PWN'>`` is written as a leaderboard and opened in a real
headless Chromium (Selenium + the system's chromedriver, as tests/test_leaderboard_browser.py):
the title stays, no ``<img>`` enters the DOM, and the cells show the label as text. The text
check (no raw markup anywhere in the written file) runs without a browser. Skips only the browser
part when Chromium, chromedriver or selenium are absent (Debian: apt-get install -y chromium
chromium-driver; .ci/run installs them).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bench.analysis.leaderboard.page import write as write_page
from tests.report_rows import row, write

EVIL = "<img src=x onerror=document.title='PWN'>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def evil_history(root: Path) -> list[Path]:
    """Two snapshots (the second with a 10-point regression, so the history table has a row), one
    failed seed, every identity column carrying EVIL; the snapshot directories are named with it."""
    ident = dict(backbone="cnn" + EVIL, budget="10" + EVIL)
    method = "probe" + EVIL
    pair = f"a{EVIL}->b{EVIL}"
    dirs = []
    for day in (0, 1):
        rows = [row(m, pair, s, 60.0 + s * s - 10 * day * (m == method), day=day, **ident)
                for m in ("source_only", method) for s in range(3)]
        rows.append(row("full_finetune", pair, 0, 0.0, day=day, status="failed", **ident))
        dirs.append(write(root / f"night{day}{EVIL}", rows))
    return dirs


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lb-escape")
    return write_page(evil_history(root), root / "site")


def test_no_markup_from_data_in_the_written_page(page):
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text   # neither in the table cells' source nor in the embedded JSON
    data = re.search(r'<script id="lb-data" type="application/json">(.*?)</script>', text, re.S).group(1)
    payload = json.loads(data)   # the escapes are JSON's own: the page reads the label back unchanged
    assert {c["backbone"] for c in payload["cells"]} == {"cnn" + EVIL}
    assert {c["pair"] for c in payload["cells"]} == {f"a{EVIL}->b{EVIL}"}


@pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                    reason="chromium / chromedriver not installed (apt-get install -y chromium chromium-driver)")
def test_a_label_with_script_does_not_run_in_chromium(page, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install '.[dev]')")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1800",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.get(page.as_uri())
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready"))
        # open a drill-down and the history plot too: they write labels into the page as well
        driver.execute_script("document.querySelector('#cells tbody tr').click()")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return !document.getElementById('drill').hidden"))
        seen = driver.execute_script("""
            const col = (t, h) => { const i = [...document.querySelectorAll('#' + t + ' thead th')]
                .findIndex(th => th.textContent.trim() === h);
              return [...document.querySelectorAll('#' + t + ' tbody tr')].map(tr => tr.children[i].textContent); };
            return {title: document.title, imgs: document.querySelectorAll('img').length,
                    backbone: col('cells', 'backbone'), pair: col('cells', 'pair'), budget: col('cells', 'budget'),
                    method: col('ranking', 'method'), drill: document.getElementById('drill-title').textContent,
                    regression: col('regressions', 'pair'), svg: document.getElementById('pareto').textContent};
        """)
    finally:
        driver.quit()
    assert seen["title"] == "transfer-bench leaderboard"
    assert seen["imgs"] == 0
    assert set(seen["backbone"]) == {"cnn" + EVIL}
    assert set(seen["pair"]) == {f"a{EVIL}->b{EVIL}"}
    assert set(seen["budget"]) == {"10" + EVIL}
    assert "probe" + EVIL in seen["method"] and EVIL in seen["drill"]
    assert "probe" + EVIL in seen["svg"]   # plotly's point labels show the text, not markup
    assert seen["regression"] and set(seen["regression"]) == {f"a{EVIL}->b{EVIL}"}
