"""Feedback on answers: the 👍/👎 buttons and the 💬 comment modal, stored in the brain's journal.

:func:`register` adds the Bolt listeners (in the manner of bolt-python's ``listeners`` examples); a click is
acknowledged at once and stored in a lazy listener, and the user is told in an ephemeral message whether
their rating was stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_bolt import App

from . import replies
from .posting import Poster

if TYPE_CHECKING:
    from mdbot.graph.service import Brain


def register(app: App, brain: Brain, poster: Poster) -> Feedback:
    feedback = Feedback(brain, poster)
    app.action(replies.ACTION_UP)(ack=_ack, lazy=[feedback.on_rating])
    app.action(replies.ACTION_DOWN)(ack=_ack, lazy=[feedback.on_rating])
    app.action(replies.ACTION_COMMENT)(feedback.open_comment)
    app.view(replies.VIEW_FEEDBACK)(ack=_ack, lazy=[feedback.on_comment])
    return feedback


class Feedback:
    def __init__(self, brain: Brain, poster: Poster):
        self.brain, self.poster = brain, poster

    def on_rating(self, body: dict) -> None:
        action = body["actions"][0]
        rating = 1 if action["action_id"] == replies.ACTION_UP else -1
        self.store(body, action.get("value", ""), rating, None)

    def open_comment(self, ack: Callable[[], None], body: dict) -> None:
        ack()
        channel, thread_ts = where(body)
        view = replies.comment_view(body["actions"][0].get("value", ""), channel, thread_ts)
        self.poster.open_view(body["trigger_id"], view)

    def on_comment(self, body: dict, view: dict) -> None:
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
        self.store(body, meta.get("turn", ""), rating, comment)

    def store(self, body: dict, turn_id: str, rating: int, comment: str | None) -> None:
        """Journal the rating against the turn, and tell the user whether it was stored."""
        user = body.get("user", {}).get("id")
        channel, thread_ts = where(body)
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
            self.poster.ephemeral(channel, user, text, thread_ts)


def where(body: dict) -> tuple[str, str | None]:
    """The channel and thread an interaction happened in."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    message = body.get("message") or {}
    return channel, message.get("thread_ts") or message.get("ts")


def _ack(ack: Callable[[], None]) -> None:
    ack()
