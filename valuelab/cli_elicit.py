"""``valuelab elicit pairwise|dilemmas|survey``: long elicitation runs outside a notebook.

A run reads an input table, asks a local transformers model or an OpenAI-compatible server
through the SQLite response cache, shows a progress bar with the time and tokens left, and
writes the tidy table the notebooks read (atomically: a temporary file renamed into place).

Every model call's answers are committed to the cache as they arrive, so a run killed at any
moment loses at most the call in flight (one batch of prompts); started again with the same
arguments it asks only what the cache lacks and writes the same table.

Before asking anything the run is planned once against the cache without the model (a dry
run whose stand-in answers are never stored): that gives the number of prompts still to ask
and their length, from which the bar estimates the tokens left. (With ``--design active`` the
later rounds' pairs depend on the answers, so for a partly cached run that count is an
estimate.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["add_elicit_parser", "run_elicit", "build_model", "Meter", "read_options_input", "read_pairs_input",
           "read_dilemmas_input", "read_survey_input"]

_CHARS_PER_TOKEN = 4.0  # the usual rule of thumb, until the run has measured its own ratio


# ---------------------------------------------------------------------------- arguments
def add_elicit_parser(sub) -> None:
    """Add ``elicit pairwise|dilemmas|survey`` to the ``valuelab`` subcommands ``sub``."""
    el = sub.add_parser("elicit", help="ask a model (local or a server) and write a tidy table",
                        description="Ask a local model or an OpenAI-compatible server; resumable through the cache.")
    kinds = el.add_subparsers(dest="kind", required=True)
    pw = kinds.add_parser("pairwise", help="pairwise preferences -> comparisons table")
    _common(pw, "options table: option_id, text (CSV, JSON, JSONL or Parquet; or JSON {category: [text, ...]})")
    pw.add_argument("--pairs", help="exactly the pairs to ask: option_a, option_b (CSV, JSON, JSONL or Parquet)")
    pw.add_argument("--design", choices=["random", "regular", "active"], default="random")
    pw.add_argument("--n-pairs", type=int, help="distinct pairs to ask (default 2 N log2 N)")
    pw.add_argument("--orders", choices=["both", "single"], default="both")
    pw.add_argument("--template", default="prefer", help="question wording (valuelab.elicit.PAIRWISE_TEMPLATES)")
    _sampling(pw)
    dl = kinds.add_parser("dilemmas", help="dilemma choices -> choices table")
    _common(dl, "dilemma actions: dilemma_id, action_type, dilemma, action[, values] (or a DailyDilemmas file)")
    dl.add_argument("--orders", choices=["both", "single"], default="both")
    dl.add_argument("--system-prompt", help="system message sent before every question")
    _sampling(dl)
    sv = kinds.add_parser("survey", help="survey items -> survey responses table")
    _common(sv, "survey items: item_id, language, question, options, scale (CSV, JSON, JSONL or Parquet)")
    sv.add_argument("--languages", type=_csv_list, help="comma-separated (default: every language of the items)")
    sv.add_argument("--framings", type=_csv_list, default=["neutral"], help="neutral,persona,observer")
    sv.add_argument("--countries", type=_csv_list, default=[], help="English country keys for persona/observer")
    sv.add_argument("--reasoning", choices=["off", "on", "both"], default="off",
                    help="ask zero-shot (off), with a reasoning step first (on), or both")
    sv.add_argument("--max-new-tokens", type=int, default=32)
    sv.add_argument("--reasoning-tokens", type=int, default=64)
    sv.add_argument("--texts-only", action="store_true",
                    help="generate answer texts only and write the completions table (generate_completions)")
    sv.add_argument("--n-samples", type=int, default=1, help="texts per prompt (--texts-only)")
    sv.add_argument("--temperature", type=float, default=0.0, help="0 for greedy decoding (--texts-only)")
    sv.add_argument("--seed", type=int, default=0, help="sampling seed (--texts-only)")


def _common(p, input_help: str) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a local transformers model: embedded name or model folder")
    src.add_argument("--server", metavar="URL", help="an OpenAI-compatible server, up to and including /v1")
    src.add_argument("--anthropic", metavar="MODEL",
                     help="a model behind Anthropic's Messages API (pip install valuelab[anthropic]; the API's "
                          "address from ANTHROPIC_BASE_URL, else Anthropic's); key from --api-key-env, "
                          "default ANTHROPIC_API_KEY")
    p.add_argument("--server-model", help="the model name the server expects (with --server)")
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the server's API key")
    p.add_argument("--requests-per-minute", type=float, metavar="N",
                   help="client-side rate limit in requests per minute (--server, --anthropic)")
    p.add_argument("--tokens-per-minute", type=float, metavar="N",
                   help="client-side rate limit in tokens per minute (--server, --anthropic)")
    p.add_argument("--input", required=True, help=input_help)
    p.add_argument("--output", required=True, help="the table to write: .csv, .parquet, .json or .jsonl")
    p.add_argument("--responses", help="also write the per-prompt responses table here")
    p.add_argument("--cache", help="SQLite response cache (default: <valuelab cache folder>/responses.sqlite)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="prompts per forward pass (local) or requests in flight (server)")
    p.add_argument("--threads", type=int, help="torch threads (local model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _sampling(p) -> None:
    p.add_argument("--method", choices=["logits", "sample"], default="logits")
    p.add_argument("-k", "--k", type=int, default=10, help="sampled answers per prompt (--method sample)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# ---------------------------------------------------------------------------- inputs
def _read(path: str, *, ids=()):
    """A table from CSV / JSON / JSONL / Parquet, with the ``ids`` columns as text."""
    import pandas as pd

    from .io import read_table

    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such file")
    if file.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(file, dtype={c: str for c in ids}, keep_default_na=False, na_values=[""])
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise ValueError(f"{path}: not a valid csv table ({err})") from None
    else:
        df = read_table(file)
    for c in ids:
        if c in df.columns:
            df[c] = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[c]]
    return df


def read_options_input(path: str):
    """The options table of ``elicit pairwise`` (ids as text); JSON may be ``{category: [text, ...]}``."""
    from .datasets import read_options_json
    from .schema import validate_options

    if Path(path).suffix.lower() == ".json":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        if isinstance(raw, dict) or (isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw)):
            return read_options_json(path)
    df = _read(path, ids=("option_id",))
    try:
        validate_options(df)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if "text" not in df.columns:
        raise ValueError(f"{path}: missing column 'text' (what the model is shown for each option)")
    blank = df["text"].isna() | (df["text"].astype(str).str.strip() == "")
    if blank.any():
        row = int(blank.to_numpy().argmax())
        raise ValueError(f"{path}: row {row}, column 'text': expected text, got an empty cell")
    return df


def read_pairs_input(path: str, options):
    """The ``--pairs`` table, checked against the options (the message names the row and column)."""
    df = _read(path, ids=("option_a", "option_b"))
    missing = {"option_a", "option_b"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected option_a, option_b")
    known = set(options["option_id"])
    for row, (a, b) in enumerate(zip(df["option_a"], df["option_b"])):
        for col, v in (("option_a", a), ("option_b", b)):
            if v not in known:
                raise ValueError(f"{path}: row {row}, column {col!r}: {v!r} is not an option_id of the options table")
    return df[["option_a", "option_b"]]


def read_dilemmas_input(path: str):
    """The dilemma actions of ``elicit dilemmas`` (a DailyDilemmas per-action file is recognised)."""
    from .datasets import read_dailydilemmas
    from .frameworks.dilemmas import validate_actions

    df = _read(path, ids=("dilemma_id", "idx"))
    if "dilemma_id" not in df.columns and "idx" in df.columns:
        df = read_dailydilemmas(path)
        df["dilemma_id"] = df["dilemma_id"].astype(str)
    if "values" not in df.columns and {"dilemma_id", "action_type"} <= set(df.columns):
        df["values"] = [[] for _ in range(len(df))]  # only scoring needs them
    try:
        return validate_actions(df, require_text=True)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def read_survey_input(path: str):
    """The survey items of ``elicit survey``."""
    from .survey.items import read_survey_items, validate_survey_items

    if Path(path).suffix.lower() in (".parquet", ".pq"):
        try:
            return validate_survey_items(_read(path, ids=("item_id",)))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    return read_survey_items(path)


# ---------------------------------------------------------------------------- the model
def build_model(args):
    """The backend the arguments name: a TransformersModel, an OpenAIModel or an AnthropicModel."""
    limits = {"requests_per_minute": getattr(args, "requests_per_minute", None),
              "tokens_per_minute": getattr(args, "tokens_per_minute", None)}
    for name, value in limits.items():
        if value is not None and not value > 0:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive number, got {value}")
    if getattr(args, "anthropic", None):
        if args.server_model:
            raise ValueError("--server-model goes with --server; --anthropic names the model itself")
        key_env = args.api_key_env or "ANTHROPIC_API_KEY"
        if not os.environ.get(key_env):
            raise ValueError(f"--anthropic: the environment variable {key_env} (the API key) is not set")
        from .elicit.anthropic_backend import AnthropicModel

        return AnthropicModel(args.anthropic, api_key_env=key_env, max_concurrency=args.batch_size, **limits)
    if args.server:
        if not args.server_model:
            raise ValueError("--server needs --server-model (the model name the server expects)")
        if args.api_key_env and not os.environ.get(args.api_key_env):
            raise ValueError(f"--api-key-env: the environment variable {args.api_key_env} is not set")
        from .elicit.openai_backend import OpenAIModel

        return OpenAIModel(args.server_model, base_url=args.server, api_key_env=args.api_key_env,
                           max_concurrency=args.batch_size, **limits)
    if args.server_model or args.api_key_env or any(v is not None for v in limits.values()):
        raise ValueError("--server-model, --api-key-env and the rate limits go with --server or --anthropic, "
                         "not --model")
    from .elicit.embedded import EMBEDDED_MODELS
    from .elicit.transformers_backend import TransformersModel

    if args.model not in EMBEDDED_MODELS and not Path(args.model).exists():
        raise ValueError(f"--model: {args.model!r} is neither an embedded model ({', '.join(EMBEDDED_MODELS)}) "
                         "nor a local model folder")
    if Path(args.model).is_dir() and not (Path(args.model) / "config.json").is_file():
        raise ValueError(f"--model {args.model}: cannot load a transformers model from it (no config.json; "
                         "save one with save_pretrained)")
    try:
        return TransformersModel(args.model, batch_size=args.batch_size, torch_threads=args.threads)
    except (OSError, ValueError) as err:  # a folder without tokenizer or weights
        raise ValueError(f"--model {args.model}: cannot load a transformers model from it ({err})") from None


class _Proxy:
    """Stands in for a backend: every attribute but the two model routes is the backend's."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)


class _DryModel(_Proxy):
    """Records the prompts it is asked and answers with stand-ins (uniform, or ``"A"``)."""

    def __init__(self, model):
        super().__init__(model)
        self.n_prompts = 0
        self.n_chars = 0

    def _record(self, prompts):
        self.n_prompts += len(prompts)
        self.n_chars += sum(len(self._model.render(p)) for p in prompts)

    def option_probabilities(self, prompts, labels, **kwargs):
        import numpy as np

        self._record(prompts)
        return np.full((len(prompts), len(labels)), 1.0 / len(labels)), np.ones(len(prompts))

    def generate(self, prompts, *, k=1, **kwargs):
        self._record(prompts)
        return [["A"] * int(k) for _ in prompts]


class _MeteredModel(_Proxy):
    """Passes calls to the backend and reports prompts and tokens to a :class:`Meter`."""

    def __init__(self, model, meter):
        super().__init__(model)
        self._meter = meter

    def option_probabilities(self, prompts, labels, **kwargs):
        out = self._model.option_probabilities(prompts, labels, **kwargs)
        self._meter.done(self._model, prompts, [])
        return out

    def generate(self, prompts, **kwargs):
        out = self._model.generate(prompts, **kwargs)
        self._meter.done(self._model, prompts, [t for texts in out for t in texts])
        return out


class Meter:
    """Prompts and tokens so far, and the tokens left, shown on a tqdm bar.

    Tokens come from the backend's own count when the server reports usage on every response
    (the API backends' ``usage`` dict: cumulative ``prompt_tokens``, ``completion_tokens``,
    ``requests``, ``requests_without_usage``), else from its tokenizer (exact
    for local models), else from the characters (``len / 4``: marked as an estimate).

    Parameters
    ----------
    total : int
        Prompts still to ask.
    chars_left : int
        Characters of those prompts (rendered).
    progress : bool
        Show the bar (on stderr).
    """

    def __init__(self, *, total: int, chars_left: int, progress: bool):
        from tqdm.auto import tqdm

        self.total, self.chars_left = int(total), int(chars_left)
        self.prompts = self.tokens = self.chars = self.out_tokens = 0
        self.source = None
        self.bar = tqdm(total=self.total, desc="asking", unit="prompt", disable=not progress, file=sys.stderr,
                        dynamic_ncols=True, mininterval=0.5)

    def _count(self, model, texts) -> int:
        tok = getattr(model, "tokenizer", None)
        if tok is not None:
            self.source = "counted"
            return sum(len(tok.encode(t, add_special_tokens=False)) for t in texts)
        self.source = "estimated from characters"
        return int(round(sum(len(t) for t in texts) / _CHARS_PER_TOKEN))

    def done(self, model, prompts, outputs) -> None:
        """Record one model call: its prompts and generated texts."""
        rendered = [model.render(p) for p in prompts]
        chars = sum(len(r) for r in rendered)
        usage = getattr(model, "usage", None)
        if (isinstance(usage, dict) and usage.get("requests", 0) > 0 and not usage.get("requests_without_usage")
                and self.source in (None, "reported")):
            self.source = "reported"
            self.tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
            new_out = int(usage.get("completion_tokens", 0)) - self.out_tokens
        else:
            self.tokens += self._count(model, rendered)
            new_out = self._count(model, outputs) if outputs else 0
            self.tokens += new_out
        self.prompts += len(prompts)
        self.chars += chars
        self.out_tokens += new_out
        self.chars_left = max(0, self.chars_left - chars)
        self.bar.update(len(prompts))
        self.bar.set_postfix_str(self.postfix(), refresh=False)

    def tokens_left(self) -> int:
        """Prompt tokens left (from their length and the tokens per character so far) plus
        generated tokens left (at the rate per prompt so far)."""
        in_tokens = self.tokens - self.out_tokens
        per_char = in_tokens / self.chars if self.chars else 1.0 / _CHARS_PER_TOKEN
        out_per_prompt = self.out_tokens / self.prompts if self.prompts else 0.0
        return int(round(self.chars_left * per_char + (self.total - self.prompts) * out_per_prompt))

    def postfix(self) -> str:
        """``tokens 12.3k, ~40.1k left`` (``tokens~`` and ``(est.)`` when estimated)."""
        est = self.source == "estimated from characters"
        mark = "~" if est else ""
        return f"tokens{mark} {_short(self.tokens)}, ~{_short(self.tokens_left())} left" + (" (est.)" if est else "")

    def close(self) -> None:
        """Close the bar (its last line stays on the terminal)."""
        self.bar.close()


def _short(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(int(n))


# ---------------------------------------------------------------------------- running
def _task(args, table, pairs):
    """``task(model, cache) -> (table, responses or None)`` for the subcommand."""
    common = dict(progress=False)
    if args.kind == "pairwise":
        from .elicit.pairwise import elicit_comparisons

        def task(model, cache):
            return elicit_comparisons(table, model, pairs=pairs, design=args.design, n_pairs=args.n_pairs,
                                      orders=args.orders, method=args.method, k=args.k, temperature=args.temperature,
                                      template=args.template, cache=cache, seed=args.seed, **common)
    elif args.kind == "dilemmas":
        from .frameworks.dilemmas import elicit_dilemma_choices

        def task(model, cache):
            return elicit_dilemma_choices(table, model, method=args.method, orders=args.orders, k=args.k,
                                          temperature=args.temperature, system_prompt=args.system_prompt,
                                          cache=cache, seed=args.seed, **common)
    elif args.texts_only:
        from .survey.ask import generate_completions

        if args.reasoning != "off":
            raise ValueError("--texts-only asks zero-shot only; leave out --reasoning")

        def task(model, cache):
            out = generate_completions(table, model, languages=args.languages, framings=args.framings,
                                       countries=args.countries, n_samples=args.n_samples,
                                       temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                                       seed=args.seed, cache=cache, **common)
            return out, None
    else:
        from .survey.ask import elicit_survey

        reasoning = {"off": (False,), "on": (True,), "both": (False, True)}[args.reasoning]

        def task(model, cache):
            out = elicit_survey(table, model, languages=args.languages, framings=args.framings,
                                countries=args.countries, reasoning=reasoning, max_new_tokens=args.max_new_tokens,
                                reasoning_tokens=args.reasoning_tokens, cache=cache, **common)
            return out, None
    return task


def _read_input(args):
    if args.kind == "pairwise":
        options = read_options_input(args.input)
        pairs = read_pairs_input(args.pairs, options) if args.pairs else None
        return options, pairs
    if args.kind == "dilemmas":
        return read_dilemmas_input(args.input), None
    return read_survey_input(args.input), None


def _check_outputs(args) -> None:
    from .io import TABLE_FORMATS

    if args.kind == "survey" and args.responses:
        raise ValueError("--responses: the survey table already has one row per prompt; leave it out")
    for flag, path in (("--output", args.output), ("--responses", args.responses)):
        if path and Path(path).suffix.lower() not in TABLE_FORMATS:
            raise ValueError(f"{flag} {path}: unknown table format {Path(path).suffix!r}; "
                             f"expected one of {sorted(TABLE_FORMATS)}")


def _tidy_for_file(table, path: str):
    """Lists and tuples become JSON text in CSV / JSON files (Parquet keeps them as lists)."""
    parquet = Path(path).suffix.lower() in (".parquet", ".pq")
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, (list, tuple))).any():
            out[col] = [(list(v) if parquet else json.dumps(list(v), ensure_ascii=False))
                        if isinstance(v, (list, tuple)) else v for v in out[col]]
    return out


def run_elicit(args) -> int:
    """Run ``valuelab elicit`` with parsed ``args``; returns the exit status.

    Steps: check the output paths, read and check the input, build the model, plan the run
    against the cache (dry run), ask what is missing under a progress bar, write the
    table(s) atomically.
    """
    from .elicit.cache import ResponseCache
    from .elicit.embedded import cache_dir
    from .io import write_table

    _check_outputs(args)
    table, pairs = _read_input(args)
    for name in ("k", "batch_size"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    model = build_model(args)
    cache_path = args.cache or str(cache_dir() / "responses.sqlite")
    task = _task(args, table, pairs)
    store = ResponseCache(cache_path)
    try:
        dry = _DryModel(model)
        look = _read_only_cache(cache_path)
        try:
            task(dry, look)
        finally:
            look.close()
        n_cached = len(store)
        if not args.no_progress:
            print(f"valuelab elicit {args.kind}: {dry.n_prompts} prompts to ask ({n_cached} answers in {cache_path})",
                  file=sys.stderr)
        meter = Meter(total=dry.n_prompts, chars_left=dry.n_chars, progress=not args.no_progress)
        try:
            result, responses = task(_MeteredModel(model, meter), store)
        finally:
            meter.close()
    finally:
        store.close()
    write_table(_tidy_for_file(result, args.output), args.output)
    if args.responses and responses is not None:
        write_table(_tidy_for_file(responses, args.responses), args.responses)
    if not args.no_progress:
        note = f", tokens {meter.source}" if meter.source else ""
        print(f"wrote {len(result)} rows to {args.output} ({meter.prompts} prompts asked, "
              f"{meter.tokens} tokens{note})", file=sys.stderr)
    return 0


def _read_only_cache(path: str):
    """The cache at ``path`` opened for a dry run: reads as usual, ``put`` stores nothing."""
    from .elicit.cache import ResponseCache

    class ReadOnlyCache(ResponseCache):
        def put(self, key, **kwargs):
            return None

    return ReadOnlyCache(path)
