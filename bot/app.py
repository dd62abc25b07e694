"""The Slack app: Bolt listeners that turn mentions, DMs, thread replies and ``/lammps`` into brain turns.

Bolt acknowledges within Slack's 3 seconds; the work happens in lazy listeners (docs/architecture.md §7) and, for
graph runs, in :class:`bot.jobs.JobQueue`. Each Slack thread is one graph thread, ``<channel>:<thread_ts>``.

One request, one status message: it is posted in the thread at once ("queued, 2 ahead" when busy), edited
as the graph reports progress, and replaced by the answer; files go up under it. Every path out of a
request — refusal, bad attachment, our own bug — ends with a message in the thread. What may be edited
when is the request's phase (:mod:`bot.lifecycle`); the Web API calls are :mod:`bot.posting`'s, the
feedback buttons :mod:`bot.feedback`'s. This module is the wiring: Bolt's listeners, and the brain's turns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from slack_bolt import App, BoltResponse
from slack_bolt.context.set_suggested_prompts import SetSuggestedPrompts
from slack_sdk import WebClient

from . import feedback, intake, replies
from . import files as attachments
from .agent import Agent, Stream
from .fleet import Fleet
from .home import Home
from .intake import clean_text
from .jobs import Job, JobQueue, Refused
from .lifecycle import Phase, Request
from .mrkdwn import escape, to_mrkdwn
from .posting import BLOCK_ERRORS, Poster, Sent, web_client
from .settings import SlackSettings

if TYPE_CHECKING:
    from mdbot.cluster.service import Cluster
    from mdbot.graph.service import Brain, Turn

log = logging.getLogger(__name__)
COMMAND = "/lammps"
SHORTCUT = "mdbot_ask_about"  # the message shortcut "Ask mdbot about this" (bot/manifest.yaml)
ACCEPTED_SUBTYPES = {None, "file_share", "thread_broadcast"}  # every other subtype is not a user's message
USAGE = (
    "\n\n*Where to find me:* mention me in a channel (I answer in a thread; reply there without mentioning "
    "me), send me a direct message, or type `/lammps &lt;request&gt;`. Attach input, data and potential "
    "files to your message or a thread reply."
)


class SlackBot:
    """Build once per process with a brain; ``bot.app`` is the Bolt app to serve."""

    def __init__(
        self,
        settings: SlackSettings,
        brain: Brain,
        *,
        data_dir: Path | None = None,
        client: WebClient | None = None,
        cluster: Cluster | None = None,
    ):
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.settings, self.brain = settings, brain
        self.data_dir = Path(data_dir or brain.settings.data_dir)
        self.client = client or web_client(settings)
        self.poster = Poster(self.client, client or web_client(settings, wait_on_rate_limit=False))
        auth = self.client.auth_test()  # fails early and clearly on a wrong token
        self.bot_user_id: str = auth["user_id"]
        self.bot_id: str | None = auth.get("bot_id")
        self.team: str = auth.get("team", "")
        self.team_id: str | None = auth.get("team_id")
        self.workspace_url: str = auth.get("url", "")
        self.queue = JobQueue(
            workers=settings.workers,
            queue_limit=settings.queue_limit,
            user_concurrency=settings.user_concurrency,
            user_rate=settings.user_rate,
        )
        self.fleet = Fleet(
            getattr(brain, "journal", None),
            lease_s=settings.lease_s,
            heartbeat_s=settings.heartbeat_s,
            mode="socket" if settings.socket_mode else "http",
        )
        self.agent = Agent(self.client)
        self.home = Home(self, settings.home_interval_s)
        self.cluster = None  # the lab's Slurm cluster in Slack (bot/cluster.py), when one is set up
        if cluster is not None:
            from .cluster import ClusterDesk

            self.cluster = ClusterDesk(self, cluster)
        self.app = App(
            client=self.client,
            signing_secret=settings.signing_secret.get_secret_value() if settings.signing_secret else "",
            request_verification_enabled=not settings.socket_mode,
            token_verification_enabled=False,  # done above, once
            process_before_response=False,
            raise_error_for_unhandled_request=False,
        )
        self._register()
        if self.cluster is not None:
            self.cluster.start()  # follows the open jobs, reports those that ended while it was away
        self.fleet.start(self._adopt)  # heartbeats; finishes the requests of processes that are gone
        self._stopping = threading.Event()
        threading.Thread(target=self._housekeeping, name="mdbot-retention", daemon=True).start()

    def _housekeeping(self) -> None:
        """Retention (bot/retention.py): a minute after start, then daily."""
        from .retention import prune

        wait = 60.0
        while not self._stopping.wait(wait):
            wait = 86400.0
            try:
                sandbox = self.brain.context.sandbox
                prune(Path(sandbox.data_dir), Path(sandbox.jobs_dir), self.settings.retention_days,
                      self.settings.retention_floor_h)  # fmt: skip
            except Exception:  # noqa: BLE001 - retention must never stop the bot
                log.exception("retention failed")

    def ready(self) -> tuple[bool, str]:
        """Readiness (HTTP mode's /readyz): taking work, the journal's database reachable, the heartbeat on."""
        if self._stopping.is_set():
            return False, "stopping"
        running, waiting = self.queue.counts()
        if waiting >= self.settings.queue_limit:
            return False, f"queue full ({waiting} waiting)"
        journal = getattr(self.brain, "journal", None)
        if journal is not None:
            try:
                from sqlalchemy import text

                with journal.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as exc:  # noqa: BLE001
                return False, f"journal database unreachable ({type(exc).__name__})"
        if not self.fleet.healthy:
            return False, "heartbeat to the journal's database is late"
        return True, f"ready: {running} running, {waiting} waiting"

    # --------------------------------------------------------------------------------------- wiring
    def _register(self) -> None:
        app = self.app
        app.middleware(self._dedupe)
        app.event("app_mention")(ack=_ack, lazy=[self._on_mention])
        app.event("message")(ack=_ack, lazy=[self._on_message])
        app.event("app_home_opened")(ack=_ack, lazy=[self._on_home_opened])
        app.event("assistant_thread_started")(ack=_ack, lazy=[self._on_thread_started])
        app.event("assistant_thread_context_changed")(_ack)
        app.shortcut(SHORTCUT)(ack=_ack, lazy=[self._on_shortcut])
        app.command(COMMAND)(ack=self._ack_command, lazy=[self._on_command])
        feedback.register(app, self.brain, self.poster)
        if self.cluster is not None:
            self.cluster.register(app)
        app.error(self._on_error)

    def _dedupe(self, body: dict, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        """Slack redelivers an event it thinks we missed, and with several processes another may have it: the
        same event_id is handled once, by whichever process claims it first (bot/fleet.py). The claim is one
        INSERT, the only thing an acknowledgement waits for. One log line per event (:func:`log_event`):
        here for duplicates and for events other than messages, at the end of :meth:`_handle` for messages."""
        event_id = body.get("event_id")
        if event_id:
            started = time.monotonic()
            event = body.get("event") or {}
            kind = event.get("type")
            keep = body if kind in ("app_mention", "message") else None  # kept until its request exists
            if not self.fleet.first_event("event:" + event_id, keep):
                log_event(event_id, event, None, "duplicate", started)
                return BoltResponse(status=200, body="")
            next()
            if keep is None:
                log_event(event_id, event, None, "handled", started)
            return None
        next()
        return None

    def _on_error(self, error: Exception, body: dict) -> None:
        log.error("listener failed on %s: %r", body.get("type"), error, exc_info=error)

    # --------------------------------------------------------------------------------------- messages
    def _on_mention(self, event: dict, body: dict) -> None:
        self._handle(event, mentioned=True, event_id=body.get("event_id"), team=body.get("team_id"))

    def _on_message(self, event: dict, body: dict) -> None:
        self._handle(event, mentioned=False, event_id=body.get("event_id"), team=body.get("team_id"))

    def follows(self, channel: str, thread_ts: str) -> bool:
        """Whether the bot has answered in this thread (so follow-ups need no mention), in any process."""
        key = f"{channel}:{thread_ts}"
        if self.fleet.follows(key):
            return True
        journal = getattr(self.brain, "journal", None)
        if journal is not None and journal.has_thread(key):
            self._follow(key)
            return True
        return False

    def _follow(self, thread_id: str) -> None:
        self.fleet.follow(thread_id)

    def _handle(
        self, event: dict, mentioned: bool, event_id: str | None = None, team: str | None = None
    ) -> None:
        """Any failure of ours while taking a message the bot was asked is said in the thread. The event is
        done once it is taken (its request exists: recorded with the request) or ignored; until then another
        process may take it over. Its one log line says which request it became and how it went."""
        started = time.monotonic()
        key = f"event:{event_id}" if event_id else None
        request, outcome = None, "failed"
        try:
            request, outcome = self._take(event, mentioned, team, key)
        except Exception as exc:  # noqa: BLE001
            log.exception("could not take a message in %s", event.get("channel"))
            if mentioned or event.get("channel_type") == "im":
                self._oops(event.get("channel", ""), event.get("thread_ts") or event.get("ts"), exc)
        finally:
            if key and request is None:
                self.fleet.event_done(key)
            if event_id:
                log_event(event_id, event, request, outcome, started)

    def _take(
        self, event: dict, mentioned: bool, team: str | None = None, key: str | None = None
    ) -> tuple[Request | None, str]:
        """The request this message becomes, with what happened to it (for the event's log line)."""
        if event.get("subtype") not in ACCEPTED_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
            return None, "ignored"  # edits, deletions, joins, and every bot's messages (ours included)
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not user or not channel or not ts or user == self.bot_user_id:
            return None, "ignored"
        text = event.get("text") or ""
        thread_ts = event.get("thread_ts") or ts
        is_dm = event.get("channel_type") == "im"
        addressed = (
            mentioned
            or is_dm
            or f"<@{self.bot_user_id}" in text
            or (thread_ts != ts and self.follows(channel, thread_ts))
        )
        if not addressed:
            return None, "ignored"
        request = Request(
            user=user,
            channel=channel,
            thread_ts=thread_ts,
            message_ts=ts,
            text=clean_text(text, self.bot_user_id),
            files=list(event.get("files") or []),
            team=event.get("team") or team or self.team_id,
        )
        if not self.fleet.open(request, key):
            return (
                None,
                "taken already",
            )  # the same message as app_mention and as message, or another process's
        refusal = self._channel_refusal(channel, is_dm)
        if refusal:
            self.poster.ephemeral(channel, user, refusal, thread_ts if thread_ts != ts else None)
            self._mark(request, "closed", note=refusal)
            return request, "refused"
        return request, self.start(request)

    def _channel_refusal(self, channel: str, is_dm: bool) -> str | None:
        if is_dm or channel.startswith("D"):
            return (
                None if self.settings.dms else "Direct messages to me are turned off here; ask in a channel."
            )
        allowed = self.settings.channels
        if allowed and channel not in allowed:
            where = ", ".join(f"<#{c}>" for c in allowed[:5])
            return f"I don't answer in this channel. Ask me in {where}, or send me a direct message."
        return None

    # --------------------------------------------------------------------------------------- /lammps
    def _ack_command(self, ack: Callable[..., None], command: dict) -> None:
        """Within Slack's 3 s: help is answered here, everything else in the lazy listener (which runs
        concurrently, so the two decide independently from the same text)."""
        if _is_help(command.get("text")):
            ack(response_type="ephemeral", text=self.help_text())
        else:
            ack()

    def _on_command(self, command: dict, respond: Callable[..., object]) -> None:
        try:
            self._take_command(command, respond)
        except Exception as exc:  # noqa: BLE001
            log.exception("could not take a /lammps command")
            respond(
                response_type="ephemeral", text=f"Something went wrong on my side ({type(exc).__name__})."
            )

    def _take_command(self, command: dict, respond: Callable[..., object]) -> None:
        text = clean_text(command.get("text") or "", None)  # Slack sends &, <, > escaped
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        if _is_help(text):
            return
        refusal = self._channel_refusal(channel, command.get("channel_name") == "directmessage")
        refusal = refusal or self.queue.refusal(user)
        if refusal:
            respond(response_type="ephemeral", text=refusal)
            return
        quoted = "\n".join("> " + line for line in escape(text).splitlines())
        root = self.poster.post(channel, None, f"<@{user}> asked with {COMMAND}:\n{quoted}")
        if not root.ok:
            why = (
                "I'm not in this channel — invite me with `/invite @mdbot`, or DM me"
                if root.error in ("not_in_channel", "channel_not_found")
                else f"Slack refused my message ({root.error})"
            )
            respond(response_type="ephemeral", text=f"I couldn't start a thread here: {why}.")
            return
        request = Request(user=user, channel=channel, thread_ts=root.ts, message_ts=root.ts, text=text,
                          team=command.get("team_id") or self.team_id)  # fmt: skip
        self._follow(request.thread_id)
        if self.fleet.open(request):
            self.start(request)

    def help_text(self) -> str:
        from mdbot.graph.prompts import HELP_TEXT

        return to_mrkdwn(HELP_TEXT.format(budget=self.brain.settings.attempt_budget)) + USAGE

    # --------------------------------------------------------------------------------------- requests
    def start(self, request: Request) -> str:
        """Show that the request is taken — the thread's status line where Slack has it, else a status
        message — and queue the work; a refusal replaces the status message. Returns what became of it."""
        if not request.text and not request.files:
            self._say(request, *replies.info("👋 " + self.help_text()))
            self._mark(request, "answered", note="help")
            return "answered"
        files, problems = intake.resolve(request.files, self.poster, self.settings.max_files, self._max_bytes)
        if problems:
            why = "I can't use these attachments: " + "; ".join(problems)
            self._say(request, *replies.notice(why, "📎"))
            self._mark(request, "closed", note=why)
            return "closed"
        request.files = files
        if self.cluster is not None and self.cluster.wants(request.text):
            self.cluster.take(request)  # "run this on the cluster", /lammps submit
            self._mark(request, "answered", note="cluster")
            return "answered"
        request.lines = ["Received — working on it…"]
        if self.settings.agent:
            request.agent = self.agent.status(request.channel, request.thread_ts, "Reading your message…")
        status_ts = None
        if not request.agent:
            posted = self._say(request, *replies.status_blocks(request.lines))
            if not posted.ok:
                self._mark(request, "closed", note=f"could not post in the thread ({posted.error})")
                return "closed"  # nowhere to tell the user; the log has it
            status_ts = posted.ts
        with request.transition(Phase.QUEUED):
            request.status_ts = status_ts
        self._mark(request, "queued", status_ts=status_ts, follow=request.thread_id)
        return self._enqueue(request)

    def _enqueue(self, request: Request) -> str:
        """Queue a request that is QUEUED (its status shown); tell the member where it stands."""
        self._follow(request.thread_id)  # recorded already with the request's step: in memory here
        job = Job(
            user=request.user,
            thread=request.thread_id,
            run=lambda: self._work(request),
            cancel=lambda why: self._close(request, *replies.notice(why, "🔁")),
        )
        try:
            ahead = self.queue.submit(job)
        except Refused as exc:
            self._close(request, *replies.notice(str(exc), "✋"))
            return "refused"
        if ahead is not None:
            waiting = "next in line" if ahead == 0 else f"{ahead} request(s) ahead of you"
            with request.during(Phase.QUEUED) as waits:  # a worker may have it already
                if waits:
                    request.lines = [f"Queued — {waiting}. I'll start as soon as a worker is free."]
                    self._edit_status(request)
        return "queued"

    def _mark(self, request: Request, state: str | None, **values) -> bool:
        """Record a step of the request in the journal's slack_requests (one log line each, with the request
        id and the time since it was taken); a request that ended updates its member's Home tab. False: the
        request is not this process's any more (bot/fleet.py), and this process must not speak for it."""
        ours = self.fleet.mark(request, state, **values)
        if state is not None:
            log.info("request=%s state=%s thread=%s user=%s duration_ms=%d%s%s", request.id, state,
                     request.thread_id, request.user, (time.monotonic() - request.taken) * 1000,
                     "" if ours else " lost=taken-over-by-another-process",
                     f" note={values['note'][:200]!r}" if values.get("note") else "")  # fmt: skip
        if ours and state in ("answered", "closed"):
            self.home.changed(request.user)
        return ours

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1_000_000)

    def _work(self, request: Request) -> None:
        """In a worker: download, run the brain with live progress, post the answer. Never silent."""
        with request.transition(Phase.STARTED) as started:
            if not started:
                return  # closed before a worker got to it
            request.lines = ["Working on it…"]
        if not self._mark(request, "started", only_from=("new", "queued")):
            return  # another process took it over (this one was presumed gone) and works on it
        stream = self.agent.stream(request, self.settings.stream_buffer) if request.agent else None
        try:
            staged = self._download(request)
            may_run = not self.settings.runners or request.user in self.settings.runners
            turn = self.brain.ask(
                request.text or "Run the attached input.",
                staged,
                thread_id=request.thread_id,
                user_id=request.user,
                channel=request.channel,
                source="slack",
                on_progress=lambda event: self._progress(request, event),
                may_run=may_run,
                on_token=stream.token if stream is not None else None,
            )
            self._follow(request.thread_id)
            self._answer(request, turn, stream)
        except attachments.AttachmentError as exc:
            self._close(request, *replies.notice(f"I couldn't use an attachment: {exc}", "📎"))
        except Exception as exc:  # noqa: BLE001 - our bug: the user is told, the log has the trace
            log.exception("request in %s failed", request.thread_id)
            self._close(
                request,
                *replies.notice(
                    f"Something went wrong on my side ({type(exc).__name__}: {str(exc)[:300]}).", "💥"
                ),
            )

    def _download(self, request: Request) -> dict[str, str]:
        if not request.files:
            return {}
        self._progress(request, {"text": f"Downloading {len(request.files)} attached file(s)…"}, force=True)
        dest = attachments.thread_dir(self.data_dir, request.channel, request.thread_ts, request.message_ts)
        token = self.settings.bot_token.get_secret_value()
        return intake.stage(request.files, dest, token, self.settings.api_url, self._max_bytes)

    def _progress(self, request: Request, event: dict, force: bool = False) -> None:
        """Edit the status message, at most once per progress interval; a rate-limited edit is dropped
        (waiting for it would pause the simulation's pipeline)."""
        text = str(event.get("text") or event.get("stage") or "").strip()
        if not text:
            return
        with request.during(Phase.STARTED) as working:
            if not working:
                return  # answered or closed: too late for progress
            request.lines.append(text)
            now = time.monotonic()
            if not force and now - request.last_edit < self.settings.progress_interval_s:
                return
            request.last_edit = now
            self._edit_status(request)

    def _answer(self, request: Request, turn: Turn, stream: Stream | None = None) -> None:
        """The answer in place of the status message (or of the streamed text), then its files under it.
        A markdown block Slack will not take is sent again as mrkdwn sections; blocks it will not take at
        all become a note and the answer as a file."""
        reply = replies.answer(turn, self.settings.manual_url, markdown=request.agent)
        if self.cluster is not None and turn.script and turn.result and turn.turn_id:
            button = self.cluster.submit_button(turn.turn_id)
            reply.blocks.insert(len(reply.blocks) - 1, button)
            reply.tail.insert(len(reply.tail) - 1, button)
            if reply.plain is not None:
                reply.plain.insert(len(reply.plain) - 1, button)
        uploads = reply.uploads
        if not self._mark(request, None, only_from=("started",)):  # still ours: renews its lease for the post
            log.warning(
                "request=%s answer dropped: another process took it over and told its member", request.id
            )
            return
        with request.transition(Phase.ANSWERED) as in_place:

            def show(text: str, blocks: list[dict]) -> str | None:
                if in_place and request.status_ts:
                    return self.poster.replace(
                        request.channel, request.thread_ts, request.status_ts, text, blocks
                    ).error
                return self._say(request, text, blocks).error  # closed meanwhile (a restart): said anew

            streamed = stream.finish(reply.text, reply.blocks, reply.tail) if stream is not None else None
            error = None if streamed else show(reply.text, reply.blocks)
            if error in BLOCK_ERRORS and reply.plain is not None:  # no markdown block here: mrkdwn sections
                error = show(reply.text, reply.plain)
            if error in BLOCK_ERRORS:  # Slack would not show these blocks: a plain note, the answer as a file
                note_text, note = replies.notice(
                    f"Slack would not show this answer as a message ({error}); it is attached as answer.md.",
                    "📄",
                )
                buttons = [replies.feedback_block(turn.turn_id)] if turn.turn_id else []
                show(note_text, note + buttons)
                if not any(u.filename == "answer.md" for u in uploads):
                    uploads = [replies.answer_file(turn), *uploads]
        self._mark(request, "answered", turn_id=turn.turn_id)
        if uploads:
            sent = self.poster.upload(request.channel, request.thread_ts, uploads)
            if not sent.ok:
                names = ", ".join(u.filename for u in uploads)
                self._say(request, *replies.notice(f"I couldn't upload {names}: {sent.error}.", "📎"))

    # --------------------------------------------------------------------------------------- agent, Home
    def _on_home_opened(self, event: dict) -> None:
        """The Home tab is published; opening the DM (the Messages tab) greets with suggested prompts."""
        user, tab, channel = event.get("user", ""), event.get("tab"), event.get("channel", "")
        if tab == "home" and user:
            self.home.opened(user)
        elif tab == "messages" and channel and self.settings.agent:
            self.agent.prompts(SetSuggestedPrompts(self.client, channel), channel)

    def _on_thread_started(self, event: dict) -> None:
        """A member opened a new assistant thread (Slack's agent view): its suggested prompts."""
        thread = event.get("assistant_thread") or {}
        channel, ts = thread.get("channel_id", ""), thread.get("thread_ts")
        if channel and ts and self.settings.agent:
            self.agent.prompts(SetSuggestedPrompts(self.client, channel, ts), channel, ts)

    def _on_shortcut(self, shortcut: dict, respond: Callable[..., object]) -> None:
        """ "Ask mdbot about this" on a message: a pasted error, log or script someone posted is explained or
        checked in that message's thread, for the member who asked."""
        message = shortcut.get("message") or {}
        user = (shortcut.get("user") or {}).get("id", "")
        channel = (shortcut.get("channel") or {}).get("id", "")
        ts = message.get("ts") or shortcut.get("message_ts")
        text = clean_text(message.get("text") or "", self.bot_user_id)
        if not (user and channel and ts):
            return
        if not text and not message.get("files"):
            respond(response_type="ephemeral", text="That message has no text or files for me to look at.")
            return
        refusal = self._channel_refusal(channel, channel.startswith("D")) or self.queue.refusal(user)
        if refusal:
            respond(response_type="ephemeral", text=refusal)
            return
        request = Request(user=user, channel=channel, thread_ts=message.get("thread_ts") or ts, message_ts=ts,
                          text=text, files=list(message.get("files") or []),
                          team=(shortcut.get("team") or {}).get("id") or self.team_id)  # fmt: skip
        if not self.fleet.open(request):
            respond(response_type="ephemeral", text="I have taken that message already; see its thread.")
            return
        probe = self.poster.post(
            channel, request.thread_ts, *replies.info(f"🔎 <@{user}> asked me about this message.")
        )
        if not probe.ok:
            why = ("I'm not in this conversation — invite me with `/invite @mdbot`, or forward the message to me "
                   "in a DM" if probe.error in ("not_in_channel", "channel_not_found") else
                   f"Slack refused my message ({probe.error})")  # fmt: skip
            respond(response_type="ephemeral", text=f"I couldn't answer there: {why}.")
            self._mark(request, "closed", note=why)
            return
        self.start(request)

    def _adopt(self, claimed) -> None:
        """Finish what a process that is gone left: an event it had not taken is taken here; a queued request
        is worked on here; a request it was working on is ended with a word to the member."""
        if claimed.kind == "event":
            body = claimed.body or {}
            event = body.get("event") or {}
            self._handle(event, event.get("type") == "app_mention", claimed.key, body.get("team_id"))
            return
        row = claimed.request
        request = Request(user=row["user_id"], channel=row["channel"], thread_ts=row["thread_ts"],
                          message_ts=row["message_ts"], text=row["text"], files=list(row["files"] or []),
                          id=row["id"], team=self.team_id)  # fmt: skip
        if row["state"] == "new":
            self.start(request)
            return  # its event's log line was written by the process that is gone
        with request.transition(Phase.QUEUED):
            request.status_ts, request.agent = row["status_ts"], row["status_ts"] is None
        if row["state"] == "queued":
            request.lines = ["Picked up by another of my processes…"]
            self._enqueue(request)
        else:  # closed by the take-over itself: this is the one process that tells the member
            self._close(
                request,
                *replies.notice(
                    "The process working on this request stopped before it finished; please send it again.",
                    "🔁",
                ),
            )

    # --------------------------------------------------------------------------------------- saying
    def _say(self, request: Request, text: str, blocks: list[dict]) -> Sent:
        """A new message in the request's thread."""
        return self.poster.post(request.channel, request.thread_ts, text, blocks)

    def _edit_status(self, request: Request) -> None:
        """The status line or message shows ``request.lines`` (called within the request's phase)."""
        if request.agent:
            self.agent.status(request.channel, request.thread_ts, request.lines[-1])
            return
        self.poster.edit(
            request.channel, request.status_ts, *replies.status_blocks(request.lines), progress=True
        )

    def _close(self, request: Request, text: str, blocks: list[dict]) -> None:
        """End the request with a notice in place of its status message — or in a new message when that
        holds its final text already (an answer that is shown is never overwritten)."""
        with request.transition(Phase.CLOSED) as in_place:
            if in_place and request.status_ts:
                self.poster.replace(request.channel, request.thread_ts, request.status_ts, text, blocks)
            else:
                self._say(request, text, blocks)
        self._mark(request, "closed", note=text[:300])

    def _oops(self, channel: str, thread_ts: str | None, exc: Exception) -> None:
        """Last resort when taking a message failed before a request existed."""
        if channel:
            text = f"Something went wrong on my side ({type(exc).__name__}); please try again."
            self.poster.post(channel, thread_ts, *replies.notice(text, "💥"))

    # --------------------------------------------------------------------------------------- shutdown
    def close(self, grace_s: float = 30.0) -> None:
        """Stop taking work; waiting requests are told to resend, running ones get ``grace_s``."""
        self._stopping.set()
        still = self.queue.shutdown(grace_s)
        if still:
            log.warning("%d request(s) were still running at shutdown", still)
        self.fleet.stop()
        if self.cluster is not None:
            self.cluster.close()  # the jobs stay in the journal; the next start follows them


def _ack(ack: Callable[[], None]) -> None:
    ack()


def log_event(event_id: str, event: dict, request: Request | None, outcome: str, started: float) -> None:
    """The one log line of an event: ``event=Ev… type=app_mention channel=… user=… request=<id> outcome=…
    duration_ms=…`` (``request=-`` when it became none: a duplicate, a message not for the bot)."""
    log.info("event=%s type=%s channel=%s user=%s request=%s outcome=%s duration_ms=%d", event_id,
             event.get("type"), event.get("channel") or "-", event.get("user") or "-",
             request.id if request is not None else "-", outcome.replace(" ", "-"),
             (time.monotonic() - started) * 1000)  # fmt: skip


def _is_help(text: str | None) -> bool:
    return (text or "").strip().lower() in ("", "help", "-h", "--help", "?")
