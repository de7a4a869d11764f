"""Interruption and security: runs killed at random points, reports never half-written, no eval,
no unpickling, no remote code unless asked, API keys never stored or printed."""

from __future__ import annotations

import ast
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


# ---------------------------------------------------------------- interruption
@pytest.mark.slow
def test_elicitation_killed_at_random_points_loses_and_doubles_nothing(tmp_path):
    pytest.importorskip("transformers")
    from test_elicit import elicitation_run

    _, db, script = elicitation_run(tmp_path, "pears")

    def stored_keys():
        if not db.exists():
            return []
        try:
            with sqlite3.connect(db, timeout=5) as con:
                return [k for (k,) in con.execute("SELECT key FROM responses")]
        except sqlite3.OperationalError:
            return []

    rng = np.random.default_rng(7)
    history, kills = [], 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        start = len(stored_keys())
        # wait until the run is answering, then kill it after a random extra delay
        deadline = time.time() + 120
        while len(stored_keys()) <= start and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.5)))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.communicate()
        keys = stored_keys()
        assert set(history[-1] if history else []) <= set(keys)  # nothing lost
        history.append(keys)
    assert kills >= 3
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _, n_resp, n_cached = done.stdout.split()
    final = stored_keys()
    assert int(n_resp) == 40 and len(final) == 40
    # nothing asked twice: the last run found exactly what the killed runs had stored
    assert int(n_cached) == len(history[-1])
    assert len(history[-1]) > len(history[0])  # the killed runs made progress


NOTEBOOK = '''# %% tags=["parameters"]
SLEEP = 0.0
MARK = "first"
FLAG = ""

# %%
import pathlib, time
if FLAG:
    pathlib.Path(FLAG).write_text("running")
time.sleep(SLEEP)
print("report", MARK)
'''


@pytest.mark.slow
def test_a_killed_report_run_never_leaves_a_half_written_report(tmp_path):
    pytest.importorskip("papermill")
    nb = tmp_path / "09_probe.py"
    nb.write_text(NOTEBOOK)
    out = tmp_path / "reports"
    cli = [sys.executable, "-m", "valuelab.cli", "report", str(nb), "--out", str(out)]
    first = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    html, executed = out / "09_probe.html", out / "09_probe.ipynb"
    before, before_nb = html.read_bytes(), executed.read_bytes()
    assert b"report first" in before
    flag = tmp_path / "running.flag"
    proc = subprocess.Popen(cli + ["--param", "SLEEP=60", "--param", 'MARK="second"', "--param", f'FLAG="{flag}"'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not flag.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert flag.exists(), "the slow run never started its notebook"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert html.read_bytes() == before and executed.read_bytes() == before_nb  # old, complete report untouched
    assert sorted(p.name for p in out.iterdir()) == ["09_probe.html", "09_probe.ipynb", "index.html"]
    again = subprocess.run(cli + ["--param", 'MARK="third"'], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and b"report third" in html.read_bytes()


# ---------------------------------------------------------------- security
def test_an_interrupted_write_keeps_the_old_report(tmp_path, monkeypatch):
    """The write itself fails part-way (as a kill between write and rename would leave it):
    the old file is intact and no temporary file is left."""
    from valuelab import report

    target = tmp_path / "r.html"
    target.write_text("old, complete")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(report.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        report._atomic_write(target, "new" * 1000)
    assert target.read_text() == "old, complete" and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, name, owner


def test_library_never_evaluates_data_or_unpickles():
    found = []
    paths = sorted((ROOT / "valuelab").rglob("*.py"))
    assert len(paths) > 30
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "dill", "marshal", "shelve"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import ...")
            if isinstance(node, ast.Import) and any(a.name in ("pickle", "dill", "marshal", "shelve") for a in node.names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} import pickle-like module")
        for node, name, owner in _calls(tree):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            bare = isinstance(node.func, ast.Name) or owner == "builtins"  # not model.eval()
            if name in ("eval", "exec", "compile") and bare:
                found.append(f"{where} {name}()")
            if owner in ("pickle", "dill", "joblib", "marshal") and name in ("load", "loads"):
                found.append(f"{where} {owner}.{name}()")
            if owner == "torch" and name == "load":
                found.append(f"{where} torch.load()")
            if name == "read_pickle" or (name == "load" and owner == "np" and any(
                    k.arg == "allow_pickle" for k in node.keywords)):
                found.append(f"{where} {owner}.{name}() (unpickles)")
            if name == "literal_eval":
                found.append(f"{where} literal_eval() (use the whitelisting parsers)")
            for kw in node.keywords:
                if kw.arg == "trust_remote_code" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                    found.append(f"{where} trust_remote_code=True")
    assert not found, found


def test_remote_code_only_when_asked():
    import inspect

    from valuelab.elicit import TransformersModel

    assert inspect.signature(TransformersModel.__init__).parameters["trust_remote_code"].default is False


def test_api_key_is_sent_but_never_stored_logged_or_returned(tmp_path, monkeypatch, capsys, caplog):
    pytest.importorskip("transformers")
    from tiny_model import tiny_model

    import valuelab.survey as sv
    from valuelab.elicit import LocalServer, OpenAIModel, TransformersModel, elicit_comparisons

    import logging

    caplog.set_level(logging.DEBUG)
    secret = "sk-valuelab-test-" + "9f3a" * 6
    monkeypatch.setenv("VALUELAB_TEST_KEY", secret)
    model, tok = tiny_model()
    backend = TransformersModel("tiny", _model=model, _tokenizer=tok)
    options = pd.DataFrame({"option_id": ["a", "b", "c"], "text": ["Tea.", "Coffee.", "Water."]})
    db = tmp_path / "cache.sqlite"
    with LocalServer(backend) as server:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env="VALUELAB_TEST_KEY", max_retries=0)
        comps, resp = elicit_comparisons(options, remote, cache=str(db), progress=False)
        sampled, resp2 = elicit_comparisons(options, remote, method="sample", k=2, cache=str(db), progress=False)
        survey = sv.elicit_survey(sv.load_survey_items().head(1), remote, max_new_tokens=3, cache=str(db),
                                  progress=False)
        # the server's usage reaches the survey table: the greedy text's call and the logits' call
        assert (survey["prompt_tokens"] > 0).all() and (survey["completion_tokens"] >= 1).all()
        # the key is read from the environment at each request, not kept on the object
        monkeypatch.setenv("VALUELAB_TEST_KEY", secret + "-rotated")
        remote.option_probabilities(["Answer A or B."], ["A", "B"])
    assert server.auth[-1] == f"Bearer {secret}-rotated"
    assert all(a == f"Bearer {secret}" for a in server.auth[:-1]) and len(server.auth) > 5  # it was really used
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert blobs and not any(secret.encode() in b for b in blobs)  # cache, WAL and journal files
    for table in (comps, resp, sampled, resp2, survey):
        assert secret not in table.to_csv()
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err and secret not in caplog.text
    assert secret not in repr(remote.identity) and secret not in repr(vars(remote))


def test_notebooks_reach_no_network_beyond_what_the_user_configures():
    """The notebooks use embedded models and local files only: no URL other than the loopback
    server they start themselves, no HTTP client, no hub download."""
    bad = []
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(notebooks) >= 5
    for nb in notebooks:
        tree = ast.parse(nb.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "://" in node.value:
                if not any(h in node.value for h in ("127.0.0.1", "localhost")):
                    bad.append(f"{nb.name}:{node.lineno} {node.value!r}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] in ("requests", "urllib", "http", "socket", "huggingface_hub")
                       for n in names):
                    bad.append(f"{nb.name}:{node.lineno} imports {names}")
            if isinstance(node, ast.Call) and any(k.arg == "trust_remote_code" for k in node.keywords):
                bad.append(f"{nb.name}:{node.lineno} trust_remote_code")
    assert not bad, bad


def test_offline_strips_remote_scripts_and_keeps_inline_ones():
    from valuelab.report import _offline

    page = ('<script src="https://cdnjs.cloudflare.com/x/require.min.js"> </script>'
            '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>'
            "<script SRC='http://cdn.example/mathjax.js'></script>"
            '<script src="plotly-local.js"></script><div id="fig"></div>'
            '<script type="text/javascript">Plotly.newPlot("fig", [], {}); var s = "<b>";</script>')
    out = _offline(page)
    assert "https://" not in out and "http://" not in out
    assert "window.PlotlyConfig" in out and 'Plotly.newPlot("fig"' in out and 'src="plotly-local.js"' in out


def test_report_header_lists_every_parameter_with_its_value():
    import jupytext
    import nbformat

    from valuelab.report import _defaults, _header_cell

    nb = jupytext.reads('# %% tags=["parameters"]\nN: int = 5\nA, B = 1, (2, 3)\nMODEL = "smol | lm"\n'
                        'P = ("a "\n     "b")\n\n# %%\nprint(1)\n', fmt="py:percent")
    defaults = _defaults(nb)
    assert defaults == {"N": "5", "A": "1", "B": "(2, 3)", "MODEL": "'smol | lm'", "P": "'a b'"}
    html_text = _header_cell(nbformat, "x", {"N": 7}, defaults).source
    assert "<td><code>N</code></td><td><code>7</code></td><td>overridden</td>" in html_text
    assert "<td><code>MODEL</code></td><td><code>&#x27;smol | lm&#x27;</code></td><td>default</td>" in html_text
