"""Sentence embeddings from the embedded MiniLM encoder (or any local BERT-style encoder).

References
----------
.. [1] Reimers, N. and Gurevych, I. (2019). Sentence-BERT: Sentence Embeddings using Siamese
   BERT-Networks. EMNLP.
.. [2] Wang, W. et al. (2020). MiniLM: Deep Self-Attention Distillation for Task-Agnostic
   Compression of Pre-Trained Transformers. NeurIPS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["SentenceEncoder"]


class SentenceEncoder:
    """Mean-pooled, unit-length sentence embeddings.

    Parameters
    ----------
    model : str or path, default "minilm-l6-v2"
        The embedded encoder's name or a local folder with a transformers encoder.
    batch_size : int
        Texts per forward pass.
    max_length : int
        Longer texts are truncated to this many tokens.

    Attributes
    ----------
    identity : dict
        ``name`` of the encoder.
    dimension : int
        Length of each embedding.

    Notes
    -----
    Padding positions are excluded from the mean through the attention mask, so a text's
    embedding does not depend on the other texts in its batch. (The tokenizer file shipped
    with the embedded MiniLM pads every text to 128 tokens; averaging over that padding
    would make all short texts look alike.)
    """

    def __init__(self, model: str | Path = "minilm-l6-v2", *, batch_size: int = 64, max_length: int = 128):
        from transformers import AutoModel, AutoTokenizer

        from .elicit.embedded import EMBEDDED_MODELS, embedded_model_dir

        folder = embedded_model_dir(str(model)) if str(model) in EMBEDDED_MODELS else Path(model)
        if not Path(folder).exists():
            raise FileNotFoundError(f"encoder folder {folder} does not exist; expected an embedded name "
                                    f"({sorted(k for k, m in EMBEDDED_MODELS.items() if m.kind == 'encoder')}) "
                                    "or a local folder")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.identity = {"name": str(model)}
        self.dimension = int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts``.

        Returns
        -------
        ndarray, shape (len(texts), dimension)
            Unit-length rows (cosine similarity is the dot product).
        """
        import torch

        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress and len(texts) > self.batch_size:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for start in starts:
            chunk = texts[start : start + self.batch_size]
            batch = self.tokenizer(chunk, padding="longest", truncation=True, max_length=self.max_length,
                                   return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                    **({"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {})
                                    ).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[start : start + len(chunk)] = torch.nn.functional.normalize(mean, dim=-1).numpy()
        return out
