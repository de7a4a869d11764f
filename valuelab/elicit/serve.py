"""Start ``transformers serve`` (an OpenAI-compatible server) on 127.0.0.1 and wait until it answers.

For notebooks and tests that show the server route on one machine: the server runs as a
child process with a local model folder (no hub access), its output goes to a log file, and
:class:`TransformersServe` stops it on ``close()`` or when its ``with`` block ends.

References
----------
.. [1] Hugging Face. ``transformers serve``: an OpenAI-compatible server in transformers.
   https://huggingface.co/docs/transformers/serving
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .remote import ServerError

__all__ = ["TransformersServe", "start_transformers_serve"]


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _executable() -> str | None:
    beside = Path(sys.executable).parent / "transformers"
    if beside.exists():
        return str(beside)
    return shutil.which("transformers")


class TransformersServe:
    """A running ``transformers serve`` child process (see :func:`start_transformers_serve`).

    Attributes
    ----------
    url : str
        Base URL for :class:`~valuelab.elicit.OpenAIModel` (``http://127.0.0.1:PORT/v1``).
    model : str
        The model name requests must carry (the model folder's path).
    log : pathlib.Path
        The server's output.
    seconds_to_start : float
    process : subprocess.Popen
    """

    def __init__(self, process, url, model, log, seconds_to_start):
        self.process, self.url, self.model, self.log = process, url, model, Path(log)
        self.seconds_to_start = seconds_to_start

    def close(self, timeout: float = 30) -> None:
        """Stop the server (terminate, then kill after ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else f"exited ({self.process.returncode})"
        return f"TransformersServe(url={self.url!r}, model={self.model!r}, {state})"


def start_transformers_serve(model_dir, *, host: str = "127.0.0.1", port: int = 0, threads: int | None = 1,
                             timeout: float = 240.0, log=None, command: list[str] | None = None) -> TransformersServe:
    """Start ``transformers serve MODEL_DIR`` on the CPU and wait until ``/health`` answers 200.

    Parameters
    ----------
    model_dir : path-like
        A local model folder (``save_pretrained`` output), e.g.
        ``valuelab.elicit.embedded_model_dir("smollm2-135m-instruct")``.
    host : str
    port : int
        0 picks a free port.
    threads : int or None
        ``OMP_NUM_THREADS`` of the server (1 keeps it from fighting the notebook or the tests
        for a small machine's cores); None leaves the environment's.
    timeout : float
        Seconds to wait for the server to answer.
    log : path-like or None
        Where the server's output goes (default: a temporary file).
    command : list of str or None
        The command to run instead of ``transformers serve ...`` (tests); ``{port}`` and
        ``{host}`` in it are filled in.

    Returns
    -------
    TransformersServe
        Use it as a context manager, or call ``close()``.

    Raises
    ------
    ServerError
        When the ``transformers`` command is missing, the server exits, or it does not answer
        within ``timeout`` seconds (with the end of its log).
    """
    port = int(port) or _free_port(host)
    if command is None:
        exe = _executable()
        if exe is None:
            raise ServerError(f"no `transformers` command beside {sys.executable} or on PATH "
                              "(install the serving extra: pip install 'transformers[serving]')")
        command = [exe, "serve", str(model_dir), "--host", host, "--port", str(port), "--device", "cpu",
                   "--format", "quiet"]
    else:
        command = [c.format(port=port, host=host) for c in command]
    log = Path(log) if log is not None else Path(tempfile.mkdtemp(prefix="valuelab-serve-")) / "serve.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(int(threads))
    t0 = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = TransformersServe(process, f"http://{host}:{port}/v1", str(model_dir), log, 0.0)
    try:
        while True:
            if process.poll() is not None:
                raise ServerError(f"transformers serve exited with {process.returncode}: "
                                  f"{log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > timeout:
                raise ServerError(f"transformers serve did not answer on {host}:{port} within {timeout:g} s: "
                                  f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
    except BaseException:
        server.close()
        raise
    server.seconds_to_start = time.monotonic() - t0
    return server
