"""The knowledge store: chromadb for passages and their vectors, written by ingest alone.

Chroma is the single source of truth (embedded persistent client under ``MDBOT_DATA_DIR``, or a Chroma
server when ``MDBOT_CHROMA_URL`` is set). Searches read a snapshot derived from it (``snapshot.py``),
named by the corpus version stored here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .documents import Chunk
from .settings import RetrievalSettings

META_ID = "corpus-version"


def _client(settings: RetrievalSettings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"MDBOT_CHROMA_URL must look like http://host:8000, not {settings.chroma_url!r}")
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = settings.store_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def metadata(chunk: Chunk, file: str, file_hash: str) -> dict:
    """What is stored with a passage (chromadb metadata values are strings and numbers only)."""
    return {
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "section": chunk.section,
        "source": chunk.source,
        "kind": chunk.kind,
        "commands": "|".join(chunk.commands),
        "ordinal": chunk.ordinal,
        "file": file,
        "file_hash": file_hash,
        "links": "|".join(chunk.links),
        "version": chunk.version,
        "url": chunk.url,
    }


@dataclass
class Corpus:
    """Every chunk's text and metadata, in a fixed order (the BM25 index refers to chunks by position)."""

    ids: list[str]
    texts: list[str]
    metas: list[dict]


@dataclass
class Rows(Corpus):
    """The corpus with each passage's stored vector."""

    vectors: list


class KnowledgeStore:
    def __init__(self, settings: RetrievalSettings | None = None):
        self.settings = settings or RetrievalSettings()
        self._client = None
        self._collection = None
        self._meta = None

    @property
    def client(self):
        if self._client is None:
            self._client = _client(self.settings)
        return self._client

    @property
    def collection(self):
        if self._collection is None:
            self._collection = self.client.get_or_create_collection(
                self.settings.collection, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        return self._collection

    @property
    def meta(self):
        if self._meta is None:
            self._meta = self.client.get_or_create_collection(
                self.settings.collection + "-meta", embedding_function=None
            )
        return self._meta

    # ------------------------------------------------------------------------------------------ writing
    def file_hashes(self) -> dict[str, str]:
        """Source file -> content hash of what is stored for it."""
        got = self.collection.get(include=["metadatas"])
        return {m["file"]: m["file_hash"] for m in got["metadatas"] or []}

    def replace_files(self, files: list[tuple[str, str, list[Chunk]]], vectors: np.ndarray, known: set[str]) -> None:
        """Store new chunks for ``files`` ((file, content hash, chunks), ``vectors`` in the same order),
        dropping the old chunks of those in ``known``. One delete and a few large adds for the whole batch:
        chromadb pays ~50 ms per write call, which per file was most of an ingest's time."""
        old = [f for f, _, _ in files if f in known]
        if old:
            self.collection.delete(where={"file": {"$in": old}})
        from .documents import stable_id

        ids, metadatas, documents = [], [], []
        for file, file_hash, chunks in files:
            ids += [stable_id(file, str(i)) for i in range(len(chunks))]
            metadatas += [metadata(c, file, file_hash) for c in chunks]
            documents += [c.text for c in chunks]
        batch = max(1, min(self.client.get_max_batch_size(), 2000))
        for start in range(0, len(ids), batch):
            part = slice(start, start + batch)
            self.collection.add(
                ids=ids[part], embeddings=vectors[part], documents=documents[part], metadatas=metadatas[part]
            )

    def remove_file(self, file: str) -> None:
        self.collection.delete(where={"file": file})

    def bump_version(self) -> str:
        return self.set_version(uuid.uuid4().hex)

    def set_version(self, version: str) -> str:
        """Mark the stored corpus as ``version`` (the snapshot published from it carries the same name)."""
        self.meta.upsert(ids=[META_ID], documents=[version], embeddings=[[0.0]])
        return version

    # ------------------------------------------------------------------------------------------ reading
    def version(self) -> str | None:
        got = self.meta.get(ids=[META_ID], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs else None

    def count(self) -> int:
        return self.collection.count()

    def corpus(self) -> Corpus:
        got = self.collection.get(include=["documents", "metadatas"])
        order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
        return Corpus(
            [got["ids"][i] for i in order],
            [got["documents"][i] for i in order],
            [got["metadatas"][i] for i in order],
        )

    def rows(self) -> Rows:
        """Everything stored, vectors included, in id order (an ingest merges its new passages into it)."""
        if not self.settings.chroma_url and not (self.settings.store_dir / "chroma").is_dir():
            return Rows([], [], [], [])
        got = self.collection.get(include=["documents", "metadatas", "embeddings"])
        order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
        vectors = got["embeddings"] if got.get("embeddings") is not None else [None] * len(order)
        return Rows(
            [got["ids"][i] for i in order],
            [got["documents"][i] for i in order],
            [got["metadatas"][i] for i in order],
            [vectors[i] for i in order],
        )


def save_corpus(path: Path, corpus: Corpus) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "corpus.json.tmp"
    tmp.write_text(json.dumps({"ids": corpus.ids, "texts": corpus.texts, "metas": corpus.metas}))
    tmp.replace(path / "corpus.json")


def load_corpus(path: Path) -> Corpus | None:
    try:
        data = json.loads((path / "corpus.json").read_text())
    except (OSError, ValueError):
        return None
    return Corpus(data["ids"], data["texts"], data["metas"])
