"""Pair designs at equal budget on simulated agents: random pairs, a random regular graph, and
active learning with the published rule and with valuelab's predictive rule.

Runs :func:`valuelab.elicit.design_study.compare_designs`: every design asks ``2 N log2 N``
distinct pairs, each in both orders with 10 samples per order, and is fitted the same way,
so only the design differs. Prints one line per design and agent, the means, and how often
the predictive rule beat random pairs on Spearman with the true means and on held-out log
loss (both must improve for active learning to be the default design).

Usage: ``python benchmarks/bench_design.py [--options 100] [--agents 20]``.
"""

from __future__ import annotations

import argparse

from valuelab.elicit.design_study import compare_designs
from valuelab.elicit.pair_designs import default_budget


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--options", type=int, default=100)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--samples", type=int, default=10, help="samples per pair and order")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--answers", choices=["samples", "probabilities"], default="samples",
                    help="binary answers (sampling route) or exact probabilities (logit route)")
    args = ap.parse_args()
    df = compare_designs(args.options, n_agents=args.agents, samples=args.samples, n_rounds=args.rounds,
                         answers=args.answers, progress=False)
    for r in df.itertuples():
        print(f"agent {r.agent:>2}  {r.design:<22} pairs {r.n_pairs:>5}  spearman {r.spearman:.4f}  "
              f"held-out log loss {r.held_out_log_loss:.4f} (truth {r.true_log_loss:.4f})  "
              f"min degree {r.min_degree:>3}  {r.seconds:.1f} s")
    cols = ["spearman", "held_out_log_loss", "true_log_loss", "excess_log_loss", "min_degree", "seconds"]
    mean = df.groupby("design", sort=False)[cols].mean()
    regime = (f"{args.samples} sampled answers per order" if args.answers == "samples"
              else "exact probabilities (one soft observation per order)")
    print(f"\nmeans over {args.agents} agents, N={args.options}, budget {default_budget(args.options)} pairs, {regime}:")
    print(mean.to_string(float_format=lambda v: f"{v:.4f}"))
    wide = df.pivot(index="agent", columns="design", values=["spearman", "held_out_log_loss"])
    ours, rand = "active (predictive)", "random"
    better_rho = int((wide["spearman"][ours] > wide["spearman"][rand]).sum())
    better_ll = int((wide["held_out_log_loss"][ours] < wide["held_out_log_loss"][rand]).sum())
    both = mean.loc[ours, "spearman"] > mean.loc[rand, "spearman"] and \
        mean.loc[ours, "held_out_log_loss"] < mean.loc[rand, "held_out_log_loss"]
    print(f"\npredictive rule vs random pairs: higher Spearman for {better_rho}/{args.agents} agents, "
          f"lower held-out log loss for {better_ll}/{args.agents}; better on both means: {'YES' if both else 'NO'}")


if __name__ == "__main__":
    main()
