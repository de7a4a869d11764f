"""The documentation: every public object has a docstring, and `make docs` (Sphinx, warnings
as errors) builds the API reference, the notebook gallery and the getting-started page."""

import importlib
import inspect
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
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
                         capture_output=True, text=True, timeout=900)
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
    assert "valuelab.fit_thurstonian" in flat and "generated/valuelab.utility.thurstonian.html" in flat

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
        assert "nothing is executed" in html

    text = re.sub(r"<[^>]+>", "", (out / "getting-started.html").read_text(encoding="utf-8"))
    for command in ("make test", "make report", "make docs", "make lab", "fit_thurstonian"):
        assert command in text
    assert (out / "survey_tables.html").exists()
