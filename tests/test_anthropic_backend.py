"""AnthropicModel through the official anthropic client, against a loopback stand-in of the
Messages endpoint (no hosted API is reachable here): request shape, key handling, retries,
usage, the sampling route in the elicitation functions."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("anthropic")

from valuelab.elicit import AnthropicModel, ResponseCache, elicit_comparisons, usage_summary  # noqa: E402
from valuelab.elicit.remote import ServerError  # noqa: E402

SECRET = "sk-ant-test-never-store-me-789"


class StandIn:
    """``POST /v1/messages``: answers each request with the next of ``answers`` (cycled), with usage.

    ``fail_first`` requests get ``fail_status`` (529 "overloaded" by default) first.
    """

    def __init__(self, answers=("A",), fail_first=0, fail_status=529, usage=True):
        outer = self
        self.bodies, self.keys, self.paths = [], [], []
        self.fail_left, self.fail_status = fail_first, fail_status
        lock = threading.Lock()
        self._count = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with lock:
                    outer.paths.append(self.path)
                    outer.keys.append(self.headers.get("x-api-key"))
                    if outer.fail_left > 0:
                        outer.fail_left -= 1
                        self._send(outer.fail_status, {"type": "error", "error": {"type": "overloaded_error",
                                                                                  "message": "Overloaded"}})
                        return
                    outer.bodies.append(body)
                    text = answers[outer._count % len(answers)]
                    outer._count += 1
                reply = {"id": f"msg_{outer._count}", "type": "message", "role": "assistant", "model": body["model"],
                         "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                         "stop_sequence": None}
                if usage:
                    reply["usage"] = {"input_tokens": 10 + len(body.get("system", "")) // 4, "output_tokens": 1}
                self._send(200, reply)

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def standin():
    servers = []

    def make(**options):
        servers.append(StandIn(**options))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


OPTIONS = pd.DataFrame({"option_id": ["tea", "coffee", "cake"], "text": ["Tea.", "Coffee.", "Cake."]})


def test_requests_follow_the_messages_api(standin, monkeypatch):
    server = standin(answers=("B",))
    monkeypatch.setenv("VALUELAB_ANT_KEY", SECRET)
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env="VALUELAB_ANT_KEY", max_concurrency=2)
    prompt = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "A or B?"}]
    out = model.generate([prompt, "Hello"], k=2, temperature=0.7, max_new_tokens=5)
    assert out == [["B", "B"], ["B", "B"]]
    assert set(server.paths) == {"/v1/messages"} and set(server.keys) == {SECRET}
    first = [b for b in server.bodies if "system" in b][0]
    assert first == {"model": "claude-test", "system": "Answer briefly.", "max_tokens": 5, "temperature": 0.7,
                     "messages": [{"role": "user", "content": "A or B?"}]}
    assert model.usage["requests"] == 4 and model.usage["completion_tokens"] == 4
    assert model.last_usage[0] == {"prompt_tokens": 2 * 13.0, "completion_tokens": 2.0}
    assert model.route_counts == {"separate": 2}
    assert SECRET not in repr(model) + repr(vars(model)) + repr(vars(model._client_obj))
    assert "render" and json.loads(model.render(prompt))["system"] == "Answer briefly."


def test_option_probabilities_are_label_frequencies(standin):
    server = standin(answers=("A", "B", "A", " A", "maybe"))
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env=None, probability_samples=5,
                           max_concurrency=1)
    probs, mass = model.option_probabilities(["A or B?"])
    np.testing.assert_allclose(probs, [[0.75, 0.25]])
    np.testing.assert_allclose(mass, [0.8])
    assert all(b["max_tokens"] == 1 and b["temperature"] == 1.0 for b in server.bodies)
    assert server.keys == [None] * 5
    assert "estimated from 5 sampled" in model.describe_route()


def test_overloaded_answers_are_retried(standin):
    server = standin(fail_first=2)
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env=None, backoff=0.01)
    assert model.generate(["hi"], k=1) == [["A"]]
    assert model.n_retries == 2
    failing = standin(fail_first=10, fail_status=500)
    model = AnthropicModel("claude-test", base_url=failing.url, api_key_env=None, backoff=0.01, max_retries=1)
    with pytest.raises(ServerError, match=r"HTTP 500 from .*/v1/messages \(gave up after 1 retries\)"):
        model.generate(["hi"], k=1)
    refused = standin(fail_first=1, fail_status=401)
    model = AnthropicModel("claude-test", base_url=refused.url, api_key_env=None)
    with pytest.raises(ServerError, match="HTTP 401"):
        model.generate(["hi"], k=1)


def test_elicitation_through_the_cache_with_usage(standin, tmp_path):
    server = standin(answers=("A", "B"))
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env=None, probability_samples=4)
    db = tmp_path / "c.sqlite"
    comps, resp = elicit_comparisons(OPTIONS, model, method="sample", k=2, cache=str(db), progress=False)
    assert len(resp) == 6 and (comps["n_a"] + comps["n_b"] == 2).all()
    assert (resp["completion_tokens"] == 2).all() and (resp["prompt_tokens"] == 20).all()
    _, est = elicit_comparisons(OPTIONS, model, method="logits", cache=str(db), progress=False)
    assert (est["completion_tokens"] == 4).all()
    again = AnthropicModel("claude-test", base_url=server.url, api_key_env=None, probability_samples=4)
    _, back = elicit_comparisons(OPTIONS, again, method="logits", cache=str(db), progress=False)
    assert back["cached"].all() and again.usage["requests"] == 0
    summary = usage_summary(resp, est, back)
    assert summary.loc[0, "prompts"] == 18 and summary.loc[0, "cached"] == 6
    assert summary.loc[0, "completion_tokens"] == 12 + 24 + 24
    # the identity names the provider: never mixed with another backend's answers
    assert len(ResponseCache(db)) == 12


def test_bad_options_are_refused_before_any_request(standin):
    server = standin()
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env=None)
    with pytest.raises(ValueError, match="temperature: the Messages API takes 0 to 1"):
        model.generate(["hi"], temperature=1.5)
    with pytest.raises(ValueError, match=r"messages\[1\]: role 'tool'"):
        model.generate([[{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]])
    assert server.bodies == [] and server.paths == []
    with pytest.raises(ValueError, match="probability_samples"):
        AnthropicModel("x", probability_samples=0)


def test_a_response_without_content_is_a_clear_error(standin):
    server = standin()
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env=None)
    with pytest.raises(ServerError, match="no 'content' list"):
        model._text({"type": "message"})
    assert server.paths == []


def test_temperature_can_be_left_to_the_model(standin):
    server = standin()
    model = AnthropicModel("claude-test", base_url=server.url, api_key_env=None, send_temperature=False)
    model.generate(["hi"], temperature=0.0)
    assert "temperature" not in server.bodies[0]
    assert model.identity["temperature"] == "model default"


def test_the_cli_asks_through_the_messages_api(standin, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    server = standin(answers=("A", "B", "A"))
    options = tmp_path / "options.csv"
    OPTIONS.to_csv(options, index=False)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), ANTHROPIC_BASE_URL=server.url,
               VALUELAB_ANT_KEY=SECRET)
    env.pop("VALUELAB_CACHE", None)
    cmd = [sys.executable, "-m", "valuelab.cli", "elicit", "pairwise", "--anthropic", "claude-test", "--api-key-env",
           "VALUELAB_ANT_KEY", "--input", str(options), "--output", str(tmp_path / "o.csv"), "--responses",
           str(tmp_path / "r.csv"), "--cache", str(tmp_path / "c.sqlite"), "--method", "sample", "-k", "2",
           "--requests-per-minute", "6000"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    resp = pd.read_csv(tmp_path / "r.csv")
    assert len(resp) == 6 and (resp["completion_tokens"] == 2).all()
    assert set(server.keys) == {SECRET} and len(server.bodies) == 12
    assert SECRET not in done.stdout + done.stderr
    assert SECRET.encode() not in (tmp_path / "c.sqlite").read_bytes()
    # a missing key stops the run before anything is asked
    env.pop("VALUELAB_ANT_KEY")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "VALUELAB_ANT_KEY" in done.stderr and len(server.bodies) == 12
