"""Following the open jobs: one ``squeue`` call per interval for all of them, however many there are.

Each tick reads the open jobs from the store (so a restarted bot follows what the last one submitted),
asks squeue about all of them at once, and turns what changed into :class:`Event` s: a new state or pending
reason, a running job's last thermo line, the end. A job that left the queue gets its end state from
``sacct`` (one call for all of them) where the cluster keeps accounting, otherwise from the exit file its
batch script wrote and its LAMMPS log. When Slurm or the submit host does not answer, the poller retries
with exponential back-off (never declaring a job lost) and, after ``outage_notice_s``, says so once per job;
it says so again when Slurm is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import report, template
from .service import Cluster, slim
from .slurm import TERMINAL, QueueEntry, SlurmError
from .store import JobRecord, now
from .transport import TransportError

log = logging.getLogger(__name__)
LOG_TAIL_BYTES = 256 * 1024


@dataclass
class Event:
    """``kind``: state (queued/running/reason changed), progress (a new thermo line), final (the job ended and
    ``job.result`` holds its result), outage (Slurm has not answered for a while), recovered."""

    kind: str
    job: JobRecord
    text: str = ""


class Poller:
    """Polls in a thread (:meth:`start`/:meth:`stop`) or on demand (:meth:`tick`)."""

    def __init__(
        self,
        cluster: Cluster,
        on_event: Callable[[Event], None] | None = None,
        *,
        interval_s: float | None = None,
        pictures: bool | None = None,
    ):
        self.cluster = cluster
        self.on_event = on_event or (lambda event: None)
        self.interval_s = interval_s or cluster.settings.poll_interval_s
        self.pictures = cluster.sandbox.pictures if pictures is None else pictures
        self.failing_since: float | None = None
        self.failures = 0
        self.last_error: str | None = None
        self._told_outage: set[str] = set()
        self._seen: dict[str, QueueEntry] = {}  # the last squeue line of each job
        self._progress: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    # ------------------------------------------------------------------------------------------ thread
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mdbot-cluster-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Poll now (a job was just submitted or cancelled)."""
        self._wake.set()

    @property
    def delay_s(self) -> float:
        """The wait before the next poll: the interval, doubled per failure in a row up to backoff_max_s."""
        if not self.failures:
            return self.interval_s
        return min(self.cluster.settings.backoff_max_s, self.interval_s * 2**self.failures)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the poller must outlive any one bad tick; the log has it
                log.exception("cluster poll failed")
            self._wake.wait(self.delay_s)
            self._wake.clear()

    # ------------------------------------------------------------------------------------------ one poll
    def tick(self) -> list[Event]:
        """One poll of every open job; returns (and hands to ``on_event``) what changed."""
        with self._lock:
            self.ticks += 1
            events = self._tick()
        for event in events:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - a failed Slack post must not stop following the jobs
                log.exception("handling %s of job %s failed", event.kind, event.job.id)
        return events

    def _tick(self) -> list[Event]:
        jobs = [j for j in self.cluster.store.open_jobs(self.cluster.name) if j.cluster_id]
        if not jobs:
            return []
        slurm = self.cluster.slurm
        try:
            queue = slurm.queue([j.cluster_id for j in jobs])
        except (SlurmError, TransportError) as exc:
            return self._failed(jobs, exc)
        events = self._recovered(jobs)
        vanished: list[JobRecord] = []
        for job in jobs:
            entry = queue.get(job.cluster_id)
            if entry is None:
                vanished.append(job)
                continue
            self._seen[job.id] = entry
            if entry.state in TERMINAL:
                events += self._finish(job, report.EndState(entry.state, None, "squeue", entry.elapsed_s))
            else:
                events += self._update(job, entry)
        if vanished:
            events += self._vanished(vanished)
        return events

    def _update(self, job: JobRecord, entry: QueueEntry) -> list[Event]:
        events = []
        reason = entry.reason if entry.reason not in ("None", "") else None
        if entry.state != job.state or reason != job.reason:
            extra = {}
            if entry.state == "RUNNING" and job.started_at is None:
                extra["started_at"] = now()
            job = self.cluster.store.record_state(job, entry.state, reason, **extra)
            events.append(Event("state", job))
        if entry.state == "RUNNING":
            line = self._progress_line(job, entry)
            if line and line != self._progress.get(job.id):
                self._progress[job.id] = line
                events.append(Event("progress", job, line))
        return events

    def _progress_line(self, job: JobRecord, entry: QueueEntry) -> str | None:
        text = self.cluster.transport.read_tail(f"{job.workdir}/{template.LOG}", LOG_TAIL_BYTES)
        if not text:
            return None
        p = report.progress(text, template.total_steps(job.script))
        if p is None:
            return None
        line = p.line()
        if p.step and entry.elapsed_s:
            from mdbot.sandbox.script import commands

            line += " · " + report.speed(p.step / max(entry.elapsed_s, 1), commands(job.script))
        return line

    def _vanished(self, jobs: list[JobRecord]) -> list[Event]:
        """Jobs squeue no longer lists: sacct where there is accounting, else what the job left."""
        events: list[Event] = []
        try:
            acct = self.cluster.slurm.accounting([j.cluster_id for j in jobs])
        except (SlurmError, TransportError) as exc:
            log.warning("sacct failed (%s); using the jobs' exit files", exc)
            acct = None
        for job in jobs:
            rec = acct.get(job.cluster_id) if acct else None
            if rec is not None:
                code = rec.exit_code.split(":")[0]
                end = report.EndState(
                    rec.state, int(code) if code.isdigit() else None, "sacct", rec.elapsed_s
                )
            else:
                end = self._from_exit_file(job)
            events += self._finish(job, end)
        return events

    def _from_exit_file(self, job: JobRecord) -> report.EndState:
        seen = self._seen.get(job.id)
        text = self.cluster.transport.read_tail(f"{job.workdir}/{template.EXIT_FILE}", 100)
        status = report.read_exit_file(text)
        if isinstance(status, int):
            return report.EndState("COMPLETED" if status == 0 else "FAILED", status, "exit-file")
        if status == template.TERMINATED:
            cancelled = any("cancel requested" in (h.get("note") or "") for h in job.history)
            limit = _seconds(job.resources.get("time"))
            ran = (now() - job.started_at).total_seconds() if job.started_at else None
            if not cancelled and limit and ran is not None and ran >= limit - 5:
                return report.EndState("TIMEOUT", None, "exit-file", int(ran))
            return report.EndState("CANCELLED", None, "exit-file")
        if seen is not None and seen.state in ("PENDING", "CONFIGURING"):
            return report.EndState("CANCELLED", None, "squeue")  # left the queue before it started
        return report.EndState("UNKNOWN", None, "none")

    def _finish(self, job: JobRecord, end: report.EndState) -> list[Event]:
        c = self.cluster
        local = Path(job.local_dir)
        if not c.transport.shared_fs:
            try:
                c.transport.get(job.workdir, local)
            except TransportError as exc:
                log.warning("could not fetch job %s yet: %s", job.id, exc)
                return []  # next tick tries again; the job stays open
        if end.exit_code is None and end.state in ("COMPLETED", "FAILED"):
            status = report.read_exit_file(_read(local / template.EXIT_FILE))
            if isinstance(status, int):
                end = report.EndState(end.state, status, end.source, end.elapsed_s)
        console = _read(local / f"slurm-{job.cluster_id}.out") or ""
        if end.state == "UNKNOWN":
            result = None
            error = (
                f"Slurm no longer knows job {job.cluster_id} and it left no exit status; "
                "its directory may say more."
            )
        else:
            res = report.final_result(
                local,
                job.script_name,
                job.script,
                end,
                c.sandbox,
                pictures=self.pictures,
                console=console[-8000:],
            )
            result = slim(res.model_dump())
            error = res.error.message if res.error else None
        if end.source == "exit-file":
            job.notes.append(
                f"{c.name} keeps no accounting (sacct needs slurmdbd): the end state comes from the job's own "
                "exit file and log."
            )
        job = c.store.record_state(
            job, end.state, None, open=False, ended_at=now(), result=result, error=error, notes=job.notes
        )
        self._seen.pop(job.id, None)
        self._progress.pop(job.id, None)
        self._told_outage.discard(job.id)
        return [Event("final", job)]

    # ------------------------------------------------------------------------------------------ faults
    def _failed(self, jobs: list[JobRecord], exc: Exception) -> list[Event]:
        self.failures += 1
        self.last_error = str(exc)
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        log.warning("polling %s failed (%d in a row, next try in %.0f s): %s", self.cluster.name,
                    self.failures, self.delay_s, exc)  # fmt: skip
        if time.monotonic() - self.failing_since < self.cluster.settings.outage_notice_s:
            return []
        events = []
        since = datetime.now(UTC).timestamp() - (time.monotonic() - self.failing_since)
        when = datetime.fromtimestamp(since, UTC).strftime("%H:%M UTC")
        text = (
            f"{self.cluster.name} is not answering since {when} ({exc}). Your job is not lost: I keep trying, "
            "less often, and will report here."
        )
        for job in jobs:
            if job.id not in self._told_outage:
                self._told_outage.add(job.id)
                history = [
                    *job.history,
                    {"at": now().isoformat(), "state": job.state, "note": f"Slurm not answering: {exc}"},
                ]
                self.cluster.store.update(job.id, history=history)
                events.append(Event("outage", job, text))
        return events

    def _recovered(self, jobs: list[JobRecord]) -> list[Event]:
        if not self.failures:
            return []
        self.failures, self.failing_since, self.last_error = 0, None, None
        told = [j for j in jobs if j.id in self._told_outage]
        self._told_outage.clear()
        return [Event("recovered", j, f"{self.cluster.name} answers again; following the job.") for j in told]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _seconds(text: str | None) -> int | None:
    from .settings import parse_time

    try:
        return parse_time(text) if text else None
    except ValueError:
        return None
