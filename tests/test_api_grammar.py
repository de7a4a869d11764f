"""The API grammar of CONTRIBUTING.md, checked over every public function.

Each rule is also run on a small module written to break it, so a rule that could never
fail would fail here.
"""

import importlib
import inspect
import types

import pytest

PUBLIC_MODULES = ["valuelab", "valuelab.utility", "valuelab.elicit", "valuelab.frameworks", "valuelab.survey",
                  "valuelab.viz", "valuelab.io", "valuelab.datasets"]
#: names the grammar replaces by n_resamples (resampling) or seed (randomness)
BANNED = {"n_perm", "n_permutations", "n_boot", "n_bootstrap", "n_bootstraps", "B", "random_state", "rng",
          "random_seed", "conf_level", "confidence", "level"}
#: the same name means the same thing, with the same default, everywhere
DEFAULTS = {"alpha": 0.05, "seed": 0}


def public_functions(modules):
    seen = {}
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                seen.setdefault(obj, f"{module.__name__}.{name}")
    return seen


def violations(functions) -> list[str]:
    out = []
    for fn, name in functions.items():
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        positional = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        for p in positional[1:]:
            if p.default is not p.empty:
                out.append(f"{name}: option {p.name!r} must be keyword-only")
        for p in params:
            if p.name in BANNED:
                out.append(f"{name}: parameter {p.name!r} is not in the grammar (n_resamples, seed, alpha)")
            if p.name in DEFAULTS or p.name == "n_resamples":
                if p.kind != p.KEYWORD_ONLY:
                    out.append(f"{name}: {p.name!r} must be keyword-only")
            if p.name in DEFAULTS and p.default != DEFAULTS[p.name]:
                out.append(f"{name}: {p.name!r} defaults to {p.default!r}, not {DEFAULTS[p.name]!r}")
            if p.name == "fit" and params.index(p) > 0 and p.kind != p.KEYWORD_ONLY:
                out.append(f"{name}: the fit comes after the data table, as fit=")
        ret = sig.return_annotation
        if ret is sig.empty:
            out.append(f"{name}: no return annotation")
        else:
            text = ret if isinstance(ret, str) else getattr(ret, "__name__", str(ret))
            if text.replace(" ", "").lower().startswith(("tuple", "typing.tuple")):
                out.append(f"{name}: returns a bare tuple ({text})")
    return out


def test_every_public_function_follows_the_grammar():
    modules = [importlib.import_module(m) for m in PUBLIC_MODULES]
    assert violations(public_functions(modules)) == []


def test_result_objects_have_summary_and_named_fields():
    import valuelab as vl

    for cls in (vl.ThurstonianResult, vl.ExpectedUtilityResult, vl.IndecisionResult, vl.MaximisationResult,
                vl.ExchangeRates, vl.elicit.ElicitedComparisons, vl.elicit.ElicitedChoices):
        assert callable(getattr(cls, "summary", None)), cls
    for cls in (vl.TrainTestSplit, vl.elicit.ElicitedComparisons, vl.elicit.ElicitedUtilities,
                vl.survey.PublishedSurvey):
        assert issubclass(cls, tuple) and cls._fields, cls  # named: unpacks and reads by name


def test_the_rules_catch_a_module_that_breaks_them():
    bad = types.ModuleType("bad")

    def permute(data, n_perm=100, *, alpha=0.1):
        return data

    def split(data, *, seed=0) -> tuple:
        return data, data

    def check(fit, data, *, seed=1) -> int:
        return 0

    bad.permute, bad.split, bad.check = permute, split, check
    bad.__all__ = ["permute", "split", "check"]
    found = violations(public_functions([bad]))
    assert "bad.permute: option 'n_perm' must be keyword-only" in found
    assert any("'n_perm' is not in the grammar" in v for v in found)
    assert "bad.permute: 'alpha' defaults to 0.1, not 0.05" in found
    assert "bad.permute: no return annotation" in found
    assert "bad.split: returns a bare tuple (tuple)" in found
    assert "bad.check: 'seed' defaults to 1, not 0" in found


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_names_resolve(module):
    mod = importlib.import_module(module)
    missing = [n for n in getattr(mod, "__all__", []) if not hasattr(mod, n)]
    assert missing == []
