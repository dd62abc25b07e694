"""The BM25 index of the passages: built by bm25s at ingest, read by numpy alone at query time.

bm25s stores its index as a sparse matrix of precomputed per-term scores (``data``/``indices``/``indptr``
``.npy`` files) with a vocabulary; a query's scores are the sum of its terms' columns. Importing bm25s pulls
in scipy.sparse (~0.2–0.4 s of a cold command), so a published index also records its tokenizer's
settings (``query.json``: stop words, token pattern, stemmer) and :class:`Lexical` answers from the files
with the same arithmetic and the same top-k selection as ``bm25s.BM25.retrieve`` (same scores, same order,
ties included). An index without ``query.json`` (published by an older version) is read by bm25s.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

QUERY_FILE = "query.json"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s.tokenize's default (scikit-learn's CountVectorizer)
STEMMER = "english"


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(STEMMER)


def build(texts: list[str]):
    """The bm25s index of ``texts`` (English stop words, Snowball stemming)."""
    import bm25s

    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    return index


def save(index, path: Path) -> None:
    """Write a bm25s index and the tokenizer settings its queries need."""
    from bm25s.stopwords import STOPWORDS_EN

    index.save(str(path))
    settings = {"stopwords": list(STOPWORDS_EN), "token_pattern": TOKEN_PATTERN, "stemmer": STEMMER}
    (path / QUERY_FILE).write_text(json.dumps(settings))


class Lexical:
    """Top passages of a query from a saved index (memory-mapped), without importing bm25s or scipy."""

    def __init__(self, path: Path):
        settings = json.loads((path / QUERY_FILE).read_text())
        params = json.loads((path / "params.index.json").read_text())
        if params.get("method", "lucene") in ("bm25l", "bm25+"):  # scores need bm25s's non-occurrence array
            raise ValueError(f"BM25 variant {params['method']} is read by bm25s")
        self.vocab: dict[str, int] = json.loads((path / "vocab.index.json").read_text(encoding="utf-8"))
        self.data = np.load(path / "data.csc.index.npy", mmap_mode="r")
        self.indices = np.load(path / "indices.csc.index.npy", mmap_mode="r")
        self.indptr = np.load(path / "indptr.csc.index.npy", mmap_mode="r")
        self.num_docs = int(params["num_docs"])
        self.dtype = np.dtype(params.get("dtype", "float32"))
        self.stopwords = frozenset(settings["stopwords"])
        self.split = re.compile(settings["token_pattern"]).findall
        self.stemmer = _stemmer()

    def tokens(self, query: str) -> list[str]:
        """The query's stemmed terms that the index knows, in order, repeats kept (as bm25s.tokenize)."""
        words = [w for w in self.split(query.lower()) if w not in self.stopwords]
        return [t for t in self.stemmer.stemWords(words) if t in self.vocab]

    def top(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the ``k`` best passages, best first (``bm25s.BM25.retrieve``'s selection)."""
        ids = np.asarray([self.vocab[t] for t in tokens], dtype=np.int64)
        scores = np.zeros(self.num_docs, dtype=self.dtype)
        for start, end in zip(self.indptr[ids], self.indptr[ids + 1], strict=True):
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        k = min(k, self.num_docs)
        part = np.argpartition(scores, -k).take(indices=range(-k, 0))
        part_scores = np.take(scores, part)
        order = np.flip(np.argsort(part_scores))
        return part[order], part_scores[order]
