"""``valuelab elicit``: killed mid-run and started again, it finishes with every answer once."""

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

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """The tiny random chat model saved as a local model folder."""
    pytest.importorskip("transformers")
    from tiny_model import tiny_model

    folder = tmp_path_factory.mktemp("tiny") / "model"
    model, tok = tiny_model()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    env.pop("VALUELAB_CACHE", None)
    return env


def _cmd(*args):
    return [sys.executable, "-m", "valuelab.cli", "elicit", *map(str, args)]


def _run(*args, check=True):
    done = subprocess.run(_cmd(*args), env=_env(), capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"exit {done.returncode}\n{done.stderr[-3000:]}")
    return done


def _cache_rows(path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def _options(path, n):
    pd.DataFrame({"option_id": [f"o{i:02d}" for i in range(n)],
                  "text": [f"You receive {i + 1} cups of tea and {n - i} biscuits." for i in range(n)]}
                 ).to_csv(path, index=False)


@pytest.mark.slow
def test_killed_run_resumes_with_every_answer_once(tiny_dir, tmp_path):
    options = tmp_path / "options.csv"
    _options(options, 60)
    n_pairs = 700
    total = 2 * n_pairs  # both orders
    base = ["pairwise", "--model", tiny_dir, "--input", options, "--n-pairs", n_pairs, "--batch-size", 1,
            "--threads", 1, "--seed", 3]

    # the reference: one uninterrupted run
    _run(*base, "--output", tmp_path / "ref.csv", "--responses", tmp_path / "ref_resp.parquet",
         "--cache", tmp_path / "ref.sqlite", "--no-progress")
    ref = pd.read_csv(tmp_path / "ref.csv")
    assert len(ref) == total

    # the same run, killed with SIGKILL once the cache holds some but not all answers
    cache, out = tmp_path / "run.sqlite", tmp_path / "run.csv"
    args = [*base, "--output", out, "--responses", tmp_path / "run_resp.parquet", "--cache", cache]
    proc = subprocess.Popen(_cmd(*args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _cache_rows(cache) < total // 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    killed_at = _cache_rows(cache)
    assert proc.returncode == -signal.SIGKILL, stderr[-2000:]
    assert 0 < killed_at < total, killed_at
    print(f"killed with {killed_at} of {total} answers in the cache")
    assert not out.exists()  # nothing half-written
    assert not list(tmp_path.glob(".run.csv.*"))

    # started again: asks only what is missing and finishes
    again = _run(*args)
    assert f"{total - killed_at} prompts to ask" in again.stderr
    got = pd.read_csv(out)
    assert len(got) == total
    assert not got.duplicated(["option_a", "option_b", "shown_first"]).any()
    key = ["option_a", "option_b", "shown_first"]
    merged = got.merge(ref, on=key, suffixes=("", "_ref"), validate="one_to_one")
    assert len(merged) == total
    np.testing.assert_allclose(merged["n_a"], merged["n_a_ref"], atol=1e-5)
    np.testing.assert_allclose(merged["n_b"], merged["n_b_ref"], atol=1e-5)

    # the cache holds each prompt exactly once, and the responses table every prompt once
    with sqlite3.connect(cache) as db:
        rows, keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses").fetchone()
    assert rows == keys == total
    resp = pd.read_parquet(tmp_path / "run_resp.parquet")
    assert len(resp) == total and resp["prompt_hash"].is_unique
    assert resp["cached"].sum() == killed_at

    # a third run asks nothing and writes the same table
    third = _run(*args, "--output", tmp_path / "third.csv")
    assert "0 prompts to ask" in third.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "third.csv"), got)


@pytest.mark.slow
def test_dilemmas_and_survey_write_their_tables(tiny_dir, tmp_path):
    from valuelab.datasets import DATA_DIR

    dil = pd.read_csv(DATA_DIR / "dilemmas.csv", dtype=str).head(6)  # three dilemmas
    dil.to_csv(tmp_path / "dilemmas.csv", index=False)
    _run("dilemmas", "--model", tiny_dir, "--input", tmp_path / "dilemmas.csv", "--output",
         tmp_path / "choices.parquet", "--cache", tmp_path / "c.sqlite", "--threads", 1)
    choices = pd.read_parquet(tmp_path / "choices.parquet")
    assert list(choices["dilemma_id"]) == list(dict.fromkeys(dil["dilemma_id"]))
    assert {"model", "choice", "p_to_do", "n_answers"} <= set(choices.columns)

    items = pd.read_csv(DATA_DIR / "survey_items.csv", dtype=str)
    items[items["item_id"].isin(["v01", "v02"]) & items["language"].isin(["en", "ar"])].to_csv(
        tmp_path / "items.csv", index=False)
    done = _run("survey", "--model", tiny_dir, "--input", tmp_path / "items.csv", "--output",
                tmp_path / "survey.csv", "--cache", tmp_path / "c.sqlite", "--threads", 1, "--max-new-tokens", 4)
    assert "8 prompts to ask" in done.stderr  # 4 item-languages: a generation and a logit read each
    survey = pd.read_csv(tmp_path / "survey.csv")
    assert len(survey) == 4 and set(survey["language"]) == {"en", "ar"}
    assert all(abs(sum(json.loads(p)) - 1) < 1e-6 for p in survey["probs"])
    assert "tokens" in done.stderr
    # the text-only route writes the completions table notebook 05 reads
    done = _run("survey", "--texts-only", "--n-samples", 2, "--temperature", 1, "--model", tiny_dir, "--input",
                tmp_path / "items.csv", "--output", tmp_path / "completions.csv", "--cache", tmp_path / "c.sqlite",
                "--threads", 1, "--max-new-tokens", 4)
    assert "4 prompts to ask" in done.stderr
    completions = pd.read_csv(tmp_path / "completions.csv")
    assert list(completions.columns) == ["model", "item_id", "language", "framing", "country", "sample", "text"]
    assert len(completions) == 8 and set(completions["sample"]) == {0, 1}


@pytest.mark.parametrize("content, flag, message", [
    ("option_id,text\na,tea\nb,\n", None, "row 1, column 'text'"),
    ("option_id,words\na,tea\nb,coffee\n", None, "'text'"),
    ("option_id,text\na,tea\nb,coffee\n", "pairs", "row 0, column 'option_b': 'zz'"),
])
def test_bad_input_names_file_row_and_column(tmp_path, content, flag, message):
    options = tmp_path / "options.csv"
    options.write_text(content)
    extra = []
    if flag == "pairs":
        (tmp_path / "pairs.csv").write_text("option_a,option_b\na,zz\n")
        extra = ["--pairs", tmp_path / "pairs.csv"]
    done = _run("pairwise", "--model", tmp_path / "no-model", "--input", options, "--output", tmp_path / "o.csv",
                "--cache", tmp_path / "c.sqlite", *extra, check=False)
    assert done.returncode == 2
    assert str(options if flag is None else tmp_path / "pairs.csv") in done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "c.sqlite").exists() and not (tmp_path / "o.csv").exists()


def test_bad_arguments_are_clear(tmp_path, monkeypatch):
    options = tmp_path / "options.csv"
    _options(options, 3)
    done = _run("pairwise", "--server", "http://127.0.0.1:9/v1", "--input", options, "--output", tmp_path / "o.csv",
                check=False)
    assert done.returncode == 2 and "--server-model" in done.stderr
    done = _run("pairwise", "--server", "http://127.0.0.1:9/v1", "--server-model", "m", "--api-key-env",
                "VALUELAB_TEST_UNSET_KEY", "--input", options, "--output", tmp_path / "o.csv", check=False)
    assert done.returncode == 2 and "VALUELAB_TEST_UNSET_KEY is not set" in done.stderr
    done = _run("pairwise", "--model", tmp_path, "--input", options, "--output", tmp_path / "o.txt", check=False)
    assert done.returncode == 2 and "o.txt" in done.stderr and "unknown table format" in done.stderr
    done = _run("pairwise", "--model", tmp_path, "--input", options, "--output", tmp_path / "o.csv", check=False)
    assert done.returncode == 2 and "cannot load a transformers model" in done.stderr
    done = _run("dilemmas", "--model", tmp_path, "--input", options, "--output", tmp_path / "o.csv", check=False)
    assert done.returncode == 2 and "options.csv" in done.stderr and "dilemma_id" in done.stderr


def test_options_json_by_category_and_token_estimate(tmp_path):
    from valuelab.cli_elicit import Meter, read_options_input

    path = tmp_path / "options.json"
    path.write_text(json.dumps({"food": ["tea", "coffee"], "money": ["$10"]}))
    opts = read_options_input(str(path))
    assert list(opts["option_id"]) == ["0", "1", "2"] and list(opts["category"]) == ["food", "food", "money"]

    class Server:  # a backend with no tokenizer and no usage report
        def render(self, prompt):
            return prompt

    meter = Meter(total=4, chars_left=800, progress=False)
    meter.done(Server(), ["x" * 200, "y" * 200], ["A" * 40])
    assert meter.prompts == 2 and meter.tokens == 100 + 10
    assert meter.tokens_left() == 100 + 2 * 5  # 400 characters and two answers of 5 tokens left
    assert "(est.)" in meter.postfix() and "tokens~" in meter.postfix()
    meter.close()


def test_server_route_never_prints_the_key(tiny, tmp_path):
    from valuelab.elicit.local_server import LocalServer

    secret = "sk-cli-test-never-print-me-42"
    options = tmp_path / "options.csv"
    _options(options, 3)
    cache = tmp_path / "c.sqlite"
    with LocalServer(tiny) as server:
        done = subprocess.run(
            _cmd("pairwise", "--server", server.url, "--server-model", "tiny", "--api-key-env", "VALUELAB_CLI_KEY",
                 "--input", options, "--output", tmp_path / "o.csv", "--responses", tmp_path / "r.csv",
                 "--cache", cache),
            env={**_env(), "VALUELAB_CLI_KEY": secret}, capture_output=True, text=True, timeout=300)
        auth = set(server.auth)
    assert done.returncode == 0, done.stderr[-2000:]
    assert auth == {f"Bearer {secret}"}
    # the server reports usage on every response: tokens as reported, not estimated
    assert "6 prompts to ask" in done.stderr and "(est.)" not in done.stderr and "tokens " in done.stderr
    assert secret not in done.stdout + done.stderr
    assert secret.encode() not in cache.read_bytes()
    assert len(pd.read_csv(tmp_path / "r.csv")) == 6
