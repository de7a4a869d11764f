"""The rendered reports in headless Chromium: every plotly figure draws, the console stays clean,
the index links every report, and the header names the version and parameters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="Debian's chromium and chromium-driver are not installed (make setup installs them)")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    pytest.importorskip("papermill")
    from valuelab.report import render_reports

    out = tmp_path_factory.mktemp("reports")
    render_reports(out, notebooks=[ROOT / "notebooks" / "01_utilities.py"],
                   parameters={"N_OPTIONS": 20})
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path_factory.mktemp('chrome')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _parameter_lines():
    text = (ROOT / "notebooks" / "01_utilities.py").read_text(encoding="utf-8")
    block = text.split('# %% tags=["parameters"]\n', 1)[1].split("\n\n", 1)[0]
    return [line for line in block.splitlines() if "=" in line and not line.startswith(("#", " "))]


def _figures_in(ipynb: Path) -> int:
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    return sum("application/vnd.plotly.v1+json" in o.get("data", {})
               for c in nb["cells"] for o in c.get("outputs", []))


def test_every_plotly_figure_renders_offline_without_console_errors(rendered, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    html = rendered / "01_utilities.html"
    expected = _figures_in(rendered / "01_utilities.ipynb")
    assert expected >= 3
    browser.get(html.as_uri())
    drawn = ("return Array.from(document.querySelectorAll('.js-plotly-plot'))"
             ".filter(d => { const s = d.querySelector('svg.main-svg'); return s && s.childElementCount > 0 &&"
             " d.querySelectorAll('g.trace, .heatmaplayer image').length > 0; }).length")
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(drawn) >= expected)
    assert browser.execute_script("return document.querySelectorAll('.js-plotly-plot').length") == expected
    assert "https://" not in "".join(browser.execute_script(
        "return Array.from(document.scripts).map(s => s.src)"))  # nothing fetched from the web
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    from valuelab import __version__

    assert f"valuelab {__version__}" in browser.find_element("tag name", "body").text
    rows = browser.execute_script("return Array.from(document.querySelector('table').rows)"
                                  ".map(r => Array.from(r.cells).map(c => c.innerText.trim()))")
    header = {r[0]: (r[1], r[2]) for r in rows[1:]}
    assert header["N_OPTIONS"] == ("20", "overridden")
    assert header["SEED"] == ("0", "default")
    declared = [line.split("=")[0].strip() for line in _parameter_lines()]
    assert list(header) == declared  # every declared parameter, in order, and nothing else


def test_index_links_every_report(rendered, browser):
    browser.get((rendered / "index.html").as_uri())
    links = [a.get_attribute("href") for a in browser.find_elements("tag name", "a")]
    reports = sorted(p.name for p in rendered.glob("*.html") if p.name != "index.html")
    assert reports and all(any(h.endswith(name) for h in links) for name in reports)
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
