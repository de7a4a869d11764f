"""Render notebooks into self-contained HTML reports: jupytext -> papermill -> nbconvert.

Each report is written to a temporary file and moved into place only when complete, so an
interrupted run never leaves a half-written report that looks finished.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
import re
import tempfile
from pathlib import Path

from ._version import __version__

__all__ = ["setup_notebook", "render_notebook", "render_reports", "NOTEBOOK_DIR"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def setup_notebook(*, renderer: str = "plotly_mimetype+notebook") -> None:
    """Configure a notebook for reports: plotly figures embedded so exported HTML works offline.

    Call it in the first code cell after the parameters. ``plotly_mimetype+notebook``
    stores each figure as plotly JSON (for JupyterLab) and as HTML with plotly.js included
    once (for nbconvert's HTML export), so no CDN is needed to view the report.
    """
    import warnings

    import plotly.io as pio

    pio.renderers.default = renderer
    # Text progress bars are noise in a rendered report (there are no widgets there).
    warnings.filterwarnings("ignore", message="IProgress not found")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _defaults(nb) -> dict:
    """Name -> default value (its repr; the source text when it is not a literal) of every
    assignment in the cell tagged ``parameters``."""
    import ast

    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return {}
            out = {}
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                    if isinstance(node, ast.AnnAssign) and node.value is not None else []
                for target in targets:
                    names = [target] if isinstance(target, ast.Name) else list(getattr(target, "elts", []))
                    for i, t in enumerate(names):
                        if not isinstance(t, ast.Name):
                            continue
                        value = node.value.elts[i] if len(names) > 1 and isinstance(node.value, ast.Tuple) else node.value
                        out[t.id] = (repr(value.value) if isinstance(value, ast.Constant)
                                     else ast.get_source_segment(cell.source, value) or "?")
            return out
    return {}


def _header_cell(nbformat, name: str, parameters: dict, defaults: dict | None = None):
    """Version, time, and every parameter with its value, overridden or default: what a reader
    needs to reproduce the report. Model names are parameters (``MODEL``, ``MODELS``)."""
    defaults = dict(defaults or {})

    def cell(text: str, limit: int = 160) -> str:
        text = " ".join(str(text).split())
        return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")

    rows = [f"<tr><td><code>{html.escape(k)}</code></td><td><code>{cell(repr(parameters[k]) if k in parameters else defaults[k])}"
            f"</code></td><td>{'overridden' if k in parameters else 'default'}</td></tr>" for k in defaults]
    stamp = (f"<p><em>Report <code>{html.escape(name)}</code> rendered "
             f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC} with valuelab {__version__}.</em></p>")
    table = ("<table><thead><tr><th>parameter</th><th>value</th><th></th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>") if rows else "<p>No parameters.</p>"
    return nbformat.v4.new_markdown_cell(stamp + "\n\n" + table)


def render_notebook(source: str | Path, out_dir: str | Path, *, parameters: dict | None = None,
                    kernel_name: str = "python3", timeout: int = 3600, cwd: str | Path | None = None) -> Path:
    """Execute one jupytext notebook with parameters and export it to HTML.

    Parameters
    ----------
    source : path
        A jupytext percent-format ``.py`` notebook (or an ``.ipynb``).
    out_dir : path
        Where ``<name>.html`` (and the executed ``<name>.ipynb``) are written.
    parameters : dict, optional
        Values injected after the cell tagged ``parameters`` (papermill).
    kernel_name : str
    timeout : int
        Seconds allowed per cell.
    cwd : path, optional
        Working directory of the kernel (default: the notebook's folder).

    Returns
    -------
    Path
        The HTML report.
    """
    import jupytext
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    source = Path(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = dict(parameters or {})
    nb = jupytext.read(source)
    declared = _defaults(nb)
    # a notebook takes only the parameters it declares (render_reports passes one set to all)
    parameters = {k: v for k, v in parameters.items() if k in declared} if declared else {}
    # papermill needs the kernel's language to inject parameters; a bare percent script has none
    nb.metadata.setdefault("kernelspec", {"name": kernel_name, "display_name": "Python 3", "language": "python"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{source.stem}.ipynb"
        done = Path(tmp) / f"{source.stem}.out.ipynb"
        nbformat.write(nb, src)
        pm.execute_notebook(str(src), str(done), parameters=parameters, kernel_name=kernel_name,
                            cwd=str(cwd or source.parent), execution_timeout=timeout, progress_bar=False)
        executed = nbformat.read(done, as_version=4)
    executed.cells.insert(0, _header_cell(nbformat, source.stem, parameters, declared))
    title = _title(source)
    executed.metadata["title"] = title  # the HTML <title>, which index.html lists
    body, _ = HTMLExporter().from_notebook_node(executed, resources={"metadata": {"name": title}})
    body = _offline(body)
    _atomic_write(out_dir / f"{source.stem}.ipynb", nbformat.writes(executed))
    html_path = out_dir / f"{source.stem}.html"
    _atomic_write(html_path, body)
    return html_path


_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", re.I)


def _offline(html_text: str) -> str:
    """Drop scripts fetched from the web (require.js, MathJax from a CDN): the report must
    open offline without errors. plotly.js itself is embedded by :func:`setup_notebook`;
    LaTeX in markdown cells then shows as its source."""
    return _REMOTE_SCRIPT.sub("", html_text)


def _title(source: Path) -> str:
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return source.stem


def render_reports(out_dir: str | Path = "reports", *, notebooks: list[str | Path] | None = None,
                   parameters: dict | None = None) -> list[Path]:
    """Render every notebook (default: ``notebooks/NN_*.py``) and write ``index.html``.

    Parameters
    ----------
    out_dir : path
    notebooks : list of paths, optional
    parameters : dict, optional
        Passed to every notebook (each takes only those it declares).

    Returns
    -------
    list of Path
        The HTML reports, then the index.
    """
    out_dir = Path(out_dir)
    sources = [Path(p) for p in notebooks] if notebooks else sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    if not sources:
        raise FileNotFoundError(f"no notebooks to render in {NOTEBOOK_DIR} (it exists only in a source checkout); "
                                "pass notebook paths: valuelab report path/to/NN_name.py")
    from tqdm.auto import tqdm

    written = []
    quiet = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    saved = {k: os.environ.get(k) for k in quiet}
    os.environ.update(quiet)  # inherited by the kernels: no progress bars in the reports
    try:
        for src in tqdm(sources, desc="reports", unit="notebook", disable=False):
            written.append(render_notebook(src, out_dir, parameters=parameters))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    # the index lists every report in the folder, also those rendered by earlier runs
    titles = {p.name: _title(s) for s, p in zip(sources, written)}
    for page in out_dir.glob("*.html"):
        if page.name != "index.html" and page.name not in titles:
            found = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8", errors="replace"), re.S)
            titles[page.name] = html.unescape(found.group(1).strip()) if found else page.stem
    items = "\n".join(
        f'<li><a href="{html.escape(name)}">{html.escape(title)}</a> <code>{html.escape(name)}</code></li>'
        for name, title in sorted(titles.items())
    )
    index = (
        "<!doctype html><html><head><meta charset='utf-8'><title>valuelab reports</title></head><body>"
        f"<h1>valuelab reports</h1><p>valuelab {__version__}, rendered "
        f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC}.</p><ul>{items}</ul></body></html>"
    )
    _atomic_write(out_dir / "index.html", index)
    return written + [out_dir / "index.html"]
