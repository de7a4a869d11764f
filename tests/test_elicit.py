import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from valuelab.elicit import ResponseCache, cache_key, is_refusal, pairwise_prompt, parse_choice

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text,expected", [
    ("A", "A"), ("B.", "B"), (" (B) because it is kinder", "B"), ("Option A", "A"), ("**A**", "A"),
    ("My answer: B", "B"), ("I choose option A.", "A"), ("a", "A"),
    ("As an AI, I don't have preferences.", None), ("I cannot choose between these.", None),
    ("Neither option.", None), ("Both A and B are good", None), ("", None), ("Banana", None),
    ("The best answer would be A.", "A"), ("My choice is B", "B"), ("I would go with B.", "B"),
    ("Option A: a cup of tea.\nOption B: a cup of coffee.", None),  # the question echoed, no choice
])
def test_parse_choice(text, expected):
    assert parse_choice(text) == expected


def test_refusal_detection():
    assert is_refusal("I'm just an AI assistant and cannot make that choice")
    assert is_refusal("It is not appropriate for me to pick")
    assert not is_refusal("A, because saving lives matters")


def test_prompt_shows_first_as_a():
    q = pairwise_prompt("tea", "coffee")
    assert q.index("Option A: tea") < q.index("Option B: coffee")
    with pytest.raises(ValueError, match="unknown 'nope'"):
        pairwise_prompt("x", "y", template="nope")


def test_cache_round_trip_and_bad_file(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache_key({"name": "m", "fingerprint": "f"}, "prompt", {"method": "logits"})
    cache.put(key, model="m", prompt="prompt", params={"method": "logits"}, result={"probs": {"A": 0.3}})
    assert ResponseCache(tmp_path / "c.sqlite").get_many([key, "missing"]) == {key: {"probs": {"A": 0.3}}}
    assert len(cache) == 1
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a valuelab response cache"):
        ResponseCache(bad)


def test_cache_key_depends_on_model_prompt_and_params():
    base = cache_key({"name": "m", "fingerprint": "1"}, "p", {"k": 1})
    assert base != cache_key({"name": "m", "fingerprint": "2"}, "p", {"k": 1})
    assert base != cache_key({"name": "m", "fingerprint": "1"}, "p ", {"k": 1})
    assert base != cache_key({"name": "m", "fingerprint": "1"}, "p", {"k": 2})


KILL_SCRIPT = r"""
import sys, time
sys.path.insert(0, {tests!r})
from valuelab.elicit import ResponseCache, cache_key
cache = ResponseCache({db!r})
for i in range(100000):
    key = cache_key({{"name": "m"}}, f"prompt {{i}}", {{}})
    if cache.get_many([key]):
        continue
    cache.put(key, model="m", prompt=f"prompt {{i}}", params={{}}, result={{"i": i}})
    print(i, flush=True)
    time.sleep(0.002)
"""


def test_cache_survives_sigkill(tmp_path):
    db = tmp_path / "kill.sqlite"
    script = KILL_SCRIPT.format(tests=str(ROOT / "tests"), db=str(db))
    printed = []
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # the run has started writing
        time.sleep(float(rng.uniform(0.05, 0.4)))  # then kill it at a random point
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        printed += [int(x) for x in (first + out).split()]
    con = sqlite3.connect(db)
    rows = con.execute("SELECT prompt, result FROM responses").fetchall()
    stored = sorted(json.loads(r)["i"] for _, r in rows)
    # every answer reported as written is there, none twice, and the stored ones are contiguous
    assert set(printed) <= set(stored)
    assert len(stored) == len(set(stored))
    assert stored == list(range(len(stored)))
    assert len(stored) > 20


OPTIONS = pd.DataFrame({"option_id": ["tea", "coffee", "vacation", "money"],
                        "text": ["A cup of tea.", "A cup of coffee.", "One week of vacation.", "You receive $100."]})


def test_elicit_logits_both_orders(tiny, tmp_path):
    from valuelab.elicit import elicit_comparisons

    comps, resp = elicit_comparisons(OPTIONS, tiny, cache=str(tmp_path / "c.sqlite"), progress=False)
    n_pairs = 6  # all pairs of 4 options
    assert len(comps) == 2 * n_pairs and len(resp) == 2 * n_pairs
    # each row is one observation's worth; shown_first says which text came as "A"
    np.testing.assert_allclose(comps.n_a + comps.n_b, 1.0)
    row = resp.iloc[0]
    probs = json.loads(row.option_probs)
    first_p = comps.iloc[0].n_a if row.shown_first == row.option_a else comps.iloc[0].n_b
    assert first_p == pytest.approx(probs["A"])
    assert (resp.option_mass > 0).all() and (resp.option_mass <= 1).all()
    # a second run reads everything from the cache and returns the same table
    comps2, resp2 = elicit_comparisons(OPTIONS, tiny, cache=str(tmp_path / "c.sqlite"), progress=False)
    assert resp2.cached.all()
    pd.testing.assert_frame_equal(comps, comps2)


def test_elicit_sampling_counts_parsed_answers(tiny):
    from valuelab.elicit import elicit_comparisons

    pairs = pd.DataFrame({"option_a": ["tea"], "option_b": ["money"]})
    comps, resp = elicit_comparisons(OPTIONS, tiny, pairs=pairs, method="sample", k=5, progress=False)
    # the random tiny model rarely answers with a clean label: unparsed answers are recorded
    total = resp.n_unparsed.sum() + resp.n_refused.sum() + (comps.n_a.sum() + comps.n_b.sum() if len(comps) else 0)
    assert total == 10
    assert [len(json.loads(t)) for t in resp.text] == [5, 5]


def test_elicit_accepts_pairs_as_tuples(tiny):
    from valuelab.elicit import elicit_comparisons

    comps, _ = elicit_comparisons(OPTIONS, tiny, pairs=[("tea", "coffee"), ("money", "tea")], progress=False)
    assert list(zip(comps.option_a, comps.option_b))[:2] == [("tea", "coffee"), ("money", "tea")]
    with pytest.raises(ValueError, match="list of \\(option_a, option_b\\) tuples"):
        elicit_comparisons(OPTIONS, tiny, pairs=[("tea",)], progress=False)


def test_elicit_rejects_unknown_pair(tiny):
    from valuelab.elicit import elicit_comparisons

    with pytest.raises(ValueError, match="pairs row 0"):
        elicit_comparisons(OPTIONS, tiny, pairs=pd.DataFrame({"option_a": ["tea"], "option_b": ["??"]}),
                           progress=False)


def test_project_outcomes_are_well_formed():
    from valuelab.datasets import load_outcomes

    out = load_outcomes()
    assert 80 <= len(out) <= 150
    assert out.option_id.is_unique and out.text.is_unique
    assert {"money", "time", "lives", "delayed money"} <= set(out.category)
    assert out.loc[out.category == "money", "quantity"].notna().all()


SHARED = ROOT.parent / "shared" / "data" / "emergent-values" / "options_hierarchical.json"


@pytest.mark.skipif(not SHARED.exists(), reason="published data in ../shared is absent")
def test_read_published_hierarchical_options():
    from valuelab.datasets import read_options_json

    raw = json.loads(SHARED.read_text())
    opts = read_options_json(SHARED)
    assert len(opts) == sum(len(v) for v in raw.values())
    assert opts.category.nunique() == len(raw)
    first_cat = next(iter(raw))
    assert opts.text.iloc[0] == raw[first_cat][0].strip()


def test_read_options_json_errors(tmp_path):
    from valuelab.datasets import read_options_json

    bad = tmp_path / "x.json"
    bad.write_text('{"cat": ["ok", 3]}')
    with pytest.raises(ValueError, match=r"category 'cat', item 1"):
        read_options_json(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_options_json(bad)


def test_position_bias_closed_form():
    from valuelab.elicit import position_bias

    df = pd.DataFrame({"option_a": ["x", "x", "y", "y"], "option_b": ["y", "y", "z", "z"],
                       "shown_first": ["x", "y", "y", "z"], "n_a": [0.9, 0.2, 0.7, 0.6], "n_b": [0.1, 0.8, 0.3, 0.4]})
    out = position_bias(df)
    # first-shown shares: 0.9, 0.8, 0.7, 0.4
    assert out.p_first == pytest.approx((0.9 + 0.8 + 0.7 + 0.4) / 4)
    # pair (x, y): x wins when first (0.9), y wins when first (0.8): inconsistent; (y, z): y wins both
    assert out.consistent_pairs == pytest.approx(0.5)
    assert out.n_pairs_both_orders == 2


RUN_SCRIPT = r"""
import sys, time
sys.path.insert(0, {tests!r})
import pandas as pd
from tiny_model import tiny_model
from valuelab.elicit import TransformersModel, elicit_comparisons


class Slow(TransformersModel):
    def option_probabilities(self, prompts, labels=("A", "B"), **kw):
        time.sleep(0.1)  # slow enough to be killed part-way
        return super().option_probabilities(prompts, labels, **kw)


model, tok = tiny_model()
slow = Slow("tiny", _model=model, _tokenizer=tok, batch_size=2)
options = pd.read_json({options!r})
comps, resp = elicit_comparisons(options, slow, design="active", n_pairs=20, cache={db!r}, progress=False)
print("done", len(resp), int(resp.cached.sum()), flush=True)
"""


def elicitation_run(tmp_path, things: str):
    """(options, cache path, script) of an ``elicit_comparisons`` run over 10 options, for
    the tests that kill it: the script runs :data:`RUN_SCRIPT` on the tiny model."""
    options = pd.DataFrame({"option_id": [f"o{i}" for i in range(10)],
                            "text": [f"You receive {i + 1} {things}." for i in range(10)]})
    opts_file = tmp_path / "options.json"
    options.to_json(opts_file)
    db = tmp_path / "run.sqlite"
    return options, db, RUN_SCRIPT.format(tests=str(ROOT / "tests"), options=str(opts_file), db=str(db))


def test_elicitation_run_survives_sigkill(tiny, tmp_path):
    """A whole elicit_comparisons run (active design) killed twice with SIGKILL, then finished:
    nothing lost or doubled, and the resumed run asks exactly what an uninterrupted one would."""
    from valuelab.elicit import elicit_comparisons

    options, db, script = elicitation_run(tmp_path, "apples")

    def stored():
        if not db.exists():
            return 0
        try:
            with sqlite3.connect(db, timeout=5) as con:
                return con.execute("SELECT count(*) FROM responses").fetchone()[0]
        except sqlite3.OperationalError:  # table not created yet
            return 0

    counts = []
    for target in (6, 18):  # kill once a few answers are in, then again later
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while stored() < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        counts.append(stored())
    assert counts[0] >= 6 and counts[1] > counts[0] and counts[1] < 40  # killed part-way, and progress kept
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _, n_resp, n_cached = done.stdout.split()
    # 20 pairs x 2 orders; the finishing run re-asked only what the killed runs had not stored
    assert int(n_resp) == 40 and int(n_cached) == counts[1]
    with sqlite3.connect(db) as con:
        keys = [k for (k,) in con.execute("SELECT key FROM responses")]
    assert len(keys) == len(set(keys)) == 40
    # the answers stored under interruption equal a fresh, uninterrupted run
    resumed, resp = elicit_comparisons(options, tiny, design="active", n_pairs=20, cache=str(db), progress=False)
    fresh, _ = elicit_comparisons(options, tiny, design="active", n_pairs=20, progress=False)
    assert resp.cached.all()
    # the active design chose the same pairs, round by round, from the same answers
    pd.testing.assert_frame_equal(resumed[["option_a", "option_b", "shown_first", "round"]],
                                  fresh[["option_a", "option_b", "shown_first", "round"]])
    np.testing.assert_allclose(resumed.n_a.to_numpy(), fresh.n_a.to_numpy(), atol=1e-5)


def test_elicit_choices_reads_label_probabilities(tiny):
    from valuelab.elicit import choice_prompt, elicit_choices, random_choice_sets

    sets = random_choice_sets(OPTIONS, 5, size=3, seed=1)
    out = elicit_choices(OPTIONS, tiny, sets, progress=False)
    assert len(out) == 15 and out.groupby("set_id")["chosen"].sum().eq(1).all()
    np.testing.assert_allclose(out.groupby("set_id")["probability"].sum(), 1.0)
    # the probabilities are those of the labels A, B, C after the rendered question
    first = out[out.set_id == 0]
    text = OPTIONS.set_index("option_id").loc[first.option_id, "text"]
    probs, _ = tiny.option_probabilities([choice_prompt(text)], ["A", "B", "C"])
    np.testing.assert_allclose(first.probability, probs[0], rtol=1e-6)
    assert first.chosen.to_numpy()[np.argmax(probs[0])]
    with pytest.raises(ValueError, match="expected 2 to 8 outcomes"):
        choice_prompt(["only one"])
