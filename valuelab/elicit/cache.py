"""A SQLite response cache: content-addressed, written as each answer arrives, safe to kill.

Keys are SHA-256 hashes of the model identity, the rendered prompt and the decoding
parameters. Every answer is committed in its own transaction (WAL journal), so a run killed
at any moment keeps every answer it completed and never stores half of one; re-running
skips what is cached. API keys never enter: the key material is only what
:func:`cache_key` is given.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sqlite3
from pathlib import Path

__all__ = ["ResponseCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def cache_key(identity: dict, prompt: str, params: dict) -> str:
    """SHA-256 of the model identity, the exact prompt text and the decoding parameters."""
    blob = json.dumps({"model": identity, "prompt": prompt, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers stored by key in a SQLite file.

    Parameters
    ----------
    path : path-like
        The database file (created when missing). ``":memory:"`` for a throwaway cache.

    Raises
    ------
    ValueError
        When ``path`` exists but is not a valuelab cache (not SQLite, or another schema).
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            file = Path(self.path)
            file.parent.mkdir(parents=True, exist_ok=True)
            if file.is_file() and file.stat().st_size > 0:
                with open(file, "rb") as fh:
                    head = fh.read(16)
                # a truncated or foreign file can make SQLite wait out its lock timeout: check first
                if head != b"SQLite format 3\x00"[: len(head)] or len(head) < 16:
                    raise ValueError(f"{self.path}: not a valuelab response cache (not an SQLite database file)")
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            # look before writing anything: another program's database is left untouched
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "responses" not in tables:
                self._db.close()
                raise ValueError(f"{self.path}: not a valuelab response cache (an SQLite database with tables "
                                 f"{sorted(tables)[:5]}, none named 'responses')")
            if "responses" in tables:
                cols = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
                missing = {"key", "model", "prompt", "params", "result", "created_at"} - cols
                if missing:
                    self._db.close()
                    raise ValueError(f"{self.path}: table 'responses' lacks columns {sorted(missing)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as err:
            if getattr(self, "_db", None) is not None:
                self._db.close()
            raise ValueError(f"{self.path}: not a valuelab response cache (SQLite says: {err})") from err

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """Cached results for the keys that have one."""
        out: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, result in self._db.execute(f"SELECT key, result FROM responses WHERE key IN ({marks})", chunk):
                out[key] = json.loads(result)
        return out

    def put(self, key: str, *, model: str, prompt: str, params: dict, result: dict) -> None:
        """Store one answer (its own committed transaction; an existing key is kept)."""
        self._db.execute(
            "INSERT OR IGNORE INTO responses (key, model, prompt, params, result, created_at) VALUES (?,?,?,?,?,?)",
            (key, model, prompt, json.dumps(params, sort_keys=True), json.dumps(result),
             _dt.datetime.now(_dt.timezone.utc).isoformat()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database connection (answers are already committed)."""
        self._db.close()
