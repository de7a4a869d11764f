"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that answers from the
transformers backend (a tiny random model), including a server that fails and then recovers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")
from tiny_model import tiny_model  # noqa: E402

from valuelab.elicit import TransformersModel, elicit_comparisons  # noqa: E402
from valuelab.elicit.openai_backend import OpenAIModel, ServerError  # noqa: E402

SECRET = "sk-test-never-store-me-123"


class Server:
    def __init__(self, backend, fail_first=0, fail_status=429, always_fail=False):
        self.backend = backend
        self.fail_left = fail_first
        self.fail_status = fail_status
        self.always_fail = always_fail
        self.auth = []
        self.requests = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests += 1
                    outer.auth.append(self.headers.get("Authorization"))
                    fail = outer.always_fail or outer.fail_left > 0
                    if outer.fail_left > 0:
                        outer.fail_left -= 1
                if fail:
                    self.send_response(outer.fail_status)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b'{"error": "busy"}')
                    return
                with outer.lock:  # the tiny model is not thread-safe enough to share
                    reply = outer.answer(body)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, body):
        text = self.backend.render(body["messages"])
        if body.get("logprobs"):
            lp = self.backend.next_token_logprobs([text])[0]
            top = np.argsort(-lp)[: body.get("top_logprobs", 20)]
            alts = [{"token": self.backend.tokenizer.decode([int(t)]), "logprob": float(lp[t])} for t in top]
            return {"choices": [{"message": {"content": alts[0]["token"]},
                                 "logprobs": {"content": [{"token": alts[0]["token"], "top_logprobs": alts}]}}]}
        outs = self.backend.generate([body["messages"]], k=body.get("n", 1), temperature=body.get("temperature", 1.0),
                                     max_new_tokens=body.get("max_tokens", 8), seed=body.get("seed"))
        return {"choices": [{"message": {"content": t}} for t in outs[0]]}

    def close(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def backend():
    model, tok = tiny_model()
    return TransformersModel("tiny", _model=model, _tokenizer=tok, batch_size=8)


OPTIONS = pd.DataFrame({"option_id": ["tea", "coffee", "vacation"],
                        "text": ["A cup of tea.", "A cup of coffee.", "One week of vacation."]})


def test_http_logits_equal_the_local_route(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("VALUELAB_TEST_KEY", SECRET)
    server = Server(backend)
    try:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env="VALUELAB_TEST_KEY", top_logprobs=400,
                             max_concurrency=3)
        prompts = ["Which option do you prefer? Answer with A or B.", "A or B?", "The answer is"]
        p_http, m_http = remote.option_probabilities(prompts)
        p_local, m_local = backend.option_probabilities(prompts)
        np.testing.assert_allclose(p_http, p_local, rtol=1e-5)
        np.testing.assert_allclose(m_http, m_local, rtol=1e-5)
        assert set(server.auth) == {f"Bearer {SECRET}"}
        # the key never reaches the cache or the results
        db = tmp_path / "c.sqlite"
        comps, resp = elicit_comparisons(OPTIONS, remote, cache=str(db), progress=False)
        assert len(comps) == 6
        assert SECRET.encode() not in db.read_bytes()
        assert SECRET not in resp.to_csv() and SECRET not in json.dumps(remote.identity)
    finally:
        server.close()


@pytest.mark.parametrize("status", [429, 503])
def test_retries_until_the_server_recovers(backend, status):
    server = Server(backend, fail_first=3, fail_status=status)
    try:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env=None, backoff=0.01, max_concurrency=1,
                             top_logprobs=400)
        probs, mass = remote.option_probabilities(["A or B?"])
        assert remote.n_retries == 3 and server.requests == 4
        np.testing.assert_allclose(probs, backend.option_probabilities(["A or B?"])[0], rtol=1e-5)
    finally:
        server.close()


def test_gives_up_with_a_clear_error(backend, monkeypatch):
    monkeypatch.setenv("VALUELAB_TEST_KEY", SECRET)
    server = Server(backend, always_fail=True, fail_status=500)
    try:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env="VALUELAB_TEST_KEY", max_retries=2,
                             backoff=0.01)
        with pytest.raises(ServerError, match=r"HTTP 500 from .*gave up after 2 retries") as err:
            remote.option_probabilities(["A or B?"])
        assert SECRET not in str(err.value)
    finally:
        server.close()


def test_unreachable_server():
    remote = OpenAIModel("x", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(ServerError, match="127.0.0.1:9"):
        remote.generate(["hi"], k=1)


def test_sampling_over_http(backend):
    server = Server(backend)
    try:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env=None)
        out = remote.generate(["A or B?", "The answer is"], k=3, max_new_tokens=3)
        assert [len(o) for o in out] == [3, 3]
    finally:
        server.close()
