"""Every Python block of README.md runs as written, on its own, in an empty folder.

Each ```python block is run by a fresh interpreter (this one's) in a temporary folder, with
valuelab importable and nothing else around, under a time limit of five minutes. Blocks that
ask a model (they create a ``TransformersModel``) are marked ``model`` and ``slow``. So the
README cannot drift from the code: a renamed function or a missing input fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LIMIT_S = 300


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """``(id, code)`` for every ```python block, its id made from the heading above it."""
    blocks, heading, counts = [], "intro", {}
    for match in re.finditer(r"^## (?P<h>[^\n]+)$|^```python\n(?P<code>.*?)^```", text, re.M | re.S):
        if match.group("h"):
            heading = re.sub(r"[^a-z0-9]+", "-", match.group("h").lower()).strip("-")
            continue
        counts[heading] = counts.get(heading, 0) + 1
        name = heading if counts[heading] == 1 else f"{heading}-{counts[heading]}"
        blocks.append((name, match.group("code")))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


#: blocks without a model that still take more than a few seconds
SLOW = {"test-how-coherent-the-utilities-are"}


def _marks(name: str, code: str):
    if "TransformersModel(" in code:
        return [pytest.mark.model, pytest.mark.slow]
    return [pytest.mark.slow] if name in SLOW else []


def test_the_readme_has_the_blocks_we_run():
    names = [name for name, _ in BLOCKS]
    assert len(names) >= 6, names
    assert "fit-utilities-from-a-csv" in names and "ask-a-local-model" in names


@pytest.mark.parametrize("code", [pytest.param(code, id=name, marks=_marks(name, code)) for name, code in BLOCKS])
def test_readme_block_runs_in_an_empty_folder(code, tmp_path):
    if "TransformersModel(" in code:
        from valuelab.elicit.embedded import EMBEDDED_MODELS

        for name in re.findall(r'TransformersModel\("([^"]+)"\)', code):
            spec = EMBEDDED_MODELS[name]
            import importlib.util

            if importlib.util.find_spec(spec.module) is None:
                pytest.skip(f"the embedded model {name!r} is not installed ({spec.install})")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=LIMIT_S)
    took = time.perf_counter() - start
    assert out.returncode == 0, f"exit {out.returncode} after {took:.0f} s\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    assert took < LIMIT_S
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"block.py"} | {p.name for p in tmp_path.iterdir() if p.suffix in (".sqlite", ".sqlite-wal", ".sqlite-shm")}
    ), "a README block wrote files other than its answer cache"
