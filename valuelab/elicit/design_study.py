"""Simulation studies of pair designs: random, regular and active designs side by side on
simulated agents with known utilities (``benchmarks/bench_design.py``, notebook 02).

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .active import active_design
from .pair_designs import default_budget, regular_design, unasked_pairs

__all__ = ["compare_designs"]


def compare_designs(n_options: int = 100, *, n_agents: int = 5, budget: int | None = None, samples: int = 10,
                    answers: Literal["samples", "probabilities"] = "samples", n_rounds: int = 10,
                    n_test: int = 2000, variance=(0.5, 0.5), seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Pair designs at equal budget on simulated agents with known Thurstonian utilities.

    For each agent (means ``N(0, 1)``, log-normal variances, see
    :func:`valuelab.simulate_utilities`), four designs ask ``budget`` distinct pairs, each in
    both orders with ``samples`` answers per order: uniform random pairs, a random regular
    graph, and :func:`active_design` with the published and the predictive rule. Every
    design is fitted the same way (:func:`valuelab.fit_thurstonian`, default prior), and
    scored on up to ``n_test`` random pairs that no design asked.

    Parameters
    ----------
    n_options, n_agents : int
    budget : int, optional
        Distinct pairs per design; default ``2 N log2 N``.
    samples : int
        Answers per pair and order (``answers="samples"``).
    answers : {"samples", "probabilities"}
        "samples": each order gives ``samples`` binary answers (the sampling route);
        "probabilities": each order gives the agent's exact choice probability as one soft
        observation (what the logit route of a local model gives).
    n_rounds : int
        Rounds of the active designs.
    n_test : int
        Held-out pairs (fewer when fewer remain unasked).
    variance : float or (median, log_sd)
        Utility variances of the agents.
    seed : int
    progress : bool

    Returns
    -------
    DataFrame
        One row per agent and design: ``agent``, ``design``, ``n_pairs``, ``spearman``
        (fitted vs true means), ``held_out_log_loss`` (per observation),
        ``true_log_loss`` (the true model's on the same pairs: the floor),
        ``excess_log_loss`` (the difference), ``min_degree`` (fewest distinct pairs of any
        option), ``seconds`` (designing, asking and fitting).
    """
    import time

    if answers not in ("samples", "probabilities"):
        raise ValueError(f"answers: expected 'samples' or 'probabilities', got {answers!r}")
    from scipy.special import ndtr
    from scipy.stats import spearmanr

    from ..utility.evaluate import evaluate_fit, score_predictions
    from ..utility.simulate import random_pairs, simulate_comparisons, simulate_utilities
    from ..utility.thurstonian import fit_thurstonian

    n = int(n_options)
    budget = default_budget(n) if budget is None else int(budget)
    agents = range(n_agents)
    if progress:
        from tqdm.auto import tqdm

        agents = tqdm(agents, desc="simulated agents", unit="agent")
    rows = []
    for agent in agents:
        truth = simulate_utilities(n, variance=variance, seed=seed * 10_007 + agent)
        ids = truth["option_id"].to_numpy(object)
        calls = [0]

        def ask(pairs, truth=truth, agent=agent, calls=calls):
            calls[0] += 1
            out = simulate_comparisons(truth, pairs, samples=samples, orders="both",
                                       seed=(seed * 10_007 + agent) * 1000 + calls[0])
            if answers == "probabilities":
                out = out.assign(n_a=out["p_true"], n_b=1.0 - out["p_true"])
            return out

        fixed = {"random": lambda: random_pairs(ids, budget, seed=agent),
                 "regular": lambda: regular_design(ids, budget, seed=agent)}
        designs = {}
        for name, make in fixed.items():
            t0 = time.perf_counter()
            pairs = make()
            designs[name] = (pairs, fit_thurstonian(ask(pairs), progress=False), time.perf_counter() - t0)
        for rule in ("published", "predictive"):
            t0 = time.perf_counter()
            res = active_design(ids, ask, budget=budget, rule=rule, n_rounds=n_rounds,
                                obs_per_pair=2 * (samples if answers == "samples" else 1), seed=agent, progress=False)
            designs[f"active ({rule})"] = (res.pairs, res.fit, time.perf_counter() - t0)

        held_out = unasked_pairs(ids, [d[0] for d in designs.values()], n_test, seed=seed * 10_007 + agent + 7)
        if not len(held_out):
            raise ValueError(f"no unasked pairs are left to test on: the designs asked all {n * (n - 1) // 2} "
                             "pairs between them; lower the budget or use more options")
        test = simulate_comparisons(truth, held_out, samples=samples, orders="both", seed=seed * 10_007 + agent + 99)
        if answers == "probabilities":  # scored against the exact probabilities: the excess is a KL divergence
            test = test.assign(n_a=test["p_true"], n_b=1.0 - test["p_true"])
        t = truth.set_index("option_id")
        s = np.sqrt(t.loc[test["option_a"], "variance"].to_numpy() + t.loc[test["option_b"], "variance"].to_numpy())
        true_p = ndtr((t.loc[test["option_a"], "mean"].to_numpy() - t.loc[test["option_b"], "mean"].to_numpy()) / s)
        floor = score_predictions(test, true_p)["log_loss"]
        for name, (pairs, fit, seconds) in designs.items():
            deg = pd.concat([pairs["option_a"], pairs["option_b"]]).value_counts().reindex(ids, fill_value=0)
            loss = evaluate_fit(test, fit=fit)["log_loss"]
            rows.append({"agent": agent, "design": name, "n_pairs": len(pairs),
                         "spearman": spearmanr(fit.utilities["mean"].reindex(ids), truth["mean"]).statistic,
                         "held_out_log_loss": loss, "true_log_loss": floor, "excess_log_loss": loss - floor,
                         "min_degree": int(deg.min()), "seconds": seconds})
    return pd.DataFrame(rows)
