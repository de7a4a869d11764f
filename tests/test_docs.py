"""The API reference pages in docs/api match the code, and every public object has a docstring."""

import importlib.util
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _builder():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_up_to_date(tmp_path):
    build = _builder()
    build.build(tmp_path)
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.md")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "api").glob("*.md")}
    assert set(fresh) == set(committed), "run `make docs`: modules were added or removed"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"run `make docs`: these pages are out of date: {stale}"


def test_every_public_object_has_a_docstring():
    build = _builder()
    missing = []
    for name in build.public_modules():
        module = importlib.import_module(name)
        if not inspect.getdoc(module):
            missing.append(name)
        for member, obj in build.members(module):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not obj.__doc__:
                missing.append(f"{name}.{member}")
            if inspect.isclass(obj):
                for meth_name, meth in inspect.getmembers(obj, inspect.isfunction):
                    if (not meth_name.startswith("_") and meth.__qualname__.split(".")[0] == obj.__name__
                            and not meth.__doc__):
                        missing.append(f"{name}.{member}.{meth_name}")
    assert not missing, missing
