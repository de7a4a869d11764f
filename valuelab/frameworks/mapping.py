"""Map free-text values onto the theories: exact match, prefix rules, then nearest neighbours.

A model (or an annotator) describes what is at stake in its own words: "respect for
privacy", "self-care", "disregard for rules". :class:`ValueMapper` finds each text's labels
with a cascade:

1. **exact**: the normalised text (:func:`~valuelab.frameworks.normalise_value`) is a
   lexicon value;
2. **polarity**: a vice phrasing ("disregard for rules", "lack of empathy", "dishonesty")
   is mapped through its positive pole with ``polarity = -1``; in the nearest-neighbour
   step, a single word with a negating prefix whose stem lands closely (cosine >= .75) on
   the same value as the word, and closer than the word itself ("dishonour" beside
   "honor"), is that value's vice;
3. **prefix**: "respect for X", "right to X", "sense of X", ... match X when X is a lexicon
   value;
4. **nearest**: otherwise, with an encoder, the ``k`` nearest lexicon values in the sentence
   embedding space vote for each theory's label, weighted by cosine similarity; the mapper
   abstains (no label) when the nearest labelled value is less similar than ``threshold``.

References
----------
.. [1] Chiu, Y. Y., Jiang, L. and Choi, Y. (2024). DailyDilemmas: Revealing Value Preferences
   of LLMs with Quandaries of Daily Life. arXiv:2410.02683.
.. [2] Reimers, N. and Gurevych, I. (2019). Sentence-BERT. EMNLP.
.. [3] Cover, T. and Hart, P. (1967). Nearest neighbor pattern classification. *IEEE
   Transactions on Information Theory* 13(1), 21–27.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .lexicon import default_lexicon, normalise_value, read_value_lexicon
from .theories import THEORIES

__all__ = ["ValueMapper", "evaluate_value_mapping"]

_PREFIXES = ("respect for ", "the right to ", "right to ", "right of ", "importance of ", "value of ", "sense of ",
             "commitment to ", "protection of ", "preservation of ", "maintaining ", "maintenance of ", "upholding ",
             "ensuring ", "promoting ", "promotion of ", "pursuit of ", "desire for ", "need for ", "valuing ")
_VICE_PREFIXES = ("disregard for ", "disregard of ", "disrespect for ", "disrespect of ", "lack of ", "neglect of ",
                  "neglecting ", "absence of ", "loss of ", "violation of ", "violating ", "ignoring ", "ignorance of ",
                  "betrayal of ", "betraying ", "abandonment of ", "abandoning ", "undermining ", "sacrificing ",
                  "sacrifice of ", "no ", "without ", "not ")
_NEGATING = ("dis", "non-", "non", "un", "in", "im", "ir", "il")

_STEM_SIMILARITY = 0.75  # how close the un-negated stem must be to the value it lands on


def _stem(text: str) -> str | None:
    """``text`` without a negating prefix (one word only), or None."""
    if " " in text:
        return None
    for p in _NEGATING:
        if text.startswith(p) and len(text) - len(p) >= 4:
            return text[len(p):]
    return None


MAPPING_COLUMNS = ["value", "normalised", "match", "method", "similarity", "polarity", *THEORIES]


class ValueMapper:
    """Map value texts to theory labels (exact, polarity, prefix, then nearest neighbours).

    Parameters
    ----------
    lexicon : DataFrame or path-like, optional
        A lexicon (see :func:`~valuelab.frameworks.read_value_lexicon`); default the
        project's own.
    encoder : SentenceEncoder, optional
        Enables the nearest-neighbour step; anything with ``encode(texts) -> unit-length
        rows`` works. Without one, values the rules cannot match get no labels.
    k : int
        Neighbours that vote.
    threshold : float
        Minimum cosine similarity of the nearest labelled value for a label to be given.

    Attributes
    ----------
    lexicon : DataFrame
    """

    def __init__(self, lexicon=None, *, encoder=None, k: int = 5, threshold: float = 0.5):
        self.lexicon = default_lexicon() if lexicon is None else read_value_lexicon(lexicon)
        if int(k) < 1:
            raise ValueError(f"k: expected a positive number of neighbours, got {k}")
        self.encoder, self.k, self.threshold = encoder, int(k), float(threshold)
        self._index = {v: i for i, v in enumerate(self.lexicon["value"])}
        self._embeddings: np.ndarray | None = None

    # ------------------------------------------------------------------ rules
    def _rule(self, text: str) -> tuple[str | None, str, int, str]:
        """(matched lexicon value, method, polarity, text without a vice prefix) from the exact,
        polarity and prefix rules."""
        if text in self._index:
            return text, "exact", 1, text
        core, polarity = text, 1
        for p in _VICE_PREFIXES:
            if text.startswith(p) and len(text) > len(p):
                core, polarity = text[len(p):], -1
                break
        else:
            if " " not in text:
                for p in _NEGATING:
                    if text.startswith(p) and text[len(p):] in self._index:
                        return text[len(p):], "exact", -1, text
        if core in self._index:
            return core, "exact", polarity, core
        for p in _PREFIXES:
            if core.startswith(p) and core[len(p):] in self._index:
                return core[len(p):], "prefix", polarity, core
            if p + core in self._index:  # "disregard for rules" -> "respect for rules"
                return p + core, "prefix", polarity, core
        return None, "none", polarity, core

    def _lexicon_embeddings(self) -> np.ndarray:
        if self._embeddings is None:
            self._embeddings = np.asarray(self.encoder.encode(list(self.lexicon["value"])), dtype=np.float64)
        return self._embeddings

    def _vote(self, sims: np.ndarray, exclude: int | None = None) -> dict[str, str | None]:
        """Similarity-weighted vote of the k nearest labelled lexicon values, per theory."""
        labels = {}
        for theory in THEORIES:
            col = self.lexicon[theory].to_numpy(object)
            has = np.array([c is not None for c in col])
            if exclude is not None:
                has[exclude] = False
            idx = np.flatnonzero(has)
            if idx.size == 0:
                labels[theory] = None
                continue
            near = idx[np.argsort(-sims[idx], kind="stable")[: self.k]]
            if sims[near[0]] < self.threshold:
                labels[theory] = None
                continue
            score: dict[str, float] = {}
            for j in near:
                score[col[j]] = score.get(col[j], 0.0) + max(float(sims[j]), 0.0)
            labels[theory] = max(score, key=lambda lab: (score[lab], -THEORIES[theory].index(lab)))
        return labels

    # ------------------------------------------------------------------ public
    def map(self, values: Iterable[str], *, progress: bool = False) -> pd.DataFrame:
        """Labels for each value text.

        Parameters
        ----------
        values : iterable of str

        Returns
        -------
        DataFrame
            One row per input, in order: ``value`` (as given), ``normalised``, ``match``
            (the lexicon value used: the exact or prefix match, or the nearest neighbour),
            ``method`` (``exact``, ``prefix``, ``nearest`` or ``none``), ``similarity``
            (1 for rule matches, the nearest neighbour's cosine similarity, NaN for none),
            ``polarity`` (1, or -1 for a vice phrasing of the matched value), and one column
            per theory with the label (None where there is none or the mapper abstains).
        """
        values = list(values)
        rows, pending = [], []
        for pos, raw in enumerate(values):
            text = normalise_value(raw)
            match, method, polarity, core = self._rule(text) if text else (None, "none", 1, "")
            row = {"value": raw, "normalised": text, "match": match, "method": method,
                   "similarity": 1.0 if match is not None else np.nan, "polarity": polarity}
            if match is not None:
                row.update(self.lexicon.loc[self._index[match], list(THEORIES)].to_dict())
            else:
                row.update(dict.fromkeys(THEORIES))
                if text and self.encoder is not None:
                    pending.append((pos, core))
            rows.append(row)
        if pending:
            lex = self._lexicon_embeddings()
            # a negated word the rules missed ("dishonour" beside a lexicon "honor"): opposites sit
            # close together in the embedding space, so check whether the word without its
            # prefix lands on the same value, closely; then it is that value's vice
            stems = {i: stem for i, (_, c) in enumerate(pending) if (stem := _stem(c))}
            texts = [c for _, c in pending] + list(stems.values())
            emb = np.asarray(self.encoder.encode(texts, progress=progress), dtype=np.float64)
            sims_all = emb[: len(pending)] @ lex.T
            stem_sims = dict(zip(stems, emb[len(pending):] @ lex.T))
            for i, ((pos, _), sims) in enumerate(zip(pending, sims_all)):
                best = int(np.argmax(sims))
                labels = self._vote(sims)
                if float(sims[best]) >= self.threshold:
                    polarity = rows[pos]["polarity"]
                    if i in stem_sims:
                        s = stem_sims[i]
                        # the stem must sit on the value and closer to it than the word does:
                        # "nonviolence" is nearer "non-violence" than "violence" is, so it stays +1
                        if (int(np.argmax(s)) == best and float(s[best]) >= _STEM_SIMILARITY
                                and float(s[best]) > float(sims[best]) + 0.05):
                            polarity = -1
                    rows[pos].update(match=self.lexicon.at[best, "value"], method="nearest",
                                     similarity=float(sims[best]), polarity=polarity, **labels)
                else:
                    rows[pos].update(similarity=float(sims[best]))
        out = pd.DataFrame(rows, columns=MAPPING_COLUMNS)
        for col in ("match", *THEORIES):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        return out


def _macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean over the labels present in ``truth`` of each label's F1 (a missing prediction counts as wrong)."""
    from sklearn.metrics import f1_score

    return float(f1_score(truth, pred, labels=pd.unique(truth), average="macro", zero_division=0.0))


def evaluate_value_mapping(lexicon, encoder, *, k: int = 5) -> pd.DataFrame:
    """Leave-one-out accuracy of the nearest-neighbour step on a labelled lexicon.

    Each labelled value is held out in turn and labelled by the similarity-weighted vote
    of its ``k`` nearest other labelled values (no abstention), and compared with its own
    label. The baseline always predicts the most common label.

    Parameters
    ----------
    lexicon : DataFrame or path-like
    encoder : SentenceEncoder
    k : int

    Returns
    -------
    DataFrame
        One row per theory: ``n_values`` (values with a label), ``n_labels``, ``accuracy``,
        ``macro_f1``, ``majority_label``, ``majority_accuracy``, ``majority_macro_f1``.
    """
    mapper = ValueMapper(lexicon, encoder=encoder, k=k, threshold=-np.inf)
    emb = mapper._lexicon_embeddings()
    sims = emb @ emb.T
    rows = []
    for theory in THEORIES:
        col = mapper.lexicon[theory].to_numpy(object)
        idx = np.flatnonzero([c is not None for c in col])
        if idx.size < 2:
            continue
        truth = col[idx].astype(str)
        pred = np.array([mapper._vote(sims[i], exclude=i)[theory] for i in idx], dtype=str)
        majority = pd.Series(truth).value_counts().index[0]
        base = np.full(truth.shape, majority)
        rows.append({"theory": theory, "n_values": int(idx.size), "n_labels": int(len(set(truth))),
                     "accuracy": float(np.mean(pred == truth)), "macro_f1": _macro_f1(truth, pred),
                     "majority_label": majority, "majority_accuracy": float(np.mean(base == truth)),
                     "majority_macro_f1": _macro_f1(truth, base)})
    return pd.DataFrame(rows)
