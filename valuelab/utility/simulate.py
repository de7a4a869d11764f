"""Simulate pairwise comparisons from known utilities (for tests, notebooks and benchmarks)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr, ndtri

__all__ = ["simulate_utilities", "random_pairs", "simulate_comparisons", "simulate_coherent_agent", "CoherentAgent",
           "simulate_attribute_voter", "sample_answers", "interval_coverage"]


def simulate_utilities(n_options: int, *, mean_sd: float = 1.0, variance: float | tuple[float, float] = (0.5, 0.5),
                       seed: int | None = 0, prefix: str = "o") -> pd.DataFrame:
    """Draw true utilities for a simulated agent.

    Parameters
    ----------
    n_options : int
    mean_sd : float
        ``mu_i ~ N(0, mean_sd^2)``.
    variance : float or (median, log_sd)
        A fixed variance for every option, or a log-normal spread: ``sigma_i^2 = median *
        exp(log_sd * N(0, 1))``.
    seed : int or None
    prefix : str
        Option ids are ``f"{prefix}{i}"``.

    Returns
    -------
    DataFrame
        ``option_id``, ``mean``, ``variance``.
    """
    if n_options < 2:
        raise ValueError(f"n_options: expected at least 2, got {n_options!r}")
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, mean_sd, n_options)
    if isinstance(variance, tuple):
        median, log_sd = variance
        var = median * np.exp(log_sd * rng.normal(size=n_options))
    else:
        var = np.full(n_options, float(variance))
    return pd.DataFrame({"option_id": [f"{prefix}{i}" for i in range(n_options)], "mean": mu, "variance": var})


def random_pairs(options, n_pairs: int, *, seed: int | None = 0, connected: bool = True) -> pd.DataFrame:
    """Distinct unordered pairs drawn uniformly, optionally starting from a spanning cycle.

    Parameters
    ----------
    options : sequence or DataFrame with ``option_id``
    n_pairs : int
        Number of distinct pairs (at most n(n-1)/2).
    seed : int or None
    connected : bool
        Start from a random Hamiltonian cycle (n pairs) so the comparison graph is
        connected; the remaining pairs are uniform.

    Returns
    -------
    DataFrame
        ``option_a``, ``option_b``.
    """
    ids = np.asarray(options["option_id"] if isinstance(options, pd.DataFrame) else list(options), dtype=object)
    n = len(ids)
    total = n * (n - 1) // 2
    if not 0 < n_pairs <= total:
        raise ValueError(f"n_pairs: expected 1..{total} for {n} options, got {n_pairs!r}")
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    lo_parts, hi_parts = [], []

    def add(a, b):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = lo.astype(np.int64) * n + hi
        _, first = np.unique(key, return_index=True)
        keep = [i for i in np.sort(first) if key[i] not in chosen and lo[i] != hi[i]]
        for i in keep:
            chosen.add(int(key[i]))
        lo_parts.append(lo[keep])
        hi_parts.append(hi[keep])

    if connected and n_pairs >= n:
        perm = rng.permutation(n)
        add(perm, np.roll(perm, -1))
    while len(chosen) < n_pairs:
        need = n_pairs - len(chosen)
        a = rng.integers(0, n, 2 * need + 16)
        b = rng.integers(0, n, 2 * need + 16)
        add(a, b)
    lo = np.concatenate(lo_parts)[:n_pairs]
    hi = np.concatenate(hi_parts)[:n_pairs]
    swap = rng.random(len(lo)) < 0.5
    a, b = np.where(swap, hi, lo), np.where(swap, lo, hi)
    return pd.DataFrame({"option_a": ids[a], "option_b": ids[b]})


def simulate_comparisons(utilities: pd.DataFrame, pairs: pd.DataFrame, *, samples: int | None = 10,
                         orders: Literal["both", "single", "pooled"] = "both", order_bias: float = 0.0,
                         link: Literal["probit", "logit"] = "probit", misfit: float = 0.0,
                         seed: int | None = 0) -> pd.DataFrame:
    """Sample choices of an agent with known utilities.

    The agent prefers A with probability ``F((mu_A - mu_B + b s) / sqrt(var_A + var_B))``
    (probit) or ``logistic(mu_A - mu_B + b s)`` (logit), where ``s`` = +1 when A is shown
    first and -1 when B is, and ``b = order_bias`` (utility units; with variances of 1/2 a
    utility unit is one z unit).

    Parameters
    ----------
    utilities : DataFrame
        ``option_id``, ``mean``, ``variance`` (as from :func:`simulate_utilities`).
    pairs : DataFrame
        ``option_a``, ``option_b``.
    samples : int or None
        Answers per pair and order. None gives the probabilities themselves, as read from a
        model's logits: ``n_a = p``, ``n_b = 1 - p`` (one observation's worth per row).
    orders : {"both", "single", "pooled"}
        "both": each pair asked in both orders (two rows); "single": one order chosen at
        random per pair; "pooled": both orders asked and counts summed into one row with no
        order column.
    order_bias : float
    link : {"probit", "logit"}
    misfit : float
        Sd of a pair-specific deviation added to the linear predictor (the same in both
        orders): an agent no Thurstonian model fits exactly, like a real language model.
    seed : int or None

    Returns
    -------
    DataFrame
        ``option_a``, ``option_b``, ``shown_first`` (absent for "pooled"), ``n_a``, ``n_b``,
        ``p_true`` (the agent's choice probability for that row).
    """
    if orders not in ("both", "single", "pooled"):
        raise ValueError(f"orders: expected 'both', 'single' or 'pooled', got {orders!r}")
    u = utilities.set_index("option_id")
    rng = np.random.default_rng(seed)
    a = pairs["option_a"].to_numpy(dtype=object)
    b = pairs["option_b"].to_numpy(dtype=object)
    mu_a, mu_b = u["mean"].reindex(a).to_numpy(), u["mean"].reindex(b).to_numpy()
    if np.isnan(mu_a).any() or np.isnan(mu_b).any():
        raise ValueError("pairs: some option ids are not in utilities['option_id']")
    scale = np.sqrt(u["variance"].reindex(a).to_numpy() + u["variance"].reindex(b).to_numpy())
    deviation = rng.normal(0.0, misfit, len(a)) if misfit > 0 else 0.0

    def prob(s):
        if link == "probit":
            return ndtr((mu_a - mu_b + order_bias * s) / scale + deviation)
        return expit(mu_a - mu_b + order_bias * s + deviation)

    def draw(n, p):
        return p * n if samples is None else rng.binomial(n, p)

    n_per = 1 if samples is None else samples

    if orders == "single":
        s = np.where(rng.random(len(a)) < 0.5, 1.0, -1.0)
        p = prob(s)
        n_a = draw(n_per, p)
        return pd.DataFrame({"option_a": a, "option_b": b, "shown_first": np.where(s > 0, a, b),
                             "n_a": n_a, "n_b": n_per - n_a, "p_true": p})
    p1, p2 = prob(np.ones(len(a))), prob(-np.ones(len(a)))
    n1, n2 = draw(n_per, p1), draw(n_per, p2)
    if orders == "pooled":
        return pd.DataFrame({"option_a": a, "option_b": b, "n_a": n1 + n2, "n_b": 2 * n_per - n1 - n2,
                             "p_true": (p1 + p2) / 2})
    return pd.DataFrame({
        "option_a": np.concatenate([a, a]), "option_b": np.concatenate([b, b]),
        "shown_first": np.concatenate([a, b]),
        "n_a": np.concatenate([n1, n2]), "n_b": n_per - np.concatenate([n1, n2]),
        "p_true": np.concatenate([p1, p2]),
    })


def simulate_attribute_voter(n_options: int, *, n_attributes: int = 3, strength: float = 0.7,
                             sharpness: float = 2.0, seed: int | None = 0, prefix: str = "o") -> pd.DataFrame:
    """Choice probabilities of an agent that votes over attributes: intransitive by construction.

    Each option has ``n_attributes`` values drawn from N(0, 1); comparing A with B, each
    attribute casts a bounded vote ``strength * tanh(sharpness * (x_A - x_B))`` and
    ``P(A preferred) = Phi(sum of votes)``. Like a majority vote over three criteria it forms
    Condorcet cycles (A beats B on two criteria, B beats C on two, C beats A on two), so no
    utility function describes it.

    Returns
    -------
    DataFrame
        Every unordered pair: ``option_a``, ``option_b``, ``p_a`` (the agent's probability of
        preferring ``option_a``).

    References
    ----------
    .. [1] Tversky, A. (1969). Intransitivity of preferences. *Psychological Review* 76(1),
       31–48 (lexicographic and majority rules over attributes).
    """
    if n_options < 3:
        raise ValueError(f"n_options: expected at least 3, got {n_options!r}")
    x = np.random.default_rng(seed).normal(size=(n_options, n_attributes))
    i, j = np.triu_indices(n_options, 1)
    ids = np.array([f"{prefix}{k}" for k in range(n_options)], dtype=object)
    p = ndtr((strength * np.tanh(sharpness * (x[i] - x[j]))).sum(axis=1))
    return pd.DataFrame({"option_a": ids[i], "option_b": ids[j], "p_a": p})


def sample_answers(probabilities: pd.DataFrame, *, answers: int = 20, seed: int | None = 0) -> pd.DataFrame:
    """Sample ``answers`` choices per pair from known probabilities (orders pooled).

    Parameters
    ----------
    probabilities : DataFrame
        ``option_a``, ``option_b``, ``p_a``.

    Returns
    -------
    DataFrame
        ``option_a``, ``option_b``, ``n_a``, ``n_b``, ``p_true``.
    """
    p = probabilities["p_a"].to_numpy(float)
    n_a = np.random.default_rng(seed).binomial(answers, p)
    return pd.DataFrame({"option_a": probabilities["option_a"].to_numpy(), "option_b": probabilities["option_b"].to_numpy(),
                         "n_a": n_a, "n_b": answers - n_a, "p_true": p})


class CoherentAgent:
    """A simulated agent whose utilities obey known coherence laws (see :func:`simulate_coherent_agent`).

    Attributes
    ----------
    utilities : DataFrame
        The options (the outcomes given plus the lotteries made) with ``mean`` and
        ``variance``: ready for :func:`simulate_comparisons`.
    lotteries : DataFrame
        ``lottery_id``, ``outcome_id``, ``probability``, ``kind``.
    curves : DataFrame
        Indexed by good: ``a``, ``b`` of ``U = a + b ln N``.
    discount_form : str
    discount_rate : float
    """

    def __init__(self, utilities, lotteries, curves, discount_form, discount_rate):
        self.utilities = utilities
        self.lotteries = lotteries
        self.curves = curves
        self.discount_form = discount_form
        self.discount_rate = discount_rate

    def choose(self, sets: pd.DataFrame, *, seed: int | None = 0) -> pd.DataFrame:
        """Free choices: in each set the agent draws a utility per option and takes the largest.

        Parameters
        ----------
        sets : DataFrame
            ``set_id``, ``option_id`` (as from :func:`valuelab.elicit.random_choice_sets`).

        Returns
        -------
        DataFrame
            ``sets`` with ``chosen`` (True for one option per set).
        """
        u = self.utilities.set_index("option_id").loc[sets["option_id"]]
        draw = np.random.default_rng(seed).normal(u["mean"].to_numpy(), np.sqrt(u["variance"].to_numpy()))
        out = sets.assign(_draw=draw)
        out["chosen"] = out.groupby("set_id")["_draw"].transform("max").eq(out["_draw"])
        return out.drop(columns="_draw")

    def exchange_rate(self, good: str, other: str, quantity: float = 1.0) -> float:
        """True units of ``other`` with the utility of ``quantity`` units of ``good``."""
        x, y = self.curves.loc[good], self.curves.loc[other]
        return float(np.exp((x["a"] + x["b"] * np.log(quantity) - y["a"]) / y["b"]))


def simulate_coherent_agent(options: pd.DataFrame, *, discount_form: Literal["hyperbolic", "exponential"] = "hyperbolic",
                            discount_rate: float = 1.5, n_lotteries: int = 20, variance: float = 0.3,
                            seed: int | None = 0) -> CoherentAgent:
    """An agent with log utility in every good, a known discount curve, and expected utility for lotteries.

    * An option giving ``N`` units of good ``g`` has utility ``a_g + b_g ln N`` (``a_g ~
      N(0, 0.5^2)``, ``b_g ~ U(0.15, 0.45)``), so exchange rates between goods are known.
    * A reward delayed by ``t`` has utility ``c + s D(t; k)`` with ``D`` exponential or
      hyperbolic, ``s = 1`` and ``c`` = immediate utility minus 1.
    * ``n_lotteries`` new options: "explicit" lotteries state a probability ``p`` of one
      outcome and give another otherwise; "implicit" ones describe a fair coin or die. The
      agent values each at ``p U(X) + (1 - p) U(Y)``.
    * Every other option: ``N(0, 1)``. Every option's utility variance is ``variance``.

    Parameters
    ----------
    options : DataFrame
        ``option_id``, ``text``, and ``good``, ``quantity``, ``reward``, ``delay_years`` (as in
        :func:`valuelab.datasets.load_outcomes`).
    discount_form : {"hyperbolic", "exponential"}
    discount_rate : float
        ``k`` per unit of ``delay_years``.
    n_lotteries : int
    variance : float
    seed : int or None

    Returns
    -------
    CoherentAgent
    """
    from .discount_forms import DISCOUNT_FORMS

    rng = np.random.default_rng(seed)
    opts = options.reset_index(drop=True).copy()
    mean = pd.Series(rng.normal(0, 1, len(opts)), index=opts["option_id"])
    good = opts.get("good", pd.Series(np.nan, index=opts.index))
    quantity = pd.to_numeric(opts.get("quantity", pd.Series(np.nan, index=opts.index)), errors="coerce")
    has_good = good.notna() & (good.astype(str) != "") & quantity.gt(0)
    goods = sorted(good[has_good].astype(str).unique())
    curves = pd.DataFrame({"a": rng.normal(0, 0.5, len(goods)), "b": rng.uniform(0.15, 0.45, len(goods))},
                          index=pd.Index(goods, name="good"))
    for i in np.flatnonzero(has_good.to_numpy()):
        c = curves.loc[str(good.iat[i])]
        mean.iat[i] = c["a"] + c["b"] * np.log(quantity.iat[i])
    delay = pd.to_numeric(opts.get("delay_years", pd.Series(np.nan, index=opts.index)), errors="coerce")
    if "reward" in opts.columns:
        for reward, grp in opts[opts["reward"].notna() & (opts["reward"].astype(str) != "")].groupby("reward"):
            now = grp.index[delay[grp.index] == 0]
            if len(now) != 1:
                raise ValueError(f"options: reward {reward!r} needs exactly one immediate version (delay_years 0)")
            u0 = mean.iat[now[0]]
            for i in grp.index:
                mean.iat[i] = u0 - 1.0 + DISCOUNT_FORMS[discount_form](delay[i], discount_rate)
    plain = opts.index[~has_good.to_numpy() & delay.isna().to_numpy()]
    rows, lot_rows = [], []
    candidates = opts.loc[plain, "option_id"].to_numpy(object)
    texts = opts.set_index("option_id")["text"]
    for j in range(n_lotteries):
        x, y = rng.choice(candidates, 2, replace=False)
        if j % 2 == 0:
            p = float(rng.choice([0.1, 0.25, 0.4, 0.6, 0.75, 0.9]))
            text, kind = f"With probability {p:.0%}: {texts[x]} Otherwise: {texts[y]}", "explicit"
        else:
            p, how = [(0.5, "a fair coin lands heads"), (1 / 6, "a fair die shows a six")][rng.integers(2)]
            text, kind = f"If {how}: {texts[x]} If not: {texts[y]}", "implicit"
        lid = f"lot{j:02d}"
        rows.append({"option_id": lid, "text": text, "category": "lottery",
                     "mean": p * mean[x] + (1 - p) * mean[y]})
        lot_rows += [(lid, x, p, kind), (lid, y, 1 - p, kind)]
    util = pd.concat([opts.assign(mean=mean.to_numpy()), pd.DataFrame(rows)], ignore_index=True)
    util["variance"] = float(variance)
    lotteries = pd.DataFrame(lot_rows, columns=["lottery_id", "outcome_id", "probability", "kind"])
    return CoherentAgent(util, lotteries, curves, discount_form, float(discount_rate))


def interval_coverage(estimates: pd.DataFrame, truth: pd.Series, *, levels=(0.5, 0.8, 0.9, 0.95, 0.99),
                      estimate: str = "mean", se: str = "se_mean", by=None) -> pd.DataFrame:
    """Share of ``estimate +- z se`` intervals that contain the truth, at several nominal levels.

    Parameters
    ----------
    estimates : DataFrame
        One row per estimate (for example ``fit.utilities`` of many simulated data sets,
        concatenated), indexed by option id, with ``estimate`` and ``se`` columns.
    truth : Series
        True value per option id (on the estimates' scale: standardise it for utilities).
    levels : sequence of float
        Nominal levels ``1 - alpha``.
    by : str or list of str, optional
        Columns that separate methods (each gets its own curve).

    Returns
    -------
    DataFrame
        ``*by``, ``level``, ``coverage``, ``n_intervals``, ``se_coverage`` (binomial standard
        error of the coverage, as if the intervals were independent).
    """
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    t = truth.reindex(estimates.index).to_numpy(float)
    err = np.abs(estimates[estimate].to_numpy(float) - t) / estimates[se].to_numpy(float)
    work = estimates[by].reset_index(drop=True).assign(_err=err)
    work = work[np.isfinite(work["_err"])]
    rows = []
    groups = work.groupby(by, sort=False) if by else [((), work)]
    for key, grp in groups:
        key = key if isinstance(key, tuple) else (key,)
        for level in levels:
            hit = grp["_err"].to_numpy() <= ndtri(0.5 + level / 2)
            n = len(hit)
            c = hit.mean() if n else np.nan
            rows.append({**dict(zip(by, key)), "level": float(level), "coverage": float(c), "n_intervals": n,
                         "se_coverage": float(np.sqrt(c * (1 - c) / n)) if n else np.nan})
    return pd.DataFrame(rows)
