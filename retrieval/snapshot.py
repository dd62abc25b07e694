"""The published, read-only view of the knowledge base that searches read: passages, BM25, vectors so far.

An ingest (the one writer, under ``ingest.lock``) publishes a snapshot as soon as the passages are read —
``lexical/<version>/corpus.json`` and its BM25 index, then ``dense.npy``/``have.npy`` (one row per passage,
rows without a vector yet marked in ``have``) again and again while embedding goes on — and points
``current.json`` at it. Every file is written under a temporary name and renamed, so a reader in another
process sees a whole old file or a whole new one, never a torn one, and readers never open chromadb (which
is not safe for two processes) while a snapshot exists. ``progress.json`` says what the ingest is doing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .store import Corpus, load_corpus, save_corpus

CURRENT = "current.json"
PROGRESS = "progress.json"
LOCK = "ingest.lock"


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _save_array(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array)
    tmp.replace(path)


@dataclass
class Pointer:
    """What ``current.json`` says: the snapshot to read and how much of it has vectors."""

    version: str
    chunks: int
    embedded: int
    dense_stamp: str  # changes whenever dense.npy is republished
    state: str  # "embedding" while an ingest is filling vectors in, "complete" after

    @property
    def coverage(self) -> float:
        return self.embedded / self.chunks if self.chunks else 0.0


class Snapshots:
    """Reading and publishing snapshots under one knowledge directory."""

    def __init__(self, store_dir: Path):
        self.root = store_dir

    def dir(self, version: str) -> Path:
        return self.root / "lexical" / version

    def pointer(self) -> Pointer | None:
        data = read_json(self.root / CURRENT)
        if not data or not data.get("version") or not self.dir(data["version"]).is_dir():
            return None
        return Pointer(
            data["version"],
            int(data.get("chunks", 0)),
            int(data.get("embedded", 0)),
            str(data.get("dense_stamp", "")),
            str(data.get("state", "complete")),
        )

    def stamp(self) -> float:
        """Modification time of the pointer: a reader compares it to notice a new publication cheaply."""
        try:
            return (self.root / CURRENT).stat().st_mtime_ns
        except OSError:
            return 0

    # ------------------------------------------------------------------------------------ writing
    def publish_lexical(self, version: str, corpus: Corpus, tokens_fn) -> None:
        """Write the passages and their BM25 index (``tokens_fn(corpus)`` → a bm25s index) for ``version``."""
        from .lexical import save

        path = self.dir(version)
        save_corpus(path, corpus)
        save(tokens_fn(corpus), path / "bm25")

    def publish_dense(self, version: str, vectors: np.ndarray, have: np.ndarray, state: str) -> None:
        path = self.dir(version)
        _save_array(path / "dense.npy", vectors.astype(np.float32, copy=False))
        _save_array(path / "have.npy", have.astype(bool, copy=False))
        write_json(
            self.root / CURRENT,
            {
                "version": version,
                "chunks": int(len(have)),
                "embedded": int(have.sum()),
                "dense_stamp": f"{time.time_ns()}",
                "state": state,
            },
        )

    def prune(self, keep: str) -> None:
        import shutil

        root = self.root / "lexical"
        if root.is_dir():
            for d in root.iterdir():
                if d.name != keep:
                    shutil.rmtree(d, ignore_errors=True)

    # ------------------------------------------------------------------------------------ reading
    def load_corpus(self, version: str) -> Corpus | None:
        return load_corpus(self.dir(version))

    def load_dense(self, version: str) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.dir(version)
        try:
            vectors = np.load(path / "dense.npy")  # in memory: a query multiplies every row
            have = np.load(path / "have.npy")
        except (OSError, ValueError):
            return None
        if len(vectors) != len(have):
            return None
        return vectors, have

    # ------------------------------------------------------------------------------------ progress
    def progress(self) -> dict | None:
        return read_json(self.root / PROGRESS)

    def report(self, **fields) -> None:
        write_json(self.root / PROGRESS, {"pid": os.getpid(), "updated": time.time(), **fields})


def ingest_running(store_dir: Path) -> bool:
    """Whether an ingest holds the knowledge base's lock now (it is released when that process ends)."""
    from filelock import FileLock, Timeout

    path = store_dir / LOCK
    if not path.exists():
        return False
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False
