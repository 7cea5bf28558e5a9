"""The leaderboard page in a real headless Chromium (Selenium + the system's chromedriver).

Planted history (tests/leaderboard_rows.py): the page opens from file:// with no console error, its
numbers are ``bench report``'s, sorting reorders rows, a filter hides what it should, a click shows
that cell's seeds, and the Pareto view holds one point per method. Skips only when Chromium,
chromedriver or selenium are absent (Debian: apt-get install -y chromium chromium-driver; .ci/run
installs them). Selenium is given the driver's path, so Selenium Manager never goes online.
"""
from __future__ import annotations

import shutil

import pytest

from bench.analysis.leaderboard.data import build
from bench.analysis.leaderboard.page import write
from bench.analysis.report import build_report
from bench.analysis.report.data import load
from bench.analysis.report.tables import display_frame, metric_table
from tests.leaderboard_rows import METHODS, PAIRS, write_history

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install '.[dev]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium / chromedriver not installed "
                                       "(apt-get install -y chromium chromium-driver)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb-browser")
    dirs = write_history(root)
    return dirs, write(dirs, root / "site")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1800",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def open_page(browser, page):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.body.dataset.ready"))


def column(browser, table: str, header: str) -> list[str]:
    """Visible texts of one column of a DataTable, by its header text."""
    return browser.execute_script("""
        const t = document.getElementById(arguments[0]);
        const i = [...t.querySelectorAll('thead th')].findIndex(th => th.textContent.trim() === arguments[1]);
        return [...t.querySelectorAll('tbody tr')].map(tr => tr.children[i] ? tr.children[i].textContent.trim() : null);
    """, table, header)


def choose(browser, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", select_id)).select_by_visible_text(value)


def test_loads_from_file_with_no_console_errors(site, browser):
    open_page(browser, site[1])
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    assert len(column(browser, "ranking", "method")) == len(METHODS) + 1   # + the skipped strategy


def test_page_numbers_equal_bench_report(site, browser, tmp_path):
    dirs, page = site
    open_page(browser, page)
    build_report(dirs, tmp_path / "report")  # the same reader and tables as the report's CLI
    rows = load(dirs)
    table = metric_table(rows[rows["snapshot"] == str(dirs[-1])], "target_acc")
    text, _ = display_frame(table)
    shown = dict(zip(zip(column(browser, "cells", "method"), column(browser, "cells", "pair")),
                     column(browser, "cells", "target acc [95% CI] n")))
    for m in METHODS:
        for p in PAIRS:
            report_text = text.at[m, p].split(" (")[0]      # the report appends "(1 failed)"
            assert shown[(m, p)] == report_text, (m, p)
    ranks = dict(zip(column(browser, "ranking", "method"), column(browser, "ranking", "avg rank")))
    for m in METHODS:
        assert ranks[m].split(" [")[0] == text.at[m, "Avg rank"]   # then the CI, where aggregate gives one


def test_sorting_a_column_reorders_the_rows(site, browser):
    open_page(browser, site[1])
    header = browser.execute_script(
        "return [...document.querySelectorAll('#cells thead th')].find(th => th.textContent.trim() === 'forgetting')")
    from selenium.webdriver.support.ui import WebDriverWait

    def values():
        return [float(v) for v in column(browser, "cells", "forgetting")]

    before = values()
    assert before != sorted(before)                      # opens sorted by accuracy, not forgetting
    header.click()
    # the redraw is synchronous, but a loaded machine may deliver the click late: wait, then check
    WebDriverWait(browser, 20).until(lambda _: values() != before)
    first = values()
    header.click()
    WebDriverWait(browser, 20).until(lambda _: values() != first)
    second = values()
    assert first == sorted(first) and second == sorted(second, reverse=True)


def test_a_filter_hides_what_it_should(site, browser):
    open_page(browser, site[1])
    assert set(column(browser, "cells", "pair")) == set(PAIRS)
    choose(browser, "f-pair", PAIRS[1])
    pairs = column(browser, "cells", "pair")
    assert set(pairs) == {PAIRS[1]} and len(pairs) == len(METHODS)


def test_drill_down_shows_the_seeds_of_that_cell(site, browser):
    dirs, page = site
    open_page(browser, page)
    cid = f"small_cnn|10|-|-|full_finetune|{PAIRS[1]}"
    browser.find_element("css selector", f'#cells tr[data-id="{cid}"]').click()
    seeds = browser.execute_script(
        "return [...document.querySelectorAll('#drill-seeds tbody tr')].map(tr => tr.children[0].textContent)")
    expected = sorted(load(dirs[-1:]).query("strategy == 'full_finetune' and pair == @PAIRS[1]")["seed"])
    assert [int(s) for s in seeds] == expected == [0, 1, 2, 3]   # seed 3 is the failed one
    assert build(dirs)["drill"][cid]["provenance"]["run"] == ["run-1"]


def test_pareto_view_holds_one_point_per_method(site, browser):
    open_page(browser, site[1])
    for cost in ("peak memory (MiB)", "trainable parameters", "train throughput (samples/s)"):
        choose(browser, "pareto-cost", cost)
        n = browser.execute_script("return document.getElementById('pareto').data[0].x.length")
        assert n == len(METHODS), cost


def test_critical_differences_show_the_diagram_when_the_test_rejects(site, browser):
    """The view states the report's test for the group the filters show; its diagram (our own
    base64 PNG) is drawn exactly when the payload has one, and then it has loaded."""
    dirs, page = site
    open_page(browser, page)
    payload = build(dirs)
    text, key = browser.execute_script("const t = document.getElementById('cd-text'); return [t.textContent, t.dataset.key]")
    view = payload["cd"][key]
    assert text == view["text"] and ("Friedman" in text or "needs at least" in text)
    shown = browser.execute_script("const i = document.getElementById('cd-img'); return !!i && i.complete && i.naturalWidth > 100")
    assert shown == bool(view["png"])
