"""Benchmark: the leaderboard over a long nightly history (a script, numbers go in the README).

Generates the synthetic history (benchmarks/synthetic_history.py: 30 snapshots x 1,404 cells =
42,120 rows), writes the page with ``bench leaderboard``'s code, states its size, and opens it
``--runs`` times in headless Chromium (Selenium, the system's chromedriver). "Interactive" is the
moment the page's script has built every table and plot and wired the filters
(``document.body.dataset.ready``, ms since navigation start); the breakdown uses the script's
performance marks.

    python benchmarks/leaderboard_load.py [--snapshots 30] [--runs 5] [--keep DIR] [--screenshot PNG]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.synthetic_history import write_history
from bench.analysis.leaderboard.page import write

MARKS = ["lb-start", "lb-data-parsed", "lb-tables-loaded", "lb-ready"]


def browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1500",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def open_once(driver, page: Path) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get(page.as_uri())
    WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.ready"))
    marks = driver.execute_script(
        "return Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))")
    nav = driver.execute_script("const n = performance.getEntriesByType('navigation')[0];"
                                "return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}")
    return {"ready": float(driver.execute_script("return document.body.dataset.ready")), **nav,
            **{m: marks.get(m) for m in MARKS}, "errors": [e for e in driver.get_log("browser")
                                                        if e["level"] == "SEVERE"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshots", type=int, default=30)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="write the history and the page here (default: a temp dir)")
    ap.add_argument("--screenshot", type=Path, help="also save a screenshot of the page here")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="lb-bench-"))
    t = time.perf_counter()
    dirs = write_history(root / "history", args.snapshots)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    page = write(dirs, root / "site")
    t_build = time.perf_counter() - t
    import pandas as pd

    n_rows = sum(len(pd.read_parquet(d)) for d in dirs)
    print(f"history: {len(dirs)} snapshots, {n_rows:,} rows (generated in {t_gen:.1f} s)")
    print(f"bench leaderboard: {t_build:.1f} s; index.html {page.stat().st_size / 2**20:.2f} MiB")
    driver = browser(root / "profile")
    try:
        runs = [open_once(driver, page) for _ in range(args.runs)]
        if args.screenshot:
            driver.save_screenshot(str(args.screenshot))
    finally:
        driver.quit()
    for key in ("ready", "dcl", "load", "lb-data-parsed"):
        vals = [r[key] for r in runs if r[key] is not None]
        print(f"{key:>15}: median {statistics.median(vals):6.0f} ms; each load, in order: "
              + ", ".join(f"{v:.0f}" for v in vals))
    errors = [e for r in runs for e in r["errors"]]
    print(f"console errors: {len(errors)}" + (f" {errors[:2]}" if errors else ""))


if __name__ == "__main__":
    main()
