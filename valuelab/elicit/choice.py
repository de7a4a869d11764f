"""Free choice among several options: which one a model picks when shown a set.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (utility maximisation in open-ended choices).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import validate_options
from .prompts import CHOICE_LABELS, choice_prompt

__all__ = ["random_choice_sets", "elicit_choices"]


def random_choice_sets(options, n_sets: int, *, size: int = 4, seed: int | None = 0) -> pd.DataFrame:
    """``n_sets`` sets of ``size`` distinct options drawn uniformly, in random display order.

    Returns
    -------
    DataFrame
        One row per option shown: ``set_id``, ``position`` (0 = shown first), ``option_id``.
    """
    ids = np.asarray(options["option_id"] if isinstance(options, pd.DataFrame) else list(options), dtype=object)
    if not 2 <= size <= len(ids):
        raise ValueError(f"size: expected 2 to {len(ids)} options per set, got {size}")
    rng = np.random.default_rng(seed)
    rows = [(s, pos, o) for s in range(n_sets) for pos, o in enumerate(rng.choice(ids, size, replace=False))]
    return pd.DataFrame(rows, columns=["set_id", "position", "option_id"])


def elicit_choices(options: pd.DataFrame, model, sets: pd.DataFrame, *, progress: bool = True) -> pd.DataFrame:
    """Ask ``model`` to choose one option from each set, reading the label probabilities.

    Parameters
    ----------
    options : DataFrame
        ``option_id``, ``text``.
    model : TransformersModel or OpenAIModel
    sets : DataFrame
        ``set_id``, ``position``, ``option_id`` (as from :func:`random_choice_sets`).
    progress : bool

    Returns
    -------
    DataFrame
        ``sets`` with ``probability`` (renormalised over the set's labels), ``option_mass``
        (the set's raw probability on all its labels) and ``chosen`` (True for the most
        probable option of each set): ready for :func:`valuelab.utility_maximisation`.
    """
    opts = validate_options(options)
    if "text" not in opts.columns:
        raise ValueError("options: missing column 'text'")
    unknown = ~sets["option_id"].isin(opts.index)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ValueError(f"sets row {row}, column 'option_id': {sets['option_id'].iloc[row]!r} is not in the options table")
    ordered = sets.sort_values(["set_id", "position"])
    out = []
    groups = list(ordered.groupby("set_id", sort=False))
    by_size: dict[int, list] = {}
    for set_id, grp in groups:
        by_size.setdefault(len(grp), []).append((set_id, grp))
    for size, items in by_size.items():
        labels = CHOICE_LABELS[:size]
        prompts = [choice_prompt([opts.at[o, "text"] for o in grp["option_id"]], labels=labels) for _, grp in items]
        probs, mass = model.option_probabilities(prompts, labels, progress=progress)
        for (set_id, grp), p, m in zip(items, probs, mass):
            out.append(grp.assign(probability=p, option_mass=m, chosen=np.arange(size) == int(np.argmax(p))))
    return pd.concat(out).sort_values(["set_id", "position"]).reset_index(drop=True)
