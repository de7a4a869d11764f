"""Pair designs at equal budget on simulated agents: random pairs, a random regular graph, and
active learning with the published rule and with valuelab's predictive rule.

Each agent has known Thurstonian utilities (means N(0, 1), log-normal variances). Every
design asks ``2 N log2 N`` distinct pairs, each in both orders with 10 samples per order,
and the utilities are fitted by valuelab (MAP, default prior) in every case, so only the
design differs. Scores:

* Spearman correlation of the fitted means with the true means;
* held-out log loss per observation on up to 2,000 random pairs that no design asked (10 samples
  per order, both orders), and the same for the true model (the floor);
* the smallest number of distinct pairs any option was in.

Usage: ``python benchmarks/bench_design.py [--options 100] [--agents 5]``. Prints one line
per design and agent, then the means and whether the predictive rule beat random pairs on
both Spearman and held-out log loss (the condition for making it the default).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

import valuelab as vl
from valuelab.elicit.design import active_design, default_budget, regular_graph_pairs
from valuelab.utility.simulate import random_pairs, simulate_comparisons, simulate_utilities


def held_out_pairs(ids, exclude: set, n: int, rng) -> pd.DataFrame:
    """Up to ``n`` random pairs outside ``exclude`` (pairs of codes, low code first)."""
    lo, hi = np.triu_indices(len(ids), 1)
    free = np.array([(a, b) not in exclude for a, b in zip(lo.tolist(), hi.tolist())])
    idx = rng.permutation(np.flatnonzero(free))[:n]
    return pd.DataFrame({"option_a": ids[lo[idx]], "option_b": ids[hi[idx]]})


def run_agent(n: int, seed: int, samples: int, n_rounds: int) -> list[dict]:
    truth = simulate_utilities(n, variance=(0.5, 0.5), seed=seed)
    ids = truth["option_id"].to_numpy(object)
    budget = default_budget(n)
    calls = {"k": 0}

    def ask(pairs):
        calls["k"] += 1
        return simulate_comparisons(truth, pairs, samples=samples, orders="both", seed=seed * 1000 + calls["k"])

    designs = {}
    t0 = time.perf_counter()
    pairs = random_pairs(ids, budget, seed=seed)
    designs["random"] = (pairs, vl.fit_thurstonian(ask(pairs), progress=False), time.perf_counter() - t0)
    t0 = time.perf_counter()
    degree = int(round(2 * budget / n))
    degree -= degree % 2 if n % 2 else 0
    pairs = regular_graph_pairs(ids, degree, seed=seed)
    designs[f"regular (degree {degree})"] = (pairs, vl.fit_thurstonian(ask(pairs), progress=False),
                                             time.perf_counter() - t0)
    for rule in ("published", "predictive"):
        t0 = time.perf_counter()
        res = active_design(ids, ask, budget=budget, rule=rule, n_rounds=n_rounds, obs_per_pair=2 * samples,
                            seed=seed, progress=False)
        designs[f"active ({rule})"] = (res.pairs, res.fit, time.perf_counter() - t0)

    code = {v: i for i, v in enumerate(ids)}
    asked = set()
    for pairs, _, _ in designs.values():
        for a, b in zip(pairs["option_a"].map(code), pairs["option_b"].map(code)):
            asked.add((min(a, b), max(a, b)))
    rng = np.random.default_rng(seed + 7)
    test_pairs = held_out_pairs(ids, asked, 2000, rng)
    test = simulate_comparisons(truth, test_pairs, samples=samples, orders="both", seed=seed + 99)
    true_p = simulate_p(truth, test)
    floor = vl.score_predictions(test, true_p)["log_loss"]
    rows = []
    for name, (pairs, fit, seconds) in designs.items():
        deg = pd.concat([pairs["option_a"], pairs["option_b"]]).value_counts().reindex(ids, fill_value=0)
        rho = spearmanr(fit.utilities["mean"].reindex(ids), truth["mean"]).statistic
        rows.append({"agent": seed, "design": name, "pairs": len(pairs), "spearman": rho,
                     "held_out_log_loss": vl.evaluate_fit(fit, test)["log_loss"], "true_model_log_loss": floor,
                     "min_degree": int(deg.min()), "seconds": seconds})
    return rows


def simulate_p(truth: pd.DataFrame, comparisons: pd.DataFrame) -> np.ndarray:
    from scipy.special import ndtr

    t = truth.set_index("option_id")
    d = t.loc[comparisons["option_a"], "mean"].to_numpy() - t.loc[comparisons["option_b"], "mean"].to_numpy()
    s = np.sqrt(t.loc[comparisons["option_a"], "variance"].to_numpy() + t.loc[comparisons["option_b"], "variance"].to_numpy())
    return ndtr(d / s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--options", type=int, default=100)
    ap.add_argument("--agents", type=int, default=5)
    ap.add_argument("--samples", type=int, default=10, help="samples per pair and order")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for seed in range(args.agents):
        for r in run_agent(args.options, seed, args.samples, args.rounds):
            rows.append(r)
            print(f"agent {r['agent']}  {r['design']:<22} pairs {r['pairs']:>5}  spearman {r['spearman']:.4f}  "
                  f"held-out log loss {r['held_out_log_loss']:.4f} (truth {r['true_model_log_loss']:.4f})  "
                  f"min degree {r['min_degree']:>3}  {r['seconds']:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    mean = df.groupby("design", sort=False)[["spearman", "held_out_log_loss", "true_model_log_loss", "min_degree",
                                            "seconds"]].mean()
    print(f"\nmeans over {args.agents} agents, N={args.options}, budget {default_budget(args.options)} pairs:")
    print(mean.to_string(float_format=lambda v: f"{v:.4f}"))
    wide = df.pivot(index="agent", columns="design", values=["spearman", "held_out_log_loss"])
    better_rho = (wide["spearman"]["active (predictive)"] > wide["spearman"]["random"]).sum()
    better_ll = (wide["held_out_log_loss"]["active (predictive)"] < wide["held_out_log_loss"]["random"]).sum()
    both = mean.loc["active (predictive)", "spearman"] > mean.loc["random", "spearman"] and \
        mean.loc["active (predictive)", "held_out_log_loss"] < mean.loc["random", "held_out_log_loss"]
    print(f"\npredictive rule vs random pairs: higher Spearman for {better_rho}/{args.agents} agents, "
          f"lower held-out log loss for {better_ll}/{args.agents}; better on both means: {'YES' if both else 'NO'}")


if __name__ == "__main__":
    main()
