"""Read and write the tidy tables as CSV, JSON Lines or Parquet (chosen by file extension)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["read_table", "write_table"]

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown table format {path.suffix!r}; expected one of {sorted(_FORMATS)}")
    return fmt


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table from ``.csv``, ``.jsonl`` (one JSON object per line) or ``.parquet``.

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
        if fmt == "jsonl":
            return pd.read_json(path, lines=True)
        return pd.read_parquet(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not a valid {fmt} table ({err})") from err


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table atomically: to a temporary file first, then renamed into place.

    An interrupted write never leaves a truncated file under ``path``.

    Parameters
    ----------
    table : DataFrame
    path : path-like
        ``.csv``, ``.jsonl`` or ``.parquet``.

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
        elif fmt == "jsonl":
            table.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            table.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
