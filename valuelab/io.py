"""Read and write the tidy tables as CSV, JSON, JSON Lines or Parquet (chosen by file extension)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["read_table", "write_table"]

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown table format {path.suffix!r}; expected one of {sorted(_FORMATS)}")
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
