"""Serve a local transformers model behind an OpenAI-compatible chat-completions endpoint.

For demonstrations and tests of :class:`~valuelab.elicit.OpenAIModel` on a machine with no API
access: the server runs in a background thread on 127.0.0.1 and answers one request at a time
from a :class:`~valuelab.elicit.TransformersModel`. It implements only what valuelab asks for
(``messages``, ``logprobs``/``top_logprobs``, ``n``, ``temperature``, ``max_tokens``,
``seed``). For real serving use vLLM, TGI or llama.cpp's server.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

__all__ = ["LocalServer"]


class LocalServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint answering from a local model.

    Parameters
    ----------
    backend : TransformersModel
    host : str
    port : int
        0 picks a free port.
    logprobs : bool
        Answer ``logprobs``/``top_logprobs`` on the chat endpoint (False ignores them).
    honour_n : bool
        Return ``n`` choices (False returns one, whatever ``n`` says).
    echo : bool
        Answer ``/v1/completions`` requests with ``echo`` and ``logprobs`` (False: 404).
    usage : bool
        Report ``usage`` (prompt and completion tokens, counted with the model's tokenizer;
        False leaves it out, as some servers do).

    Attributes
    ----------
    url : str
        Base URL to give :class:`~valuelab.elicit.OpenAIModel` (``http://127.0.0.1:PORT/v1``).
    requests : int
        Requests received.
    auth : list of str or None
        ``Authorization`` header of each request (tests check that keys are sent, and how).

    Examples
    --------
    >>> with LocalServer(TransformersModel("smollm2-135m-instruct")) as server:  # doctest: +SKIP
    ...     remote = OpenAIModel("smollm2", base_url=server.url, api_key_env=None)
    ...     probs, mass = remote.option_probabilities(["Answer A or B."])
    """

    def __init__(self, backend, *, host: str = "127.0.0.1", port: int = 0, logprobs: bool = True,
                 honour_n: bool = True, echo: bool = True, usage: bool = True):
        self.backend = backend
        self.logprobs = bool(logprobs)
        self.honour_n = bool(honour_n)
        self.echo = bool(echo)
        self.usage = bool(usage)
        self.requests = 0
        self.auth: list[str | None] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep notebooks and test output clean
                pass

            def do_POST(self):
                completion = self.path.rstrip("/").endswith("/completions") and "chat" not in self.path
                if completion and not server.echo:
                    self._send(404, {"error": "not found"})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    need = "prompt" if completion else "messages"
                    if not isinstance(body, dict) or need not in body:
                        raise ValueError(f"the request needs a JSON object with {need!r}")
                except ValueError as err:
                    self._send(400, {"error": str(err)})
                    return
                with server._lock:
                    server.requests += 1
                    server.auth.append(self.headers.get("Authorization"))
                    status = server.intercept()
                if status is not None:
                    self._send(status, {"error": "unavailable"}, retry_after="0")
                    return
                try:
                    with server._lock:  # one forward pass at a time: the model is shared
                        reply = server.complete(body) if completion else server.answer(body)
                except Exception as err:  # report it instead of dropping the connection
                    self._send(500, {"error": f"{type(err).__name__}: {err}"})
                    return
                self._send(200, reply)

            def _send(self, status, payload, retry_after=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def intercept(self) -> int | None:
        """HTTP status to fail the current request with, or None to answer it (override to inject faults)."""
        return None

    def answer(self, body: dict) -> dict:
        """The chat-completions reply to a request body (with ``usage`` when ``usage=True``)."""
        text = self.backend.render(body["messages"])
        if body.get("logprobs") and self.logprobs:
            lp = self.backend.next_token_logprobs([text])[0]
            top = np.argsort(-lp)[: int(body.get("top_logprobs", 20))]
            alts = [{"token": self.backend.tokenizer.decode([int(t)]), "logprob": float(lp[t])} for t in top]
            reply = {"choices": [{"message": {"role": "assistant", "content": alts[0]["token"]},
                                  "logprobs": {"content": [{"token": alts[0]["token"], "top_logprobs": alts}]}}]}
            return self._with_usage(reply, text, 1)
        outs = self.backend.generate([body["messages"]], k=int(body.get("n", 1)) if self.honour_n else 1,
                                     temperature=float(body.get("temperature", 1.0)),
                                     max_new_tokens=int(body.get("max_tokens", 16)), seed=body.get("seed"))
        reply = {"choices": [{"message": {"role": "assistant", "content": t}} for t in outs[0]]}
        return self._with_usage(reply, text, outs[0])

    def _with_usage(self, reply: dict, prompt: str, answers) -> dict:
        """Add ``usage``, counted with the backend's tokenizer (none without one)."""
        tok = getattr(self.backend, "tokenizer", None)
        if self.usage and tok is not None:
            count = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])  # noqa: E731
            n_prompt = count(prompt)
            n_out = answers if isinstance(answers, int) else sum(count(t) for t in answers)
            reply["usage"] = {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}
        return reply

    def complete(self, body: dict) -> dict:
        """The ``/v1/completions`` reply: the prompt's own log-probabilities (``echo``; nothing generated).

        Raises
        ------
        ValueError
            Unless ``echo`` and ``logprobs`` are asked for (the only use implemented).
        """
        import torch

        if not body.get("echo") or body.get("logprobs") is None or not isinstance(body["prompt"], str):
            raise ValueError("only echo with logprobs on a text prompt is implemented")
        tok = self.backend.tokenizer
        enc = tok(body["prompt"], add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        with torch.inference_mode():
            logits = self.backend.model(input_ids=torch.tensor([ids])).logits[0].float()
        lp = torch.log_softmax(logits, dim=-1)
        values = [None] + [float(lp[i - 1, ids[i]]) for i in range(1, len(ids))]
        return {"object": "text_completion",
                "choices": [{"index": 0, "text": body["prompt"],
                             "logprobs": {"tokens": [tok.decode([t]) for t in ids], "token_logprobs": values,
                                          "text_offset": [int(o[0]) for o in enc["offset_mapping"]]}}],
                **({"usage": {"prompt_tokens": len(ids), "completion_tokens": 0, "total_tokens": len(ids)}}
                   if self.usage else {})}

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
