"""The API backends' shared request loop: rate limits (fake clock), bounded concurrency, token
usage per response and per run, the route in the cache key, key handling with the openai client,
and the transformers serve starter."""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from valuelab.elicit import RateLimiter, usage_summary
from valuelab.elicit.openai_backend import OpenAIModel, ServerCapabilities, ServerError
from valuelab.elicit.serve import start_transformers_serve

FULL = ServerCapabilities(top_logprobs=True, n=True)
SECRET = "sk-test-never-store-me-456"


# ---------------------------------------------------------------- the rate limiter, on a fake clock
class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _starts(limiter, clock, costs):
    starts = []
    for c in costs:
        limiter.acquire(c)
        starts.append(clock.now)
    return np.array(starts)


@pytest.mark.parametrize("rpm,tpm,cost", [(6, None, 0), (None, 1000, 300), (30, 900, 100), (12, 500, 60),
                                          (2, 100, 250)])
def test_back_to_back_requests_start_on_the_closed_form_schedule(rpm, tpm, cost):
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=rpm, tokens_per_minute=tpm, clock=clock, sleep=clock.sleep)
    n = 25
    starts = _starts(limiter, clock, [cost] * n)
    i = np.arange(n)
    expected = np.zeros(n)
    if rpm:
        expected = np.maximum(expected, (i + 1 - rpm) * 60 / rpm)
    if tpm:
        expected = np.maximum(expected, ((i + 1) * cost - tpm) * 60 / tpm)
    np.testing.assert_allclose(starts, expected, atol=1e-9)
    # the long-run rate is the limit: the last start is the minute's allowance later
    if rpm and not tpm:
        assert starts[-1] == pytest.approx((n - rpm) * 60 / rpm)


def test_the_buckets_refill_while_idle_and_hold_at_most_a_minute():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=4, clock=clock, sleep=clock.sleep)
    assert _starts(limiter, clock, [0] * 4).tolist() == [0, 0, 0, 0]   # a full bucket: a burst of 4
    clock.now = 600.0                                                 # ten idle minutes refill only 4
    starts = _starts(limiter, clock, [0] * 6)
    np.testing.assert_allclose(starts, [600, 600, 600, 600, 615, 630])


def test_reported_usage_settles_the_token_estimate():
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock, sleep=clock.sleep)
    limiter.acquire(600)          # estimated the whole minute...
    limiter.settle(600, 60)       # ...but the server says 60 were used: 540 come back
    assert limiter.acquire(540) == 0
    assert limiter.acquire(60) == pytest.approx(6.0)  # 60 tokens at 10 per second


def test_rate_limit_options_are_checked():
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=0)
    with pytest.raises(ValueError, match="tokens_per_minute"):
        RateLimiter(tokens_per_minute=float("nan"))
    with pytest.raises(ValueError, match="max_concurrency"):
        OpenAIModel("x", max_concurrency=0)


# ---------------------------------------------------------------- a scripted OpenAI-compatible server
class Scripted:
    """Answers chat requests with one letter and a usage field; tracks requests in flight and keys."""

    def __init__(self, *, delay=0.0, usage=True, letter="A"):
        outer = self
        self.requests, self.in_flight, self.max_in_flight = 0, 0, 0
        self.auth, self.bodies = [], []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with lock:
                    outer.requests += 1
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.auth.append(self.headers.get("Authorization"))
                    outer.bodies.append(body)
                time.sleep(delay)
                n = int(body.get("n", 1))
                reply = {"choices": [{"index": j, "message": {"role": "assistant", "content": letter}}
                                     for j in range(n)]}
                if usage:
                    prompt = len(json.dumps(body["messages"])) // 4
                    reply["usage"] = {"prompt_tokens": prompt, "completion_tokens": n,
                                      "total_tokens": prompt + n}
                data = json.dumps(reply).encode()
                with lock:
                    outer.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(**options):
        servers.append(Scripted(**options))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_concurrency_is_bounded(scripted):
    server = scripted(delay=0.15)
    remote = OpenAIModel("m", base_url=server.url, api_key_env=None, max_concurrency=3,
                         capabilities=ServerCapabilities(n=False))
    out = remote.generate(["one", "two"], k=6, max_new_tokens=1)   # 12 requests, k per prompt concurrent too
    assert [len(o) for o in out] == [6, 6] and server.requests == 12
    assert server.max_in_flight == 3


def test_the_rate_limiter_spaces_the_requests_of_a_backend(scripted):
    server = scripted()
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=3, clock=clock, sleep=clock.sleep)
    remote = OpenAIModel("m", base_url=server.url, api_key_env=None, max_concurrency=1, rate_limiter=limiter,
                         capabilities=ServerCapabilities(n=False))
    remote.generate(["hi"], k=7, max_new_tokens=1)
    assert server.requests == 7
    # requests 4..7 each wait 20 s for the bucket (3 per minute after a burst of 3)
    assert clock.sleeps == pytest.approx([20.0] * 4) and clock.now == pytest.approx(80.0)


def test_usage_per_response_per_run_and_in_the_cache(scripted, tmp_path):
    from valuelab.elicit import elicit_comparisons

    options = pd.DataFrame({"option_id": ["tea", "coffee", "cake"], "text": ["Tea.", "Coffee.", "Cake."]})
    server = scripted()
    remote = OpenAIModel("m", base_url=server.url, api_key_env=None, capabilities=ServerCapabilities(n=False))
    db = tmp_path / "c.sqlite"
    _, resp = elicit_comparisons(options, remote, method="sample", k=2, cache=str(db), progress=False)
    assert len(resp) == 6 and resp["completion_tokens"].tolist() == [2.0] * 6
    # each prompt's tokens are the sum over its k requests, as the server counted them
    per_request = [b for b in server.bodies]
    expected_prompt = sum(len(json.dumps(b["messages"])) // 4 for b in per_request)
    assert resp["prompt_tokens"].sum() == expected_prompt == remote.usage["prompt_tokens"]
    assert remote.usage["requests"] == 12 and remote.usage["requests_without_usage"] == 0
    # read back from the cache: the same tokens, and the summary counts them as cached
    again = OpenAIModel("m", base_url=server.url, api_key_env=None, capabilities=ServerCapabilities(n=False))
    _, resp2 = elicit_comparisons(options, again, method="sample", k=2, cache=str(db), progress=False)
    assert resp2["cached"].all() and again.usage["requests"] == 0
    np.testing.assert_array_equal(resp2["prompt_tokens"], resp["prompt_tokens"])
    summary = usage_summary(resp, resp2)
    assert summary.to_dict("records") == [{"model": "m", "prompts": 12, "cached": 6, "with_usage": 12,
                                           "prompt_tokens": 2 * expected_prompt, "completion_tokens": 24,
                                           "total_tokens": 2 * expected_prompt + 24}]


def test_a_server_without_usage_gives_nan_tokens(scripted):
    from valuelab.elicit import elicit_comparisons

    options = pd.DataFrame({"option_id": ["tea", "coffee"], "text": ["Tea.", "Coffee."]})
    server = scripted(usage=False)
    remote = OpenAIModel("m", base_url=server.url, api_key_env=None, capabilities=FULL)
    _, resp = elicit_comparisons(options, remote, method="sample", k=3, progress=False)
    assert resp["prompt_tokens"].isna().all() and resp["completion_tokens"].isna().all()
    assert remote.usage["requests_without_usage"] == remote.usage["requests"] == 2
    summary = usage_summary(resp)
    assert summary.loc[0, "with_usage"] == 0 and summary.loc[0, "total_tokens"] == 0
    with pytest.raises(ValueError, match="missing columns"):
        usage_summary(resp.drop(columns="prompt_tokens"))


def test_the_key_is_sent_per_request_and_held_nowhere(scripted, monkeypatch):
    server = scripted()
    monkeypatch.setenv("VALUELAB_TEST_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-default-variable")
    remote = OpenAIModel("m", base_url=server.url, api_key_env="VALUELAB_TEST_KEY", capabilities=FULL)
    remote.generate(["hi"], k=1)
    assert server.auth == [f"Bearer {SECRET}"]
    held = repr(remote) + repr(vars(remote)) + repr(vars(remote._client_obj)) + repr(remote._client_obj.api_key)
    assert SECRET not in held
    # a key changed in the environment is used from the next request on
    monkeypatch.setenv("VALUELAB_TEST_KEY", "sk-rotated")
    remote.generate(["hi"], k=1)
    assert server.auth[-1] == "Bearer sk-rotated"
    # no key variable: nothing is sent, not even OPENAI_API_KEY
    anonymous = OpenAIModel("m", base_url=server.url, api_key_env=None, capabilities=FULL)
    anonymous.generate(["hi"], k=1)
    assert server.auth[-1] is None


def test_import_leaves_the_clients_unloaded():
    code = ("import sys, valuelab, valuelab.elicit; "
            "print([m for m in ('openai', 'anthropic', 'httpx2', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the route is part of the cache key
def test_exact_and_estimated_probabilities_never_share_a_cache_entry(tmp_path):
    pytest.importorskip("transformers")
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from tiny_model import tiny_model

    from valuelab.elicit import LocalServer, TransformersModel, elicit_comparisons

    model, tok = tiny_model()
    backend = TransformersModel("tiny", _model=model, _tokenizer=tok, batch_size=8)
    options = pd.DataFrame({"option_id": ["tea", "coffee"], "text": ["Tea.", "Coffee."]})
    db = str(tmp_path / "c.sqlite")
    with LocalServer(backend, honour_n=False) as server:
        exact = OpenAIModel("tiny", base_url=server.url, api_key_env=None, top_logprobs=400)
        _, first = elicit_comparisons(options, exact, cache=db, progress=False)
        assert not first["cached"].any() and exact.route_counts["top_logprobs"] == 2
        # the same server and prompts, estimated from samples: not the exact answers from the cache
        estimated = OpenAIModel("tiny", base_url=server.url, api_key_env=None, probabilities="sample",
                                probability_samples=4)
        with pytest.warns(RuntimeWarning, match="estimated from 4 sampled"):
            _, second = elicit_comparisons(options, estimated, cache=db, progress=False)
        assert not second["cached"].any() and estimated.route_counts["sample"] == 2
        assert set(first["prompt_hash"]).isdisjoint(second["prompt_hash"])
        # another sample size is another estimate; the same route and size is read back
        other = OpenAIModel("tiny", base_url=server.url, api_key_env=None, probabilities="sample",
                            probability_samples=5)
        with pytest.warns(RuntimeWarning):
            _, third = elicit_comparisons(options, other, cache=db, progress=False)
        assert not third["cached"].any()
        again = OpenAIModel("tiny", base_url=server.url, api_key_env=None, top_logprobs=400)
        _, fourth = elicit_comparisons(options, again, cache=db, progress=False)
        assert fourth["cached"].all() and sum(again.route_counts.values()) == 0
        assert fourth["prompt_tokens"].tolist() == first["prompt_tokens"].tolist()
        assert (first["prompt_tokens"] > 0).all() and (first["completion_tokens"] == 1).all()


# ---------------------------------------------------------------- starting transformers serve
FAKE_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers()
print("fake server up", flush=True)
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_start_transformers_serve_waits_for_health_and_stops(tmp_path):
    script = tmp_path / "fake.py"
    script.write_text(FAKE_SERVER)
    server = start_transformers_serve("some/model", command=[sys.executable, str(script), "{port}"], timeout=30,
                                      log=tmp_path / "log.txt")
    with server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        assert server.process.poll() is None and "running" in repr(server)
    assert server.process.poll() is not None
    assert "fake server up" in (tmp_path / "log.txt").read_text()


def test_start_transformers_serve_reports_an_exit_with_its_log(tmp_path):
    with pytest.raises(ServerError, match=r"exited with 3: .*no such model"):
        start_transformers_serve("x", command=[sys.executable, "-c",
                                               "import sys; print('no such model'); sys.exit(3)"], timeout=30)
    with pytest.raises(ServerError, match=r"did not answer .* within 1 s"):
        start_transformers_serve("x", command=[sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
