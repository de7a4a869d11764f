"""Read and write the tidy tables as CSV, JSON, JSON Lines or Parquet (chosen by file extension)."""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["read_table", "write_table", "parse_list_cell", "DATA_DIR"]

#: The bundled data folder (``data/`` at the project root): lexicons, items, prompts, samples.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

#: File extensions :func:`read_table` and :func:`write_table` know, and the format of each.
TABLE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown table format {path.suffix!r}; expected one of {sorted(TABLE_FORMATS)}")
    return fmt


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table from ``.csv``, ``.json`` (a list of records), ``.jsonl`` (one JSON object
    per line) or ``.parquet``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    DataFrame

    Raises
    ------
    ValueError
        Unknown extension, or a file that cannot be parsed in its format (the message
        names the file).
    """
    path = Path(path)
    fmt = _format(path)
    try:
        if fmt == "csv":
            return pd.read_csv(path)
        if fmt in ("json", "jsonl"):
            return pd.read_json(path, lines=fmt == "jsonl", orient="records", dtype=False)
        return pd.read_parquet(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a valid {fmt} table ({err})") from err


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically: to a temporary file first, then renamed into place.

    An interrupted write never leaves a truncated file under ``path``.

    Parameters
    ----------
    table : DataFrame
    path : path-like
        ``.csv``, ``.json`` (a list of records), ``.jsonl`` or ``.parquet``. Parquet needs
        each column to hold one type: convert mixed columns (e.g. ids that are sometimes
        numbers, sometimes text) with ``astype(str)`` first.

    Returns
    -------
    Path
    """
    path = Path(path)
    fmt = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        if fmt == "csv":
            table.to_csv(tmp, index=False)
        elif fmt in ("json", "jsonl"):
            table.to_json(tmp, orient="records", lines=fmt == "jsonl", force_ascii=False)
        else:
            try:
                table.to_parquet(tmp, index=False)
            except (TypeError, ValueError) as err:  # pyarrow's ArrowTypeError/ArrowInvalid derive from these
                raise ValueError(
                    f"{path}: cannot write as Parquet ({err}); a column probably mixes types, e.g. ids "
                    "that are sometimes numbers and sometimes text: convert it with astype(str)"
                ) from err
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def parse_list_cell(cell, *, where: str = "cell") -> list:
    """A list stored as a Python repr (``"['a', nan, \"b's\"]"``), parsed without evaluating it.

    The text is parsed into a syntax tree and only a list (or tuple) of string literals,
    ``None`` and ``nan`` is accepted; anything else (calls, names, arithmetic) is an error.
    ``nan`` and ``None`` become None. An empty or missing cell is an empty list.

    Raises
    ------
    ValueError
        Naming ``where`` and what was found.
    """
    if cell is None or (isinstance(cell, float) and cell != cell):
        return []
    if isinstance(cell, (list, tuple)):
        out = []
        for v in cell:
            if v is None or (isinstance(v, float) and v != v):
                out.append(None)
            elif isinstance(v, str):
                out.append(v)
            else:
                raise ValueError(f"{where}: list items must be strings or missing, got {v!r}")
        return out
    text = str(cell).strip()
    if not text:
        return []
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError(f"{where}: expected a list like ['a', 'b'], got {text[:80]!r} (not parseable)") from None
    if not isinstance(tree, (ast.List, ast.Tuple)):
        raise ValueError(f"{where}: expected a list like ['a', 'b'], got {text[:80]!r}")
    out = []
    for node in tree.elts:
        if isinstance(node, ast.Constant) and (isinstance(node.value, str) or node.value is None):
            out.append(node.value)
        elif isinstance(node, ast.Name) and node.id in ("nan", "NaN", "None"):
            out.append(None)
        else:
            raise ValueError(f"{where}: list items must be quoted strings, nan or None; got {ast.unparse(node)[:40]!r}")
    return out
