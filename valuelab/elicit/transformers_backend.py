"""Local transformers models: option probabilities from next-token logits, and sampled answers.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (pairwise forced choice, both orders).
.. [2] Wolf, T. et al. (2020). Transformers: State-of-the-art natural language processing.
   EMNLP (system demonstrations).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .embedded import EMBEDDED_MODELS, embedded_model_dir
from .parse import label_spellings, renormalise

__all__ = ["TransformersModel", "option_token_variants", "option_token_sequences"]


def option_token_variants(tokenizer, label: str) -> list[int]:
    """Token ids that spell ``label`` as one token: ``"A"``, ``" A"`` (distinct ids only).

    A model may put its answer's probability on either form depending on what precedes the
    answer position, so the probabilities of all single-token spellings are summed.
    """
    ids = []
    for text in (label, " " + label):
        toks = tokenizer.encode(text, add_special_tokens=False)
        if len(toks) == 1 and toks[0] not in ids:
            ids.append(toks[0])
    return ids


def option_token_sequences(tokenizer, label: str) -> list[tuple[int, ...]]:
    """Token sequences that spell ``label`` after the prompt: ``"A"`` and ``" A"`` (distinct only)."""
    seqs = []
    for text in (label, " " + label):
        toks = tuple(tokenizer.encode(text, add_special_tokens=False))
        if toks and toks not in seqs:
            seqs.append(toks)
    return seqs


def _common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    """Tokens shared by the start of every sequence, leaving at least one token in each."""
    first = seqs[0]
    n = min(len(x) for x in seqs) - 1
    for x in seqs[1:]:
        k = 0
        while k < n and x[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def _file_fingerprint(folder: Path) -> str:
    """Hash of the config and of each weight file's size and first and last MiB."""
    h = hashlib.sha256()
    for name in sorted(p.name for p in folder.iterdir()):
        path = folder / name
        if path.suffix in (".json",) and path.is_file():
            h.update(name.encode())
            h.update(path.read_bytes())
        elif path.suffix in (".safetensors", ".bin", ".gguf") and path.is_file():
            size = path.stat().st_size
            h.update(f"{name}:{size}".encode())
            with path.open("rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


class TransformersModel:
    """A local causal language model, asked through its chat template or a plain prompt.

    Parameters
    ----------
    model : str or path, default "smollm2-135m-instruct"
        An embedded model name (see :mod:`valuelab.elicit.embedded`), a local folder, or a
        hub id (loaded only when the hub is reachable and allowed; tests never do this).
    chat : bool, optional
        Use the tokenizer's chat template. Default: True when the tokenizer has one.
    batch_size : int
        Prompts per forward pass (left padding, with position ids from the attention mask
        so padded and unpadded prompts give the same logits).
    trust_remote_code : bool, default False
        Passed to transformers; only set it for code you have read.
    torch_threads : int, optional
        Threads torch may use.
    share_prefix : bool, default True
        Run the prompts' common first tokens once and reuse their attention cache
        (:meth:`next_token_logprobs`).
    dtype : {"float32", "bfloat16"}
        Weights and activations. bfloat16 is about twice as fast on CPUs with AMX or
        AVX512-BF16 (SmolLM2-135M here: 29 vs 16 prompts/s) but moves option probabilities
        by up to about 0.02; answers are cached separately per dtype.

    Attributes
    ----------
    identity : dict
        ``name`` and ``fingerprint`` (hash of config and weights) identifying the model in
        caches.
    """

    def __init__(self, model: str | Path = "smollm2-135m-instruct", *, chat: bool | None = None,
                 batch_size: int = 16, trust_remote_code: bool = False, torch_threads: int | None = None,
                 share_prefix: bool = True, dtype: str = "float32", _model=None, _tokenizer=None):
        import torch

        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        self.batch_size = int(batch_size)
        self.share_prefix = bool(share_prefix)
        if _model is not None:
            self.model, self.tokenizer = _model, _tokenizer
            self.name = str(model)
            self.identity = {"name": self.name, "fingerprint": _tiny_fingerprint(_model)}
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if str(model) in EMBEDDED_MODELS:
                folder = embedded_model_dir(str(model))
            else:
                folder = Path(model)
            local = Path(folder).exists()
            source = str(folder) if local else str(model)
            self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=trust_remote_code)
            self.name = str(model)
            fingerprint = _file_fingerprint(Path(folder)) if local else getattr(self.model.config, "_commit_hash", None)
            self.identity = {"name": self.name, "fingerprint": fingerprint}
        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype: expected 'float32' or 'bfloat16', got {dtype!r}")
        if dtype != "float32":
            if _model is not None:  # never convert a model the caller still holds
                self.model = copy.deepcopy(self.model)
            self.model = self.model.to(getattr(torch, dtype))
            self.identity = {**self.identity, "dtype": dtype}  # different numbers: a different cache key
        self.dtype = dtype
        self.supports_prefill = True  # render() continues a final assistant message
        self.model.eval()
        self.chat = bool(getattr(self.tokenizer, "chat_template", None)) if chat is None else bool(chat)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"

    # ------------------------------------------------------------------ prompts
    def render(self, prompt) -> str:
        """The exact text the model sees: chat template with the generation prompt, or plain.

        ``prompt`` is a string or a list of chat messages. When the last message has role
        ``assistant``, its content is a prefill: the model continues it (used to read the
        answer after a reasoning step). Base models see the messages' contents joined by
        newlines.
        """
        if self.chat:
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
            prefill = ""
            if messages and messages[-1].get("role") == "assistant":
                prefill = messages[-1]["content"]
                messages = messages[:-1]
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prefill
        if not isinstance(prompt, str):
            return "\n".join(m["content"] for m in prompt)
        return prompt

    def _encode(self, texts: Sequence[str]):
        # A rendered chat template already holds its special tokens: adding them again would
        # put a second BOS in front. Plain prompts get the tokenizer's usual BOS.
        batch = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=not self.chat)
        mask = batch["attention_mask"]
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        return batch["input_ids"], mask, position_ids

    # ------------------------------------------------------------------ logits
    def _accepts(self, name: str) -> bool:
        """Whether the model's forward takes argument ``name`` (remote-code models may not)."""
        import inspect

        return name in inspect.signature(self.model.forward).parameters

    def _cache_argument(self) -> str:
        # transformers renamed ``past_key_values`` to ``cache`` in the forward signature (5.x)
        return "cache" if self._accepts("cache") else "past_key_values"

    def next_token_logprobs(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Log-softmax of the raw next-token logits after each rendered text (n x vocab).

        Prompts built from one template share their first tokens (the chat header, the
        question). When ``share_prefix`` is on, that common prefix is run through the model
        once and its attention cache reused for every prompt, so each batch processes only
        the differing tails; the logits are the same as without sharing (to float rounding).
        """
        encoded = [self.tokenizer(t, add_special_tokens=not self.chat)["input_ids"] for t in texts]
        return self._next_token_logprobs_ids(encoded, progress=progress)

    def _next_token_logprobs_ids(self, encoded: Sequence[Sequence[int]], *, columns=None,
                                 progress: bool = False) -> np.ndarray:
        """:meth:`next_token_logprobs` from token ids; only the vocabulary ``columns`` when given."""
        import torch

        encoded = [list(e) for e in encoded]
        shared = _common_prefix_length(encoded) if self.share_prefix and len(encoded) > 1 else 0
        last_only = {"logits_to_keep": 1} if self._accepts("logits_to_keep") else {}
        prefix_cache = None
        if shared >= 8:
            with torch.inference_mode():
                run = self.model(input_ids=torch.tensor([encoded[0][:shared]]), use_cache=True, **last_only)
                prefix_cache = getattr(run, "cache", None) or getattr(run, "past_key_values", None)
        else:
            shared = 0
        # Batches of similar lengths waste less compute on padding; results go back in order.
        order = np.argsort([len(e) for e in encoded], kind="stable")
        pad = self.tokenizer.pad_token_id
        out = None
        starts = range(0, len(encoded), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="logits", unit="batch")
        with torch.inference_mode():
            for start in starts:
                chunk = order[start : start + self.batch_size]
                tails = [encoded[i][shared:] for i in chunk]
                width = max(len(t) for t in tails)
                ids = torch.tensor([[pad] * (width - len(t)) + t for t in tails])
                tail_mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in tails])
                pos = (tail_mask.cumsum(-1) - 1).clamp(min=0) + shared
                kwargs = {}
                if prefix_cache is not None:
                    cache = copy.deepcopy(prefix_cache)
                    cache.batch_repeat_interleave(len(chunk))
                    mask = torch.cat([torch.ones(len(chunk), shared, dtype=tail_mask.dtype), tail_mask], dim=1)
                    kwargs = {self._cache_argument(): cache, "use_cache": True,
                              "cache_position": torch.arange(shared, shared + width)}
                else:
                    mask = tail_mask
                # only the last position's logits are needed: skip the vocabulary projection elsewhere
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, **last_only,
                                    **kwargs).logits
                lp = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
                lp = (lp[:, torch.as_tensor(columns)] if columns is not None else lp).numpy()
                if out is None:
                    out = np.empty((len(encoded), lp.shape[1]))
                out[chunk] = lp
        return out if out is not None else np.empty((0, 0))

    def option_probabilities(self, prompts, labels: Sequence[str] = ("A", "B"), *, progress: bool = False):
        """Probability of each answer label at the answer position.

        Single-token labels are read off the next-token distribution (one forward pass per
        prompt). When a label takes several tokens (``"Yes"``, ``"Option 1"``, a whole
        answer), each spelling is scored by the summed log-likelihood of its tokens given
        the prompt, ``log P(t_1 | prompt) + log P(t_2 | prompt, t_1) + ...``.

        Parameters
        ----------
        prompts : list of str or message lists
        labels : sequence of str or of tuples of str
            Answer labels; the probabilities of each label's spellings (``"A"``, ``" A"``)
            are summed. A tuple lists alternative spellings of one label (``("3", "٣")``
            for an answer in Western or Arabic-Indic digits), all summed.
        progress : bool

        Returns
        -------
        probs : ndarray (n_prompts x n_labels)
            Renormalised over the labels.
        mass : ndarray (n_prompts,)
            Total raw probability on the labels (how much the model "answered").

        References
        ----------
        .. [1] Brown, T. et al. (2020). Language models are few-shot learners. *NeurIPS*
           33 (answer scoring by conditional log-likelihood, §2.4).
        """
        sequences = [list(dict.fromkeys(seq for sp in label_spellings(lab)
                                        for seq in option_token_sequences(self.tokenizer, sp))) for lab in labels]
        for lab, seqs in zip(labels, sequences):
            if any(not str(sp).strip() for sp in label_spellings(lab)):
                raise ValueError(f"label {lab!r} is empty; every answer label needs visible text")
            if not seqs:
                raise ValueError(f"label {lab!r} has no tokens for {self.name}")
        texts = [self.render(p) for p in prompts]
        if any(len(seq) > 1 for seqs in sequences for seq in seqs):
            # the chain rule runs each prompt once and continues every prefix from its cache;
            # it reads the one-token spellings off that same pass
            return renormalise(self._sequence_probabilities(texts, sequences, progress=progress))
        # all spellings are one token: one batched, length-sorted pass over all prompts
        lp = self.next_token_logprobs(texts, progress=progress)
        raw = np.stack([np.exp(lp[:, [seq[0] for seq in seqs]]).sum(axis=1) for seqs in sequences], axis=1)
        return renormalise(raw)

    def _sequence_probabilities(self, texts: Sequence[str], sequences, *, progress: bool = False) -> np.ndarray:
        """Summed probability of each label's spellings, each scored token by token (n x labels).

        ``P(t_1 ... t_m | prompt) = prod_j P(t_j | prompt, t_1 ... t_{j-1})``, minus the
        probability of any listed spelling that continues it (so ``"1"`` does not also count
        ``"10"``). Spellings share
        prefixes (``" 1"``, ``" 2"`` all start with the space token), so the next-token
        distribution is computed once per prompt and distinct prefix, not once per spelling,
        and each prompt runs once: its prefixes continue from its attention cache.
        """
        flat = [tuple(seq) for seqs in sequences for seq in seqs]
        if len(set(flat)) != len(flat):
            raise ValueError("two labels share a spelling; each answer must belong to one label")
        owner = np.repeat(np.arange(len(sequences)), [len(seqs) for seqs in sequences])
        out = np.zeros((len(texts), len(sequences)))
        if not flat or not len(texts):
            return out
        prompt_ids = [list(self.tokenizer(t, add_special_tokens=not self.chat)["input_ids"]) for t in texts]
        prefixes = sorted({seq[:j] for seq in flat for j in range(len(seq))})
        where = {p: k for k, p in enumerate(prefixes)}
        vocab = sorted({tok for seq in flat for tok in seq})
        col = {tok: j for j, tok in enumerate(vocab)}
        rows = enumerate(prompt_ids)
        if progress:
            from tqdm.auto import tqdm

            rows = tqdm(rows, total=len(prompt_ids), desc="logits", unit="prompt")
        # A spelling that begins another spelling ("1" and "10" when digits are split) would
        # also count the longer answer: each spelling gives up the probability of the
        # spellings that continue it, so every answer is counted once.
        parent = {}
        for c, seq in enumerate(flat):
            starts = [d for d, other in enumerate(flat) if len(other) < len(seq) and seq[: len(other)] == other]
            if starts:
                parent[c] = max(starts, key=lambda d: len(flat[d]))
        for i, ids in rows:
            # the sequences share the whole prompt, so it runs once and only the prefixes are new
            lp = self._next_token_logprobs_ids([ids + list(p) for p in prefixes], columns=vocab)
            prob = np.array([np.exp(sum(lp[where[seq[:j]], col[seq[j]]] for j in range(len(seq)))) for seq in flat])
            own = prob.copy()
            for c, d in parent.items():
                own[d] -= prob[c]
            np.add.at(out[i], owner, np.clip(own, 0.0, None))
        return out

    # ------------------------------------------------------------------ sampling
    def generate(self, prompts, *, k: int = 1, temperature: float = 1.0, max_new_tokens: int = 16,
                 seed: int | None = 0) -> list[list[str]]:
        """Sample ``k`` answers per prompt (temperature sampling; greedy when temperature is 0)."""
        import torch

        texts = [self.render(p) for p in prompts]
        if seed is not None:
            torch.manual_seed(seed)
        answers = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                ids, mask, _ = self._encode(texts[start : start + self.batch_size])
                kwargs = dict(do_sample=temperature > 0, max_new_tokens=max_new_tokens, num_return_sequences=k,
                              pad_token_id=self.tokenizer.pad_token_id)
                if temperature > 0:
                    kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
                out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
                new = out[:, ids.shape[1] :]
                decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                for i in range(len(decoded) // k):
                    answers.append(decoded[i * k : (i + 1) * k])
        return answers


def _tiny_fingerprint(model) -> str:
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, p in sorted(model.state_dict().items())[:4]:
        h.update(name.encode())
        h.update(p.detach().cpu().numpy().tobytes()[:4096])
    return h.hexdigest()[:16]
