"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that answers from the
transformers backend (a tiny random model), including a server that fails and then recovers."""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")
from tiny_model import tiny_model  # noqa: E402

from valuelab.elicit import TransformersModel, elicit_comparisons  # noqa: E402
from valuelab.elicit.local_server import LocalServer  # noqa: E402
from valuelab.elicit.openai_backend import OpenAIModel, ServerCapabilities, ServerError  # noqa: E402

FULL = ServerCapabilities(top_logprobs=True, n=True)  # skips the probe where faults are counted

SECRET = "sk-test-never-store-me-123"


class Server(LocalServer):
    """The library's local server, with faults injected: the first ``fail_first`` requests (or all) fail."""

    def __init__(self, backend, fail_first=0, fail_status=429, always_fail=False, **options):
        self.fail_left = fail_first
        self.fail_status = fail_status
        self.always_fail = always_fail
        super().__init__(backend, **options)

    def intercept(self):
        if self.always_fail:
            return self.fail_status
        if self.fail_left > 0:
            self.fail_left -= 1
            return self.fail_status
        return None


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
                             top_logprobs=400, capabilities=FULL)
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


def test_local_server_answers_bad_requests_with_an_error(backend):
    import urllib.error
    import urllib.request

    with LocalServer(backend) as server:
        req = urllib.request.Request(server.url + "/chat/completions", data=b'{"model": "x"}',
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400 and b"messages" in err.value.read()


# ---------------------------------------------------------------- capability discovery and fallbacks
def test_a_server_that_ignores_logprobs_and_n_gets_the_fallback_routes(backend):
    """Like ``transformers serve``: probabilities from sampled one-token answers, k separate requests."""
    server = Server(backend, logprobs=False, honour_n=False, echo=False)
    try:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env=None, probability_samples=6,
                             max_concurrency=2)
        caps = remote.capabilities
        assert (caps.top_logprobs, caps.n, caps.echo, caps.generation_config) == (False, False, False, False)
        assert "estimated from 6 sampled" in remote.describe_route()
        assert "k separate requests" in remote.describe_route()
        before = server.requests
        with pytest.warns(RuntimeWarning, match="k separate requests"):
            out = remote.generate(["A or B?", "The answer is"], k=3, max_new_tokens=3)
        assert [len(o) for o in out] == [3, 3] and server.requests - before == 6
        probs, mass = remote.option_probabilities(["A or B?"])
        assert probs.shape == (1, 2) and 0 <= mass[0] <= 1
        assert remote.route_counts == {"separate": 2, "sample": 1}
        _, resp = elicit_comparisons(OPTIONS.iloc[:2], remote, method="logits", progress=False)
        assert len(resp) == 2  # both orders asked (the tiny model rarely answers with a label)
        # a user who insists on exact probabilities is told what is missing
        strict = OpenAIModel("tiny", base_url=server.url, api_key_env=None, probabilities="top_logprobs")
        with pytest.raises(ServerError, match="does not return logprobs/top_logprobs"):
            strict.option_probabilities(["A or B?"])
        echo = OpenAIModel("tiny", base_url=server.url, api_key_env=None, probabilities="echo")
        with pytest.raises(ServerError, match=r"prompt log-probabilities \(echo"):
            echo.option_probabilities(["A or B?"])
    finally:
        server.close()


def test_completions_echo_route_gives_the_exact_probabilities(backend):
    server = Server(backend, logprobs=False)
    try:
        remote = OpenAIModel("tiny", base_url=server.url, api_key_env=None, prompt_text=backend.render)
        assert remote.capabilities.echo and remote.probability_route() == "echo"
        prompts = ["Which option do you prefer? Answer with A or B.", "A or B?"]
        probs, mass = remote.option_probabilities(prompts)
        lp = backend.next_token_logprobs([backend.render(p) for p in prompts])
        ids = [backend.tokenizer.convert_tokens_to_ids(t) for t in ("A", "B")]
        raw = np.exp(lp[:, ids])
        np.testing.assert_allclose(mass, raw.sum(1), rtol=1e-4)
        np.testing.assert_allclose(probs, raw / raw.sum(1, keepdims=True), rtol=1e-4)
        assert remote.route_counts["echo"] == 2 and remote.usage["prompt_tokens"] > 0
        # without a renderer the echo route is not taken automatically
        plain = OpenAIModel("tiny", base_url=server.url, api_key_env=None)
        assert plain.probability_route() == "sample"
    finally:
        server.close()


class _Raw:
    """A server answering every POST with fixed bytes (malformed JSON) or after a delay (timeouts)."""

    def __init__(self, body=b"not json", delay=0.0):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import time

        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


def test_malformed_json_is_a_clear_error():
    server = _Raw(b"<html>oops")
    try:
        remote = OpenAIModel("x", base_url=server.url, api_key_env=None, capabilities=FULL)
        with pytest.raises(ServerError, match="malformed JSON"):
            remote.generate(["hi"], k=1)
    finally:
        server.close()


def test_timeouts_are_retried_then_reported():
    server = _Raw(b"{}", delay=1.0)
    try:
        remote = OpenAIModel("x", base_url=server.url, api_key_env=None, capabilities=FULL, timeout=0.2,
                             max_retries=1, backoff=0.01)
        with pytest.raises(ServerError, match="gave up after 1 retries"):
            remote.generate(["hi"], k=1)
        assert server.requests == 2 and remote.n_retries == 1
    finally:
        server.close()


def test_top_logprobs_without_the_labels_give_no_mass():
    reply = {"choices": [{"message": {"content": "x"}, "logprobs": {"content": [
        {"token": "x", "top_logprobs": [{"token": "x", "logprob": -0.1}, {"token": "y", "logprob": -2.5}]}]}}]}
    server = _Raw(json.dumps(reply).encode())
    try:
        remote = OpenAIModel("x", base_url=server.url, api_key_env=None, capabilities=FULL)
        probs, mass = remote.option_probabilities(["A or B?"])
        assert mass[0] == 0 and np.isnan(probs).all()
    finally:
        server.close()


def test_capabilities_are_probed_once_per_server_and_model(backend):
    server = Server(backend)
    try:
        a = OpenAIModel("tiny", base_url=server.url, api_key_env=None)
        a.capabilities
        probes = server.requests
        b = OpenAIModel("tiny", base_url=server.url, api_key_env=None)
        assert b.capabilities is a.capabilities and server.requests == probes
        assert "top_logprobs (exact)" in b.describe_route() and "n=k in one request" in b.describe_route()
    finally:
        server.close()
