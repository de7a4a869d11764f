"""Local transformers models: option probabilities from next-token logits, and sampled answers.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (pairwise forced choice, both orders).
.. [2] Wolf, T. et al. (2020). Transformers: State-of-the-art natural language processing.
   EMNLP (system demonstrations).
.. [3] Zheng, L. et al. (2024). SGLang: Efficient execution of structured language model
   programs. NeurIPS (reusing the attention cache of prompts that share a prefix).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .embedded import UnknownModelError, resolve_model_source, unknown_model_message
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
    n = min(len(x) for x in seqs) - 1
    for x in seqs[1:]:
        n = min(n, _shared_length(seqs[0], x))
    return max(n, 0)


# Grouped prompts are planned over this many batches at a time: a group's shared start runs
# once per pool, and the pool is small enough that an interrupted run loses seconds of work.
_POOL = 8
# Fewer shared tokens than this are not worth a separate forward pass.
_MIN_SHARED = 8


def _shared_length(x: Sequence[int], y: Sequence[int]) -> int:
    """Number of first tokens ``x`` and ``y`` have in common."""
    n = min(len(x), len(y))
    k = 0
    while k < n and x[k] == y[k]:
        k += 1
    return k


def _shared_starts(seqs: Sequence[Sequence[int]], *, max_size: int,
                   min_saving: int = _MIN_SHARED) -> list[tuple[int, list[int]]]:
    """Groups of sequences that begin with the same tokens, chosen to save the most work.

    The sequences are sorted, so those sharing a start are neighbours, and cut into runs of
    at most ``max_size`` neighbours by dynamic programming: a run of ``s`` sequences sharing
    ``L`` first tokens saves ``(s - 1) * L`` tokens, and runs saving fewer than
    ``min_saving`` are not formed. Each sequence keeps at least one token of its own.

    Returns
    -------
    list of (length, rows)
        ``length`` first tokens shared by ``rows`` (indices into ``seqs``); 0 for a
        sequence left on its own.
    """
    order = sorted(range(len(seqs)), key=lambda i: list(seqs[i]))
    n = len(order)
    own = [len(seqs[i]) - 1 for i in order]  # at most this many tokens can be shared
    next_shared = [_shared_length(seqs[order[j]], seqs[order[j + 1]]) for j in range(n - 1)]
    best = [0] * (n + 1)  # best[j]: tokens saved over the first j sorted sequences
    first = [0] * (n + 1)  # first[j]: where the last run of that best cut starts
    run_length = [0] * (n + 1)  # run_length[j]: tokens that run shares (0: a sequence alone)
    for j in range(1, n + 1):
        best[j], first[j] = best[j - 1], j - 1
        length = own[j - 1]
        for i in range(j - 2, max(-1, j - 1 - max_size), -1):
            length = min(length, next_shared[i], own[i])
            if length <= 0:
                break
            saving = (j - 1 - i) * length
            if saving >= min_saving and best[i] + saving > best[j]:
                best[j], first[j], run_length[j] = best[i] + saving, i, length
    groups = []
    j = n
    while j > 0:
        groups.append((run_length[j], [order[r] for r in range(first[j], j)]))
        j = first[j]
    return groups[::-1]


def _split_by_length(rows: list[int], lengths: dict, batch_size: int, overhead: int) -> list[list[int]]:
    """``rows`` cut into batches of at most ``batch_size``, padding the fewest tokens.

    Rows are sorted by length and cut where the padded tokens plus ``overhead`` tokens per
    forward pass (its fixed cost) are smallest: ``cost[j] = min_i cost[i] + (j - i) *
    length[j - 1] + overhead`` over batches of rows ``i .. j - 1``.
    """
    rows = sorted(rows, key=lambda r: lengths[r])
    n = len(rows)
    cost = [0] + [None] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = lengths[rows[j - 1]]
        for i in range(max(0, j - batch_size), j):
            c = cost[i] + (j - i) * width + overhead
            if cost[j] is None or c < cost[j]:
                cost[j], cut[j] = c, i
    parts = []
    j = n
    while j > 0:
        parts.append(rows[cut[j] : j])
        j = cut[j]
    return parts[::-1]


def _plan_batches(groups, seqs, batch_size: int, *, pool: int = _POOL, overhead: int = 40):
    """The forward passes that score ``seqs``: a list of ``(segments, parts)``.

    ``segments`` are (shared length, rows) pairs: the grouped rows of up to ``pool``
    batches, in at most ``batch_size`` groups, whose shared starts run once in a first pass
    (one row per group). ``parts`` are the batches of the second pass (at most
    ``batch_size`` rows each, cut by :func:`_split_by_length` on the length still to run).
    Sequences on their own form plans with no first pass.
    ``overhead``: the fixed cost of a forward pass in tokens. Each pass reads every weight
    once; for SmolLM2-135M on a CPU that takes 33-41 ms against about 1 ms per extra token,
    so a pass is worth about 40 tokens of padding.
    """
    plans, current = [], []

    def close():
        lengths = {r: len(seqs[r]) - length for length, rows in current for r in rows}
        rows = [r for _, rows in current for r in rows]
        plans.append((list(current), _split_by_length(rows, lengths, batch_size, overhead)))
        current.clear()

    for length, rows in groups:
        if not length:
            continue
        full = len(current) == batch_size or sum(len(r) for _, r in current) + len(rows) > pool * batch_size
        if current and full:
            close()
        current.append((length, rows))
    if current:
        close()
    alone = [rows[0] for length, rows in groups if not length]
    if alone:
        lengths = {r: len(seqs[r]) for r in alone}
        plans += [([(0, part)], [part]) for part in _split_by_length(alone, lengths, batch_size, overhead)]
    return plans


def _returned_cache(run):
    """The attention cache a forward pass returned (``cache`` in transformers 5, else
    ``past_key_values``)."""
    return getattr(run, "cache", None) or getattr(run, "past_key_values", None)


def _left_padded(seqs: Sequence[Sequence[int]], pad: int):
    """(ids, mask) tensors of ``seqs`` padded on the left to the longest."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.tensor([[pad] * (width - len(s)) + list(s) for s in seqs])
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
    return ids, mask


def _cache_rows(cache, index):
    """A new attention cache holding rows ``index`` of ``cache``, which is left unchanged.

    The layers are copied shallowly and then given freshly indexed tensors, so the (possibly
    large) cache is not first copied whole, as ``copy.deepcopy`` would.
    """
    layers = getattr(cache, "layers", None)
    if layers is None:  # a cache class without per-layer objects
        new = copy.deepcopy(cache)
    else:
        new = copy.copy(cache)
        new.layers = [copy.copy(layer) for layer in layers]
    new.batch_select_indices(index)
    return new


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
        hub id (loaded only when the hub is reachable and allowed, or from the local hub
        cache; tests never do this). Any other name raises
        :class:`~valuelab.elicit.embedded.UnknownModelError` at once, listing the embedded
        models, without contacting an unreachable hub.
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
        Run the prompts' common first tokens once and reuse their attention cache, and
        likewise the first tokens shared by groups of prompts (:meth:`next_token_logprobs`).
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
        # Resolve the name before torch is imported: a typo fails at once, listing the
        # embedded models, instead of retrying a model hub that cannot be reached.
        source, local_only = (str(model), False) if _model is not None else resolve_model_source(model)
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

            local = Path(source).exists()
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code,
                                                               local_files_only=local_only)
                self.model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=trust_remote_code,
                                                                  local_files_only=local_only)
            except OSError as err:
                if local:
                    raise
                why = f"the model hub could not provide it ({type(err).__name__}: {str(err).splitlines()[0]})"
                raise UnknownModelError(unknown_model_message(str(model), why=why)) from err
            self.name = str(model)
            fingerprint = _file_fingerprint(Path(source)) if local else getattr(self.model.config, "_commit_hash", None)
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

    @property
    def prompts_per_call(self) -> int:
        """Prompts the cached routines hand to :meth:`option_probabilities` at a time.

        Eight batches: enough for prompts that start alike to be grouped, few enough that
        an interrupted run loses only seconds of work.
        """
        return _POOL * self.batch_size

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
        question), and pairwise prompts that show the same option first share more. When
        ``share_prefix`` is on, what is shared is run through the model once and its
        attention cache reused, so each batch processes only the differing tails; the
        logits are the same as without sharing (to float rounding).
        """
        encoded = [self.tokenizer(t, add_special_tokens=not self.chat)["input_ids"] for t in texts]
        return self._next_token_logprobs_ids(encoded, progress=progress)

    def _next_token_logprobs_ids(self, encoded: Sequence[Sequence[int]], *, columns=None,
                                 progress: bool = False) -> np.ndarray:
        """:meth:`next_token_logprobs` from token ids; only the vocabulary ``columns`` when given.

        Work is saved at two levels when ``share_prefix`` is on (see :meth:`_plan`). The
        first tokens common to every prompt run once. Beyond them, prompts that start alike
        (the pairwise prompts that show the same option first) are grouped: each group's
        shared start runs once per pool of batches, in a first pass over the groups, and
        its attention cache is copied to the group's rows for a second pass over their
        differing tails.
        """
        import torch

        encoded = [list(e) for e in encoded]
        if not encoded:
            return np.empty((0, 0))
        shared, tails, plans = self._plan(encoded)
        last_only = {"logits_to_keep": 1} if self._accepts("logits_to_keep") else {}
        prefix_cache = None
        with torch.inference_mode():
            if shared:
                run = self.model(input_ids=torch.tensor([encoded[0][:shared]]), use_cache=True, **last_only)
                prefix_cache = _returned_cache(run)
        if progress:
            from tqdm.auto import tqdm

            plans = tqdm(plans, desc="logits", unit="pool")
        out = None
        with torch.inference_mode():
            for segments, parts in plans:
                for rows, logits in self._forward_plan(segments, parts, tails, shared, prefix_cache, last_only):
                    lp = torch.log_softmax(logits.float(), dim=-1)
                    lp = (lp[:, torch.as_tensor(columns)] if columns is not None else lp).numpy()
                    if out is None:
                        out = np.empty((len(encoded), lp.shape[1]))
                    out[rows] = lp
        return out

    def _plan(self, encoded: Sequence[Sequence[int]]):
        """How :meth:`_next_token_logprobs_ids` runs ``encoded``: (common prefix length,
        the tails after it, the plans of :func:`_plan_batches`)."""
        # A sliding window counts positions in the padded sequence: padding between a shared
        # start and a tail would push tokens out of the window, so long prompts are run whole.
        config = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        window = getattr(text_config, "sliding_window", None) or getattr(config, "sliding_window", None)
        share = self.share_prefix and not (window and 2 * max(map(len, encoded)) >= window)
        shared = _common_prefix_length(encoded) if share and len(encoded) > 1 else 0
        shared = shared if shared >= _MIN_SHARED else 0
        tails = [list(e[shared:]) for e in encoded]
        if share and self.batch_size > 1:
            groups = _shared_starts(tails, max_size=self.prompts_per_call)
        else:
            groups = [(0, [i]) for i in range(len(tails))]
        return shared, tails, _plan_batches(groups, tails, self.batch_size)

    def _forward_plan(self, segments, parts, tails, shared: int, prefix_cache, last_only: dict):
        """Last-position logits of each batch in ``parts``, as (rows, logits) pairs.

        ``segments`` lists (shared length, rows): when any length is positive, the shared
        starts run first, one row per segment, continuing the common prefix's cache; each
        batch then continues its rows from their segment's cache. Rows are left-padded;
        position ids count only real tokens and the attention mask hides the padding,
        wherever it sits (in front of a segment's start or of a tail).
        """
        import torch

        pad = self.tokenizer.pad_token_id
        cache_arg = self._cache_argument()
        segment_of = {r: s for s, (_, rows) in enumerate(segments) for r in rows}
        start = {r: length for length, rows in segments for r in rows}
        first, mid_mask = prefix_cache, torch.zeros(len(segments), 0, dtype=torch.long)
        if any(length for length, _ in segments):
            ids, mid_mask = _left_padded([tails[rows[0]][:length] for length, rows in segments], pad)
            kwargs = {}
            if prefix_cache is not None:
                kwargs = {cache_arg: _cache_rows(prefix_cache, torch.zeros(len(segments), dtype=torch.long))}
            mask = torch.cat([torch.ones(len(segments), shared, dtype=torch.long), mid_mask], dim=1)
            pos = (mid_mask.cumsum(-1) - 1).clamp(min=0) + shared
            first = _returned_cache(self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                                              cache_position=torch.arange(shared, shared + ids.shape[1]),
                                              **last_only, **kwargs))
        for rows in parts:
            owner = torch.tensor([segment_of[r] for r in rows])
            ids, tail_mask = _left_padded([tails[r][start[r]:] for r in rows], pad)
            past_mask = torch.cat([torch.ones(len(rows), shared, dtype=torch.long), mid_mask[owner]], dim=1)
            offset = torch.tensor([shared + start[r] for r in rows])[:, None]
            pos = (tail_mask.cumsum(-1) - 1).clamp(min=0) + offset
            kwargs = {}
            if first is not None:
                # with no first pass there is one segment, and every row copies the common prefix
                past = past_mask.shape[1]
                kwargs = {cache_arg: _cache_rows(first, owner), "use_cache": True,
                          "cache_position": torch.arange(past, past + ids.shape[1])}
            mask = torch.cat([past_mask, tail_mask], dim=1)
            # only the last position's logits are needed: skip the vocabulary projection elsewhere
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, **last_only, **kwargs).logits
            yield rows, logits[:, -1, :]

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
        # all spellings are one token: the next-token distribution of every prompt is enough
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
