"""How well free-text values are mapped onto the five theories, and how fast dilemmas are scored.

1. Leave-one-out on the published 301-value lexicon (DailyDilemmas, read in place from
   ``../shared/data/dailydilemmas/values.csv``): each value is held out and labelled by the
   similarity-weighted vote of its k nearest neighbours in the MiniLM embedding space.
   Accuracy and macro-F1 per theory, side by side with the majority-class baseline.
2. Agreement between the project's own lexicon (``data/value_lexicon.csv``, labelled here
   independently) and the published labels, on the values both contain.
3. Scoring speed: ``score_dilemmas`` (label counts, 2,000 bootstrap resamples and a 10,000-
   pattern sign-flip test for every label) against a plain Python loop computing only the
   published point scores, on 1,360 simulated dilemmas and 6 models; printed as a ratio.

Usage: ``python benchmarks/bench_value_mapping.py [--published PATH]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from valuelab.encoder import SentenceEncoder
from valuelab.frameworks import THEORIES, default_lexicon, evaluate_value_mapping, read_value_lexicon, score_dilemmas

ROOT = Path(__file__).resolve().parent.parent


def published_loop(actions: pd.DataFrame, choices: pd.DataFrame, lexicon: pd.DataFrame) -> dict:
    """The published point scores, computed the obvious way: one dilemma and one value at a time."""
    table = lexicon.set_index("value")
    out = {}
    for model, grp in choices.groupby("model"):
        counts = {}
        for d, choice in zip(grp["dilemma_id"], grp["choice"]):
            for _, row in actions[actions["dilemma_id"] == d].iterrows():
                side = "S" if row["action_type"] == choice else "N"
                for v in row["values"]:
                    if v in table.index:
                        for t in THEORIES:
                            lab = table.at[v, t]
                            if lab is not None:
                                c = counts.setdefault((t, lab), {"S": 0, "N": 0})
                                c[side] += 1
        out[model] = {k: 100 * (c["S"] - c["N"]) / (c["S"] + c["N"]) for k, c in counts.items()}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--published", default=str(ROOT.parent / "shared" / "data" / "dailydilemmas" / "values.csv"))
    args = ap.parse_args()
    published = Path(args.published)
    if not published.exists():
        raise SystemExit(f"{published} is absent: pass --published with the DailyDilemmas values.csv")
    encoder = SentenceEncoder()
    lex = read_value_lexicon(published)

    print("1. Leave-one-out labelling of the 301 published values (kNN in MiniLM space vs majority class)")
    for k in (1, 3, 5, 10):
        res = evaluate_value_mapping(lex, encoder, k=k)
        line = "  ".join(f"{r.theory} acc {r.accuracy:.2f} (maj {r.majority_accuracy:.2f}) F1 {r.macro_f1:.2f} "
                         f"(maj {r.majority_macro_f1:.2f})" for r in res.itertuples())
        print(f"   k={k:<2}  {line}")

    print("\n2. Project lexicon vs published labels on shared values")
    own = default_lexicon().set_index("value")
    pub = lex.set_index("value")
    shared = own.index.intersection(pub.index)
    for t in THEORIES:
        both = [(own.at[v, t], pub.at[v, t]) for v in shared if own.at[v, t] is not None and pub.at[v, t] is not None]
        agree = np.mean([a == b for a, b in both]) if both else np.nan
        print(f"   {t:<8} {len(both):>3} values labelled in both, agreement {agree:.2f}")
    print(f"   ({len(shared)} of {len(own)} project values also appear in the published list)")

    print("\n3. Scoring 1,360 simulated dilemmas x 6 models")
    rng = np.random.default_rng(0)
    vocab = list(pub.index)
    n = 1360
    actions = pd.DataFrame({"dilemma_id": np.repeat(np.arange(n), 2), "action_type": ["to_do", "not_to_do"] * n,
                            "values": [list(rng.choice(vocab, 5, replace=False)) for _ in range(2 * n)]})
    choices = pd.concat([pd.DataFrame({"model": f"m{i}", "dilemma_id": np.arange(n),
                                       "choice": rng.choice(["to_do", "not_to_do"], n)}) for i in range(6)])
    t0 = time.perf_counter()
    loop = published_loop(actions, choices, lex)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = score_dilemmas(actions, choices, lexicon=lex, compat=True, n_resamples=10000)
    t_vl = time.perf_counter() - t0
    s = scores.set_index(["model", "theory", "label"])["score"]
    worst = max(abs(s.loc[(m, *key)] - v) for m, d in loop.items() for key, v in d.items())
    print(f"   plain loop (point scores only)           {t_loop:6.2f} s")
    print(f"   valuelab (scores, CIs, p- and q-values)  {t_vl:6.2f} s   ratio {t_loop / t_vl:.1f}x")
    print(f"   largest score difference between the two: {worst:.2e}")


if __name__ == "__main__":
    main()
