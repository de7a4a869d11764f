"""Sphinx configuration for the valuelab documentation (``make docs``).

The site has four parts: a getting-started page, the notebook gallery, the API reference
(autosummary and numpydoc over the public modules) and the hand-written table reference
(``survey_tables.md``). The gallery pages are made here, before Sphinx reads the sources,
and nothing is executed: each ``notebooks/NN_*.py`` (jupytext percent format) becomes
``gallery/NN_*.ipynb``, with the outputs of the executed notebook that ``make report`` wrote
(``reports/NN_*.ipynb``) when that report shows exactly the same cells, else without
outputs. The HTML reports are copied into the site (``reports/``) when they exist.
``VALUELAB_DOCS_REPORTS`` names another folder of reports (the tests use an empty one).
"""

from __future__ import annotations

import importlib
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
REPORTS = Path(os.environ.get("VALUELAB_DOCS_REPORTS") or ROOT / "reports")
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
exclude_patterns = ["_build", "**.ipynb_checkpoints", "api/_*.rst"]

# the API reference: one page per public module (api/generated/, written by build_api_pages
# below: automodule, autosummary tables, then autodoc for each object the module defines)
autosummary_generate = False  # the tables link to the objects on the same page; no stubs
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # methods are documented in full under each class
numpydoc_class_members_toctree = False

# the gallery: pages made by build_gallery below, never executed here
nb_execution_mode = "off"

# every cross-reference must resolve (re-exported names are resolved to where the object is
# documented: resolve_reexports below). pandas, numpy and plotly have no inventory here:
# the machine that builds the documentation has no access to their sites.
nitpicky = True
nitpick_ignore_regex = [("py:class", r"(pandas|numpy|plotly)\..*")]
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


def notebook_sources(notebooks: Path = NOTEBOOKS) -> list[Path]:
    """The analysis notebooks, in order: ``notebooks/NN_*.py``."""
    return sorted(Path(notebooks).glob("[0-9][0-9]_*.py"))


def _cells(nb) -> list[tuple[str, str]]:
    """What a notebook says, for comparing a report with its source: every cell's kind and
    text, without the report's header and papermill's injected parameters."""
    out = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or cell.source.startswith(_HEADER):
            continue
        out.append((cell.cell_type, cell.source.strip()))
    return out


_HEADER = "<p><em>Report "  # the first cell valuelab.report adds to every executed notebook


def _executed(src: Path, nb, reports: Path):
    """The executed notebook that ``make report`` wrote for ``src``, when it shows exactly
    this notebook's cells (else None: no report, or one made from another version)."""
    import nbformat

    path = reports / f"{src.stem}.ipynb"
    if not path.exists():
        return None, "missing"
    try:
        executed = nbformat.read(path, as_version=4)
    except Exception:  # a report being written, or not a notebook: show the source
        return None, "unreadable"
    if _cells(executed) != _cells(nb):
        return None, "stale"
    return executed, "current"


def _report_note(name: str, state: str, reports: Path) -> str:
    html = (reports / f"{name}.html").exists()
    link = (f'<a href="../reports/{name}.html">reports/{name}.html</a>' if html
            else f"`reports/{name}.html`")
    if state == "current":
        text = ("The outputs on this page are those of the report that `make report` wrote "
                f"({link}): nothing is executed to build the documentation. The first cell "
                "below says when the report was made and with which parameters.")
    else:
        why = {"missing": f"`make report` has not been run here, so there is no {link} yet",
               "unreadable": f"its report, {link}, could not be read",
               "stale": f"its report, {link}, was made from another version of the notebook"}[state]
        text = (f"This page shows the notebook's text and code as they are in `notebooks/{name}.py`, "
                "without outputs: nothing is executed to build the documentation, and "
                f"{why}. The outputs come from `make report`; build the documentation again "
                "after it to see them here.")
    return ":::{note}\n" + text + "\n:::"


def _drop_plotly_json(cell) -> None:
    """A report holds each figure in two forms (``setup_notebook``'s renderer
    "plotly_mimetype+notebook"): plotly JSON, which JupyterLab draws, and HTML with
    plotly.js, which any web page can show. The page keeps the HTML; the JSON, which Sphinx
    has no renderer for, is dropped from every output that also has the HTML."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "text/html" in data:
            data.pop("application/vnd.plotly.v1+json", None)


def build_gallery(notebooks: Path = NOTEBOOKS, reports: Path = REPORTS, gallery: Path = GALLERY) -> None:
    """One page per notebook, ``gallery/NAME.ipynb``: the executed notebook of ``make report``
    when it matches the source (outputs included), else the source without outputs; each
    with a note that says which. Pages whose notebook is gone are removed."""
    import jupytext
    import nbformat

    names = []
    reports, gallery = Path(reports), Path(gallery)
    for src in notebook_sources(notebooks):
        nb = jupytext.read(src)
        executed, state = _executed(src, nb, reports)
        page = executed if executed is not None else nb
        header = [c for c in page.cells if c.cell_type == "markdown" and c.source.startswith(_HEADER)]
        cells = [c for c in page.cells if not any(c is h for h in header)]
        first_md = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), -1)
        # after the title cell, so that the page keeps the notebook's title
        extra = [nbformat.v4.new_markdown_cell(_report_note(src.stem, state, reports)), *header]
        page.cells = cells[: first_md + 1] + extra + cells[first_md + 1:]
        for i, cell in enumerate(page.cells):
            cell["id"] = f"cell-{i}"
            _drop_plotly_json(cell)
        for key in ("jupytext", "papermill"):
            page.metadata.pop(key, None)
        page.metadata.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
        _write_if_changed(gallery / f"{src.stem}.ipynb", nbformat.writes(page))
        names.append(src.stem)
    for stale in gallery.glob("*.ipynb"):
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
        rows.append(f"   * - :py:{role}:`{name} <{target}>`\n     - {summary}")
    table = [".. list-table::", "   :widths: 30 70", "   :header-rows: 1", "",
             "   * - ``valuelab.``", "     - what it is", *rows, ""]
    _write_if_changed(DOCS / "api" / "_flat_api.rst", "\n".join(table))


def public_modules() -> list[str]:
    """valuelab and every module below it whose dotted name has no part starting with "_"."""
    import pkgutil

    names = ["valuelab"]
    for info in pkgutil.walk_packages(valuelab.__path__, prefix="valuelab."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def module_constants() -> dict[str, list[str]]:
    """The upper-case constants each public module exports (``__all__``) and assigns itself."""
    import ast

    out = {}
    for name in public_modules():
        module = importlib.import_module(name)
        exported = [n for n in getattr(module, "__all__", []) if n.isupper()]
        if not exported:
            continue
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        assigned = set()
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            assigned |= {t.id for t in targets if isinstance(t, ast.Name)}
        names = [n for n in exported if n in assigned]
        if names:
            out[name] = names
    return out


def _defined_here(module) -> tuple[list[str], list[str]]:
    """The public classes and functions a module defines itself, in source order (what it
    re-exports is documented where it is defined)."""
    classes, functions = [], []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            classes.append(name)
        elif inspect.isfunction(obj):
            functions.append(name)
    return classes, functions


def _summary_table(title: str, names: list[str]) -> list[str]:
    if not names:
        return []
    return [f".. rubric:: {title}", "", ".. autosummary::", "   :nosignatures:", "",
            *[f"   {n}" for n in names], ""]


def build_api_pages(out: Path = DOCS / "api" / "generated") -> None:
    """One reST page per public module: its docstring (automodule), tables of its classes and
    functions, its submodules, then every class (with its methods) and function it defines,
    all rendered by autodoc and numpydoc from the docstrings.

    The pages are made here rather than by autosummary's recursive mode, which takes a module
    whose package re-exports a function of the same name (``valuelab.utility.transitivity``)
    for that function and would document the function in place of the module."""
    modules = public_modules()
    written = set()
    for name in modules:
        module = importlib.import_module(name)
        classes, functions = _defined_here(module)
        children = [m for m in modules if m.rpartition(".")[0] == name]
        lines = [name, "=" * len(name), "", f".. automodule:: {name}", "", f".. currentmodule:: {name}", ""]
        lines += _summary_table("Classes", classes) + _summary_table("Functions", functions)
        if children:
            lines += [".. rubric:: Modules", "", ".. list-table::", "   :widths: 35 65", ""]
            for child in children:
                summary = (inspect.getdoc(importlib.import_module(child)) or "").split("\n\n")[0]
                lines += [f"   * - :doc:`{child}`", f"     - {' '.join(summary.split())}"]
            lines += ["", ".. toctree::", "   :hidden:", "", *[f"   {c}" for c in children], ""]
        for const in _CONSTANTS.get(name, []):
            lines += [f".. autodata:: {const}", "   :no-value:", ""]
        for cls in classes:
            lines += [f".. autoclass:: {cls}", "   :members:", "   :show-inheritance:", ""]
        for func in functions:
            lines += [f".. autofunction:: {func}", ""]
        _write_if_changed(out / f"{name}.rst", "\n".join(lines))
        written.add(f"{name}.rst")
    for stale in out.glob("*.rst"):
        if stale.name not in written:
            stale.unlink()


def _import_path(dotted: str):
    """The object a dotted name reaches, importing the longest module prefix, or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        except Exception:  # an import that fails for another reason: not ours to report here
            return None
        for attr in parts[i:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                return None
        return obj, parts[:i], parts[i:]
    return None


def _canonical(dotted: str) -> str | None:
    """Where ``dotted`` (a re-exported name such as ``valuelab.survey.elicit_survey``, or
    ``OpenAIModel.route_counts`` inside its module) is documented: the defining module's
    name for the first class or function on the path, then the rest of the path."""
    found = _import_path(dotted)
    if found is None:
        return None
    _, module_parts, attrs = found
    obj = importlib.import_module(".".join(module_parts))
    for i, attr in enumerate(attrs):
        obj = getattr(obj, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            home = getattr(obj, "__module__", None)
            if home and home.startswith("valuelab"):
                return ".".join([home, obj.__qualname__, *attrs[i + 1:]])
            return None
    # a constant: documented in the module that assigns it
    name = attrs[-1] if attrs else None
    for home, names in _CONSTANTS.items():
        if name in names and getattr(importlib.import_module(home), name) is obj:
            return f"{home}.{name}"
    return None


def resolve_reexports(app, env, node, contnode):
    """Resolve a cross-reference to a re-exported name (``valuelab.fit_thurstonian``,
    ``valuelab.survey.elicit_survey``, a bare name inside its module) to the place the
    object is documented, so that docstrings may name objects the way users import them."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    modname, clsname = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if modname:
        candidates += [f"{modname}.{clsname}.{target}"] if clsname else []
        candidates.append(f"{modname}.{target}")
    head, _, rest = target.partition(".")
    if head in _BY_NAME and len(_BY_NAME[head]) == 1:  # a name defined in one public module only
        candidates.append(".".join(filter(None, [_BY_NAME[head][0], rest])))
    domain = env.get_domain("py")
    for candidate in candidates:
        canonical = _canonical(candidate)
        if canonical is None:
            continue
        for reftype in (node["reftype"], "obj"):
            found = domain.resolve_xref(env, node["refdoc"], app.builder, reftype, canonical, node, contnode)
            if found is not None:
                return found
    return None


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


_CONSTANTS = module_constants()


def _names_by_short_name() -> dict[str, list[str]]:
    """Short name -> the full names of the public classes, functions and constants that bear
    it, for references that name an object without its module."""
    out: dict[str, list[str]] = {}
    for name in public_modules():
        classes, functions = _defined_here(importlib.import_module(name))
        for short in [*classes, *functions, *_CONSTANTS.get(name, [])]:
            out.setdefault(short, []).append(f"{name}.{short}")
    return out


_BY_NAME = _names_by_short_name()


def setup(app):
    app.connect("missing-reference", resolve_reexports)
    logging.getLogger("sphinx.sphinx.domains.citation").addFilter(_CitedFromElsewhere())
    build_gallery()
    build_flat_api()
    build_api_pages()
    app.connect("build-finished", copy_reports)
    return {"parallel_read_safe": True}
