"""``valuelab lab``: open the notebooks in JupyterLab (what ``make lab`` runs).

The server runs with the repository's configuration, ``jupyter/jupyter_lab_config.py``: the
file browser opens on ``notebooks/``, the jupytext percent scripts open as notebooks (paired
with a git-ignored ``.ipynb``), and the kernel is this environment's ``python3``, the one
``valuelab report`` executes the notebooks with.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["LAB_CONFIG", "lab_command", "run_lab"]

LAB_CONFIG = Path(__file__).resolve().parent.parent / "jupyter" / "jupyter_lab_config.py"


def lab_command(*, port: int | None = None, ip: str = "127.0.0.1", open_browser: bool = True,
                token: str | None = None, config: str | Path = LAB_CONFIG) -> list[str]:
    """The command line that starts JupyterLab on the notebooks.

    Parameters
    ----------
    port : int or None
        Port to listen on; None lets Jupyter choose (8888, or the next free one).
    ip : str
        Address to listen on: the loopback address by default, so that only this machine
        can connect.
    open_browser : bool
        Open JupyterLab in the default web browser once the server is up.
    token : str or None
        The token a client must present; None lets Jupyter make a random one (printed in
        the log with the address to open).
    config : str or Path
        The JupyterLab configuration file (default: the repository's).

    Returns
    -------
    list of str
        ``python -m jupyterlab ...`` with this environment's Python.
    """
    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(f"config: {config} does not exist; `valuelab lab` runs from a "
                                "checkout of the valuelab repository")
    cmd = [sys.executable, "-m", "jupyterlab", "--config", str(config), f"--ip={ip}"]
    if port is not None:
        cmd.append(f"--port={int(port)}")
    if not open_browser:
        cmd.append("--no-browser")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    return cmd


def run_lab(**options) -> int:
    """Run JupyterLab (:func:`lab_command` with ``options``) until it is stopped.

    Returns
    -------
    int
        The server's exit status (0 after a clean shutdown, Ctrl-C included).
    """
    try:
        import jupyterlab  # noqa: F401
    except ImportError as err:
        raise RuntimeError("JupyterLab is not installed: `make setup` (or "
                           "`pip install -e '.[notebooks]'`) installs it") from err
    try:
        return subprocess.call(lab_command(**options))
    except KeyboardInterrupt:
        return 0
