"""Sphinx configuration for the valuelab documentation (``make docs``).

The site has four parts: a getting-started page, the notebook gallery, the API reference
(autosummary and numpydoc over the public modules) and the hand-written table reference
(``survey_tables.md``). The gallery pages are made here, before Sphinx reads the sources:
each ``notebooks/NN_*.py`` (jupytext percent format) becomes ``gallery/NN_*.ipynb`` without
outputs, and nothing is executed; the outputs are in the reports that ``make report`` writes,
which are copied into the site (``reports/``) when they exist.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NOTEBOOKS = ROOT / "notebooks"
REPORTS = ROOT / "reports"
GALLERY = DOCS / "gallery"

sys.path.insert(0, str(ROOT))

import valuelab  # noqa: E402

project = "valuelab"
author = "the valuelab authors"
copyright = "the valuelab authors, Apache-2.0"
version = release = valuelab.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",  # Markdown pages (MyST) and the notebook gallery
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_templates", "**.ipynb_checkpoints", "api/_*.rst"]
templates_path = ["_templates"]

# the API reference: one page per public module, generated from the docstrings
autosummary_generate = True
autosummary_ignore_module_all = True  # document each object once, in the module that defines it
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # methods are documented in full under each class
numpydoc_class_members_toctree = False

# the gallery: rendered from the jupytext sources, never executed here
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"valuelab {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []


# --------------------------------------------------------------------------- helpers


def _write_if_changed(path: Path, text: str) -> None:
    """Write atomically and only when the text differs, so that repeated builds stay
    incremental and two builds at once never read a half-written source."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def notebook_sources() -> list[Path]:
    """The analysis notebooks, in order: ``notebooks/NN_*.py``."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def _report_note(name: str) -> str:
    if (REPORTS / f"{name}.html").exists():
        where = (f'its executed report, with every table and figure, is '
                 f'<a href="../reports/{name}.html">reports/{name}.html</a>')
    else:
        where = (f"run `make report` to execute it into `reports/{name}.html` and build the "
                 "documentation again to link that report here")
    return (":::{note}\nThis page shows the notebook's text and code as they are in "
            f"`notebooks/{name}.py`, without outputs: nothing is executed to build the "
            f"documentation. The outputs come from `make report`; {where}.\n:::")


def build_gallery() -> None:
    """Turn each jupytext notebook into ``gallery/NAME.ipynb`` (no outputs) with a note
    that points at its executed report, and drop pages whose notebook is gone."""
    import jupytext
    import nbformat

    names = []
    for src in notebook_sources():
        nb = jupytext.read(src)
        note = nbformat.v4.new_markdown_cell(_report_note(src.stem))
        # after the title cell, so that the page keeps the notebook's title
        first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
        nb.cells.insert(first_md + 1, note)
        for i, cell in enumerate(nb.cells):
            cell.pop("id", None)
            cell["id"] = f"cell-{i}"
        nb.metadata.pop("jupytext", None)
        nb.metadata.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
        _write_if_changed(GALLERY / f"{src.stem}.ipynb", nbformat.writes(nb))
        names.append(src.stem)
    for stale in GALLERY.glob("*.ipynb"):
        if stale.stem not in names:
            stale.unlink()


def build_flat_api() -> None:
    """``api/_flat_api.rst``: every name of ``valuelab.__all__`` with the object it is
    (documented once, in the module that defines it) and its one-line summary."""
    rows = []
    for name in valuelab.__all__:
        if name.startswith("_"):
            continue
        obj = getattr(valuelab, name)
        target = f"{obj.__module__}.{obj.__qualname__}"
        summary = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
        role = "class" if inspect.isclass(obj) else "func"
        rows.append(f"   * - :py:{role}:`valuelab.{name} <{target}>`\n     - {summary}")
    table = [".. list-table::", "   :widths: 30 70", "   :header-rows: 1", "",
             "   * - name", "     - what it is", *rows, ""]
    _write_if_changed(DOCS / "api" / "_flat_api.rst", "\n".join(table))


def copy_reports(app, exception) -> None:
    """Copy the executed reports (``make report``) into the site, when there are any."""
    if exception is not None or app.builder.format != "html" or not REPORTS.is_dir():
        return
    out = Path(app.outdir) / "reports"
    for report in sorted(REPORTS.glob("*.html")):
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(report, out / report.name)


class _CitedFromElsewhere(logging.Filter):
    """Drop Sphinx's "Citation [...] is not referenced" and nothing else.

    A References section lists the sources of a whole module or function, and the functions
    of a module cite the module's list by number in their own text ("see the module
    docstring"); numpydoc gives each docstring's citations names of their own, so Sphinx
    reports every listed source that the same docstring does not cite. That report says
    nothing wrong about the page. Duplicate and missing citations are still reported.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "is not referenced" not in str(record.msg)


def setup(app):
    logging.getLogger("sphinx.sphinx.domains.citation").addFilter(_CitedFromElsewhere())
    build_gallery()
    build_flat_api()
    app.connect("build-finished", copy_reports)
    return {"parallel_read_safe": True}
