"""Asking survey items: prompts in each language and framing, option distributions and text.

Three framings (MENAValues [1]_): ``neutral`` (no identity), ``persona`` ("Imagine you are an
average person from <country>") and ``observer`` ("How would an average person from
<country> answer?"), each zero-shot or with a brief reasoning step first. Prompt pieces in
each language live in ``data/survey_prompts.csv`` and country names in
``data/survey_countries.csv`` (written for valuelab).

For every prompt valuelab records both what the model *says* (a greedy generation, checked
for refusals) and what its *logits* say: the probability of each option number at the
answer position, summed over token spellings (``"3"``, ``" 3"`` and, in Arabic and Persian,
the native digits ``٣`` / ``۳``), renormalised, with the raw option mass kept. Chat models
get their chat template with the generation prompt (no second BOS); base models get the plain
prompt ending in the language's answer cue ("Answer:").

References
----------
.. [1] MENAValues (2025). Benchmarking LLM values on Middle East and North Africa survey
   items across languages and framings.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..utility.position import PositionBiasWarning
from .items import validate_survey_items
from .metrics import expected_answer
from .reader import known_languages, read_answer

__all__ = ["FRAMINGS", "survey_prompt_pieces", "survey_countries", "survey_prompt", "option_labels", "elicit_survey",
           "generate_completions", "first_option_note"]

FRAMINGS = ("neutral", "persona", "observer")
_KEYS = ("persona", "observer", "options_header", "instruction", "reasoning", "answer_cue")
_NATIVE_DIGITS = {"ar": "٠١٢٣٤٥٦٧٨٩", "fa": "۰۱۲۳۴۵۶۷۸۹"}


@lru_cache(maxsize=4)
def _pieces(path: str) -> dict:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out: dict = {}
    for lang, key, text in zip(df["language"], df["key"], df["text"]):
        out.setdefault(lang, {})[key] = text
    return out


def survey_prompt_pieces(path: str | Path | None = None) -> dict:
    """``{language: {key: text}}`` for the keys persona, observer, options_header, instruction,
    reasoning, answer_cue (``data/survey_prompts.csv`` by default)."""
    from ..io import DATA_DIR

    return _pieces(str(Path(path) if path is not None else DATA_DIR / "survey_prompts.csv"))


def survey_countries(path: str | Path | None = None) -> pd.DataFrame:
    """Country names per language: ``country`` (English key), ``language``, ``name``."""
    from ..io import DATA_DIR

    return pd.read_csv(Path(path) if path is not None else DATA_DIR / "survey_countries.csv", dtype=str,
                       keep_default_na=False)


def _country_name(country: str, language: str, table: pd.DataFrame) -> str:
    hit = table[(table["country"] == country) & (table["language"] == language)]
    if hit.empty:
        known = sorted(table.loc[table["language"] == language, "country"])
        raise ValueError(f"country {country!r} has no name in language {language!r}; known there: {known}")
    return hit["name"].iat[0]


def survey_prompt(question: str, options: Sequence[str], *, language: str = "en", framing: str = "neutral",
                  country: str | None = None, reasoning: bool = False, labels: Sequence[str] | None = None,
                  pieces: dict | None = None) -> str:
    """The survey question as the model sees it (before any chat template).

    Parameters
    ----------
    question : str
    options : sequence of str
        Listed as ``1. ...``, ``2. ...`` (left out when every option is just its own answer
        code, as in items whose question already explains the codes).
    language : str
        Selects the prompt pieces.
    framing : {"neutral", "persona", "observer"}
    country : str, optional
        The country's name *in that language* (persona and observer).
    reasoning : bool
        Ask for one or two sentences of reasoning before the number.
    labels : sequence of str, optional
        The answer codes (default ``1..k``).
    pieces : dict, optional
        Default :func:`survey_prompt_pieces`.

    Returns
    -------
    str
    """
    pieces = survey_prompt_pieces() if pieces is None else pieces
    if language not in pieces:
        raise ValueError(f"language {language!r} has no prompt pieces; available: {sorted(pieces)}")
    p = pieces[language]
    missing = [k for k in _KEYS if k not in p]
    if missing:
        raise ValueError(f"prompt pieces for {language!r} lack {missing}")
    if framing not in FRAMINGS:
        raise ValueError(f"framing: expected one of {FRAMINGS}, got {framing!r}")
    parts = []
    if framing != "neutral":
        if not country:
            raise ValueError(f"framing {framing!r} needs a country")
        parts.append(p[framing].format(country=country))
    parts.append(question.strip())
    codes = [str(c) for c in labels] if labels is not None else [str(j + 1) for j in range(len(options))]
    if [str(o).strip() for o in options] != codes:
        parts.append(p["options_header"] + "\n" + "\n".join(f"{c}. {o}" for c, o in zip(codes, options)))
    parts.append(p["reasoning"] if reasoning else p["instruction"])
    return "\n\n".join(parts)


def option_labels(options, *, language: str = "en") -> list[tuple[str, ...]]:
    """Answer spellings per option: ``("3",)``, plus the native digits in Arabic and Persian.

    Parameters
    ----------
    options : int or sequence of str
        The number of options (codes ``1..k``) or the answer codes themselves.
    language : str
    """
    codes = [str(j) for j in range(1, int(options) + 1)] if np.isscalar(options) else [str(c) for c in options]
    out = []
    for code in codes:
        spell = [code]
        if language in _NATIVE_DIGITS and code.isdigit():
            spell.append(code.translate(str.maketrans("0123456789", _NATIVE_DIGITS[language])))
        out.append(tuple(spell))
    return out


def _survey_plan(items: pd.DataFrame, languages, framings, countries, reasoning, pieces: dict):
    """One row per prompt to ask (item x language x framing x country x reasoning), checked;
    returns ``(plan, languages)``."""
    its = validate_survey_items(items)
    langs = list(dict.fromkeys(its["language"])) if languages is None else list(languages)
    unknown = [lang for lang in langs if lang not in set(its["language"])]
    if unknown:
        raise ValueError(f"languages: {unknown} not among the items' languages {sorted(set(its['language']))}")
    unread = [lang for lang in langs if lang not in known_languages()]
    if unread:
        raise ValueError(f"languages: {unread} have no refusal phrases or answer cues to read the answers with; "
                         f"known: {', '.join(known_languages())} (see valuelab.survey.refusal_phrases)")
    for f in framings:
        if f not in FRAMINGS:
            raise ValueError(f"framings: expected any of {FRAMINGS}, got {f!r}")
    if any(f != "neutral" for f in framings) and not countries:
        raise ValueError("countries: the persona and observer framings need at least one country")
    names = survey_countries() if countries else None

    rows = []
    has_labels = "labels" in its.columns
    english = {r["item_id"]: tuple(r["options"]) for r in its[its["language"] == "en"].to_dict("records")}
    for r in its[its["language"].isin(langs)].to_dict("records"):
        codes = r["labels"] if has_labels and r["labels"] is not None else [str(j + 1) for j in range(len(r["options"]))]
        for framing in framings:
            for country in ([None] if framing == "neutral" else list(countries)):
                name = _country_name(country, r["language"], names) if country else None
                for think in reasoning:
                    q = survey_prompt(r["question"], r["options"], language=r["language"], framing=framing,
                                      country=name, reasoning=bool(think), labels=codes, pieces=pieces)
                    rows.append({"item_id": r["item_id"], "language": r["language"], "framing": framing,
                                 "country": country, "reasoning": bool(think), "scale": r["scale"],
                                 "n_options": len(r["options"]), "labels": tuple(codes), "question": q,
                                 "options": tuple(r["options"]), "item_question": r["question"],
                                 "english": english.get(r["item_id"]) if r["language"] != "en" else None})
    if not rows:
        raise ValueError("nothing to ask: no item in the requested languages")
    return pd.DataFrame(rows), langs


def elicit_survey(items: pd.DataFrame, model, *, languages: Sequence[str] | None = None,
                  framings: Sequence[str] = ("neutral",), countries: Sequence[str] = (),
                  reasoning: Sequence[bool] = (False,), max_new_tokens: int = 32, reasoning_tokens: int = 64,
                  cache=None, progress: bool = True, pieces: dict | None = None) -> pd.DataFrame:
    """Ask every item in every language, framing and reasoning mode; logits and text for each prompt.

    Parameters
    ----------
    items : DataFrame
        ``survey_items`` (see :mod:`valuelab.survey.items`).
    model : TransformersModel or OpenAIModel
    languages : list of str, optional
        Default: every language of ``items``.
    framings : sequence of {"neutral", "persona", "observer"}
    countries : sequence of str
        English country keys (``data/survey_countries.csv``) for the persona and observer
        framings; each is asked separately.
    reasoning : sequence of bool
        ``(False,)`` zero-shot; ``(False, True)`` also with a reasoning step first, after
        which the answer is read from the logits following the reasoning and the answer cue.
    max_new_tokens, reasoning_tokens : int
        Generation lengths for the zero-shot text and the reasoning text.
    cache : ResponseCache or path, optional
        Every logit read and generation goes through it.
    progress : bool
    pieces : dict, optional
        Prompt pieces (default :func:`survey_prompt_pieces`).

    Returns
    -------
    DataFrame
        One row per prompt: ``model``, ``item_id``, ``language``, ``framing``, ``country``
        (None for neutral), ``reasoning``, ``scale``, ``n_options``, ``labels`` (the answer
        codes), ``prompt`` (the text
        whose last position is read), ``probs`` (list: renormalised option distribution),
        ``option_mass`` (raw probability on the option tokens), ``answer`` (most probable
        option, 1-based), ``expected`` (mean option position; ordinal items only), ``text``
        (generated),
        ``text_answer`` (1-based option the text commits to, by number or by the option's
        words; nullable ``Int64``, NA when none), ``refused`` (a refusal or evasion phrase and
        no answer; a text that cannot be read is not refused), ``refusal_kind``
        (``refusal``, ``evasion`` or None), ``verdict`` (``answer``, ``refusal``,
        ``evasion``, ``ambiguous``, ``no_answer``), ``evidence`` (the words behind it),
        ``reason`` (why no answer), ``refusal_confidence`` (see
        :class:`valuelab.survey.AnswerReading`), ``prompt_tokens`` and ``completion_tokens``
        (of both calls, as an API server reported them; NaN for local models and servers that
        report none), ``cached`` (both calls came from the cache).
        Texts are read by :func:`valuelab.survey.read_answer` with the item's option texts
        (and its English ones, which small models fall back to); reasoning texts with
        ``reasoning=True`` (they may stop before their answer).
    """
    from ..elicit.cache import ResponseCache
    from ..elicit.cached import cached_generate, cached_option_probabilities

    pieces = survey_prompt_pieces() if pieces is None else pieces
    plan, langs = _survey_plan(items, languages, framings, countries, reasoning, pieces)
    if any(reasoning) and not getattr(model, "supports_prefill", False):
        raise ValueError(f"reasoning: {type(model).__name__} cannot continue a reasoning text in the same turn, so "
                         "the answer after it cannot be read from the logits; ask with reasoning=(False,)")
    chat = bool(getattr(model, "chat", True))
    store = cache if cache is None or isinstance(cache, ResponseCache) else ResponseCache(cache)
    cue = {lang: pieces[lang]["answer_cue"] for lang in langs}

    def as_prompt(q, lang, think=False):
        # a base model answers after the cue; asked to reason, it writes on after a blank line
        return q if chat else (f"{q}\n\n" if think else f"{q}\n\n{cue[lang]}")

    # 1. the text: greedy answers to the zero-shot prompts, reasoning texts for the others
    zero = plan.index[~plan["reasoning"]]
    think = plan.index[plan["reasoning"]]
    texts = pd.Series("", index=plan.index, dtype=object)
    gen_cached = pd.Series(False, index=plan.index)
    tokens = {name: np.zeros(len(plan)) for name in ("prompt_tokens", "completion_tokens")}
    for idx, n_tok, thinking in ((zero, max_new_tokens, False), (think, reasoning_tokens, True)):
        if len(idx):
            out, info = cached_generate(model, [as_prompt(plan.at[i, "question"], plan.at[i, "language"], thinking)
                                                for i in idx],
                                        cache=store, max_new_tokens=n_tok, progress=progress)
            texts[idx] = [o[0] for o in out]
            gen_cached[idx] = info["cached"]
            for name in tokens:
                tokens[name][plan.index.get_indexer(idx)] += info[name]
    # 2. the logits at the answer position (after the reasoning text when there is one)
    prompts = []
    for i in plan.index:
        q, lang = plan.at[i, "question"], plan.at[i, "language"]
        if not plan.at[i, "reasoning"]:
            prompts.append(as_prompt(q, lang))
        elif chat:
            prompts.append([{"role": "user", "content": q},
                            {"role": "assistant", "content": f"{texts[i].strip()}\n{cue[lang]}"}])
        else:
            prompts.append(f"{q}\n\n{texts[i].strip()}\n{cue[lang]}")
    probs = np.full((len(plan), int(plan["n_options"].max())), np.nan)
    mass = np.full(len(plan), np.nan)
    rendered = [None] * len(plan)
    logit_cached = np.zeros(len(plan), bool)
    for (codes, lang), grp in plan.groupby(["labels", "language"], sort=False):
        pos = plan.index.get_indexer(grp.index)
        k = len(codes)
        p, m, info = cached_option_probabilities(model, [prompts[i] for i in pos], option_labels(list(codes), language=lang),
                                                 cache=store, progress=progress)
        probs[pos, :k] = p
        mass[pos] = m
        logit_cached[pos] = info["cached"]
        for name in tokens:
            tokens[name][pos] += info[name]
        for i, rend in zip(pos, info["rendered"]):
            rendered[i] = rend
    if store is not None and store is not cache:
        store.close()

    out = plan.drop(columns=["question", "options", "item_question", "english"])
    out = out.assign(model=model.identity["name"], prompt=rendered)
    out["country"] = pd.Series(list(plan["country"]), index=out.index, dtype=object)
    out["probs"] = [list(probs[i, : int(k)]) for i, k in enumerate(plan["n_options"])]
    out["option_mass"] = mass
    out["answer"] = pd.Series([int(np.nanargmax(p)) + 1 if np.isfinite(p).any() else None
                               for p in map(np.asarray, out["probs"])], index=out.index, dtype=object)
    out["expected"] = [expected_answer(p) if sc == "ordinal" and np.isfinite(p).all() else np.nan
                       for p, sc in zip(out["probs"], out["scale"])]
    out["text"] = texts.to_numpy()
    # the option texts let answers in words count; a reasoning text may stop before its answer
    readings = [read_answer(t, options=opts, labels=codes, language=lang, reasoning=think, question=iq,
                            fallback_options=en)
                for t, opts, codes, lang, think, iq, en in zip(out["text"], plan["options"], out["labels"],
                                                               out["language"], out["reasoning"], plan["item_question"],
                                                               plan["english"])]
    out["text_answer"] = pd.array([v.answer for v in readings], dtype="Int64")
    out["refused"] = [v.refused for v in readings]
    out["refusal_kind"] = pd.Series([v.kind for v in readings], index=out.index, dtype=object)
    out["verdict"] = [v.verdict for v in readings]
    out["evidence"] = pd.Series([v.evidence for v in readings], index=out.index, dtype=object)
    out["reason"] = pd.Series([v.reason for v in readings], index=out.index, dtype=object)
    out["refusal_confidence"] = [v.confidence for v in readings]
    out["prompt_tokens"], out["completion_tokens"] = tokens["prompt_tokens"], tokens["completion_tokens"]
    out["cached"] = gen_cached.to_numpy() & logit_cached
    cols = ["model", "item_id", "language", "framing", "country", "reasoning", "scale", "n_options", "labels", "prompt",
            "probs", "option_mass", "answer", "expected", "text", "text_answer", "refused", "refusal_kind", "verdict",
            "evidence", "reason", "refusal_confidence", "prompt_tokens", "completion_tokens", "cached"]
    out = out[cols].reset_index(drop=True)
    note = first_option_note(out["probs"])
    if note:
        warnings.warn(f"elicit_survey: {note}", PositionBiasWarning, stacklevel=2)
    return out


#: warn when at least this share of prompts puts its most probable answer on the first option ...
FIRST_OPTION_SHARE = 0.75
#: ... and the mean probability of the first option is at least this
FIRST_OPTION_MASS = 0.5


def first_option_note(probs) -> str | None:
    """Advice when a model's option distributions favour the first listed option; else None.

    Survey items differ in which end of their scale comes first, so a model that reads them
    does not put most of its probability on option 1 of almost every item. The note is
    given when, over at least 8 prompts with 3 or more options, at least 75% have option 1
    as their most probable answer and option 1 holds at least half of the probability on
    average (``FIRST_OPTION_SHARE``, ``FIRST_OPTION_MASS``).

    Parameters
    ----------
    probs : sequence of sequences
        The renormalised option distributions (``probs`` of :func:`elicit_survey`).

    Returns
    -------
    str or None
    """
    rows = [np.asarray(p, float) for p in probs]
    rows = [p for p in rows if len(p) >= 3 and np.isfinite(p).all()]
    if len(rows) < 8:
        return None
    share = float(np.mean([int(np.argmax(p)) == 0 for p in rows]))
    mass = float(np.mean([p[0] for p in rows]))
    uniform = float(np.mean([1.0 / len(p) for p in rows]))
    if share < FIRST_OPTION_SHARE or mass < FIRST_OPTION_MASS:
        return None
    return (f"the answers follow the option order: in {share:.0%} of {len(rows)} prompts the most probable answer is "
            f"the first option listed, which holds {mass:.0%} of the probability on average ({uniform:.0%} for a "
            "uniform answerer). Read these distributions as position bias, not opinions: try a larger model, "
            "another prompt wording (pieces=...), or option-order controls (ask the items with their options "
            "reversed as well and compare).")


def generate_completions(items: pd.DataFrame, model, *, languages: Sequence[str] | None = None,
                         framings: Sequence[str] = ("neutral",), countries: Sequence[str] = (),
                         n_samples: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int | None = 0,
                         cache=None, progress: bool = True, pieces: dict | None = None) -> pd.DataFrame:
    """Generate answer texts only (no logits): the ``completions`` table any other tool makes.

    What a vLLM run, an API batch or a paper's released files provide is texts; this makes
    the same table from a valuelab model so that the text-only route
    (:func:`valuelab.survey.responses_from_completions`, then the survey analyses) can be
    shown and tested end to end.

    Parameters
    ----------
    items : DataFrame
        ``survey_items``.
    model : TransformersModel or OpenAIModel
    languages, framings, countries
        As for :func:`elicit_survey`.
    n_samples : int
        Texts per prompt (``temperature > 0`` for different ones).
    temperature : float
        0 for greedy decoding.
    max_new_tokens : int
    seed : int or None
        Sampling seed (part of the cache key).
    cache : ResponseCache or path, optional
    progress : bool
    pieces : dict, optional
        Prompt pieces (default :func:`survey_prompt_pieces`).

    Returns
    -------
    DataFrame
        ``completions``: one row per text, ``model``, ``item_id``, ``language``, ``framing``,
        ``country`` (None for neutral), ``sample`` (0-based), ``text``.
    """
    from ..elicit.cache import ResponseCache
    from ..elicit.cached import cached_generate

    if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
        raise ValueError(f"n_samples: expected a positive integer, got {n_samples!r}")
    if n_samples > 1 and temperature <= 0:
        raise ValueError("n_samples > 1 needs temperature > 0: greedy decoding repeats one text")
    pieces = survey_prompt_pieces() if pieces is None else pieces
    plan, langs = _survey_plan(items, languages, framings, countries, (False,), pieces)
    chat = bool(getattr(model, "chat", True))
    cue = {lang: pieces[lang]["answer_cue"] for lang in langs}
    prompts = [q if chat else f"{q}\n\n{cue[lang]}" for q, lang in zip(plan["question"], plan["language"])]
    store = cache if cache is None or isinstance(cache, ResponseCache) else ResponseCache(cache)
    try:
        texts, _ = cached_generate(model, prompts, cache=store, k=int(n_samples), temperature=float(temperature),
                                   max_new_tokens=max_new_tokens, seed=seed, progress=progress)
    finally:
        if store is not None and store is not cache:
            store.close()
    rows = [{"model": model.identity["name"], "item_id": r["item_id"], "language": r["language"],
             "framing": r["framing"], "country": r["country"], "sample": j, "text": t}
            for r, out in zip(plan.to_dict("records"), texts) for j, t in enumerate(out)]
    return pd.DataFrame(rows, columns=["model", "item_id", "language", "framing", "country", "sample", "text"])
