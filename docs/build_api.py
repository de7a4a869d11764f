"""Write the API reference, one Markdown page per module, from the docstrings.

Usage: ``python docs/build_api.py [--out docs/api]``. ``make docs`` runs it; a test checks
that the committed pages match the code.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import valuelab

ROOT = Path(__file__).resolve().parent.parent


def public_modules() -> list[str]:
    names = ["valuelab"]
    for info in pkgutil.walk_packages(valuelab.__path__, prefix="valuelab."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def members(module) -> list[tuple[str, object]]:
    """Public objects the module defines itself (re-exports are documented where they live)."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = []
    for name in names:
        obj = getattr(module, name, None)
        if obj is None or inspect.ismodule(obj):
            continue
        home = getattr(obj, "__module__", None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and home == module.__name__:
            out.append((name, obj))
        elif not (inspect.isclass(obj) or inspect.isfunction(obj)) and name.isupper() and "__all__" in vars(module):
            out.append((name, obj))
    return out


def signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def page(name: str) -> str:
    module = importlib.import_module(name)
    lines = [f"# `{name}`", ""]
    doc = inspect.getdoc(module)
    if doc:
        lines += [doc, ""]
    items = members(module)
    if name == "valuelab":
        lines += ["The flat public API (`valuelab.<name>`):", "", ", ".join(f"`{n}`" for n in valuelab.__all__), ""]
    for member, obj in items:
        kind = "class" if inspect.isclass(obj) else "function" if inspect.isfunction(obj) else "constant"
        lines += [f"## `{member}`", ""]
        if kind == "constant":
            # no memory addresses or checkout paths: pages must be the same in every clone
            text = re.sub(r" at 0x[0-9a-f]+", "", repr(obj)).replace(str(ROOT), "<repo>")
            lines += ["```python", f"{member} = {text}"[:400], "```", ""]
            continue
        lines += ["```python", f"{'class ' if kind == 'class' else ''}{member}{signature(obj)}", "```", ""]
        doc = inspect.getdoc(obj)
        if doc:
            lines += ["```text", doc, "```", ""]
        if kind == "class":
            for meth_name, meth in inspect.getmembers(obj, inspect.isfunction):
                if meth_name.startswith("_") or meth.__qualname__.split(".")[0] != obj.__name__:
                    continue
                lines += [f"### `{member}.{meth_name}`", "", "```python", f"{meth_name}{signature(meth)}", "```", ""]
                mdoc = inspect.getdoc(meth)
                if mdoc:
                    lines += ["```text", mdoc, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    modules = public_modules()
    for name in modules:
        path = out / f"{name}.md"
        path.write_text(page(name), encoding="utf-8")
        written.append(path)
    index = ["# valuelab API reference", "", "One page per module, generated from the docstrings by "
             "`docs/build_api.py` (`make docs`).", ""]
    for name in modules:
        summary = (inspect.getdoc(importlib.import_module(name)) or "").split("\n")[0]
        index.append(f"- [`{name}`]({name}.md): {summary}")
    (out / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return written + [out / "index.md"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "api"))
    args = ap.parse_args()
    for path in build(Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
