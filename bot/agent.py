"""Slack's agent experience: the thread's status line, suggested prompts, and replies streamed as the model
writes them — each through bolt-python's and slack-sdk's own helpers (``SetStatus``, ``SetSuggestedPrompts``,
``WebClient.chat_stream``), each with a silent fallback.

A workspace, plan or app without a feature answers its method with an error (``not_allowed``,
``unknown_method``, ``missing_scope``, …). Then the caller does what the bot did before the feature: a status
message edited in place, no prompts, the answer posted whole. A refusal that is about the app or the plan is
remembered for the kind of conversation (DM or channel), so a workspace without the feature is not asked
again on every request.
"""

from __future__ import annotations

import logging
import threading

from slack_bolt.context.set_status import SetStatus
from slack_bolt.context.set_suggested_prompts import SetSuggestedPrompts
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .posting import api_error

log = logging.getLogger(__name__)
# Errors that say the feature is not there for this app or plan (not about one thread): remembered.
UNAVAILABLE = {"not_allowed", "unknown_method", "missing_scope", "not_allowed_token_type", "feature_not_enabled",
               "method_deprecated", "team_not_allowed", "not_enabled", "access_denied"}  # fmt: skip
PROMPTS = [
    {"title": "Ask about LAMMPS", "message": "What does the Tdamp parameter of fix nvt mean, and what value should I use?"},
    {"title": "Write a script", "message": "Write a LAMMPS input for an LJ liquid at T* = 1.5 in NVT, 500 atoms, and run it."},
    {"title": "Check my input", "message": "Check my input script (attached) and run a short test of it."},
    {"title": "Explain this error", "message": "What does this mean: ERROR: Lost atoms: original 4000 current 3998"},
]  # fmt: skip
PROMPTS_TITLE = "What can I do for your simulations?"


def conversation_kind(channel: str) -> str:
    return "dm" if channel.startswith("D") else "channel"


def status_text(progress: str) -> str:
    """A progress line as the status line reads after the app's name: "Searching the manual…" → "is
    searching the manual…"."""
    text = " ".join(progress.split())[:120]
    first = text.split(" ", 1)[0]
    if first.lower().endswith("ing"):
        return "is " + text[0].lower() + text[1:]
    return "is working: " + text


class Agent:
    """The agent features of this app, with what the workspace turned out not to have."""

    def __init__(self, client: WebClient):
        self.client = client
        self._off: set[tuple[str, str]] = set()  # (feature, conversation kind)
        self._lock = threading.Lock()

    def available(self, feature: str, channel: str) -> bool:
        with self._lock:
            return (feature, conversation_kind(channel)) not in self._off

    def _refused(self, feature: str, channel: str, exc: Exception) -> None:
        error = api_error(exc) if isinstance(exc, SlackApiError) else "unreachable"
        if error in UNAVAILABLE:
            with self._lock:
                self._off.add((feature, conversation_kind(channel)))
        log.info("%s not available in %s (%s): falling back", feature, channel, error)

    def status(self, channel: str, thread_ts: str, progress: str) -> bool:
        """Set the thread's status line (``""`` clears it); False when Slack would not."""
        if not self.available("status", channel):
            return False
        try:
            SetStatus(self.client, channel, thread_ts)(status_text(progress) if progress else "")
            return True
        except Exception as exc:  # noqa: BLE001 - SlackApiError or Slack unreachable: the caller falls back
            self._refused("status", channel, exc)
            return False

    def prompts(
        self, set_prompts: SetSuggestedPrompts | None, channel: str, thread_ts: str | None = None
    ) -> bool:
        """Suggested prompts for MD work in a DM (or an assistant thread), with Bolt's helper of the event."""
        if set_prompts is None or not self.available("prompts", channel):
            return False
        try:
            set_prompts(PROMPTS, title=PROMPTS_TITLE, thread_ts=thread_ts)
            return True
        except Exception as exc:  # noqa: BLE001
            self._refused("prompts", channel, exc)
            return False

    def stream(self, request, buffer_size: int) -> Stream | None:
        """A live reply for ``request`` (None: this workspace does not stream to this kind of conversation)."""
        if not self.available("stream", request.channel):
            return None
        return Stream(self, request, buffer_size)


class Stream:
    """The answer's text as the model writes it (``chat.startStream`` / ``appendStream`` / ``stopStream`` through
    slack-sdk's ``ChatStream``); :meth:`finish` turns it into the final message. Any refusal ends the
    streaming quietly and the answer is posted whole instead."""

    def __init__(self, agent: Agent, request, buffer_size: int):
        self.agent, self.request, self.buffer_size = agent, request, buffer_size
        self.text = ""
        self.failed = False
        self._stream = None

    @property
    def ts(self) -> str | None:
        return self._stream.ts if self._stream is not None and not self.failed else None

    def token(self, text: str) -> None:
        if self.failed:
            return
        r = self.request
        try:
            if self._stream is None:
                self._stream = self.agent.client.chat_stream(
                    channel=r.channel, thread_ts=r.thread_ts, recipient_team_id=r.team,
                    recipient_user_id=r.user, buffer_size=self.buffer_size,
                )  # fmt: skip
            self._stream.append(markdown_text=text)
            self.text += text
        except Exception as exc:  # noqa: BLE001
            self.failed = True
            self.agent._refused("stream", r.channel, exc)

    def finish(self, text: str, blocks: list[dict], tail: list[dict]) -> str | None:
        """Stop the stream with ``tail`` (sources, details, feedback) under the text, then show the final
        form (``text``/``blocks``) in its place: the model's raw text becomes the cited, linked answer.
        Returns the message's ts, or None when nothing usable was streamed (the caller posts the answer)."""
        if self._stream is None or self.failed:
            return None
        r = self.request
        try:
            self._stream.stop(blocks=tail)
        except Exception as exc:  # noqa: BLE001
            self.agent._refused("stream", r.channel, exc)
            if not self._stream.ts:
                return None
        try:
            self.agent.client.chat_update(channel=r.channel, ts=self._stream.ts, text=text, blocks=blocks)
        except Exception as exc:  # noqa: BLE001 - the streamed text with its tail stays; say so in the log
            log.warning(
                "could not put the final answer in place of the stream in %s: %s", r.channel, api_error(exc)
            )
        return self._stream.ts
