"""The documentation: every public object has a docstring, and `make docs` (Sphinx, warnings
as errors) builds the API reference, the notebook gallery and the getting-started page."""

import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import valuelab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def public_modules() -> list[str]:
    """valuelab and every module below it whose dotted name has no part starting with "_"."""
    names = ["valuelab"]
    for info in pkgutil.walk_packages(valuelab.__path__, prefix="valuelab."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def defined_here(module) -> list[tuple[str, object]]:
    """The public classes and functions a module defines itself (re-exports live elsewhere)."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = []
    for name in names:
        obj = getattr(module, name, None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == module.__name__:
            out.append((name, obj))
    return out


def test_every_public_object_has_a_docstring():
    missing = []
    for name in public_modules():
        module = importlib.import_module(name)
        if not inspect.getdoc(module):
            missing.append(name)
        for member, obj in defined_here(module):
            if not obj.__doc__:
                missing.append(f"{name}.{member}")
            if inspect.isclass(obj):
                for meth_name, meth in inspect.getmembers(obj, inspect.isfunction):
                    if (not meth_name.startswith("_") and meth.__qualname__.split(".")[0] == obj.__name__
                            and not meth.__doc__):
                        missing.append(f"{name}.{member}.{meth_name}")
    assert not missing, missing


def test_make_docs_treats_warnings_as_errors():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^docs: setup\n\t\$\(BIN\)/sphinx-build -W --keep-going -b html docs docs/_build/html$",
                     makefile, re.M)
    assert not (ROOT / "docs" / "build_api.py").exists()


@pytest.mark.slow
def test_sphinx_builds_the_reference_and_the_gallery_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    out = tmp_path / "html"
    (tmp_path / "no-reports").mkdir()  # as on a fresh checkout: the gallery without outputs
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
                         capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, VALUELAB_DOCS_REPORTS=str(tmp_path / "no-reports")))
    assert run.returncode == 0, f"sphinx-build failed:\n{run.stdout}\n{run.stderr}"
    assert "WARNING" not in run.stderr and "ERROR" not in run.stderr, run.stderr

    # the API reference: one page per public module, each object under its own anchor
    generated = out / "api" / "generated"
    assert sorted(p.stem for p in generated.glob("*.html")) == public_modules()
    page = (generated / "valuelab.utility.thurstonian.html").read_text(encoding="utf-8")
    assert 'id="valuelab.utility.thurstonian.fit_thurstonian"' in page
    assert "Parameters" in page and "Returns" in page  # numpydoc sections rendered
    results = (generated / "valuelab.utility.results.html").read_text(encoding="utf-8")
    assert 'id="valuelab.utility.results.ThurstonianResult.summary"' in results  # methods too
    flat = (out / "api" / "index.html").read_text(encoding="utf-8")
    assert "generated/valuelab.utility.thurstonian.html#valuelab.utility.thurstonian.fit_thurstonian" in flat

    # the gallery: one page per notebook, its text and code, and the note on where outputs are
    assert len(NOTEBOOKS) == 5
    gallery = (out / "gallery" / "index.html").read_text(encoding="utf-8")
    assert "make report" in re.sub(r"<[^>]+>", "", gallery)
    for name in NOTEBOOKS:
        html = (out / "gallery" / f"{name}.html").read_text(encoding="utf-8")
        assert f"{name}.html" in gallery
        source = (ROOT / "notebooks" / f"{name}.py").read_text(encoding="utf-8")
        title = re.search(r"^# # (.+)$", source, re.M).group(1)
        assert title.split(":")[0] in html
        assert "nothing is executed" in html and "has not been run here" in html

    text = re.sub(r"<[^>]+>", "", (out / "getting-started.html").read_text(encoding="utf-8"))
    for command in ("make test", "make report", "make docs", "make lab", "fit_thurstonian"):
        assert command in text
    assert (out / "survey_tables.html").exists()


def _conf():
    spec = importlib.util.spec_from_file_location("valuelab_docs_conf", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gallery_pages_take_the_outputs_of_current_reports_only(tmp_path):
    """A report whose cells are the notebook's lends its outputs to the page; one made from
    another version of the notebook does not; without a report the page says so."""
    jupytext = pytest.importorskip("jupytext")
    import nbformat

    conf = _conf()
    reports, gallery = tmp_path / "reports", tmp_path / "gallery"
    reports.mkdir()
    first, second = NOTEBOOKS[0], NOTEBOOKS[1]

    # a current report, as valuelab.report writes it: a header cell, papermill's injected
    # parameters, outputs (a figure as plotly JSON and as HTML, in one bundle)
    executed = jupytext.read(ROOT / "notebooks" / f"{first}.py")
    code = [c for c in executed.cells if c.cell_type == "code"]
    injected = nbformat.v4.new_code_cell("N_OPTIONS = 80", metadata={"tags": ["injected-parameters"]})
    executed.cells.insert(executed.cells.index(code[0]) + 1, injected)
    code[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.plotly.v1+json": {"data": [], "layout": {}},
                              "text/html": "<div>a figure</div>", "text/plain": "Figure"})]
    executed.cells.insert(0, nbformat.v4.new_markdown_cell("<p><em>Report <code>x</code> rendered ...</em></p>"))
    nbformat.write(executed, reports / f"{first}.ipynb")
    (reports / f"{first}.html").write_text("<html></html>")
    # a report of another version of the notebook
    stale = jupytext.read(ROOT / "notebooks" / f"{second}.py")
    stale_code = [c for c in stale.cells if c.cell_type == "code"]
    stale_code[1].source += "\nprint('an older line')"
    stale_code[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old output")]
    nbformat.write(stale, reports / f"{second}.ipynb")

    conf.build_gallery(reports=reports, gallery=gallery)
    assert sorted(p.stem for p in gallery.glob("*.ipynb")) == NOTEBOOKS

    page = nbformat.read(gallery / f"{first}.ipynb", as_version=4)
    assert page.cells[0].cell_type == "markdown" and page.cells[0].source.startswith("# ")  # the title first
    assert "are those of the report" in page.cells[1].source
    assert '<a href="../reports/' + first + '.html">' in page.cells[1].source
    assert page.cells[2].source.startswith("<p><em>Report")  # when and with which parameters
    bundles = [o["data"] for c in page.cells for o in c.get("outputs", []) if "data" in o]
    assert bundles == [{"text/html": "<div>a figure</div>", "text/plain": "Figure"}]

    page = nbformat.read(gallery / f"{second}.ipynb", as_version=4)
    assert "another version of the notebook" in page.cells[1].source
    assert not any(c.get("outputs") for c in page.cells)
    page = nbformat.read(gallery / f"{NOTEBOOKS[2]}.ipynb", as_version=4)
    assert "has not been run here" in page.cells[1].source
