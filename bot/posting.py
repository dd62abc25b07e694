"""Talking to the Slack Web API: post, edit, replace, upload, ephemeral messages, modals, file lookups.

Every call here reports instead of raising: a :class:`Sent` says what Slack answered — the new message's
``ts``, or Slack's error code (``"unreachable"`` when Slack could not be reached) — and the failure is
logged. What to do about a failure (fall back, tell the user another way, give up) is the caller's choice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from .replies import Upload
from .settings import SlackSettings

log = logging.getLogger(__name__)
BLOCK_ERRORS = {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long", "msg_too_long"}
UNREACHABLE = "unreachable"


def web_client(settings: SlackSettings, wait_on_rate_limit: bool = True) -> WebClient:
    """The Web API client: the configured base URL, retries on connection errors and (unless told not to:
    progress edits are better dropped than waited for) on rate limits."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    api = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    handlers = [ConnectionErrorRetryHandler(max_retry_count=2)]
    if wait_on_rate_limit:
        handlers.append(RateLimitErrorRetryHandler(max_retry_count=4))
    return WebClient(token=token, base_url=api, retry_handlers=handlers)


def api_error(exc: Exception) -> str:
    """Slack's error code for a failed call (``not_in_channel``), or the exception's text."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", exc))
    return str(exc)


@dataclass(frozen=True)
class Sent:
    ts: str | None = None  # the message posted
    error: str | None = None  # None: it worked

    @property
    def ok(self) -> bool:
        return self.error is None


class Poster:
    """The bot's Web API calls. ``progress`` edits go through a client that does not wait on rate limits
    (a dropped progress line is better than a paused simulation)."""

    def __init__(self, client: WebClient, progress_client: WebClient | None = None):
        self.client = client
        self.progress_client = progress_client or client

    def post(self, channel: str, thread_ts: str | None, text: str, blocks: list[dict] | None = None) -> Sent:
        """A new message (in a thread when ``thread_ts`` is given)."""
        try:
            posted = self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False
            )
            return Sent(ts=posted["ts"])
        except Exception as exc:  # noqa: BLE001 - SlackApiError and Slack unreachable alike
            return self._failed("could not post in %s: %s", channel, exc, logging.ERROR)

    def edit(self, channel: str, ts: str, text: str, blocks: list[dict], progress: bool = False) -> Sent:
        """Change a message the bot posted."""
        client = self.progress_client if progress else self.client
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            return Sent(ts=ts)
        except Exception as exc:  # noqa: BLE001 - the caller falls back or gives up
            return self._failed("could not update a message in %s: %s", channel, exc, logging.WARNING)

    def replace(self, channel: str, thread_ts: str, ts: str, text: str, blocks: list[dict]) -> Sent:
        """Put the final form of a message in place of ``ts``, or post it anew in the thread if that edit
        fails — except when Slack refuses the blocks themselves (``BLOCK_ERRORS``: a new message would be
        refused too; the caller sends something else)."""
        edited = self.edit(channel, ts, text, blocks)
        if edited.ok or edited.error in BLOCK_ERRORS:
            return edited
        return self.post(channel, thread_ts, text, blocks)

    def upload(self, channel: str, thread_ts: str, uploads: Sequence[Upload]) -> Sent:
        """Files into the thread, in one share."""
        try:
            self.client.files_upload_v2(
                channel=channel, thread_ts=thread_ts, file_uploads=[u.for_slack() for u in uploads]
            )
            return Sent()
        except Exception as exc:  # noqa: BLE001 - SlackClientError, OSError, http.client errors alike
            log.exception("upload failed in %s", channel)
            return Sent(error=api_error(exc))

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> Sent:
        """A message only ``user`` sees."""
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
            return Sent()
        except Exception as exc:  # noqa: BLE001
            return self._failed("could not tell a user in %s: %s", channel, exc, logging.WARNING)

    def open_view(self, trigger_id: str, view: dict) -> Sent:
        """A modal, in answer to a click (``trigger_id`` is valid for 3 s)."""
        try:
            self.client.views_open(trigger_id=trigger_id, view=view)
            return Sent()
        except Exception as exc:  # noqa: BLE001
            return self._failed("could not open a view%s: %s", "", exc, logging.WARNING)

    def file_info(self, file_id: str) -> tuple[dict | None, str | None]:
        """Slack's full file object for ``file_id``, or None and Slack's error code."""
        try:
            return self.client.files_info(file=file_id)["file"], None
        except Exception as exc:  # noqa: BLE001
            return None, self._failed("could not look up a file%s: %s", "", exc, logging.WARNING).error

    @staticmethod
    def _failed(message: str, where: str, exc: Exception, level: int) -> Sent:
        error = api_error(exc) if isinstance(exc, SlackApiError) else UNREACHABLE
        log.log(level, message, where, api_error(exc) if isinstance(exc, SlackApiError) else repr(exc))
        return Sent(error=error)
