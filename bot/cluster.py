"""The cluster in Slack: "run this on the cluster", ``/lammps submit``, the *Submit to cluster* button under an
answer whose script ran, the confirmation, one status message per job, the final report (docs/architecture.md §10).

Flow in a thread: the member asks → a status message ("checking … test run in the sandbox") → it becomes the
confirmation (the resources and the test run, *Submit* / *Don't submit*; only the member who asked may
confirm) → on *Submit* it becomes the job's status message, edited as Slurm's state changes (queued with
Slurm's reason, running with the last thermo line and the speed) with a *Cancel job* button (the member
and lab admins) → at the end it becomes the result summary, with the log, the thermo plot and the final
data/restart files under it, and *Continue from restart* when the job ran out of time. The poller's
events arrive on its thread; the final message is claimed in the journal first, so it is posted once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slack_bolt import App

from . import files as attachments
from . import mrkdwn, replies
from .intake import stage
from .jobs import Job, Refused
from .replies import Upload, context, notice, section

if TYPE_CHECKING:
    from mdbot.cluster.poller import Event
    from mdbot.cluster.service import Cluster, Plan, Prepared
    from mdbot.cluster.store import JobRecord

    from .app import SlackBot
    from .lifecycle import Request

log = logging.getLogger(__name__)
ACTION_SUBMIT = "mdbot_cluster_submit"  # under an answer whose script ran: start the flow with that script
ACTION_CONFIRM = "mdbot_cluster_confirm"
ACTION_ABORT = "mdbot_cluster_abort"
ACTION_CANCEL = "mdbot_cluster_cancel"
ACTION_CONTINUE = "mdbot_cluster_continue"
_ASK = re.compile(
    r"^\s*(?:please\s+)?(?:(?:submit|run|send)\b.*\b(?:on|to)\s+(?:the\s+)?(?:cluster|slurm)\b|submit\b)",
    re.I,
)
_FLAG = re.compile(r"--(nodes|ntasks|time|partition)[ =](\S+)")
_WORDS = re.compile(r"\b(\d+)\s+(nodes?|tasks?|ranks?)\b", re.I)
_SCRIPT = re.compile(r"(^in\..+|.+\.(in|lmp|lammps)$)", re.I)
_KEEP = re.compile(r"(^log\.lammps$|^thermo(-\d+)?\.png$|^slurm-\d+\.out$|\.data$)")
UPLOAD_MAX = 20_000_000
EMOJI = {
    "PENDING": "⏳",
    "RUNNING": "🏃",
    "COMPLETED": "✅",
    "FAILED": "❌",
    "TIMEOUT": "⌛",
    "CANCELLED": "🛑",
}


@dataclass
class Pending:
    """A tested plan waiting for the member's *Submit*."""

    prepared: Prepared
    user: str
    channel: str
    thread_ts: str
    ts: str  # the confirmation message


def resources_from(text: str) -> dict:
    """``--nodes 2 --time 04:00:00`` or "on 2 nodes with 16 tasks" in the member's words."""
    out: dict = {}
    for key, value in _FLAG.findall(text):
        out[key] = int(value) if key in ("nodes", "ntasks") and value.isdigit() else value
    for n, word in _WORDS.findall(text):
        key = "nodes" if word.lower().startswith("node") else "ntasks"
        out.setdefault(key, int(n))
    return out


class ClusterDesk:
    """The Slack side of one cluster. Built and started by :class:`~.app.SlackBot` when a cluster is set up."""

    def __init__(self, bot: SlackBot, cluster: Cluster):
        from mdbot.cluster.poller import Poller

        self.bot, self.cluster, self.poster = bot, cluster, bot.poster
        cluster.group_members = self._group_members
        self.poller = Poller(cluster, self.on_event)
        self.pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self._groups: dict[str, tuple[float, set[str] | None]] = {}

    # ------------------------------------------------------------------------------------------ wiring
    def register(self, app: App) -> None:
        for action in (ACTION_SUBMIT, ACTION_CONFIRM, ACTION_ABORT, ACTION_CANCEL, ACTION_CONTINUE):
            app.action(action)(ack=_ack, lazy=[self.on_action])

    def start(self) -> None:
        """Report what ended while the bot was away, then follow the open jobs."""
        for job in self.cluster.store.unreported(self.cluster.name):
            self._final(job)
        self.poller.start()

    def close(self) -> None:
        self.poller.stop()
        self.cluster.close()

    def wants(self, text: str) -> bool:
        return bool(_ASK.match(text or ""))

    def submit_button(self, turn_id: str) -> dict:
        return _actions(
            "mdbot_cluster_offer", [_button(f"🖥️ Submit to {self.cluster.name}", ACTION_SUBMIT, turn_id)]
        )

    # ------------------------------------------------------------------------------------------ asking
    def take(self, request: Request) -> None:
        """A member asked to submit (message or /lammps submit): test it in a worker, then ask to confirm."""
        status = self.poster.post(
            request.channel, request.thread_ts, *replies.status_blocks(["Preparing a cluster job…"])
        )
        if not status.ok:
            return
        self._queue(
            request.user,
            request.channel,
            request.thread_ts,
            status.ts,
            lambda: self._from_request(request, status.ts),
        )

    def _queue(self, user: str, channel: str, thread_ts: str, ts: str, work) -> None:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - our bug: the member is told, the log has the trace
                log.exception("cluster request in %s failed", channel)
                self._replace(
                    channel,
                    thread_ts,
                    ts,
                    *notice(
                        f"Something went wrong on my side ({type(exc).__name__}: {str(exc)[:300]}).", "💥"
                    ),
                )

        job = Job(user=user, thread=f"{channel}:{thread_ts}", run=run,
                  cancel=lambda why: self._replace(channel, thread_ts, ts, *notice(why, "🔁")))  # fmt: skip
        try:
            self.bot.queue.submit(job)
        except Refused as exc:
            self._replace(channel, thread_ts, ts, *notice(str(exc), "✋"))

    def _from_request(self, request: Request, ts: str) -> None:
        refusal = self.cluster.refusal(request.user)
        if refusal:
            self._replace(request.channel, request.thread_ts, ts, *notice(refusal, "✋"))
            return
        if request.files:
            dest = attachments.thread_dir(
                self.bot.data_dir, request.channel, request.thread_ts, request.message_ts
            )
            token = self.bot.settings.bot_token.get_secret_value()
            try:
                staged = stage(request.files, dest, token, self.bot.settings.api_url, self.bot._max_bytes)
            except attachments.AttachmentError as exc:
                self._replace(
                    request.channel,
                    request.thread_ts,
                    ts,
                    *notice(f"I couldn't use an attachment: {exc}", "📎"),
                )
                return
            found = _pick_script({n: Path(p) for n, p in staged.items()})
        else:
            found = self._thread_script(request.thread_id)
        if found is None:
            self._replace(request.channel, request.thread_ts, ts, *notice(
                "I found no script to submit: attach a LAMMPS input (with its data files), or ask me to write "
                "one in this thread first.", "📄"))  # fmt: skip
            return
        script, files = found
        self._plan_and_test(
            request.user, request.channel, request.thread_ts, ts, script, files, resources_from(request.text)
        )

    def _thread_script(self, thread_id: str) -> tuple[str | Path, list[Path]] | None:
        """The final script of the thread's last script turn, and the files that turn had."""
        journal = getattr(self.bot.brain, "journal", None)
        if journal is None:
            return None
        for turn in reversed(journal.turns(thread_id)):
            script = next((a.script for a in turn.answers if a.script), None)
            if script:
                files = turn.files if isinstance(turn.files, dict) else {}
                return script, [Path(p) for p in files.values() if Path(p).is_file()]
        return None

    def _plan_and_test(
        self, user, channel, thread_ts, ts, script, files, resources, plan: Plan | None = None
    ):
        from mdbot.cluster.service import ClusterError

        try:
            plan = plan or self.cluster.plan(script, files, user=user, **resources)
        except ClusterError as exc:
            self._replace(channel, thread_ts, ts, *notice(str(exc), "✋"))
            return
        steps = self.cluster.settings.test_steps
        self._edit(channel, ts, *replies.status_blocks(
            ["Preparing a cluster job…", f"Checking the script and a short test run in the sandbox ({steps} steps per run)…"]))  # fmt: skip
        prepared = self.cluster.test(plan)
        if prepared.problem:
            self._replace(channel, thread_ts, ts, *notice(f"Not submitted: {prepared.problem}", "🧪"))
            return
        key = f"c{int(time.time() * 1000):x}{len(self.pending)}"
        with self._lock:
            self.pending[key] = Pending(prepared, user, channel, thread_ts, ts)
        text, blocks = self._confirmation(prepared, user, key)
        self._replace(channel, thread_ts, ts, text, blocks)

    def _confirmation(self, prepared: Prepared, user: str, key: str) -> tuple[str, list[dict]]:
        test = prepared.test_run
        speed = (
            f", {test.performance.timesteps_per_s:,.0f} steps/s" if test.performance.timesteps_per_s else ""
        )
        lines = [
            f"*Ready to submit to {mrkdwn.escape(self.cluster.name)}* — <@{user}>, please confirm.",
            f"*Resources:* {mrkdwn.escape(prepared.plan.summary())}",
            f"*Test run in the sandbox:* {test.status}, {test.final_step or 0} steps{speed}"
            + ("" if test.health.ok else f" — health: {mrkdwn.escape('; '.join(test.health.issues))}"),
        ]
        notes = list(prepared.plan.notes)
        if prepared.restart_added:
            notes.append(
                f"I'll add restart output every {self.cluster.settings.restart_every} steps so the job can be continued."
            )
        blocks = [section("\n".join(lines))]
        if notes:
            blocks.append(context(mrkdwn.escape(" ".join(notes))))
        blocks.append(_actions("mdbot_cluster_confirm", [
            _button(f"Submit to {self.cluster.name}", ACTION_CONFIRM, key, style="primary"),
            _button("Don't submit", ACTION_ABORT, key),
        ]))  # fmt: skip
        return f"Ready to submit to {self.cluster.name}: {prepared.plan.summary()}", blocks

    # ------------------------------------------------------------------------------------------ buttons
    def on_action(self, body: dict) -> None:
        action = body["actions"][0]
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts") or ""
        value = action.get("value", "")
        handler = {
            ACTION_CONFIRM: self._confirm, ACTION_ABORT: self._abort, ACTION_CANCEL: self._cancel,
            ACTION_CONTINUE: self._continue, ACTION_SUBMIT: self._submit_turn,
        }[action["action_id"]]  # fmt: skip
        try:
            handler(user, channel, thread_ts, value)
        except Exception as exc:  # noqa: BLE001 - our bug: the member is told, the log has the trace
            log.exception("cluster button %s failed", action["action_id"])
            self.poster.ephemeral(
                channel, user, f"Something went wrong on my side ({type(exc).__name__}).", thread_ts
            )

    def _take_pending(self, user: str, channel: str, thread_ts: str, key: str) -> Pending | None:
        with self._lock:
            pending = self.pending.get(key)
            if pending is None:
                self.poster.ephemeral(channel, user, "This confirmation is no longer open (submitted, withdrawn, or "
                                      "the bot restarted); ask again to submit.", thread_ts)  # fmt: skip
                return None
            if pending.user != user:
                self.poster.ephemeral(
                    channel, user, f"Only <@{pending.user}>, who asked, can confirm this job.", thread_ts
                )
                return None
            return self.pending.pop(key)  # a double click submits once

    def _confirm(self, user: str, channel: str, thread_ts: str, key: str) -> None:
        pending = self._take_pending(user, channel, thread_ts, key)
        if pending is None:
            return
        self._edit(
            pending.channel, pending.ts, *replies.status_blocks([f"Submitting to {self.cluster.name}…"])
        )
        try:
            job = self.cluster.submit(pending.prepared, thread_id=f"{pending.channel}:{pending.thread_ts}",
                                      channel=pending.channel, status_ts=pending.ts)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - ClusterError and our own failures alike: said in the thread
            self._replace(
                pending.channel, pending.thread_ts, pending.ts, *notice(f"Not submitted: {exc}", "✋")
            )
            return
        if job.state == "REFUSED":
            self._replace(
                pending.channel, pending.thread_ts, pending.ts, *notice(f"Not submitted: {job.error}", "✋")
            )
            return
        self._show(job)
        self.poller.wake()

    def _abort(self, user: str, channel: str, thread_ts: str, key: str) -> None:
        pending = self._take_pending(user, channel, thread_ts, key)
        if pending is not None:
            self._replace(
                pending.channel, pending.thread_ts, pending.ts, *notice("Not submitted, as you asked.", "👌")
            )

    def _cancel(self, user: str, channel: str, thread_ts: str, job_id: str) -> None:
        from mdbot.cluster.service import ClusterError

        try:
            job = self.cluster.cancel(job_id, user)
        except ClusterError as exc:
            self.poster.ephemeral(channel, user, str(exc), thread_ts)
            return
        self.poster.ephemeral(channel, user, f"Cancelling job {job.cluster_id}…", thread_ts)
        self.poller.wake()

    def _continue(self, user: str, channel: str, thread_ts: str, job_id: str) -> None:
        from mdbot.cluster.service import ClusterError

        job = self.cluster.store.get(job_id)
        if job is None:
            self.poster.ephemeral(channel, user, "I can't find that job in my journal any more.", thread_ts)
            return
        status = self.poster.post(
            channel,
            thread_ts,
            *replies.status_blocks([f"Preparing the continuation of job {job.cluster_id}…"]),
        )
        if not status.ok:
            return

        def work() -> None:
            try:
                plan = self.cluster.continuation_plan(job, user)
            except ClusterError as exc:
                self._replace(channel, thread_ts, status.ts, *notice(str(exc), "✋"))
                return
            self._plan_and_test(user, channel, thread_ts, status.ts, None, [], {}, plan=plan)

        self._queue(user, channel, thread_ts, status.ts, work)

    def _submit_turn(self, user: str, channel: str, thread_ts: str, turn_id: str) -> None:
        status = self.poster.post(channel, thread_ts, *replies.status_blocks(["Preparing a cluster job…"]))
        if not status.ok:
            return

        def work() -> None:
            refusal = self.cluster.refusal(user)
            if refusal:
                self._replace(channel, thread_ts, status.ts, *notice(refusal, "✋"))
                return
            found = self._thread_script(f"{channel}:{thread_ts}")
            if found is None:
                self._replace(
                    channel,
                    thread_ts,
                    status.ts,
                    *notice("I can't find that script in my journal any more.", "📄"),
                )
                return
            self._plan_and_test(user, channel, thread_ts, status.ts, found[0], found[1], {})

        self._queue(user, channel, thread_ts, status.ts, work)

    # ------------------------------------------------------------------------------------------ following
    def on_event(self, event: Event) -> None:
        job = event.job
        if job.thread is None or not job.status_ts:
            return  # a command-line job: nobody to tell in Slack
        if event.kind == "final":
            self._final(job)
        elif event.kind in ("state", "progress"):
            self._show(job, event.text if event.kind == "progress" else None)
        elif event.kind in ("outage", "recovered"):
            channel, thread_ts = job.thread
            self.poster.post(
                channel, thread_ts, *notice(event.text, "📡" if event.kind == "outage" else "✅")
            )

    def _show(self, job: JobRecord, progress: str | None = None) -> None:
        text, blocks = self._status(job, progress)
        self.poster.edit(job.channel or job.thread[0], job.status_ts, text, blocks, progress=True)

    def _status(self, job: JobRecord, progress: str | None) -> tuple[str, list[dict]]:
        r = job.resources
        state = job.state
        head = (
            f"{EMOJI.get(state, '•')} *Job {job.cluster_id} on {mrkdwn.escape(job.cluster)}: {state.lower()}*"
        )
        if state == "PENDING" and job.reason:
            head += f" — waiting for {mrkdwn.escape(job.reason)}"
        lines = [head, f"{r.get('nodes')} node(s), {r.get('ntasks')} task(s), time {r.get('time')}"
                 + (f", partition {r['partition']}" if r.get("partition") else "")]  # fmt: skip
        if progress:
            lines.append(mrkdwn.escape(progress))
        blocks = [section("\n".join(lines)), context(f"<@{job.user_id}> · `{mrkdwn.escape(job.workdir)}`")]
        blocks.append(
            _actions("mdbot_cluster_job", [_button("Cancel job", ACTION_CANCEL, job.id, style="danger")])
        )
        return f"Job {job.cluster_id}: {state.lower()}", blocks

    def _final(self, job: JobRecord) -> None:
        if job.thread is None or not self.cluster.store.claim_report(job.id):
            return  # another poll (or the bot before a restart) reported it
        channel, thread_ts = job.thread
        text, blocks = self._summary(job)
        if job.status_ts:
            self.poster.replace(channel, thread_ts, job.status_ts, text, blocks)
        else:
            self.poster.post(channel, thread_ts, text, blocks)
        uploads = _result_uploads(job)
        if uploads:
            sent = self.poster.upload(channel, thread_ts, uploads)
            if not sent.ok:
                self.poster.post(
                    channel, thread_ts, *notice(f"I couldn't upload the job's files: {sent.error}.", "📎")
                )

    def _summary(self, job: JobRecord) -> tuple[str, list[dict]]:
        from mdbot.cluster.template import last_restart

        res = job.result or {}
        state = job.state
        took = _took(job)
        head = f"{EMOJI.get(state, '•')} *Job {job.cluster_id} on {mrkdwn.escape(job.cluster)}: {state.lower()}*{took}"
        lines = [head]
        status = res.get("status")
        if status:
            verdict = {"ok": "LAMMPS finished", "error": "LAMMPS failed", "timeout": "stopped at the time limit",
                       "killed": "cancelled"}.get(status, status)  # fmt: skip
            lines.append(f"*Result:* {verdict}")
        err = res.get("error")
        if err:
            where = (
                f" (line {err['line']}: `{mrkdwn.escape(err.get('command') or '')}`)"
                if err.get("line")
                else ""
            )
            lines.append(f"*Error:* {mrkdwn.escape(err['message'])}{where}")
            if err.get("hint"):
                lines.append(f"_{mrkdwn.escape(err['hint'])}_")
        elif job.error and not res:
            lines.append(mrkdwn.escape(job.error))
        health = res.get("health") or {}
        if res:
            lines.append(
                "*Health:* "
                + (
                    "looks fine"
                    if health.get("ok", True)
                    else mrkdwn.escape("; ".join(health.get("issues", [])))
                )
            )
        facts = []
        if res.get("final_step") is not None:
            facts.append(f"final step {res['final_step']:,}")
        perf = (res.get("performance") or {}).get("timesteps_per_s")
        if perf:
            facts.append(f"{perf:,.1f} timesteps/s")
        if facts:
            lines.append(" · ".join(facts))
        thermo = res.get("thermo") or []
        if thermo and thermo[-1].get("rows"):
            t = thermo[-1]
            row = ", ".join(
                f"{c} {v:.5g}" for c, v in zip(t["columns"], t["rows"][-1], strict=False) if v is not None
            )
            lines.append(f"Last thermo line: {mrkdwn.escape(row)}")
        blocks = [section("\n".join(lines)[: mrkdwn.SECTION_LIMIT])]
        notes = " ".join(job.notes)
        blocks.append(
            context(
                f"<@{job.user_id}> · `{mrkdwn.escape(job.workdir)}`"
                + (f" · {mrkdwn.escape(notes)}" if notes else "")
            )
        )
        names = [f["name"] for f in res.get("files", [])]
        if state == "TIMEOUT" and last_restart(names):
            blocks.append(
                _actions(
                    "mdbot_cluster_continue",
                    [_button("Continue from restart", ACTION_CONTINUE, job.id, style="primary")],
                )
            )
        return f"Job {job.cluster_id}: {state.lower()}", blocks

    # ------------------------------------------------------------------------------------------ helpers
    def _group_members(self, group: str) -> set[str] | None:
        """Members of a Slack user group (cached five minutes); None when Slack will not say."""
        cached = self._groups.get(group)
        if cached and time.monotonic() - cached[0] < 300:
            return cached[1]
        try:
            members = set(self.bot.client.usergroups_users_list(usergroup=group)["users"])
        except Exception as exc:  # noqa: BLE001 - no usergroups:read scope, or Slack unreachable: refuse
            log.warning("could not list user group %s: %s", group, exc)
            members = None
        self._groups[group] = (time.monotonic(), members)
        return members

    def _edit(self, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
        self.poster.edit(channel, ts, text, blocks, progress=True)

    def _replace(self, channel: str, thread_ts: str, ts: str, text: str, blocks: list[dict]) -> None:
        self.poster.replace(channel, thread_ts, ts, text, blocks)


def _pick_script(files: dict[str, Path]) -> tuple[Path, list[Path]] | None:
    """The input script among attached files (in.*, *.in, *.lmp, *.lammps), the rest as its inputs."""
    scripts = [n for n in files if _SCRIPT.match(n)]
    if not scripts:
        return None
    name = sorted(scripts)[0]
    return files[name], [p for n, p in files.items() if n != name]


def _result_uploads(job: JobRecord) -> list[Upload]:
    from mdbot.cluster.template import last_restart

    local = Path(job.local_dir)
    res = job.result or {}
    names = [f["name"] for f in res.get("files", [])]
    keep = [n for n in names if _KEEP.search(n)]
    restart = last_restart(names)
    if restart:
        keep.append(restart[0])
    titles = {"log.lammps": "LAMMPS log", "thermo.png": "Thermo plot"}
    out = []
    for name in keep:
        path = local / name
        if path.is_file() and 0 < path.stat().st_size <= UPLOAD_MAX:
            out.append(Upload(name, titles.get(name, name), path=str(path)))
    return out


def _took(job: JobRecord) -> str:
    if job.started_at and job.ended_at:
        from mdbot.cluster.settings import format_time

        return f" after {format_time(int((job.ended_at - job.started_at).total_seconds()))}"
    return ""


def _button(text: str, action: str, value: str, style: str | None = None) -> dict:
    b = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def _actions(block_id: str, elements: list[dict]) -> dict:
    return {"type": "actions", "block_id": block_id, "elements": elements}


def _ack(ack) -> None:
    ack()
