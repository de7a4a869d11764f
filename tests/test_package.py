import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_is_light():
    code = ("import sys, valuelab; heavy = [m for m in ('torch', 'transformers', 'plotly', 'joblib') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_documented():
    import valuelab as vl

    for name in vl.__all__:
        obj = getattr(vl, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 40, name


@pytest.mark.slow
def test_report_renders_notebook_with_figures(tmp_path):
    from valuelab.report import render_reports

    paths = render_reports(tmp_path, notebooks=[ROOT / "notebooks" / "01_utilities.py"],
                           parameters={"N_OPTIONS": 24, "N_BOOT": 10, "SAMPLES": 6, "COVERAGE_SIMS": 3,
                                       "COVERAGE_OPTIONS": 12, "LR_RESAMPLES": 3})
    html = paths[0].read_text()
    assert "Thurstonian utilities" in html
    assert html.count('class="plotly-graph-div"') == 4  # recovery, utilities, coverage, calibration
    # the parameters are shown on top
    assert "<td><code>N_OPTIONS</code></td><td><code>24</code></td><td>overridden</td>" in html
    assert "Traceback" not in html
    assert (tmp_path / "index.html").exists()
    assert not list(tmp_path.glob("*.part"))
