"""Calibration table: every interval and test valuelab reports, its nominal level and its measured
coverage, size or power on simulated data with known truth.

The simulations are the ones the test suite asserts (``tests/calib_*.py``); this script runs
them all at their full size (200 data sets unless a simulation says otherwise) and prints one
table, with the tolerance each must meet. Run from the repository root:

    .venv/bin/python benchmarks/bench_calibration.py            # everything (about 30-60 minutes)
    .venv/bin/python benchmarks/bench_calibration.py --quick    # 50 data sets each, a first look
    .venv/bin/python benchmarks/bench_calibration.py --only lr  # the simulations whose name contains "lr"
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

TESTS = Path(__file__).resolve().parent.parent / "tests"
MODULES = ["calib_utility", "calib_coherence", "calib_frameworks", "calib_survey"]


def simulations():
    sys.path.insert(0, str(TESTS))
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fname.startswith("calibrate_") and fn.__module__ == module.__name__:
                yield name, fname, fn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 data sets per simulation")
    parser.add_argument("--only", default="", help="run the simulations whose name contains this")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    for module, fname, fn in simulations():
        if args.only not in fname:
            continue
        kwargs = {"n_sims": 50} if args.quick else {}
        t0 = time.perf_counter()
        out = fn(**kwargs)
        seconds = time.perf_counter() - t0
        for r in out if isinstance(out, list) else [out]:
            extra = {k: v for k, v in r.items() if k not in {"function", "quantity", "nominal", "measured", "n_sims",
                                                              "low", "high"}}
            rows.append({"function": r["function"], "quantity": r["quantity"], "nominal": r["nominal"],
                         "measured": r["measured"], "n_sims": r["n_sims"],
                         "tolerance": f"[{r['low']:.3f}, {r['high']:.3f}]",
                         "within": r["low"] <= r["measured"] <= r["high"],
                         "note": ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in extra.items()),
                         "seconds": round(seconds, 1)})
            print(f"{rows[-1]['function']:<72} {r['quantity']:<8} nominal {r['nominal']:.3f} measured "
                  f"{r['measured']:.3f} over {r['n_sims']} data sets {rows[-1]['tolerance']} "
                  f"{'ok' if rows[-1]['within'] else 'OUTSIDE'} {rows[-1]['note']}", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 220, "display.max_colwidth", 80, "display.max_rows", 200):
        print()
        print(table.to_string(index=False))
    if len(table):
        print(f"\n{int(table['within'].sum())} of {len(table)} within their tolerance")
    return 0 if len(table) and table["within"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
