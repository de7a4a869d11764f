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

    def __init__(self, backend, fail_first=0, fail_status=429, always_fail=False):
        self.fail_left = fail_first
        self.fail_status = fail_status
        self.always_fail = always_fail
        super().__init__(backend)

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
