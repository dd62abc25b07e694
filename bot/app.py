"""The Slack app: Bolt listeners that turn mentions, DMs, thread replies and ``/lammps`` into brain turns.

Bolt acknowledges within Slack's 3 seconds; the work happens in lazy listeners (DESIGN.md §6) and, for
graph runs, in :class:`bot.jobs.JobQueue`. Each Slack thread is one graph thread, ``<channel>:<thread_ts>``.

One request, one status message: it is posted in the thread at once ("queued, 2 ahead" when busy), edited
as the graph reports progress, and replaced by the answer; files go up under it. Every path out of a
request — refusal, bad attachment, our own bug — ends with a message in the thread.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from . import files as attachments
from . import replies
from .jobs import Job, JobQueue, Refused
from .mrkdwn import escape, to_mrkdwn
from .settings import SlackSettings

if TYPE_CHECKING:
    from mdbot.graph.service import Brain, Turn

log = logging.getLogger(__name__)
COMMAND = "/lammps"
ACCEPTED_SUBTYPES = {None, "file_share", "thread_broadcast"}  # every other subtype is not a user's message
USAGE = (
    "\n\n*Where to find me:* mention me in a channel (I answer in a thread; reply there without mentioning "
    "me), send me a direct message, or type `/lammps &lt;request&gt;`. Attach input, data and potential "
    "files to your message or a thread reply."
)
BLOCK_ERRORS = {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long", "msg_too_long"}


def web_client(settings: SlackSettings, wait_on_rate_limit: bool = True) -> WebClient:
    """The Web API client: the configured base URL, retries on connection errors and (unless told not to:
    progress edits are better dropped than waited for) on rate limits."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    api = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    handlers = [ConnectionErrorRetryHandler(max_retry_count=2)]
    if wait_on_rate_limit:
        handlers.append(RateLimitErrorRetryHandler(max_retry_count=4))
    return WebClient(token=token, base_url=api, retry_handlers=handlers)


class _Seen:
    """Keys seen in the last hour (Slack retries an event for up to about an hour)."""

    def __init__(self, ttl_s: float = 3600.0, size: int = 20_000):
        self.ttl, self.size = ttl_s, size
        self._keys: OrderedDict[tuple, float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, *key) -> bool:
        """True the first time ``key`` is offered (and records it), False afterwards."""
        now = time.monotonic()
        with self._lock:
            while self._keys and (
                len(self._keys) > self.size or now - next(iter(self._keys.values())) > self.ttl
            ):
                self._keys.popitem(last=False)
            if key in self._keys:
                return False
            self._keys[key] = now
            return True


def clean_text(text: str, bot_user_id: str | None) -> str:
    """Slack's message text as the user typed it: no bot mention, links and entities decoded."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<(mailto:)?([^@|>]+@[^|>]+)\|[^>]+>", r"\2", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    return html.unescape(text).strip()


@dataclass
class Request:
    """One message the bot works on, and its status message in the thread."""

    user: str
    channel: str
    thread_ts: str
    message_ts: str
    text: str
    files: list[dict] = field(default_factory=list)  # Slack file objects, resolved and checked
    status_ts: str | None = None
    started: bool = False  # a worker has it
    done: bool = False  # the status message holds its final text: no more progress or queue edits
    answered: bool = False  # the answer is shown: a later failure gets a new message, not an edit
    lines: list[str] = field(default_factory=list)
    last_edit: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def thread_id(self) -> str:
        return f"{self.channel}:{self.thread_ts}"


class SlackBot:
    """Build once per process with a brain; ``bot.app`` is the Bolt app to serve."""

    def __init__(
        self,
        settings: SlackSettings,
        brain: Brain,
        *,
        data_dir: Path | None = None,
        client: WebClient | None = None,
    ):
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.settings, self.brain = settings, brain
        self.data_dir = Path(data_dir or brain.settings.data_dir)
        self.client = client or web_client(settings)
        self.progress_client = client or web_client(settings, wait_on_rate_limit=False)
        auth = self.client.auth_test()  # fails early and clearly on a wrong token
        self.bot_user_id: str = auth["user_id"]
        self.bot_id: str | None = auth.get("bot_id")
        self.team: str = auth.get("team", "")
        self.queue = JobQueue(
            workers=settings.workers,
            queue_limit=settings.queue_limit,
            user_concurrency=settings.user_concurrency,
            user_rate=settings.user_rate,
        )
        self._seen = _Seen()
        self._followed: set[str] = set()
        self.app = App(
            client=self.client,
            signing_secret=settings.signing_secret.get_secret_value() if settings.signing_secret else "",
            request_verification_enabled=not settings.socket_mode,
            token_verification_enabled=False,  # done above, once
            process_before_response=False,
            raise_error_for_unhandled_request=False,
        )
        self._register()

    # --------------------------------------------------------------------------------------- wiring
    def _register(self) -> None:
        app = self.app
        app.middleware(self._dedupe)
        app.event("app_mention")(ack=_ack, lazy=[self._on_mention])
        app.event("message")(ack=_ack, lazy=[self._on_message])
        app.command(COMMAND)(ack=self._ack_command, lazy=[self._on_command])
        app.action(replies.ACTION_UP)(ack=_ack, lazy=[self._on_rating])
        app.action(replies.ACTION_DOWN)(ack=_ack, lazy=[self._on_rating])
        app.action(replies.ACTION_COMMENT)(self._open_comment)
        app.view(replies.VIEW_FEEDBACK)(ack=self._ack_comment, lazy=[self._on_comment])
        app.error(self._on_error)

    def _dedupe(self, body: dict, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        """Slack redelivers an event it thinks we missed: the same event_id is handled once."""
        event_id = body.get("event_id")
        if event_id and not self._seen.first("event", event_id):
            log.info("duplicate delivery of %s ignored", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    def _on_error(self, error: Exception, body: dict) -> None:
        log.error("listener failed on %s: %r", body.get("type"), error, exc_info=error)

    # --------------------------------------------------------------------------------------- messages
    def _on_mention(self, event: dict) -> None:
        self._handle(event, mentioned=True)

    def _on_message(self, event: dict) -> None:
        self._handle(event, mentioned=False)

    def follows(self, channel: str, thread_ts: str) -> bool:
        """Whether the bot has answered in this thread (so follow-ups need no mention)."""
        key = f"{channel}:{thread_ts}"
        if key in self._followed:
            return True
        journal = getattr(self.brain, "journal", None)
        if journal is not None and journal.has_thread(key):
            self._follow(key)
            return True
        return False

    def _follow(self, thread_id: str) -> None:
        """Remember a thread the bot is in; the journal remembers them all, this is only a cache."""
        if len(self._followed) > 50_000:
            self._followed.clear()
        self._followed.add(thread_id)

    def _handle(self, event: dict, mentioned: bool) -> None:
        """Any failure of ours while taking a message the bot was asked is said in the thread."""
        try:
            self._take(event, mentioned)
        except Exception as exc:  # noqa: BLE001
            log.exception("could not take a message in %s", event.get("channel"))
            if mentioned or event.get("channel_type") == "im":
                self._oops(event.get("channel", ""), event.get("thread_ts") or event.get("ts"), exc)

    def _take(self, event: dict, mentioned: bool) -> None:
        if event.get("subtype") not in ACCEPTED_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
            return  # edits, deletions, joins, and every bot's messages (ours included)
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not user or not channel or not ts or user == self.bot_user_id:
            return
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
            return
        if not self._seen.first("message", channel, ts):
            return  # the same message as app_mention and as message: answered once
        refusal = self._channel_refusal(channel, is_dm)
        if refusal:
            self._ephemeral(channel, user, refusal, thread_ts if thread_ts != ts else None)
            return
        request = Request(
            user=user,
            channel=channel,
            thread_ts=thread_ts,
            message_ts=ts,
            text=clean_text(text, self.bot_user_id),
            files=list(event.get("files") or []),
        )
        self.start(request)

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
        try:
            root = self.client.chat_postMessage(
                channel=channel, text=f"<@{user}> asked with {COMMAND}:\n{quoted}", unfurl_links=False
            )
        except SlackApiError as exc:
            err = exc.response.get("error", "")
            why = (
                "I'm not in this channel — invite me with `/invite @mdbot`, or DM me"
                if err in ("not_in_channel", "channel_not_found")
                else f"Slack refused my message ({err})"
            )
            respond(response_type="ephemeral", text=f"I couldn't start a thread here: {why}.")
            return
        request = Request(user=user, channel=channel, thread_ts=root["ts"], message_ts=root["ts"], text=text)
        self._follow(request.thread_id)
        self.start(request)

    def help_text(self) -> str:
        from mdbot.graph.prompts import HELP_TEXT

        return to_mrkdwn(HELP_TEXT.format(budget=self.brain.settings.attempt_budget)) + USAGE

    # --------------------------------------------------------------------------------------- requests
    def start(self, request: Request) -> None:
        """Post the status message and queue the work; a refusal replaces the status message."""
        if not request.text and not request.files:
            self._post(request, *replies.info("👋 " + self.help_text()))
            return
        files, problems = self._resolve_attachments(request.files)
        if problems:
            self._post(
                request, *replies.notice("I can't use these attachments: " + "; ".join(problems), "📎")
            )
            return
        request.files = files
        request.lines = ["Received — working on it…"]
        try:
            posted = self.client.chat_postMessage(
                channel=request.channel,
                thread_ts=request.thread_ts,
                **_blocks(*replies.status_blocks(request.lines)),
            )
        except SlackApiError:
            log.exception("could not post a status message in %s", request.thread_id)
            return
        request.status_ts = posted["ts"]
        self._follow(request.thread_id)
        job = Job(
            user=request.user,
            thread=request.thread_id,
            run=lambda: self._work(request),
            cancel=lambda why: self._finish(request, *replies.notice(why, "🔁")),
        )
        try:
            ahead = self.queue.submit(job)
        except Refused as exc:
            self._finish(request, *replies.notice(str(exc), "✋"))
            return
        if ahead is not None:
            with request.lock:
                if request.started or request.done:
                    return
                waiting = "next in line" if ahead == 0 else f"{ahead} request(s) ahead of you"
                request.lines = [f"Queued — {waiting}. I'll start as soon as a worker is free."]
                self._edit(request, *replies.status_blocks(request.lines), client=self.progress_client)

    def _resolve_attachments(self, files: list[dict]) -> tuple[list[dict], list[str]]:
        """Full file objects (some events carry only an id: ``file_access: check_file_info``), each checked
        by what Slack says about it — before anything is downloaded."""
        problems, resolved = [], []
        if len(files) > self.settings.max_files:
            problems.append(
                f"{len(files)} files attached; I take at most {self.settings.max_files} per message"
            )
        for f in files:
            if f.get("id") and not (
                f.get("name") and (f.get("url_private_download") or f.get("url_private"))
            ):
                try:
                    f = self.client.files_info(file=f["id"])["file"]
                except SlackApiError as exc:
                    problems.append(f"Slack would not tell me about file {f['id']} ({_api_error(exc)})")
                    continue
            try:
                attachments.check(attachments.Attachment.from_slack(f), self._max_bytes)
                resolved.append(f)
            except attachments.AttachmentError as exc:
                problems.append(str(exc))
        names = [str(f.get("name", "")) for f in resolved]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"`{dup}` is attached twice")
        return resolved, problems

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1_000_000)

    def _work(self, request: Request) -> None:
        """In a worker: download, run the brain with live progress, post the answer. Never silent."""
        with request.lock:
            request.started = True
            request.lines = ["Working on it…"]
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
            )
            self._follow(request.thread_id)
            self._answer(request, turn)
        except attachments.AttachmentError as exc:
            self._finish(request, *replies.notice(f"I couldn't use an attachment: {exc}", "📎"))
        except Exception as exc:  # noqa: BLE001 - our bug: the user is told, the log has the trace
            log.exception("request in %s failed", request.thread_id)
            message = replies.notice(
                f"Something went wrong on my side ({type(exc).__name__}: {str(exc)[:300]}).", "💥"
            )
            if request.answered:  # never overwrite an answer that is already shown
                self._post(request, *message)
            else:
                self._finish(request, *message)

    def _download(self, request: Request) -> dict[str, str]:
        if not request.files:
            return {}
        self._progress(request, {"text": f"Downloading {len(request.files)} attached file(s)…"}, force=True)
        dest = attachments.thread_dir(self.data_dir, request.channel, request.thread_ts, request.message_ts)
        token = self.settings.bot_token.get_secret_value()
        staged = {}
        for f in request.files:
            a = attachments.Attachment.from_slack(f)
            staged[a.name] = str(attachments.download(a, dest, token, self.settings.api_url, self._max_bytes))
        return staged

    def _progress(self, request: Request, event: dict, force: bool = False) -> None:
        """Edit the status message, at most once per progress interval; a rate-limited edit is dropped
        (waiting for it would pause the simulation's pipeline)."""
        text = str(event.get("text") or event.get("stage") or "").strip()
        if not text:
            return
        with request.lock:
            if request.done:
                return
            request.lines.append(text)
            now = time.monotonic()
            if not force and now - request.last_edit < self.settings.progress_interval_s:
                return
            request.last_edit = now
        self._edit(request, *replies.status_blocks(request.lines), client=self.progress_client)

    def _answer(self, request: Request, turn: Turn) -> None:
        reply = replies.answer(turn, self.settings.manual_url)
        uploads = reply.uploads
        error = self._finish(request, reply.text, reply.blocks)
        if error in BLOCK_ERRORS:  # Slack would not show these blocks: a plain note, the answer as a file
            note_text, note = replies.notice(
                f"Slack would not show this answer as a message ({error}); it is attached as answer.md.", "📄"
            )
            feedback = [replies.feedback_block(turn.turn_id)] if turn.turn_id else []
            self._finish(request, note_text, note + feedback)
            if not any(u.filename == "answer.md" for u in uploads):
                uploads = [replies.answer_file(turn), *uploads]
        request.answered = True
        if uploads:
            try:
                self.client.files_upload_v2(
                    channel=request.channel,
                    thread_ts=request.thread_ts,
                    file_uploads=[u.for_slack() for u in uploads],
                )
            except Exception as exc:  # noqa: BLE001 - SlackClientError, OSError, http.client errors alike
                log.exception("upload failed in %s", request.thread_id)
                names = ", ".join(u.filename for u in uploads)
                self._post(request, *replies.notice(f"I couldn't upload {names}: {_api_error(exc)}.", "📎"))

    # --------------------------------------------------------------------------------------- posting
    def _edit(
        self, request: Request, text: str, blocks: list[dict], client: WebClient | None = None
    ) -> str | None:
        """Edit the status message; returns Slack's error code, or None when it worked."""
        try:
            (client or self.client).chat_update(
                channel=request.channel, ts=request.status_ts, text=text, blocks=blocks
            )
            return None
        except SlackApiError as exc:
            log.warning("could not update the status in %s: %s", request.thread_id, _api_error(exc))
            return _api_error(exc)
        except Exception as exc:  # noqa: BLE001 - Slack unreachable: the caller falls back or gives up
            log.warning("could not update the status in %s: %r", request.thread_id, exc)
            return "unreachable"

    def _finish(self, request: Request, text: str, blocks: list[dict]) -> str | None:
        """Replace the status message with the final one (or post it anew if that fails). Returns None
        when it is shown, else Slack's error code."""
        with request.lock:
            request.done = True
        error = self._edit(request, text, blocks) if request.status_ts else "no_status_message"
        if error is None or error in BLOCK_ERRORS:
            return error
        return self._post(request, text, blocks)

    def _post(self, request: Request, text: str, blocks: list[dict]) -> str | None:
        try:
            self.client.chat_postMessage(
                channel=request.channel,
                thread_ts=request.thread_ts,
                text=text,
                blocks=blocks,
                unfurl_links=False,
            )
            return None
        except SlackApiError as exc:
            log.error("could not post in %s: %s", request.thread_id, _api_error(exc))
            return _api_error(exc)
        except Exception as exc:  # noqa: BLE001 - Slack unreachable: nothing more can be said in the thread
            log.error("could not post in %s: %r", request.thread_id, exc)
            return "unreachable"

    def _oops(self, channel: str, thread_ts: str | None, exc: Exception) -> None:
        """Last resort when taking a message failed before a request existed."""
        if not channel:
            return
        text, blocks = replies.notice(
            f"Something went wrong on my side ({type(exc).__name__}); please try again.", "💥"
        )
        try:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)
        except Exception:  # noqa: BLE001
            log.exception("could not report a failure in %s", channel)

    def _ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, _api_error(exc))

    # --------------------------------------------------------------------------------------- feedback
    def _on_rating(self, body: dict) -> None:
        action = body["actions"][0]
        rating = 1 if action["action_id"] == replies.ACTION_UP else -1
        self._store_feedback(body, action.get("value", ""), rating, None)

    def _open_comment(self, ack: Callable[[], None], body: dict) -> None:
        ack()
        channel, thread_ts = _where(body)
        view = replies.comment_view(body["actions"][0].get("value", ""), channel, thread_ts)
        self.client.views_open(trigger_id=body["trigger_id"], view=view)

    def _ack_comment(self, ack: Callable[[], None], view: dict) -> None:
        ack()

    def _on_comment(self, body: dict, view: dict) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        values = view.get("state", {}).get("values", {})
        option = values.get("rating", {}).get("value", {}).get("selected_option") or {}
        comment = (values.get("comment", {}).get("value", {}).get("value") or "").strip() or None
        rating = int(option["value"]) if str(option.get("value", "")).lstrip("-").isdigit() else 0
        body = {
            **body,
            "channel": {"id": meta.get("channel")},
            "message": {"thread_ts": meta.get("thread_ts")},
        }
        self._store_feedback(body, meta.get("turn", ""), rating, comment)

    def _store_feedback(self, body: dict, turn_id: str, rating: int, comment: str | None) -> None:
        user = body.get("user", {}).get("id")
        channel, thread_ts = _where(body)
        try:
            self.brain.feedback(turn_id, rating, user, comment)
            mark = "👍" if rating > 0 else "👎"
            text = (
                f"Thanks — your {mark}"
                + (" and comment are" if comment else " is")
                + " stored with this answer."
            )
            if not comment:
                text += " Use 💬 Comment to say what was right or wrong."
        except KeyError:
            text = "I can't find that answer in my journal any more, so the rating was not stored."
        except (ValueError, RuntimeError) as exc:
            text = f"The rating was not stored: {exc}."
        if channel and user:
            self._ephemeral(channel, user, text, thread_ts)

    # --------------------------------------------------------------------------------------- lifecycle
    def close(self, grace_s: float = 30.0) -> None:
        still = self.queue.shutdown(grace_s)
        if still:
            log.warning("%d request(s) were still running at shutdown", still)


def _ack(ack: Callable[[], None]) -> None:
    ack()


def _blocks(text: str, blocks: list[dict]) -> dict:
    return {"text": text, "blocks": blocks}


def _where(body: dict) -> tuple[str, str | None]:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    message = body.get("message") or {}
    return channel, message.get("thread_ts") or message.get("ts")


def _api_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", exc))
    return str(exc)


def _is_help(text: str | None) -> bool:
    return (text or "").strip().lower() in ("", "help", "-h", "--help", "?")
