"""`make lab` (= `valuelab lab`): JupyterLab on the notebooks, driven through its REST API.

The server is started exactly as `make lab` starts it (the same command line, the same
configuration) on the loopback address and a free port, with Jupyter's own folders
(config, data, runtime) in a temporary directory so that the user's are neither read nor
written. It is always shut down, also when a check fails.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (the notebooks extra installs it)")

from valuelab.lab import LAB_CONFIG, lab_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Lab:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def request(self, method: str, path: str, body=None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
            return resp.status, (json.loads(text) if text else None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), IPYTHONDIR=str(tmp / "ipython"),
               JUPYTER_TOKEN=token, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    log = open(tmp / "server.log", "w")
    # `valuelab lab` is what `make lab` runs; the token comes from the environment, not argv
    proc = subprocess.Popen([sys.executable, "-m", "valuelab.cli", "lab", "--no-browser", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = _Lab(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{(tmp / 'server.log').read_text()}")
            try:
                if client.request("GET", "/api/status", timeout=5)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 120 s:\n{(tmp / 'server.log').read_text()}")
            time.sleep(0.5)
        client.runtime_dir = tmp / "runtime"
        yield client
    finally:
        try:  # a clean shutdown through the API (it also stops the kernels)
            client.request("POST", "/api/shutdown", timeout=10)
            proc.wait(timeout=30)
        except Exception:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_make_lab_runs_the_same_command():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/valuelab lab" in makefile
    cmd = lab_command(port=1234, open_browser=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert str(LAB_CONFIG) in cmd and "--ip=127.0.0.1" in cmd and "--no-browser" in cmd


def test_a_percent_script_opens_as_a_notebook(lab):
    status, model = lab.request("GET", "/api/contents/01_utilities.py?content=1")
    assert status == 200
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    assert len(cells) > 10
    assert cells[0]["cell_type"] == "markdown" and "Thurstonian utilities" in "".join(cells[0]["source"])
    params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert params and "N_OPTIONS" in "".join(params[0]["source"])
    # the file browser's root is notebooks/: every analysis notebook is listed as a notebook
    _, listing = lab.request("GET", "/api/contents?content=1")
    notebooks = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
    assert {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py")} <= notebooks


def test_the_lab_page_loads_with_the_jupytext_extension(lab):
    req = urllib.request.Request(lab.base + "/lab/tree/01_utilities.py",
                                 headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        page = resp.read().decode()
    assert resp.status == 200 and "jupyter-config-data" in page
    config = json.loads(re.search(r'<script id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert "jupyterlab-jupytext" in {ext["name"] for ext in config["federated_extensions"]}


def test_double_click_opens_scripts_with_the_jupytext_viewer(lab):
    _, plugin = lab.request("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    default = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert default.get("python") == "Jupytext Notebook"


def test_the_kernel_is_this_environments_python(lab):
    _, specs = lab.request("GET", "/api/kernelspecs")
    assert specs["default"] == "python3"
    assert set(specs["kernelspecs"]) == {"python3"}, "kernels from outside the environment are offered"
    _, notebook = lab.request("GET", "/api/contents/01_utilities.py?content=1")
    assert notebook["content"]["metadata"]["kernelspec"]["name"] == "python3"

    # start the kernel a notebook gets and ask it which Python it runs on
    from jupyter_client import BlockingKernelClient

    outputs = []
    status, kernel = lab.request("POST", "/api/kernels", {"name": "python3"})
    assert status == 201
    try:
        kc = BlockingKernelClient(connection_file=str(lab.runtime_dir / f"kernel-{kernel['id']}.json"))
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            reply = kc.execute_interactive("import sys; print(sys.executable)", timeout=60,
                                           output_hook=lambda msg: outputs.append(msg))
        finally:
            kc.stop_channels()
    finally:
        lab.request("DELETE", f"/api/kernels/{kernel['id']}")
    assert reply["content"]["status"] == "ok"
    printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream").strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()

