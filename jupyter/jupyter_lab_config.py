# JupyterLab for the valuelab notebooks: `make lab` (= `valuelab lab`) starts
# `jupyter lab --config jupyter/jupyter_lab_config.py`. Nothing here is written to, or read
# from, the user's own Jupyter settings beyond what Jupyter always reads.
#
# * the file browser opens on notebooks/;
# * the jupytext percent scripts notebooks/NN_*.py open as notebooks (jupytext's contents
#   manager; double-click opens them with the "Jupytext Notebook" viewer, settings/overrides.json),
#   paired with an .ipynb that git ignores (notebooks/jupytext.toml);
# * the kernel is the project's: "python3", the ipykernel of the environment that runs the
#   server (the .venv of `make setup`), the same kernel `make report` executes the notebooks
#   with. Kernels registered elsewhere (a "python3" in the user's home, other environments)
#   are not offered, so a notebook cannot silently run on another Python.
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupytext import build_async_jupytext_contents_manager_class
from traitlets import default

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

c = get_config()  # noqa: F821 (defined by the config loader)

c.ServerApp.root_dir = str(ROOT / "notebooks")
c.ServerApp.contents_manager_class = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)



class ProjectKernelSpecManager(KernelSpecManager):
    """Kernels of this environment only (its share/jupyter/kernels, and ipykernel's own
    "python3", which runs on this environment's Python)."""

    @default("kernel_dirs")
    def _kernel_dirs_default(self):
        return [str(Path(sys.prefix) / "share" / "jupyter" / "kernels")]


c.ServerApp.kernel_spec_manager_class = ProjectKernelSpecManager
c.MappingKernelManager.default_kernel_name = "python3"

c.LabApp.app_settings_dir = str(HERE / "settings")
# no requests to the internet: this machine (and many users') cannot reach it
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
