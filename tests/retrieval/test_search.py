"""Ingest and hybrid search on a real (small) knowledge base: chromadb, the packaged embedding model, BM25."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mdbot.retrieval.ingest import ingest
from mdbot.retrieval.search import Searcher
from tests.retrieval.conftest import requires_manual

pytestmark = requires_manual


@pytest.fixture(scope="module")
def searcher(knowledge):
    settings, _, _ = knowledge
    return Searcher(settings)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Nose-Hoover chain thermostat", {"fix_nh"}),  # concept
        ("pair_style eam/alloy", {"pair_eam"}),  # command
        ("fix npt", {"fix_nh"}),  # command documented under another page name
        ("fix qeq/reaxff", {"fix_qeq_reaxff"}),  # command
        ("fix qeq/reax", {"fix_qeq_reaxff"}),  # the 2020 spelling finds the renamed page
        ("keep water molecules rigid during the run", {"fix_shake", "fix_rigid", "Howto_spc"}),  # task
        ("diffusion coefficient from mean squared displacement", {"Howto_diffusion", "compute_msd"}),  # task
        ("tchain keyword", {"fix_nh"}),  # parameter
        ("neighbor list skin distance", {"neighbor", "neigh_modify"}),  # concept/parameter
        (
            "WARNING: Lost atoms: original 32000 current 31999 (src/thermo.cpp:488)",
            {"Errors_warnings", "thermo_modify"},
        ),  # error
        ("equilibrate water box protocol in our lab", {"docs/protocols"}),  # lab document
        ("Quokka potential temperature range", {"docs/quokka-note"}),  # PDF
        (
            "EAM potential file for Cu Ni alloy",
            {"potentials/CuNi.eam.alloy", "pair_eam"},
        ),  # potential catalog
    ],
)
def test_expected_page_first(searcher, query, expected):
    hits = searcher.search(query, 5)
    assert hits, query
    assert hits[0].doc_id in expected, [h.doc_id for h in hits]


def test_a_hub_page_yields_to_the_pages_it_lists_unless_named(knowledge, monkeypatch):
    from mdbot.retrieval import search

    settings, _, _ = knowledge
    monkeypatch.setattr(search, "HUB_LINKS", 3)
    hubbed = Searcher(settings)
    hubbed.load()
    links: dict[str, set[str]] = {}
    for meta in hubbed._corpus.metas:
        links.setdefault(meta["doc_id"], set()).update(filter(None, meta.get("links", "").split("|")))
    assert hubbed._hubs == {doc for doc, targets in links.items() if len(targets) >= 3} != set()
    # the mechanism, made decisive: the best page for a task, treated as a hub, is no longer first ...
    monkeypatch.setattr(search, "HUB_FACTOR", 0.01)
    task = "push every atom in a slab with a constant force"
    best = Searcher(settings).search(task, 5)[0].doc_id
    assert best not in {doc for doc, _ in hubbed._names.match(task)}  # the query does not name it
    hubbed._hubs = {best}
    assert hubbed.search(task, 5)[0].doc_id != best
    # ... unless the query names it
    hubbed._hubs = {"fix_shake"}
    assert hubbed.search("fix shake", 5)[0].doc_id == "fix_shake"


def test_dense_feedback_draws_only_on_passages_with_vectors(knowledge):
    """Rocchio feedback moves the query towards its nearest passages; while an ingest is still embedding,
    those are passages that have a vector, never the zero rows of the others."""
    import numpy as np

    from mdbot.retrieval import search

    settings, _, _ = knowledge
    s = Searcher(settings)
    s.load()
    query = "keep water molecules rigid during the run"
    q = s._query_vector(query)
    nearest = np.argsort(-(s._vectors @ q))[:20]
    s._have = s._have.copy()
    s._have[nearest[:5]] = False  # as if the ingest had not reached them yet
    s.coverage = float(s._have.mean())
    s._embedded = int(s._have.sum())
    got, _ = s._dense(query, 10)
    assert not set(got) & set(nearest[:5].tolist())
    visible = nearest[5:5 + search.FEEDBACK_PASSAGES]  # the nearest passages that have vectors
    moved = q + search.FEEDBACK_WEIGHT * s._vectors[visible].mean(0)
    sims = s._vectors @ (moved / np.linalg.norm(moved))
    sims[~s._have] = -np.inf
    assert got == np.argsort(-sims)[:10].tolist()


def test_one_result_per_document_best_first(searcher):
    hits = searcher.search("thermostat", 10)
    ids = [h.doc_id for h in hits]
    assert len(ids) == len(set(ids)) == 10
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0 < h.score <= 1 for h in hits)
    first = hits[0]
    assert first.title and first.section and first.text and Path(first.source).exists()
    assert first.kind == "manual" and first.version == "29 Aug 2024" and first.url.startswith("https://")


def test_second_ingest_changes_nothing(knowledge):
    settings, pages, docs = knowledge
    before = Searcher(settings).store.version()
    report = ingest([pages, docs], None, settings, include_installed=True)
    assert report.added == report.updated == report.chunks == 0
    assert report.unchanged == report.files_seen > 30
    assert Searcher(settings).store.version() == before


def test_edited_file_replaces_its_chunks(knowledge, tmp_path):
    _pages, settings = _small_manual(tmp_path, knowledge)  # a knowledge base of its own: it edits a lab doc
    note = tmp_path / "cluster.txt"
    shutil.copy(knowledge[2] / "cluster.txt", note)
    assert ingest([note], "docs", settings, include_installed=False).added == 1
    note.write_text("The group cluster moved: use the new 'harrier' machine with 128 cores per node.\n")
    report = ingest([note], "docs", settings, include_installed=False)
    assert report.updated == 1 and report.added == 0
    searcher = Searcher(settings)
    hit = searcher.search("harrier cluster cores per node", 1)[0]
    assert hit.doc_id == "docs/cluster" and "harrier" in hit.text
    store = searcher.store.collection.get(where={"file": str(note.resolve())}, include=["documents"])
    assert store["documents"] and all("kestrel" not in d for d in store["documents"])  # the old text is gone


def test_bad_inputs_are_reported_and_the_rest_ingested(knowledge, tmp_path):
    settings, _, _ = knowledge
    settings = settings.model_copy(update={"max_file_mb": 1})
    bad = tmp_path / "mixed"
    bad.mkdir()
    (bad / "empty.md").write_text("")
    (bad / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (bad / "huge.txt").write_text("x" * (2 * 1024 * 1024))
    (bad / "good.md").write_text("# Good\n\nThe wombat benchmark runs 1 ns of NVT.\n")
    report = ingest([bad, tmp_path / "does-not-exist"], "docs", settings, include_installed=False)
    problems = {Path(p).name: m for p, m in report.errors}
    assert "empty file" in problems["empty.md"]
    assert "binary" in problems["binary.txt"]
    assert "larger than 1 MB" in problems["huge.txt"]
    assert "no such file" in problems["does-not-exist"]
    assert report.added == 1
    assert Searcher(settings).search("wombat benchmark", 1)[0].doc_id == "docs/good"


def _cli(settings, *args):
    env = {**os.environ, "MDBOT_DATA_DIR": str(settings.data_dir), "HF_HUB_OFFLINE": "1"}
    mdbot = Path(sys.executable).with_name("mdbot")
    # an hour: a hang guard only, so a slow, loaded machine cannot decide the test
    return subprocess.run([str(mdbot), *args], capture_output=True, text=True, env=env, timeout=3600)


def test_cli_search_json_and_batch(knowledge, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mdbot.cli import app

    settings, _, _ = knowledge
    # the one query in this process (the embedding model is loaded already); the batch below is the
    # installed command in a process of its own
    monkeypatch.setenv("MDBOT_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["search", "Nose-Hoover chain thermostat", "--json", "-k", "3"])
    assert result.exit_code == 0, result.stderr
    hits = json.loads(result.stdout)  # exactly one JSON document
    assert hits[0]["doc_id"] == "fix_nh" and len(hits) == 3
    assert set(hits[0]) == {"doc_id", "title", "section", "source", "score", "text", "kind", "version", "url"}
    assert hits[0]["version"] == "29 Aug 2024" and "/patch_29Aug2024/doc/src/fix_nh.rst" in hits[0]["url"]
    batch = tmp_path / "queries.jsonl"
    batch.write_text(
        '{"id": "a", "query": "pair_style eam/alloy"}\nnot json\n{"id": "b", "query": "fix npt"}\n'
    )
    proc = _cli(settings, "search", "--batch", str(batch), "-k", "2")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["a", None, "b"]
    assert lines[0]["results"][0]["doc_id"] == "pair_eam" and len(lines[0]["results"]) == 2
    assert "bad batch line" in lines[1]["error"]


def test_cli_search_before_ingest_and_bad_usage(tmp_path):
    from mdbot.retrieval.settings import RetrievalSettings

    empty = RetrievalSettings(_env_file=None, data_dir=tmp_path / "empty")
    proc = _cli(empty, "search", "anything")
    assert proc.returncode == 1 and "mdbot ingest" in proc.stderr
    assert _cli(empty, "search").returncode == 2
    assert _cli(empty, "ingest", str(tmp_path / "missing"), "--no-installed").returncode == 2
    assert _cli(empty, "ingest", str(tmp_path), "--kind", "nonsense").returncode == 2


# ------------------------------------------------------------------ lexical first, background vectors, resume

SMALL = ("units", "velocity", "fix_shake", "fix_rigid")


def _small_manual(tmp_path: Path, knowledge) -> tuple[Path, object]:
    """A few 2024 pages and an empty data directory (its ONNX export: the one made at setup, else the fixture's)."""
    from mdbot.retrieval.settings import RetrievalSettings
    from tests.retrieval.conftest import MANUAL

    pages = tmp_path / "pages"
    pages.mkdir()
    for name in SMALL:
        shutil.copy(MANUAL / f"{name}.rst", pages / f"{name}.rst")
    settings = RetrievalSettings(_env_file=None, data_dir=tmp_path / "data")
    if (knowledge[0].data_dir / "cache").is_dir():
        shutil.copytree(knowledge[0].data_dir / "cache", settings.data_dir / "cache")
    return pages, settings


def test_searches_answer_lexically_while_an_ingest_embeds(knowledge, tmp_path):
    """Another process searches (and a second ingest is turned away) while the first ingest is embedding."""
    pages, settings = _small_manual(tmp_path, knowledge)
    seen: dict = {}

    def progress(stage, done, total):
        if stage == "embedding" and done == 0 and not seen:
            seen["search"] = _cli(settings, "search", "keep water molecules rigid with SHAKE", "--json", "-k", "2")
            seen["ingest"] = _cli(settings, "ingest", str(pages), "--no-installed")
            seen["status"] = Searcher(settings).status()

    report = ingest([pages], "manual", settings, include_installed=False, progress=progress)
    assert seen, "the ingest never reached its embedding stage"
    search = seen["search"]
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)
    assert hits[0]["doc_id"] in {"fix_shake", "fix_rigid"}  # from BM25 and names: no vector exists yet
    assert seen["ingest"].returncode == 1 and "another ingest" in seen["ingest"].stderr
    assert seen["status"]["dense"] == 0.0 and seen["status"]["state"] == "embedding"
    assert report.lexical_s is not None and report.embedded == report.chunks > 0
    after = Searcher(settings)
    assert after.status() == {"passages": report.chunks, "dense": 1.0, "state": "complete"}
    assert after.search("Nose-Hoover", 1, bm25=False, names=False)  # the dense list alone now answers
    assert after.manual_versions() == {"29 Aug 2024": len(SMALL)}


def test_an_interrupted_ingest_resumes_where_it_stopped(knowledge, tmp_path, monkeypatch):
    from mdbot.retrieval import ingest as ingest_module

    pages, settings = _small_manual(tmp_path, knowledge)
    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", 1)  # one file per batch
    monkeypatch.setattr(ingest_module, "TELL_EVERY_S", 1e9)  # progress only once a batch is handed to the writer
    workers = settings.model_copy(update={"embedding_workers": 2})  # Ctrl-C with worker processes and the writer

    def stop_after_first_batch(stage, done, total):
        if stage == "embedding" and done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest([pages], "manual", workers, include_installed=False, progress=stop_after_first_batch)
    partial = Searcher(settings)
    status = partial.status()
    assert status["state"] == "embedding" and 0 < status["dense"] < 1  # the first file's vectors are kept
    assert partial.search("units metal real lj", 1)[0].doc_id == "units"  # and the rest is searchable
    report = ingest([pages], "manual", settings, include_installed=False)
    assert report.unchanged == 1 and report.added == len(SMALL) - 1  # only what was not stored yet
    assert Searcher(settings).status()["dense"] == 1.0


def test_numpy_bm25_matches_bm25s(searcher):
    """The query-time BM25 (numpy over the saved index, no bm25s import) ranks and scores as bm25s does."""
    import bm25s
    import numpy as np
    import Stemmer

    from mdbot.retrieval.lexical import Lexical

    searcher.load()
    assert isinstance(searcher._bm25, Lexical)  # what a published snapshot is read with
    path = searcher.snapshots.dir(searcher._version) / "bm25"
    reference, stemmer = bm25s.BM25.load(str(path), mmap=True), Stemmer.Stemmer("english")
    queries = ["Nose-Hoover chain thermostat tchain", "keep water molecules rigid during the run",
               "ERROR: Lost atoms: original 32000 current 31999", "the the of", "pair_style eam/alloy Cu Ni Ni"]  # fmt: skip
    compared = 0
    for query in queries:
        want = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)[0]
        want = [t for t in want if t in reference.vocab_dict]
        assert searcher._bm25.tokens(query) == want
        if not want:
            continue
        rows, scores = searcher._bm25.top(want, 50)
        ref_rows, ref_scores = reference.retrieve([want], k=50, show_progress=False, n_threads=1)
        assert np.array_equal(rows, ref_rows[0]) and np.array_equal(scores, ref_scores[0])
        compared += 1
    assert compared == 4  # "the the of" is all stop words


def test_bfloat16_passage_vectors_agree_with_float32():
    from mdbot.retrieval.embeddings import PACKAGED, Embedder, native_bf16

    if not native_bf16():
        pytest.skip("this CPU has no native bfloat16: passages are embedded in float32")
    texts = ["fix 1 all nvt temp 300.0 300.0 100.0", "Nose-Hoover chain thermostat " * 20, "units metal"]
    fast = Embedder(PACKAGED, None, "auto", "auto")
    exact = Embedder(PACKAGED, None, "auto", "float32")
    got, want = fast.documents(texts), exact.documents(texts)
    assert fast.runtime == "sentence-transformers (bfloat16)" and exact.runtime == "sentence-transformers"
    assert got.dtype == want.dtype and got.shape == want.shape
    assert float((got * want).sum(1).min()) >= 0.9999


def test_worker_processes_embed_the_vectors_this_process_would(knowledge, tmp_path):
    """Two embedding processes (what a large ingest uses on 2 cores) store the same vectors as one."""
    import numpy as np

    from mdbot.retrieval.store import KnowledgeStore

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    pages, one = _small_manual(tmp_path / "one", knowledge)
    _, two = _small_manual(tmp_path / "two", knowledge)
    two = two.model_copy(update={"embedding_workers": 2})
    alone = ingest([pages], "manual", one.model_copy(update={"embedding_workers": 1}), include_installed=False)
    pooled = ingest([pages], "manual", two, include_installed=False)
    assert pooled.runtime.endswith(", 2 processes") and "processes" not in alone.runtime
    assert pooled.embedded == alone.embedded == KnowledgeStore(two).count() > 0
    a, b = KnowledgeStore(one).rows(), KnowledgeStore(two).rows()
    assert a.ids == b.ids
    assert float((np.asarray(a.vectors) * np.asarray(b.vectors)).sum(1).min()) >= 0.9999


def test_the_setup_export_serves_queries_and_is_made_once(tmp_path, monkeypatch):
    """`make setup`'s ONNX export: kept only if it agrees with sentence-transformers, preferred to a data
    directory's own, and not made again."""
    import json

    import numpy as np

    from mdbot.retrieval import embeddings
    from mdbot.retrieval.embeddings import PACKAGED, Embedder, prepare

    shipped = tmp_path / "share"
    monkeypatch.setattr(embeddings, "SHIPPED", shipped)
    shipped.mkdir()
    (shipped / f"{PACKAGED}-0123456789abcdef.onnx").write_bytes(b"an export of other weights")
    made = prepare(PACKAGED, shipped)
    assert made is not None and made.parent == shipped
    assert [f.name for f in shipped.glob("*.onnx")] == [made.name]  # the other one is removed
    meta = json.loads(made.with_suffix(".json").read_text())
    assert meta["accepted"] and meta["min_cosine"] >= 1 - embeddings.AGREEMENT
    stamp = made.stat().st_mtime_ns
    assert prepare(PACKAGED, shipped) == made and made.stat().st_mtime_ns == stamp
    embedder = Embedder(PACKAGED, tmp_path / "data" / "cache")
    assert embedder.onnx(allow_export=False) is not None and not (tmp_path / "data").exists()
    question = "How do I keep water molecules rigid during the run?"
    want = embedder.model.encode([question], normalize_embeddings=True, show_progress_bar=False)[0]
    assert float(np.dot(embedder.query(question), want)) >= 1 - embeddings.AGREEMENT
    # A data directory's export from before exports were saved optimised, and no setup export: still used.
    cache = tmp_path / "old" / "cache"
    earlier = cache / "models" / made.name.replace(f"-{embeddings.EXPORT_FORMAT}", "")
    earlier.parent.mkdir(parents=True)
    shutil.copy(made, earlier)
    shutil.copy(made.with_suffix(".json"), earlier.with_suffix(".json"))
    monkeypatch.setattr(embeddings, "SHIPPED", tmp_path / "none")
    old = Embedder(PACKAGED, cache)
    assert old.onnx(allow_export=False) is not None and (cache / "models" / made.name).is_file()
    assert float(np.dot(old.query(question), want)) >= 1 - embeddings.AGREEMENT
    # ... and so is an earlier setup's, where it lies, before `make setup` runs again
    monkeypatch.setattr(embeddings, "SHIPPED", earlier.parent)
    (cache / "models" / made.name).unlink()
    assert Embedder(PACKAGED, tmp_path / "unused").onnx(allow_export=False) is not None
    assert (earlier.parent / made.name).is_file() and not (tmp_path / "unused").exists()
