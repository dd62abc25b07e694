"""The Web API calls: each says what Slack answered instead of raising, and a replacement falls back."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from mdbot.bot import replies
from mdbot.bot.posting import UNREACHABLE, Poster
from tests.bot.slack_api import BOT_TOKEN, MockSlack


@pytest.fixture
def slack():
    with MockSlack() as mock:
        yield mock


@pytest.fixture
def poster(slack):
    return Poster(WebClient(token=BOT_TOKEN, base_url=slack.api_url))


def test_post_edit_and_replace_in_place(slack, poster):
    sent = poster.post("CLAB", "1.000100", "Received", [replies.section("Received")])
    assert sent.ok and sent.ts
    assert poster.edit("CLAB", sent.ts, "Working", [replies.section("Working")], progress=True).ok
    replaced = poster.replace("CLAB", "1.000100", sent.ts, "Done", [replies.section("Done")])
    assert replaced.ok and replaced.ts == sent.ts
    (msg,) = slack.thread("CLAB", "1.000100")
    assert [e["text"] for e in msg.edits] == ["Working", "Done"] and msg.all_text().startswith("Done")


def test_a_replacement_that_cannot_edit_is_posted_anew(slack, poster):
    replaced = poster.replace("CLAB", "1.000100", "9.999999", "Done", [replies.section("Done")])
    assert replaced.ok and replaced.ts != "9.999999"  # message_not_found: a new message instead
    (msg,) = slack.thread("CLAB", "1.000100")
    assert msg.text == "Done" and not msg.edits


def test_blocks_slack_refuses_are_not_posted_again(slack, poster):
    sent = poster.post("CLAB", "1.000100", "Received", [replies.section("Received")])
    slack.max_blocks_chars = 20
    replaced = poster.replace("CLAB", "1.000100", sent.ts, "Long", [replies.section("x" * 100)])
    assert replaced.error == "msg_blocks_too_long"  # the caller sends something else
    assert len(slack.thread("CLAB", "1.000100")) == 1


def test_failures_are_reported_not_raised(slack, poster):
    assert poster.post("CNOTIN1", None, "hi").error == "not_in_channel"
    slack.fail("chat.postEphemeral", "user_not_in_channel")
    assert poster.ephemeral("CLAB", "UBOB", "psst").error == "user_not_in_channel"
    slack.fail("views.open", "expired_trigger_id")
    assert poster.open_view("1.trigger", {"type": "modal"}).error == "expired_trigger_id"
    info, error = poster.file_info("FNOSUCH")
    assert info is None and error == "file_not_found"
    slack.fail("files.getUploadURLExternal", "not_allowed")
    assert not poster.upload("CLAB", "1.000100", [replies.Upload("a.txt", "A", content="a")]).ok


def test_an_unreachable_slack_is_reported_too(slack):
    port = slack._server.server_port
    slack.__exit__(None, None, None)  # nothing listens there any more
    gone = Poster(WebClient(token=BOT_TOKEN, base_url=f"http://127.0.0.1:{port}/api/"))
    assert gone.post("CLAB", None, "hi").error == UNREACHABLE
    assert gone.edit("CLAB", "1.000100", "hi", []).error == UNREACHABLE
    assert gone.replace("CLAB", "1.000100", "1.000100", "hi", []).error == UNREACHABLE
