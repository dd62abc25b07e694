"""Hybrid search: dense similarity + BM25 + exact LAMMPS command/style names, fused by reciprocal rank.

Each list ranks documents (a document ranks where its best chunk ranks); reciprocal rank fusion adds
``weight / (K + rank)`` over the lists, and the answer is one result per document, best first, with the
document's best passage. A :class:`Searcher` loads the published snapshot (``snapshot.py``) once and answers
many queries (``mdbot search --batch`` and the bot use one); it notices a newer publication (more vectors
from an ingest still running, or a new corpus) with one ``stat`` per query. While vectors are still being
computed the dense list ranks only the passages that have one and counts in proportion to how many do.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import asdict, dataclass, field

from .settings import RetrievalSettings
from .store import Corpus, KnowledgeStore

RRF_K = 10
WEIGHTS = {"dense": 1.0, "bm25": 1.0, "names": 1.5, "message": 2.0}
MAX_STRENGTH = 3.0
# Authority prior: pages many other pages link to (fix_nh, neighbor, units) are what a query about a broad
# topic usually wants. Multiplies the fused score by 1 + PRIOR * log(1 + in-links) / log(1 + max in-links).
PRIOR = 0.05
# In the BM25 list a document's score is the sum of its best passages' BM25 scores with these weights: a
# page with several passages on the topic beats one that mentions it once, while a passage with a rare term
# still outweighs several with common ones (raw scores keep that; ranks would not). Dense similarities
# lie in a narrow band, so there a document counts by its best passage.
DOC_AGGREGATION = (1.0, 0.5, 0.25)
# Hub pages: a page that links to this many others is a list of them (fix, compute, pair_style,
# Packages_details, Commands_*). Its one-line descriptions match many queries about the pages it lists, so
# unless the query names it, its fused score is multiplied by HUB_FACTOR and the listed page can win.
HUB_LINKS = 80
HUB_FACTOR = 0.7
DENSE_N = 80
# Pseudo-relevance feedback (Rocchio) on the dense list: the query vector plus FEEDBACK_WEIGHT times the mean
# of its FEEDBACK_PASSAGES nearest passages, searched again. It moves a description of a task towards the
# manual's own wording. Chosen on the dev and tuned sets (R@1 0.820 → 0.840 and 0.800 → 0.816; weights
# 0.1–0.4 with three passages all gained on both, one or two passages did not).
FEEDBACK_PASSAGES = 3
FEEDBACK_WEIGHT = 0.3
BM25_N = 200
# Reranking: the fused ranking's top RERANK_N pages are reordered by a linear score of seven features of
# each page (RERANK_FEATURES, in that order; see Searcher._features). Each list of the fusion sees a page
# through its rank alone; the features add what ranks lose: how much of the query's rare vocabulary the
# page contains anywhere, how close its three best passages are to the query, how strong its BM25 evidence
# is beside the best page's, and its size, hub status and in-links. The weights are a listwise softmax fit
# (``bench/rerank_fit.py``) over the three tuning sets, 325 queries; fitted on two sets and scored on the
# third, each set gained (R@1 / R@5 / MRR, manual alone): dev2 0.690 / 0.900 / 0.777 -> 0.740 / 0.910 /
# 0.809, dev 0.830 / 0.970 / 0.887 -> 0.850 / 0.980 / 0.906, tuned 0.808 / 0.960 / 0.867 -> 0.816 / 0.968 /
# 0.878. Only a complete knowledge base is reranked (the dense feature needs every passage's vector).
RERANK_N = 50
RERANK_FEATURES = ("fused", "coverage", "dense_top3", "bm25", "passages", "hub", "inlinks")
RERANK_WEIGHTS = (3.1251, 2.2113, 7.7965, 3.3649, -0.4683, -3.1177, 0.3152)
KIND_PRIORITY = {"manual": 1.0, "docs": 0.9, "potentials": 0.7, "examples": 0.5}
# Command names that are also everyday words: in a long natural-language query they are weak evidence.
COMMON_WORDS = frozenset(
    "run group region mass label next print clear jump log timer info if include quit echo set thermo units "
    "boundary lattice dimension neighbor velocity timestep variable partition replicate balance minimize "
    "rerun shell python plugin special_bonds suffix package processors newton comm_style".split()
)
# Well-known method names and the commands that implement them: what an expert reads "Nose-Hoover" as.
# Matched like command names (slightly weaker than a literal command name).
METHODS: dict[str, list[str]] = {
    "nose-hoover": ["fix nvt", "fix npt", "fix nph"],
    "nose hoover": ["fix nvt", "fix npt", "fix nph"],
    "berendsen thermostat": ["fix temp/berendsen"],
    "berendsen barostat": ["fix press/berendsen"],
    "langevin thermostat": ["fix langevin"],
    "langevin dynamics": ["fix langevin"],
    "csvr": ["fix temp/csvr"],
    "bussi": ["fix temp/csvr"],
    "velocity rescaling": ["fix temp/rescale", "fix temp/csvr"],
    "shake": ["fix shake"],
    "rattle": ["fix rattle"],
    "ewald": ["kspace_style ewald"],
    "pppm": ["kspace_style pppm"],
    "respa": ["run_style respa"],
    "conjugate gradient": ["min_style cg"],
    "nudged elastic band": ["neb"],
    "replica exchange": ["temper"],
    "parallel tempering": ["temper"],
    "radial distribution function": ["compute rdf"],
    "mean squared displacement": ["compute msd"],
    "mean-squared displacement": ["compute msd"],
    "sllod": ["fix nvt/sllod"],
    "embedded atom": ["pair_style eam"],
    "embedded-atom": ["pair_style eam"],
    "stillinger-weber": ["pair_style sw"],
    "tersoff": ["pair_style tersoff"],
    "reaxff": ["pair_style reaxff"],
    "airebo": ["pair_style airebo"],
}
METHOD_STRENGTH = 2.0
MAX_QUERY = 2000  # characters: a pasted log is cut, never processed whole

_CATEGORY = {
    "pair_style": "pair",
    "bond_style": "bond",
    "angle_style": "angle",
    "dihedral_style": "dihedral",
    "improper_style": "improper",
    "kspace_style": "kspace",
    "atom_style": "atom",
    "min_style": "min",
}


@dataclass
class Hit:
    doc_id: str
    title: str
    section: str
    source: str
    score: float
    text: str
    kind: str = "manual"
    version: str = ""  # manual pages: the LAMMPS version of the manual the passage came from
    url: str = ""  # manual pages: that version's page online
    matched: list[str] = field(default_factory=list)  # which lists found it: dense, bm25, names

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("matched")
        return d


class EmptyKnowledgeBase(RuntimeError):
    """Nothing has been ingested yet."""


def build_bm25(corpus: Corpus):
    """The BM25 index of a corpus (bm25s, English stop words, Snowball stemming; ``lexical.py``)."""
    from .lexical import build

    return build([_bm25_text(t, m) for t, m in zip(corpus.texts, corpus.metas, strict=True)])


def _bm25_text(text: str, meta: dict) -> str:
    names = meta.get("commands", "").replace("|", " ; ")
    return f"{meta.get('title', '')} {meta.get('title', '')} {names} {meta.get('doc_id', '')} {meta.get('section', '')}\n{text}"


def name_variants(name: str) -> list[tuple[str, bool]]:
    """Ways a user writes a command name, each with whether it is specific (multi-word or slashed)."""
    name = name.strip().lower()
    words = name.split()
    out = [(name, len(words) > 1 or "/" in name or "_" in name)]
    if len(words) == 2:
        cmd, style = words
        if cmd in _CATEGORY:
            out.append((f"{_CATEGORY[cmd]} {style}", True))
        out.append((style, "/" in style or "_" in style))
    return out


class NameIndex:
    """Exact matching of LAMMPS command and style names mentioned in a query."""

    def __init__(self, metas: list[dict]):
        self.index: dict[str, dict[str, float]] = {}
        self.specific: dict[str, bool] = {}
        # a page's passages carry the same names: expand each page's once (13,301 passages, 1,008 pages)
        pages = dict.fromkeys((m["doc_id"], m.get("kind", "manual"), m.get("commands", "")) for m in metas)
        for doc, kind, commands in pages:  # in the corpus's order, which breaks ties between equal matches
            priority = KIND_PRIORITY.get(kind, 0.5)
            names = [n for n in commands.split("|") if n]
            if kind == "manual":
                names.append(doc)
            for name in names:
                for variant, specific in name_variants(name):
                    docs = self.index.setdefault(variant, {})
                    docs[doc] = max(docs.get(doc, 0.0), priority)
                    self.specific[variant] = self.specific.get(variant, False) or specific

    def match(self, query: str) -> list[tuple[str, float]]:
        """Documents naming what the query names, strongest first."""
        tokens = re.findall(r"[a-z0-9_/.*+\-]+", query.lower().replace("`", " "))
        tokens = [t.strip(".,;:") for t in tokens]
        short = len(tokens) <= 3
        scores: dict[str, float] = {}
        for n in (3, 2, 1):
            for i in range(len(tokens) - n + 1):
                gram = " ".join(tokens[i : i + n])
                docs = self.index.get(gram)
                if not docs:
                    continue
                strength = 3.0 if n > 1 or self.specific.get(gram) else 1.0
                if n == 1 and not short and (gram in COMMON_WORDS or len(gram) <= 2):
                    strength = 0.2
                if len(docs) > 25:  # a word that names half the manual is no evidence
                    strength *= 0.2
                for doc, priority in docs.items():
                    scores[doc] = scores.get(doc, 0.0) + strength * priority
        for n in (3, 2, 1):
            for i in range(len(tokens) - n + 1):
                for name in METHODS.get(" ".join(tokens[i : i + n]), []):
                    for doc, priority in self.index.get(name, {}).items():
                        scores[doc] = scores.get(doc, 0.0) + METHOD_STRENGTH * priority
        return sorted(scores.items(), key=lambda kv: -kv[1])


_MESSAGE = re.compile(r"^\s*(?:ERROR|WARNING)(?: on proc \d+)?:\s*(.+)$", re.I | re.S)
_SOURCE_REF = re.compile(r"\((?:\.\./|src/)[^()]*\)\s*$")


def message_pattern(query: str, min_words: int = 4) -> list[re.Pattern[str]]:
    """For a pasted LAMMPS error or warning: patterns of its text, longest first, numbers as wildcards.

    The manual lists messages as templates ("Bond atoms %d %d missing on proc %d at step %ld"), a user pastes
    them filled in and with a source reference; the longest prefix found verbatim identifies the entry.
    """
    m = _MESSAGE.match(query)
    if not m:
        return []
    text = _SOURCE_REF.sub("", m.group(1).strip())
    words = text.split()
    parts = [
        r"\S+" if re.fullmatch(r"[-+]?[\d.eE+-]*\d[\d.eE+-]*[,.:;]?|'[^']*'|\S*%\S*", w) else re.escape(w)
        for w in words
    ]
    return [re.compile(r"\s+".join(parts[:n]), re.I) for n in range(len(parts), min_words - 1, -1)]


@dataclass
class _Fusion:
    """One query's fusion: the fused page scores and what the reranking and the hits need of the lists."""

    query: str
    fused: dict[str, float] = field(default_factory=dict)
    found_by: dict[str, list[str]] = field(default_factory=dict)
    chunk_score: dict[int, float] = field(default_factory=dict)  # passage-level fusion (the passage shown)
    ceiling: float = 1.0  # the most fused evidence a page can get
    similarities: object = None  # every passage's cosine similarity to the query (numpy), None without dense
    bm25_pages: dict[str, float] | None = None  # the BM25 list's page scores
    _best: dict[str, int] | None = None

    def best_chunk(self, corpus: Corpus) -> dict[str, int]:
        """Each page's best passage in the passage-level fusion."""
        if self._best is None:
            self._best = {}
            for pos, _score in sorted(self.chunk_score.items(), key=lambda kv: -kv[1]):
                self._best.setdefault(corpus.metas[pos]["doc_id"], pos)
        return self._best


class Searcher:
    """Answers queries against the knowledge base; loads everything once."""

    def __init__(self, settings: RetrievalSettings | None = None, store: KnowledgeStore | None = None):
        from .snapshot import Snapshots

        self.settings = settings or RetrievalSettings()
        self.store = store or KnowledgeStore(self.settings)
        self.snapshots = Snapshots(self.settings.store_dir)
        self._version: str | None = None
        self._stamp: float = -1
        self._dense_stamp: str | None = None
        self._corpus: Corpus | None = None
        self._bm25 = None
        self._stemmer = None
        self._names: NameIndex | None = None
        self._position: dict[str, int] = {}
        self._embedder = None
        self._inlinks: dict[str, int] = {}
        self._hubs: set[str] = set()
        self._kind_of: dict[str, str] = {}
        self._page_rows: dict[str, list[int]] = {}  # each page's passages (rows)
        self._page_number: dict[str, int] = {}
        self._page_of_row = None  # (N,) each passage's page number
        self._vectors = None  # (N, dim) float32, rows of passages without a vector are zero
        self._have = None  # (N,) bool
        self._embedded_docs: set[str] = set()
        self._embedded = 0
        self.coverage = 0.0  # share of passages with a vector
        self.state = ""  # "embedding" while an ingest is still adding vectors

    # ---------------------------------------------------------------------------------------- loading
    def load(self) -> None:
        """Load the current snapshot, or what changed in it since the last call; one ``stat`` when current."""
        stamp = self.snapshots.stamp()
        if stamp and stamp == self._stamp and self._corpus is not None and not self.settings.chroma_url:
            return  # with a Chroma server, another host's ingest is noticed through the stored version
        pointer = self.snapshots.pointer()
        if pointer is None or (self.settings.chroma_url and not self._local_ingest_owns(pointer)):
            pointer = self._from_store(pointer)
        if pointer.version != self._version:
            self._load_lexical(pointer.version)
        if pointer.dense_stamp != self._dense_stamp:
            dense = self.snapshots.load_dense(pointer.version)
            if dense is not None and len(dense[1]) == len(self._corpus.ids):
                self._vectors, self._have = dense
                self._embedded = int(self._have.sum())
                self.coverage = float(self._have.mean()) if len(self._have) else 0.0
                metas = self._corpus.metas
                self._embedded_docs = {metas[i]["doc_id"] for i in self._have.nonzero()[0]}
            self._dense_stamp = pointer.dense_stamp
        self.state = pointer.state
        self._stamp = stamp

    def _local_ingest_owns(self, pointer) -> bool:
        """With a Chroma server: the local snapshot is current if its version is the server's, or if an
        ingest on this machine is publishing it now."""
        from .snapshot import ingest_running

        return ingest_running(self.settings.store_dir) or self.store.version() == pointer.version

    def _from_store(self, pointer):
        """No usable snapshot: publish one from chromadb (an older knowledge base, or a Chroma server)."""
        from filelock import FileLock, Timeout

        from .snapshot import LOCK

        if not self.settings.chroma_url and not (self.settings.store_dir / "chroma").is_dir():
            raise EmptyKnowledgeBase("the knowledge base is empty: run 'mdbot ingest PATH…' first")
        version = self.store.version()
        if pointer is not None and pointer.version == version:
            return pointer
        self.settings.store_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.settings.store_dir / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:  # an ingest is running and has not published its first snapshot yet
            raise EmptyKnowledgeBase(
                "the knowledge base is being built: its lexical index is ready within seconds, ask again"
            ) from None
        try:
            import numpy as np

            rows = self.store.rows()
            if version is None or not rows.ids:
                raise EmptyKnowledgeBase("the knowledge base is empty: run 'mdbot ingest PATH…' first")
            corpus = Corpus(rows.ids, rows.texts, rows.metas)
            self.snapshots.publish_lexical(version, corpus, build_bm25)
            vectors = np.asarray(rows.vectors, dtype=np.float32)
            self.snapshots.publish_dense(version, vectors, np.ones(len(rows.ids), dtype=bool), "complete")
            self.snapshots.prune(keep=version)
        finally:
            lock.release()
        return self.snapshots.pointer()

    def _load_lexical(self, version: str) -> None:
        from .lexical import Lexical

        corpus = self.snapshots.load_corpus(version)
        if corpus is None:
            raise EmptyKnowledgeBase(
                f"the knowledge base snapshot {version} is unreadable: run 'mdbot ingest' again"
            )
        path = self.snapshots.dir(version) / "bm25"
        try:
            bm25 = Lexical(path)  # numpy only: no bm25s or scipy import on a cold command
        except Exception:  # noqa: BLE001 - an older snapshot (no query.json) or a damaged one: bm25s reads it
            import bm25s
            import Stemmer

            try:
                bm25 = bm25s.BM25.load(str(path), mmap=True)
            except Exception:  # noqa: BLE001 - a damaged index is rebuilt from the passages
                bm25 = build_bm25(corpus)
            self._stemmer = Stemmer.Stemmer("english")
        self._corpus, self._bm25, self._version = corpus, bm25, version
        self._vectors = self._have = None
        self._dense_stamp = None
        self.coverage = 0.0
        self._names = NameIndex(corpus.metas)
        inlinks: dict[str, set[str]] = {}
        outlinks: dict[str, set[str]] = {}
        for doc, links in {(m["doc_id"], m.get("links", "")) for m in corpus.metas}:
            targets = set(filter(None, links.split("|")))
            outlinks.setdefault(doc, set()).update(targets)
            for target in targets:
                inlinks.setdefault(target, set()).add(doc)
        self._inlinks = {doc: len(src) for doc, src in inlinks.items()}
        self._hubs = {doc for doc, targets in outlinks.items() if len(targets) >= HUB_LINKS}
        self._position = {cid: i for i, cid in enumerate(corpus.ids)}
        self._kind_of = {m["doc_id"]: m.get("kind", "manual") for m in corpus.metas}
        import numpy as np

        self._page_rows = {}
        for i, meta in enumerate(corpus.metas):
            self._page_rows.setdefault(meta["doc_id"], []).append(i)
        self._page_number = {doc: i for i, doc in enumerate(self._page_rows)}
        self._page_of_row = np.empty(len(corpus.ids), dtype=np.int64)
        for doc, rows in self._page_rows.items():
            self._page_of_row[rows] = self._page_number[doc]

    def status(self) -> dict:
        """How ready the knowledge base is: passages, share with vectors, and the ingest's progress."""
        self.load()
        out = {"passages": len(self._corpus.ids), "dense": round(self.coverage, 3), "state": self.state}
        if self.state == "embedding":
            running = self.snapshots.progress() or {}
            out.update({k: running[k] for k in ("done", "total", "rate", "eta_s") if k in running})
        return out

    def manual_versions(self) -> dict[str, int]:
        """LAMMPS versions of the ingested manual pages, with how many pages each."""
        self.load()
        pages: dict[str, set[str]] = {}
        for meta in self._corpus.metas:
            if meta.get("kind") == "manual":
                pages.setdefault(meta.get("version") or "", set()).add(meta["doc_id"])
        return {v: len(d) for v, d in pages.items()}

    def warm_up(self) -> None:
        """Load indexes and the embedding model now rather than on the first query."""
        self.load()
        self._query_vector("warm up")

    def _query_vector(self, query: str):
        if self._embedder is None:
            from .embeddings import Embedder

            self._embedder = Embedder(
                self.settings.embedding_model,
                self.settings.data_dir / "cache",
                self.settings.embedding_backend,
            )
        return self._embedder.query(query)

    def _impute(self, dense_docs: list[str], bm25_docs: list[str]) -> list[str]:
        """The dense ranking of a partly embedded corpus, completed: a document without vectors yet takes
        the place it has in the BM25 ranking, so embedded documents gain nothing from being embedded first."""
        waiting = [d for d in bm25_docs if d not in self._embedded_docs]
        slots: dict[int, str] = {}
        for doc in waiting:
            rank = bm25_docs.index(doc)
            while rank in slots:
                rank += 1
            slots[rank] = doc
        ranked, rest = [], iter(dense_docs)
        for i in range(len(dense_docs) + len(waiting)):
            doc = slots.get(i) or next(rest, None)
            if doc is not None:
                ranked.append(doc)
        return ranked

    def _dense(self, query: str, n: int):
        """Rows of the ``n`` passages most similar to the query (after feedback), among those with a
        vector (exact search), and every passage's similarity to the query itself (None: no vectors)."""
        import numpy as np

        if self._vectors is None or not self._have.any() or self._vectors.shape[1] == 0:
            return [], None
        vector = np.ascontiguousarray(self._query_vector(query), dtype=np.float32)
        plain = sims = self._similarities(vector)
        if FEEDBACK_WEIGHT and self._embedded > FEEDBACK_PASSAGES:
            near = np.argpartition(-sims, FEEDBACK_PASSAGES - 1)[:FEEDBACK_PASSAGES]
            vector = vector + FEEDBACK_WEIGHT * self._vectors[near].mean(0)
            sims = self._similarities(vector / np.linalg.norm(vector))
        n = min(n, self._embedded)
        top = np.argpartition(-sims, n - 1)[:n]
        return [int(i) for i in top[np.argsort(-sims[top])]], plain

    def _similarities(self, vector):
        import numpy as np

        sims = self._vectors @ vector
        if self.coverage < 1.0:
            sims[~self._have] = -np.inf  # passages the ingest has not embedded yet
        return sims

    # --------------------------------------------------------------------------------------- ranking
    def _bm25_chunks(self, query: str) -> tuple[list[int], list[float]]:
        from .lexical import Lexical

        n = min(BM25_N, len(self._corpus.ids))
        if isinstance(self._bm25, Lexical):
            tokens = self._bm25.tokens(query)
            if not tokens:
                return [], []
            results, scores = self._bm25.top(tokens, n)
        else:
            import bm25s

            tokens = bm25s.tokenize(
                [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
            )[0]
            tokens = [t for t in tokens if t in self._bm25.vocab_dict]
            if not tokens:
                return [], []
            found, found_scores = self._bm25.retrieve([tokens], k=n, show_progress=False, n_threads=1)
            results, scores = found[0], found_scores[0]
        kept = [(int(i), float(s)) for i, s in zip(results, scores, strict=True) if s > 0]
        return [i for i, _ in kept], [s for _, s in kept]

    def known_names(self) -> set[str]:
        """Every command and style name the ingested manual documents, lower case ("fix nvt", "units")."""
        self.load()
        names: set[str] = set()
        for meta in self._corpus.metas:
            if meta.get("kind", "manual") == "manual":
                names.update(n.lower() for n in meta.get("commands", "").split("|") if n)
        return names

    def search(
        self,
        query: str,
        k: int = 5,
        dense: bool = True,
        bm25: bool = True,
        names: bool = True,
        kinds: set[str] | frozenset[str] | None = None,
        rerank: bool = True,
    ) -> list[Hit]:
        """The ``k`` best documents for ``query`` (one passage each). Lists and the reranking can be
        switched off to compare; ``kinds`` keeps only documents of those kinds (the graph asks for example
        scripts this way). A hit's score is its fused evidence as a share of the most a page can get,
        capped by the score of the hit above it, so scores fall down the list even where the reranking
        raised a page over one with more fused evidence."""
        fusion = self._fuse(query, dense, bm25, names)
        fused = fusion.fused
        if kinds is not None:
            fused = {doc: v for doc, v in fused.items() if self._kind_of.get(doc) in kinds}
        ranked = sorted(fused, key=lambda doc: -fused[doc])
        if rerank and self._rerankable(fusion):
            head = ranked[:RERANK_N]
            order = self._features(head, fusion) @ RERANK_WEIGHTS
            ranked = [head[i] for i in sorted(range(len(head)), key=lambda i: -order[i])] + ranked[RERANK_N:]
        hits = [self._hit(doc, fusion) for doc in ranked[:k]]
        for above, hit in itertools.pairwise(hits):
            hit.score = min(hit.score, above.score)
        return hits

    def candidates(self, query: str, n: int = RERANK_N):
        """The fused ranking's top ``n`` pages and their reranking features, a row each (what
        ``bench/rerank_fit.py`` fits the weights on); an empty list when the reranking does not apply."""
        fusion = self._fuse(query, True, True, True)
        if not self._rerankable(fusion):
            return [], None
        head = sorted(fusion.fused, key=lambda doc: -fusion.fused[doc])[:n]
        return head, self._features(head, fusion)

    def _fuse(self, query: str, dense: bool, bm25: bool, names: bool) -> _Fusion:
        """Reciprocal rank fusion of the lists, with the in-link prior and the hub factor applied."""
        query = " ".join(query[:MAX_QUERY].split())
        if not query:
            raise ValueError("the query is empty")
        self.load()
        corpus = self._corpus
        fusion = _Fusion(query)
        chunk_score = fusion.chunk_score
        doc_lists: dict[str, list[str]] = {}

        def passages(list_name: str, order: list[int], scores: list[float] | None = None) -> None:
            """Chunk-level fusion (for the passage shown) and the document ranking of one list."""
            per_doc: dict[str, list[float]] = {}
            for rank, pos in enumerate(order):
                chunk_score[pos] = chunk_score.get(pos, 0.0) + WEIGHTS[list_name] / (RRF_K + rank + 1)
                per_doc.setdefault(corpus.metas[pos]["doc_id"], []).append(scores[rank] if scores else -rank)
            if scores:
                value = {
                    d: sum(w * v for w, v in zip(DOC_AGGREGATION, vals, strict=False))
                    for d, vals in per_doc.items()
                }
                fusion.bm25_pages = value
            else:
                value = {d: vals[0] for d, vals in per_doc.items()}
            doc_lists[list_name] = sorted(value, key=lambda d: -value[d])

        if dense:
            dense_rows, fusion.similarities = self._dense(query, DENSE_N)
            if dense_rows:
                passages("dense", dense_rows)
        if bm25:
            order, scores = self._bm25_chunks(query)
            passages("bm25", order, scores)
        strength: dict[str, dict[str, float]] = {}
        if names:
            matched = self._names.match(query)
            doc_lists["names"] = [doc for doc, _ in matched]
            strength["names"] = {doc: min(s, MAX_STRENGTH) / MAX_STRENGTH for doc, s in matched}
        if bm25:  # the exact-text part of lexical matching
            for pattern in message_pattern(query):
                hits = [i for i, t in enumerate(corpus.texts) if pattern.search(t)]
                if hits:
                    doc_lists["message"] = list(dict.fromkeys(corpus.metas[i]["doc_id"] for i in hits))
                    for pos in hits:
                        chunk_score[pos] = chunk_score.get(pos, 0.0) + WEIGHTS["message"] / (RRF_K + 1)
                    break
        fused, found_by = fusion.fused, fusion.found_by
        if "dense" in doc_lists and self.coverage < 1.0 and "bm25" in doc_lists:
            doc_lists["dense"] = self._impute(doc_lists["dense"], doc_lists["bm25"])
        for list_name, docs in doc_lists.items():
            weights = strength.get(list_name, {})
            for rank, doc in enumerate(docs):
                w = WEIGHTS[list_name] * weights.get(doc, 1.0)
                fused[doc] = fused.get(doc, 0.0) + w / (RRF_K + rank + 1)
                found_by.setdefault(doc, []).append(list_name)
        if self._inlinks:
            import math

            top_links = math.log1p(max(self._inlinks.values()))
            for doc in fused:
                fused[doc] *= 1.0 + PRIOR * math.log1p(self._inlinks.get(doc, 0)) / top_links
        for doc in self._hubs.intersection(fused).difference(strength.get("names", ())):
            fused[doc] *= HUB_FACTOR
        fusion.ceiling = sum(WEIGHTS[name] for name in doc_lists) / (RRF_K + 1) * (1.0 + PRIOR)
        return fusion

    def _rerankable(self, fusion: _Fusion) -> bool:
        """The reranking needs both lists over a complete knowledge base with the numpy BM25 index."""
        from .lexical import Lexical

        return (
            fusion.similarities is not None
            and fusion.bm25_pages is not None
            and self.coverage >= 1.0
            and isinstance(self._bm25, Lexical)
        )

    def _features(self, docs: list[str], fusion: _Fusion):
        """RERANK_FEATURES of each page in ``docs``, a row each (see the constants' comment)."""
        import math

        import numpy as np

        rows = self._page_rows
        lexical = self._bm25
        covered = np.zeros(len(rows))
        total = 0.0
        for token in dict.fromkeys(lexical.tokens(fusion.query)):  # idf-weighted share of the query's terms
            start, end = lexical.indptr[lexical.vocab[token]], lexical.indptr[lexical.vocab[token] + 1]
            idf = math.log(lexical.num_docs / max(1, end - start))
            covered[np.unique(self._page_of_row[lexical.indices[start:end]])] += idf
            total += idf
        sims, bm25 = fusion.similarities, fusion.bm25_pages
        best_sim, best_bm25 = float(sims.max()), max(bm25.values(), default=0.0) or 1.0
        top = max(fusion.fused[doc] for doc in docs)
        return np.array(
            [
                [
                    fusion.fused[doc] / top,
                    covered[self._page_number[doc]] / (total or 1.0),
                    float(np.sort(sims[rows[doc]])[-3:].mean()) - best_sim,
                    bm25.get(doc, 0.0) / best_bm25,
                    math.log(len(rows[doc])),
                    float(doc in self._hubs),
                    math.log1p(self._inlinks.get(doc, 0)),
                ]
                for doc in docs
            ]
        )

    def _hit(self, doc: str, fusion: _Fusion) -> Hit:
        """The result for one document: its best passage (its first when only its name matched)."""
        corpus = self._corpus
        pos = fusion.best_chunk(corpus).get(doc)
        if pos is None:  # found by name only: show its first chunk
            pos = min(self._page_rows[doc], key=lambda i: corpus.metas[i].get("ordinal", 0))
        meta = corpus.metas[pos]
        return Hit(
            doc,
            meta["title"],
            meta["section"],
            meta["source"],
            round(fusion.fused[doc] / fusion.ceiling, 4),
            corpus.texts[pos],
            meta.get("kind", "manual"),
            meta.get("version", ""),
            meta.get("url", ""),
            fusion.found_by[doc],
        )

    def timed_search(self, query: str, k: int = 5, **switches) -> tuple[list[Hit], float]:
        start = time.perf_counter()
        hits = self.search(query, k, **switches)
        return hits, time.perf_counter() - start
