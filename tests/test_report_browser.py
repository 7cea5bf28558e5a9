"""The HTML report opens in a real headless Chromium without errors and with every image decoded.

A copy of the page gets a first script that records JS errors, console errors and undecodable
images into the DOM; ``chromium --headless --dump-dom`` prints the DOM after load, and Chromium's own
console log (``--enable-logging=stderr``) is checked as well. Skips only when Chromium is absent
(Debian: ``apt-get install -y chromium chromium-driver``; .ci/run installs them).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from bench.analysis.report import build_report
from tests.report_rows import row, write

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                                "(apt-get install -y chromium chromium-driver)")

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push('error: ' + (e.message || e.target.src)), true);
const _ce = console.error; console.error = (...a) => { window.__errors.push('console: ' + a.join(' ')); _ce(...a); };
window.addEventListener('load', () => {
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) window.__errors.push('image not decoded: ' + img.alt);
  }
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = 'PROBE images=' + document.images.length + ' tables=' +
    document.querySelectorAll('table').length + ' errors=' + JSON.stringify(window.__errors);
  document.body.appendChild(out);
});
</script>"""


def chromium(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})


def test_html_report_renders_without_errors(tmp_path):
    pairs = ["synth-digits->digits", "digits->digits-c/gaussian_noise"]
    rows = [row(m, p, s, 60 + 5 * i + s, day=d, forgetting=i - s)
            for d in (0, 1) for i, m in enumerate(["full_finetune", "linear_probe", "source_only"])
            for p in pairs for s in range(3)]
    write(tmp_path / "night1", [r for r in rows if r["run_id"] == "run-0"])
    write(tmp_path / "night2", [r for r in rows if r["run_id"] == "run-1"])
    out = tmp_path / "rep"
    build_report([tmp_path / "night1", tmp_path / "night2"], out)
    page = (out / "index.html").read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))

    res = chromium(["--dump-dom", probed.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    probe = re.search(r"PROBE images=(\d+) tables=(\d+) errors=(.*)", res.stdout)
    assert probe, f"the page did not finish loading: {res.stdout[-500:]} {res.stderr[-1500:]}"
    assert int(probe.group(1)) >= 4 and int(probe.group(2)) >= 4
    assert probe.group(3).strip().startswith("[]"), probe.group(3)
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console

    shot = tmp_path / "shot.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1400,2400", (out / "index.html").as_uri()],
                   tmp_path)
    assert res.returncode == 0 and shot.stat().st_size > 10_000
    if os.environ.get("BENCH_KEEP_SCREENSHOT"):  # for a human look: BENCH_KEEP_SCREENSHOT=/tmp/x.png
        shutil.copy(shot, os.environ["BENCH_KEEP_SCREENSHOT"])


def test_the_probe_catches_a_planted_script_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head>" + PROBE + "</head><body><p>x</p>"
                    "<script>not_defined_anywhere();</script></body></html>")
    res = chromium(["--dump-dom", page.as_uri()], tmp_path)
    probe = re.search(r"PROBE images=\d+ tables=\d+ errors=(.*)", res.stdout)
    assert probe and "not_defined_anywhere" in probe.group(1)
