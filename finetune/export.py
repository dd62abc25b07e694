"""Journal + knowledge base → JSON-lines datasets for CPT, SFT and GRPO (``mdbot finetune export``).

The journal is the only source of fine-tuning data (docs/architecture.md §6); this module decides which turns are good
enough to learn from and writes them in the shapes of :mod:`finetune.formats`. Every file is written twice,
``<name>.train.jsonl`` and ``<name>.test.jsonl``, loadable with ``datasets.load_dataset("json", …)``:

- ``cpt``: ``{"id", "text", "source", "kind"}`` — knowledge-base documents (manual and docs kinds, chunks of
  one document joined in order) and every script that ran healthily (kind ``script``).
- ``sft``: ``{"id", "messages", "kind"}`` — Q&A answers that were rated or accepted (kind ``qa``) and
  requests with the script that succeeded (kind ``code``), plus imported task/script pairs.
- ``grpo``: ``{"id", "prompt", "task", "files"}`` — one per distinct generate/run request (and import).
- ``recycled``: ``{"id", "messages", "kind": "repair"}`` — a failed script and its error → the repair that ran.

Which turns count (the rule the README documents):

- a turn with a net rating (sum of 👍 +1 / 👎 −1) below 0 is never exported, in any file;
- a Q&A turn (intent ``qa`` or ``explain``, outcome ``answered``) goes to ``sft`` when its net rating is at
  least ``min_rating``, or when it was *accepted*: it has no 👎 at all, and a later turn of the same thread
  by the same user (any user when either id is unknown) exists whose text is not the same question again
  (a repeated question means the answer did not help);
- a code pair needs an attempt whose critique says success (a ``generate`` turn; its final such script).

Records are deduplicated on their whitespace-normalized content. The held-out split hashes the task part of
the record id (``<file>-<task hash>-<content hash>``) with the seed, so the same request lands on the same
side in every file: a task held out of GRPO was not trained on in SFT either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from . import formats
from .corpus import EVALBENCH, CorpusError, read_corpus, script_key, write_tasks

log = logging.getLogger(__name__)

NAMES = ("cpt", "sft", "grpo", "recycled")
QA_INTENTS = ("qa", "explain")
CODE_INTENTS = ("generate",)
GRPO_INTENTS = ("generate", "run")
CPT_KINDS = ("manual", "docs")
TASK_KEYS = ("task", "prompt", "instruction", "question")
CODE_KEYS = ("standrd_code", "standard_code", "code", "completion", "reference", "script")
# Slack's markup for users, channels and groups; the export replaces them unless --keep-users.
MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
CHANNEL = re.compile(r"<#[CGD][A-Z0-9]+(?:\|([^>]*))?>")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|[^>]*)?>")
CITATION = re.compile(r"(?<![\w\]])[ \t]?(?:\[\d{1,3}\])+")
CODE_SPAN = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
REMOVED_NOTE = "⚠️ Removed from this answer"


class ExportError(ValueError):
    """Bad usage or unreadable input (the command exits 2)."""


@dataclass
class ExportOptions:
    """What to export and how; the command line's flags."""

    out: Path
    journal_url: str | None = None  # None: no journal (only knowledge and imports)
    journal_required: bool = False  # an explicit --journal that must exist
    knowledge: Any = None  # retrieval.settings.RetrievalSettings, or None for --no-knowledge
    min_rating: int = 1
    since: datetime | None = None
    until: datetime | None = None
    channels: list[str] = field(default_factory=list)
    heldout: float = 0.1
    seed: int = 0
    keep_users: bool = False
    imports: list[Path] = field(default_factory=list)
    corpora: list[Path] = field(default_factory=list)  # folders of example inputs (finetune.corpus)
    exclude: list[Path] = field(default_factory=list)  # benchmark files whose tasks/scripts never train


# ------------------------------------------------------------------------------------------ helpers
def parse_date(text: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise). A bare date as ``end`` means the whole day."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        else:
            moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ExportError(f"not a date: {text!r} (use YYYY-MM-DD or an ISO date-time)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def mask_url(url: str | None) -> str | None:
    """The URL with its password replaced, for the manifest (it is shared with the dataset)."""
    if not url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: mask what looks like user:password@
        return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def scrub(text: str) -> str:
    """Slack user, channel and group references and e-mail addresses replaced by neutral words.

    A mention that opens the message only addresses someone (often the bot), so it goes altogether."""
    text = re.sub(rf"^\s*(?:{MENTION.pattern}[\s,:]*)+", "", text)
    text = MENTION.sub("@user", text)
    text = EMAIL.sub("someone@example.org", text)
    text = CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else "#channel", text)
    return SUBTEAM.sub("@group", text)


def clean_answer(text: str) -> str:
    """A Q&A answer as a training target: no citation markers and no note about removed commands.

    The SFT prompt carries no numbered passages, so ``[1]`` would teach the model to cite nothing; the
    ⚠️ note is the bot's post-processing, not something the model should learn to write."""
    body = text.split(REMOVED_NOTE, 1)[0]
    parts = CODE_SPAN.split(body)  # odd parts are code: `c_msd[4]` is not a citation
    for i in range(0, len(parts), 2):
        prose = CITATION.sub("", parts[i])
        prose = re.sub(r"[ \t]+([.,;:!?])", r"\1", prose)  # what a removed marker leaves behind
        parts[i] = re.sub(r"(?<=\S)[ \t]{2,}", " ", prose)
    return "".join(parts).strip()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalized(value: Any) -> Any:
    if isinstance(value, str):
        return formats.normalize(value)
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalized(v) for v in value]
    return value


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive date-times for timezone columns; they were written in UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def net_rating(turn) -> int:
    return sum(f.rating for f in turn.feedback)


def turn_files(turn) -> dict[str, str | None]:
    """{name: path} of the files of a turn; rows written before paths were journaled hold names only."""
    files = turn.files or {}
    if isinstance(files, dict):
        return {str(k): (str(v) if v else None) for k, v in files.items()}
    return {str(name): None for name in files}


def success_script(turn) -> str | None:
    """The final script of the turn's last successful attempt (critique success)."""
    good = [a for a in turn.attempts if a.success and a.script and a.script.strip()]
    return good[-1].script if good else None


def healthy(attempt) -> bool:
    """Ran to the end, physically sane, and the critique agreed: fit for continued pre-training."""
    return bool(attempt.run_status == "ok" and attempt.health_ok and attempt.success and attempt.script)


def attempt_problem(attempt) -> str:
    """What went wrong with a failed attempt: the run's error, else the check's, else health and critique."""
    run, check = attempt.run_result or {}, attempt.check_result or {}
    if attempt.run_status and attempt.run_status != "ok" and run.get("error"):
        error = run["error"]
    elif attempt.check_status and attempt.check_status != "ok" and check.get("error"):
        error = check["error"]
    else:
        error = None
    issues = list(attempt.health_issues or [])
    if error is None and not issues:
        if attempt.run_status and attempt.run_status != "ok":
            issues.append(f"the run ended with status {attempt.run_status}")
        crit = attempt.critique or {}
        issues += [str(p) for p in crit.get("problems", []) or [] if p]
    return formats.format_error(error, issues)


# ------------------------------------------------------------------------------------------ collecting
@dataclass
class Collector:
    """Records per file, deduplicated on whitespace-normalized content, split by the task hash."""

    heldout: float
    seed: int
    keep_users: bool
    records: dict[str, dict[str, dict]] = field(default_factory=lambda: {n: {} for n in NAMES})
    duplicates: Counter = field(default_factory=Counter)
    excluded: set[str] = field(default_factory=set)  # normalized benchmark tasks and script keys
    excluded_count: Counter = field(default_factory=Counter)

    def add(
        self,
        name: str,
        record: dict,
        task: str,
        meta: dict | None = None,
        key: Any = None,
        split: str | None = None,
        script: str | None = None,
    ) -> bool:
        """Add a record unless an identical one is there; ``key`` overrides what counts as identical,
        ``split`` what decides its side of the held-out split (default: the task). A record whose task or
        ``script`` is a benchmark's (``--exclude``) is dropped."""
        if self.excluded and (
            formats.normalize(task) in self.excluded
            or (script is not None and script_key(script) in self.excluded)
        ):
            self.excluded_count[name] += 1
            return False
        content = json.dumps(_normalized(record if key is None else key), sort_keys=True, ensure_ascii=False)
        rid = f"{name}-{_hash(formats.normalize(split or task))[:12]}-{_hash(content)[:10]}"
        if rid in self.records[name]:
            self.duplicates[name] += 1
            return False
        out = {"id": rid, **record}
        if self.keep_users:
            out["meta"] = {
                "turn_id": None,
                "thread_id": None,
                "user_id": None,
                "channel": None,
                "source": None,
                **(meta or {}),
            }
        self.records[name][rid] = out
        return True

    def is_test_key(self, split: str) -> bool:
        """The side of the split that records added with this ``split`` (or task) text land on."""
        return self.is_test(f"x-{_hash(formats.normalize(split))[:12]}-")

    def is_test(self, rid: str) -> bool:
        """Deterministic: a hash of the seed and the id's task part, compared with the held-out fraction."""
        task_part = rid.split("-")[1]
        value = int(_hash(f"{self.seed}:{task_part}")[:12], 16) / float(16**12)
        return value < self.heldout

    def write(self, out: Path) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in NAMES:
            parts: dict[str, list[dict]] = {"train": [], "test": []}
            for rid in sorted(self.records[name]):
                parts["test" if self.is_test(rid) else "train"].append(self.records[name][rid])
            for part, rows in parts.items():
                path = out / f"{name}.{part}.jsonl"
                tmp = path.with_suffix(".jsonl.tmp")
                with tmp.open("w", encoding="utf-8") as fh:
                    for row in rows:
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                tmp.replace(path)
                counts[path.name] = len(rows)
        return counts


class FileStore:
    """Copies attached files into ``<out>/files/<content hash>/<name>``.

    The journal's paths point into the Slack download tree, whose directory names are the channel and thread
    ids, and into places a clean-up may delete; the copies carry neither and travel with the dataset."""

    def __init__(self, out: Path):
        self.root = out / "files"
        self.copied = 0
        self.bytes = 0

    def stage(self, name: str, path: str) -> str:
        src = Path(path)
        digest = hashlib.sha256()
        with src.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        dest = self.root / digest.hexdigest()[:16] / name
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            self.copied += 1
            self.bytes += dest.stat().st_size
        return str(dest.resolve())


# ------------------------------------------------------------------------------------------ sources
def load_turns(opts: ExportOptions) -> tuple[list, str | None]:
    """All turns of the journal (oldest first) and a note when there is no journal to read."""
    url = opts.journal_url
    if not url:
        return [], "no journal"
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            if opts.journal_required:
                raise ExportError(f"journal not found: {path}")
            return [], f"no journal at {path}"
    from mdbot.graph.journal import Journal

    journal = Journal(url)
    try:
        return journal.turns(), None
    finally:
        journal.close()


def _meta(turn) -> dict:
    return {
        "turn_id": turn.id,
        "thread_id": turn.thread_id,
        "user_id": turn.user_id,
        "channel": turn.channel,
        "source": f"journal:{turn.source}",
    }


def accepted(turn, later: list) -> bool:
    """No 👎 on the turn and the same user went on in the thread with something other than the question."""
    if any(f.rating < 0 for f in turn.feedback):
        return False
    asked = formats.normalize(turn.text).lower()
    for nxt in later:
        same_user = not turn.user_id or not nxt.user_id or nxt.user_id == turn.user_id
        if same_user and formats.normalize(nxt.text).lower() != asked:
            return True
    return False


def export_journal(
    turns: list, opts: ExportOptions, col: Collector, files: FileStore, stats: Counter
) -> None:
    """Turns → sft (qa, code), grpo, recycled and cpt scripts, applying the filters and the rating rule."""
    by_thread: dict[str, list] = defaultdict(list)
    for t in turns:
        by_thread[t.thread_id].append(t)
    for thread in by_thread.values():
        thread.sort(key=lambda t: _aware(t.started_at) or datetime.min.replace(tzinfo=UTC))
    text_of: Callable[[str], str] = (lambda s: s or "") if opts.keep_users else (lambda s: scrub(s or ""))
    for turn in turns:
        started = _aware(turn.started_at)
        if opts.since and (started is None or started < opts.since):
            stats["filtered_date"] += 1
            continue
        if opts.until and (started is None or started >= opts.until):
            stats["filtered_date"] += 1
            continue
        if opts.channels and turn.channel not in opts.channels:
            stats["filtered_channel"] += 1
            continue
        if net_rating(turn) < 0:
            stats["thumbs_down"] += 1
            continue
        stats["turns_used"] += 1
        thread = by_thread[turn.thread_id]
        position = thread.index(turn)
        later, earlier = thread[position + 1 :], thread[:position]
        request = text_of(turn.text).strip()
        meta = _meta(turn)
        names = turn_files(turn)

        # Q&A
        if turn.intent in QA_INTENTS and turn.outcome == "answered" and turn.answers and request:
            answer = clean_answer(text_of(turn.answers[0].text))
            rated = net_rating(turn) >= opts.min_rating
            if answer and (rated or accepted(turn, later)):
                col.add("sft", formats.qa_example(request, answer), request, meta)
                stats["qa_rated" if rated else "qa_accepted"] += 1

        # code: the earlier script of the thread, for follow-ups
        previous = next(
            (a.script for t in reversed(earlier) for a in t.answers if a.script and a.script.strip()), None
        )
        script = success_script(turn)
        if turn.intent in CODE_INTENTS and script and request:
            col.add(
                "sft", formats.code_example(request, script, names, previous), request, meta, script=script
            )

        # GRPO prompts: files that still exist, copied next to the dataset
        if turn.intent in GRPO_INTENTS and request:
            staged: dict[str, str] = {}
            for name, path in names.items():
                if path and Path(path).is_file():
                    staged[name] = files.stage(name, path)
                else:
                    stats["files_missing"] += 1
            record = formats.grpo_prompt(request, staged, previous)
            key = {"prompt": record["prompt"], "files": sorted(staged)}
            col.add("grpo", record, request, meta, key=key)

        # recycled: the failed attempt just before the first success, and that success
        attempts = list(turn.attempts)
        first_ok = next((i for i, a in enumerate(attempts) if a.success), None)
        if first_ok and request:
            failed, fixed = attempts[first_ok - 1], attempts[first_ok]
            if (
                failed.script
                and fixed.script
                and formats.normalize(failed.script) != formats.normalize(fixed.script)
            ):
                example = formats.repair_example(
                    request, failed.script, attempt_problem(failed), fixed.script, names
                )
                col.add("recycled", example, request, meta)

        # cpt: every script that ran healthily
        for a in attempts:
            if healthy(a):
                text = a.script.strip()
                col.add("cpt", {"text": text, "source": "journal", "kind": "script"}, text, meta)


def export_knowledge(settings, col: Collector) -> tuple[int, str | None]:
    """Manual and docs documents of the knowledge base, chunks of a document joined in order."""
    from mdbot.retrieval.store import KnowledgeStore

    if not settings.chroma_url and not (settings.store_dir / "chroma").is_dir():
        return 0, f"no knowledge base at {settings.store_dir}"
    corpus = KnowledgeStore(settings).corpus()
    docs: dict[tuple[str, str], list[tuple[int, str, dict]]] = defaultdict(list)
    for cid, text, meta in zip(corpus.ids, corpus.texts, corpus.metas, strict=True):
        if meta.get("kind") in CPT_KINDS and text and text.strip():
            key = (meta.get("kind", ""), meta.get("doc_id") or meta.get("file") or cid)
            docs[key].append((int(meta.get("ordinal") or 0), text, meta))
    n = 0
    for (kind, _doc_id), chunks in sorted(docs.items()):
        chunks.sort(key=lambda c: c[0])
        first = chunks[0][2]
        parts = [f"# {first['title']}"] if first.get("title") else []
        section = None
        for _ordinal, text, meta in chunks:
            if meta.get("section") and meta["section"] != section:
                section = meta["section"]
                parts.append(f"## {section}")
            parts.append(text.strip())
        body = "\n\n".join(parts)
        source = str(first.get("source") or first.get("file") or "")
        if col.add("cpt", {"text": body, "source": source, "kind": kind}, body, {"source": source}):
            n += 1
    return n, None


def read_import(path: Path) -> tuple[list[tuple[int, str, str]], list[dict]]:
    """(line, task, script) of an MDAgent or plain JSON-lines file, and the bad lines with reasons."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read import file {path}: {exc}") from exc
    good: list[tuple[int, str, str]] = []
    bad: list[dict] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            task_key = next((k for k in TASK_KEYS if k in row), None)
            code_key = next((k for k in CODE_KEYS if k in row), None)
            if task_key is None or code_key is None:
                raise ValueError(f"needs one of {TASK_KEYS} and one of {CODE_KEYS}")
            task = formats.decode_mdagent(row[task_key])
            code = formats.decode_mdagent(row[code_key])
            if not isinstance(task, str) or not isinstance(code, str):
                raise ValueError("task and code must be strings")
            script = formats.strip_fence(code)
            if not task.strip() or not script:
                raise ValueError("empty task or code")
            good.append((number, task.strip(), script))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            bad.append({"line": number, "reason": str(exc)[:200]})
    return good, bad


# ------------------------------------------------------------------------------------------ the export
def export(opts: ExportOptions) -> dict:
    """Write the datasets and ``manifest.json`` into ``opts.out``; returns the manifest.

    Raises :class:`ExportError` for bad usage (an unreadable import, a missing explicit journal)."""
    if not 0 <= opts.heldout < 1:
        raise ExportError("--heldout must be a fraction in [0, 1)")
    if opts.since and opts.until and opts.since >= opts.until:
        raise ExportError("--since must be before --until")
    for path in opts.imports:
        if EVALBENCH.search(str(Path(path).resolve())):
            raise ExportError(
                f"{path} is an MD-EvalBench file: benchmark tasks are for evaluation, never training"
            )
    imported = [(path, *read_import(path)) for path in opts.imports]  # read first: bad usage fails early
    try:
        corpora = [(path, *read_corpus(path)) for path in opts.corpora]
    except CorpusError as exc:
        raise ExportError(str(exc)) from exc
    excluded = set()
    for path in opts.exclude:
        excluded |= excluded_texts(path)
    turns, journal_note = load_turns(opts)

    opts.out.mkdir(parents=True, exist_ok=True)
    col = Collector(opts.heldout, opts.seed, opts.keep_users, excluded=excluded)
    files = FileStore(opts.out)
    stats: Counter = Counter()
    export_journal(turns, opts, col, files, stats)

    knowledge_docs, knowledge_note = 0, "skipped (--no-knowledge)"
    if opts.knowledge is not None:
        knowledge_docs, knowledge_note = export_knowledge(opts.knowledge, col)

    import_report = []
    for path, rows, bad in imported:
        added = 0
        for _line, task, script in rows:
            meta = {"source": f"import:{path.name}"}
            added += col.add("sft", formats.code_example(task, script), task, meta, script=script)
            col.add("grpo", formats.grpo_prompt(task, {}), task, meta)
        import_report.append({"file": str(path), "pairs": len(rows), "new_sft": added, "bad_lines": bad})

    corpus_report = [export_corpus(path, examples, report, col, files, opts.out)
                     for path, examples, report in corpora]  # fmt: skip

    counts = col.write(opts.out)
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "out": str(opts.out.resolve()),
        "journal": mask_url(opts.journal_url),
        "journal_note": journal_note,
        "knowledge": _knowledge_location(opts.knowledge),
        "knowledge_note": knowledge_note,
        "files": counts,
        "counts": {
            n: {"train": counts[f"{n}.train.jsonl"], "test": counts[f"{n}.test.jsonl"]} for n in NAMES
        },
        "kinds": _kinds(col),
        "filters": {
            "min_rating": opts.min_rating,
            "since": opts.since.isoformat() if opts.since else None,
            "until": opts.until.isoformat() if opts.until else None,
            "channels": list(opts.channels),
            "heldout": opts.heldout,
            "seed": opts.seed,
            "keep_users": opts.keep_users,
            "knowledge": opts.knowledge is not None,
        },
        "turns": {
            "total": len(turns),
            "used": stats["turns_used"],
            "thumbs_down": stats["thumbs_down"],
            "filtered_date": stats["filtered_date"],
            "filtered_channel": stats["filtered_channel"],
            "qa_rated": stats["qa_rated"],
            "qa_accepted": stats["qa_accepted"],
        },
        "knowledge_documents": knowledge_docs,
        "duplicates": dict(col.duplicates),
        "grpo_files": {
            "copied": files.copied,
            "bytes": files.bytes,
            "skipped_missing": stats["files_missing"],
        },
        "imports": import_report,
        "corpora": corpus_report,
        "excluded": {
            "files": [str(p) for p in opts.exclude],
            "texts": len(excluded),
            "dropped": dict(col.excluded_count),
        },  # fmt: skip
    }
    tmp = opts.out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(opts.out / "manifest.json")
    return manifest


def export_corpus(path: Path, examples: list, report, col: Collector, files: FileStore, out: Path) -> dict:
    """A collection of example inputs → sft pairs, grpo prompts (scripts that can run as given, their files
    copied), cpt texts; split by source directory. The held-out ones also become ``<name>.tasks.jsonl``, a
    code task file in the MD-EvalBench format for ``mdbot eval code`` (never trained on)."""
    counts: Counter = Counter()
    held_out = []
    for e in examples:
        meta = {"source": f"corpus:{e.source}", "license": e.license}
        test = col.is_test_key(e.group)
        counts["test" if test else "train"] += 1
        names = sorted(e.files)
        counts["sft"] += col.add("sft", formats.code_example(e.task, e.script, names), e.task, meta,
                                 split=e.group, script=e.script)  # fmt: skip
        counts["cpt"] += col.add("cpt", {"text": e.script.strip(), "source": e.source, "kind": "example"},
                                 e.script, meta, split=e.group, script=e.script)  # fmt: skip
        if e.runnable:
            staged = {n: files.stage(n, p) for n, p in e.files.items()}
            record = formats.grpo_prompt(e.task, staged)
            counts["grpo"] += col.add("grpo", record, e.task, meta, split=e.group, script=e.script)
            if test:
                held_out.append(e)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).resolve().name) or "corpus"
    task_file = out / f"{name}.tasks.jsonl"
    n_tasks = write_tasks(held_out, task_file)
    return {**report.to_dict(), "train_examples": counts["train"], "test_examples": counts["test"],
            "new_sft": counts["sft"], "new_grpo": counts["grpo"], "new_cpt": counts["cpt"],
            "eval_tasks": n_tasks, "eval_file": str(task_file.resolve())}  # fmt: skip


def excluded_texts(path: Path) -> set[str]:
    """Normalized tasks/questions and reference-script keys of a benchmark file (JSON lines or an array)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ExportError(f"cannot read --exclude file {path}: {exc}") from exc
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]  # fmt: skip
    except ValueError as exc:
        raise ExportError(f"--exclude {path}: not JSON lines: {exc}") from exc
    out: set[str] = set()
    for row in rows:
        if not isinstance(row, dict):
            continue
        for k in TASK_KEYS:
            v = formats.decode_mdagent(row.get(k)) if row.get(k) else None
            if isinstance(v, str) and v.strip():
                out.add(formats.normalize(v))
        for k in CODE_KEYS:
            v = formats.decode_mdagent(row.get(k)) if row.get(k) else None
            if isinstance(v, str) and v.strip():
                out.add(script_key(formats.strip_fence(v)))
    out.discard("")
    return out


def _kinds(col: Collector) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name in NAMES:
        kinds = Counter(r["kind"] for r in col.records[name].values() if "kind" in r)
        out[name] = dict(sorted(kinds.items()))
    return out


def _knowledge_location(settings) -> str | None:
    if settings is None:
        return None
    return settings.chroma_url or str(Path(settings.store_dir).resolve())


def iter_jsonl(path: Path) -> Iterable[dict]:
    """The records of one exported file (tests and the trainers' quick checks)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
