"""Bad input across the public API: each case gets a clear error naming the field or row, and
leaves nothing partial behind (no file created or changed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import valuelab as vl
import valuelab.datasets as ds
import valuelab.elicit  # noqa: F401  (loads the lazy submodule: vl.elicit.ServerError below)
import valuelab.survey as sv
from valuelab.frameworks import read_value_lexicon, score_dilemmas, validate_actions

GOOD = pd.DataFrame({"option_a": ["a", "b", "a"], "option_b": ["b", "c", "c"], "n_a": [3, 2, 4], "n_b": [1, 2, 1]})
ACTIONS = pd.DataFrame({"dilemma_id": [1, 1], "action_type": ["to_do", "not_to_do"], "values": [["honesty"], ["loyalty"]]})


def write(tmp: Path, name: str, content) -> Path:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _fit(df):
    return vl.fit_thurstonian(df)


def _elicit_bad_pair(tmp):
    from valuelab.elicit import elicit_comparisons

    class NoModel:  # never asked: validation must fail first
        identity = {"name": "none"}

    options = pd.DataFrame({"option_id": ["a", "b"], "text": ["A.", "B."]})
    return elicit_comparisons(options, NoModel(), pairs=pd.DataFrame({"option_a": ["a"], "option_b": ["zz"]}),
                              cache=str(tmp / "cache.sqlite"), progress=False)


def _unreachable(tmp):
    from valuelab.elicit import OpenAIModel

    return OpenAIModel("m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2).option_probabilities(
        ["hi"], ["A", "B"])


def _no_option_tokens(tmp):
    pytest.importorskip("transformers")
    from tiny_model import tiny_model

    from valuelab.elicit import TransformersModel

    model, tok = tiny_model()
    return TransformersModel("tiny", _model=model, _tokenizer=tok).option_probabilities(["Q?"], ["A", ""])


def _server_without_logprobs(tmp):
    from valuelab.elicit import LocalServer, OpenAIModel

    class TextOnly:  # a backend that cannot score options: the server answers 500
        identity = {"name": "text-only"}

        def generate(self, prompts, **kw):
            return [["A"] for _ in prompts]

    with LocalServer(TextOnly()) as server:
        return OpenAIModel("text-only", base_url=server.url, max_retries=0).option_probabilities(["Q?"], ["A", "B"])


def _foreign_database() -> bytes:
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "other.sqlite"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE people (name TEXT)")
        con.commit()
        con.close()
        return path.read_bytes()


INPUTS = {
    "other.sqlite": _foreign_database(),
    "c.sqlite": b"not sqlite" * 50,
    "x.parquet": b"garbage",
    "o.json": "{oops",
    "o.csv": "a,b\n1,2\n",
    "d.csv": "idx,action_type,action,values_direct,values_indirect\n1,to_do,Act,\"['a', open('x')]\",\"[]\"\n",
    "l.csv": "value,MFT\nhonesty,Honour\n",
    "i.csv": 'item_id,language,question,options,scale\nq,en,Q?,"[""a"", ""b""]",likert\n',
    "w.xlsx": b"PK\x03\x04broken",
    "h.csv": "item_id,population,option,share\nq,P,1,0.5\nq,P,2,0.2\n",
    "g.csv": "question,selections,options\nQ?,\"{'X': [__import__('os')]}\",\"['a', 'b']\"\n",
}


# (case name, callable taking tmp_path, exception type, regex the message must match)
CASES = [
    ("comparisons: missing column", lambda t: _fit(GOOD.drop(columns="n_b")), ValueError, "n_b"),
    ("comparisons: not a table", lambda t: _fit([1, 2, 3]), TypeError, "comparisons: expected a DataFrame"),
    ("comparisons: empty", lambda t: _fit(GOOD.iloc[:0]), ValueError, "empty"),
    ("comparisons: negative count", lambda t: _fit(GOOD.assign(n_a=[3, -1, 4])), ValueError, r"row 1, column 'n_a'"),
    ("comparisons: NaN", lambda t: _fit(GOOD.assign(n_b=[1, np.nan, 1])), ValueError, r"row 1, column 'n_b'"),
    ("comparisons: infinite", lambda t: _fit(GOOD.assign(n_a=[np.inf, 2, 4])), ValueError, r"row 0.*finite"),
    ("comparisons: option against itself", lambda t: _fit(GOOD.assign(option_b=["a", "c", "c"])), ValueError,
     r"row 0, column 'option_b'.*itself"),
    ("comparisons: unknown option id", lambda t: vl.validate_comparisons(
        GOOD, options=pd.DataFrame({"option_id": ["a", "b"]})), ValueError, r"row 1, column 'option_b'.*'c'"),
    ("comparisons: disconnected graph", lambda t: _fit(pd.DataFrame(
        {"option_a": ["a", "c"], "option_b": ["b", "d"], "n_a": [1, 1], "n_b": [1, 1]})), ValueError,
     "disconnected: 2 components"),
    ("options: duplicated id", lambda t: vl.validate_options(pd.DataFrame({"option_id": ["a", "a"]})), ValueError,
     "row 1"),
    ("elicitation: unknown option in a pair", _elicit_bad_pair, ValueError,
     r"pairs row 0, column 'option_b': 'zz' is not in the options table"),
    ("server: unreachable", _unreachable, vl.elicit.ServerError, r"127\.0\.0\.1:9.*Connection refused"),
    ("server: fails on every request", _server_without_logprobs, vl.elicit.ServerError, r"HTTP 500 from http://127\.0\.0\.1"),
    ("model: a label with no tokens", _no_option_tokens, ValueError, "label '' is empty"),
    ("cache: not a database", lambda t: vl.ResponseCache(t / "c.sqlite"), ValueError,
     "not a valuelab response cache"),
    ("cache: another program's database", lambda t: vl.ResponseCache(t / "other.sqlite"), ValueError,
     r"not a valuelab response cache \(an SQLite database with tables \['people'\]"),
    ("table: unreadable parquet", lambda t: vl.read_table(t / "x.parquet"), ValueError,
     "not a valid parquet"),
    ("options json: not JSON", lambda t: ds.read_options_json(t / "o.json"), ValueError,
     "not valid JSON"),
    ("outcomes: missing columns", lambda t: ds.load_outcomes(t / "o.csv"), ValueError,
     r"missing column\(s\) \['option_id', 'text'\]"),
    ("dilemmas: broken list cell", lambda t: ds.read_dailydilemmas(t / "d.csv"),
     ValueError, r"row 0, column 'values_direct'"),
    ("dilemmas: one action only", lambda t: validate_actions(ACTIONS.iloc[:1]), ValueError,
     "dilemma 1: expected exactly one 'to_do' and one 'not_to_do'"),
    ("choices: unknown action", lambda t: score_dilemmas(ACTIONS, pd.DataFrame({"dilemma_id": [1], "choice": ["maybe"]})),
     ValueError, r"row 0, column 'choice'.*'maybe'"),
    ("lexicon: unknown label", lambda t: read_value_lexicon(t / "l.csv"),
     ValueError, r"row 0, column 'MFT'.*'Honour'"),
    ("survey items: bad scale", lambda t: sv.read_survey_items(t / "i.csv"), ValueError,
     r"row 0, column 'scale'.*'likert'"),
    ("survey workbook: not a workbook", lambda t: sv.read_menavalues(t / "w.xlsx"),
     ValueError, "not a readable Excel workbook"),
    ("human answers: shares do not sum to 1", lambda t: sv.read_human_distributions(t / "h.csv"), ValueError, "shares sum to 0.700"),
    ("globalopinionqa: code in a cell", lambda t: sv.read_globalopinionqa(t / "g.csv"), ValueError,
     r"row 0, column 'selections'"),
    ("leakage: tau out of range", lambda t: sv.detect_leakage(pd.DataFrame(
        {"refused": [True], "probs": [[0.9, 0.1]], "option_mass": [0.5]}), tau=1.5), ValueError,
     r"tau: expected a probability in \(0, 1\], got 1\.5"),
    ("distance: unequal options", lambda t: sv.js_distance([0.5, 0.5], [0.2, 0.3, 0.5]), ValueError,
     "same number of options"),
    ("embedded model: unknown name", lambda t: vl.elicit.embedded.embedded_model_dir("nope"), ValueError,
     "unknown embedded model 'nope'"),
]


@pytest.mark.parametrize("name, call, exc, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error_and_writes_nothing(name, call, exc, pattern, tmp_path):
    for file, content in INPUTS.items():  # every input file exists before the snapshot
        write(tmp_path, file, content)
    def snapshot():  # files with their bytes, and folders
        return {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}

    before = snapshot()
    with pytest.raises(exc, match=pattern):
        call(tmp_path)
    after = snapshot()
    assert after == before, f"{name}: files changed: {sorted(set(after) ^ set(before))}"


def test_the_table_covers_at_least_twenty_cases():
    assert len(CASES) >= 20
