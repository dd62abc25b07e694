"""Slack's agent experience through real Bolt dispatch against the local Slack: suggested prompts when the DM
opens, the status line from the graph's progress, the answer streamed from a streaming model endpoint and
then shown with sources and feedback; the Home tab; the message shortcut; and the fallbacks when a workspace
answers ``not_allowed`` or ``unknown_method``."""

from __future__ import annotations

import json

import pytest

from tests.bot.slack_api import BOT_USER, TEAM, message_event
from tests.graph.openai_server import Script, ScriptedOpenAI

ANSWER = (
    "The damping parameter `Tdamp` of `fix nvt` sets how fast the temperature relaxes [1]. A good choice is "
    "about 100 timesteps:\n\n```lammps\nfix 1 all nvt temp 300.0 300.0 $(100.0*dt)\n```\n\n"
    "| units | Tdamp |\n|---|---|\n| real | 100.0 |\n| metal | 0.1 |\n"
)
QUESTION = "What does the Tdamp parameter of fix nvt mean?"


@pytest.fixture
def streaming_model():
    from langchain_openai import ChatOpenAI

    with ScriptedOpenAI(Script(route="qa", answer=ANSWER), api_key="k", chunks=12) as server:
        model = ChatOpenAI(base_url=server.base_url, model="md-instruct", api_key="k", max_retries=0,
                           use_responses_api=False, stream_usage=True, temperature=0)  # fmt: skip
        yield model, server


def _dm(text: str, ts: str) -> dict:
    return message_event(text, channel="DALICE", ts=ts, channel_type="im")


def test_opening_the_dm_greets_with_suggested_prompts(slack_app):
    h = slack_app(mock={"agent": True})
    status, _, _ = h.send.event({"type": "app_home_opened", "user": "UALICE", "channel": "DALICE", "tab": "messages",
                                 "event_ts": "1.000001"})  # fmt: skip
    assert status == 200
    assert h.slack.wait_for(lambda: h.slack.prompts)
    (call,) = h.slack.prompts
    assert call["channel_id"] == "DALICE" and call["title"]
    titles = [p["title"] for p in call["prompts"]]
    assert titles == ["Ask about LAMMPS", "Write a script", "Check my input", "Explain this error"]
    assert all(p["message"] for p in call["prompts"])


def test_a_question_shows_status_streams_the_answer_and_ends_with_sources_and_feedback(
    slack_app, streaming_model
):
    model, server = streaming_model
    h = slack_app(instruct=model, mock={"agent": True}, stream_buffer=40)
    ts = "5000.000100"
    h.send.event(_dm(QUESTION, ts))
    (final,) = h.answers("DALICE", ts)
    # the status line said what the brain did, in the thread, and no status message was posted
    statuses = [s["status"] for s in h.slack.statuses if s["thread_ts"] == ts]
    assert statuses[0] == "is reading your message…"
    assert any("search" in s for s in statuses), statuses
    assert all(s.startswith("is ") for s in statuses)
    assert not any("Received" in m.all_text() for m in h.slack.thread("DALICE", ts))
    # the answer was streamed in several pieces, then stopped with the sources and the feedback buttons
    assert server.requests[-1]["stream"] is True
    assert final.streamed is not None and len(final.streamed) >= 3, final.streamed
    assert [c.method for c in h.slack.calls if "Stream" in c.method][0] == "chat.startStream"
    assert h.slack.calls_of("chat.stopStream") and not final.streaming
    start = h.slack.calls_of("chat.startStream")[0].params
    assert (
        start["thread_ts"] == ts
        and start["recipient_user_id"] == "UALICE"
        and start["recipient_team_id"] == TEAM
    )
    assert "Tdamp" in "".join(final.streamed)
    # ... and put in its final form: a markdown block with linked citations, code and table kept
    assert h.slack.wait_for(lambda: final.edits)  # the stop showed the buttons; the edit follows it
    (md,) = [b for b in final.blocks if b["type"] == "markdown"]
    assert "[[1]](https://" in md["text"]  # the citation links to its manual page
    assert "```lammps\nfix 1 all nvt temp 300.0 300.0 $(100.0*dt)\n```" in md["text"]
    assert "| metal | 0.1 |" in md["text"]
    assert "*Sources*" in final.all_text() and '"mdbot_feedback"' in json.dumps(final.blocks)


def test_without_streaming_the_answer_is_posted_whole_after_the_status_line(slack_app, streaming_model):
    model, _server = streaming_model
    h = slack_app(instruct=model, mock={"agent": True})
    h.slack.fail("chat.startStream", "unknown_method")
    ts = "5000.000200"
    h.send.event(_dm(QUESTION, ts))
    (final,) = h.answers("DALICE", ts)
    assert final.streamed is None and h.slack.statuses  # posted with chat.postMessage
    assert any(b["type"] == "markdown" for b in final.blocks)
    # the next request does not try to stream again (the refusal is about the app, not one thread)
    before = len(h.slack.calls_of("chat.startStream"))
    h.send.event(_dm("And what about Pdamp of fix npt?", "5000.000300"))
    h.answers("DALICE", "5000.000300")
    assert len(h.slack.calls_of("chat.startStream")) == before


@pytest.mark.parametrize("error", ["not_allowed", "unknown_method"])
def test_without_a_status_line_the_status_message_is_edited_as_before(slack_app, error):
    h = slack_app(mock={"agent": True})
    h.slack.fail("assistant.threads.setStatus", error)
    ts = "5100.000100"
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts=ts))
    (final,) = h.answers("CLAB", ts)
    assert final.edits  # the status message became the answer
    assert final.edits[0]["text"] != final.text
    assert not h.slack.calls_of("chat.startStream")
    assert all(b["type"] != "markdown" for b in final.blocks)  # mrkdwn sections, as before


def test_a_markdown_block_slack_refuses_is_sent_as_sections(slack_app, streaming_model):
    model, _server = streaming_model
    h = slack_app(instruct=model, mock={"agent": True, "markdown": False})
    h.slack.fail("chat.startStream", "not_allowed")
    ts = "5200.000100"
    h.send.event(_dm(QUESTION, ts))
    (final,) = h.answers("DALICE", ts)
    assert final.blocks[0]["type"] == "section" and "Tdamp" in final.all_text()


def test_home_tab_is_published_and_updated_when_a_request_ends(slack_app):
    h = slack_app(mock={"agent": True}, admins="UALICE", home_interval_s=0)
    h.send.event({"type": "app_home_opened", "user": "UALICE", "channel": "DALICE", "tab": "home",
                  "event_ts": "1.000002"})  # fmt: skip
    assert h.slack.wait_for(lambda: "UALICE" in h.slack.home)
    first = json.dumps(h.slack.home["UALICE"])
    assert "Nothing yet" in first and "Knowledge base" in first and "passages" in first
    assert "disk for jobs" in first and "Lab usage" in first and "not configured" in first
    ts = "5300.000100"
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts=ts))
    h.answers("CLAB", ts)
    assert h.slack.wait_for(lambda: len(h.slack.publishes) >= 2)
    view = json.dumps(h.slack.home["UALICE"])
    assert "Tdamp" in view and "answered" in view and "archives/CLAB/p5300000100" in view
    # a member who never opened the tab is not published to
    h.send.event(
        message_event(f"<@{BOT_USER}> {QUESTION}", user="UBOB", kind="app_mention", ts="5300.000200")
    )
    h.answers("CLAB", "5300.000200")
    h.settle()
    assert "UBOB" not in h.slack.home


def test_home_tab_is_republished_by_the_process_that_ends_a_request(slack_app, make_brain):
    """Two bots on one journal (two processes in all but the pid): the member opens Home in one, the other
    answers their request and republishes the tab, from the journal's state."""
    import threading

    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import http_server
    from mdbot.bot.settings import SlackSettings
    from tests.bot.slack_api import BOT_TOKEN, SIGNING_SECRET, Sender

    h = slack_app(mock={"agent": True}, home_interval_s=0)
    settings = SlackSettings(_env_file=None, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                             api_url=h.slack.api_url, progress_interval_s=0, home_interval_s=0)  # fmt: skip
    other = SlackBot(settings, make_brain(data_dir=h.brain.settings.data_dir))  # the same journal file
    server = http_server(other.app, 0, "127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert other.fleet.me != h.bot.fleet.me and other.fleet.shared
        h.send.event({"type": "app_home_opened", "user": "UALICE", "channel": "DALICE", "tab": "home",
                      "event_ts": "1.000003"})  # fmt: skip
        assert h.slack.wait_for(lambda: len(h.slack.publishes) == 1)
        assert "Nothing yet" in json.dumps(h.slack.home["UALICE"])
        ts = "5350.000100"
        send = Sender(f"http://127.0.0.1:{server.server_port}/slack/events", h.slack.base + "/response/")
        # to the other one; its own event id (the journal de-duplicates event ids across processes)
        send.event(
            message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts=ts), event_id="EvOTHER0001"
        )
        h.answers("CLAB", ts)
        assert h.slack.wait_for(lambda: len(h.slack.publishes) >= 2)  # only the other process saw the request
        view = json.dumps(h.slack.home["UALICE"])
        assert "Tdamp" in view and "answered" in view and "archives/CLAB/p5350000100" in view
    finally:
        server.shutdown()
        server.server_close()
        other.close(grace_s=60)


def test_message_shortcut_explains_an_error_someone_posted(slack_app):
    h = slack_app()
    ts = "5400.000100"
    payload = {
        "type": "message_action", "callback_id": "mdbot_ask_about", "trigger_id": "9.trigger",
        "team": {"id": TEAM}, "user": {"id": "UBOB"}, "channel": {"id": "CLAB", "name": "md-lab"},
        "message_ts": ts, "response_url": h.slack.base + "/response/sc1",
        "message": {"type": "message", "user": "UALICE", "ts": ts,
                    "text": "my run died with\nERROR: Lost atoms: original 4000 current 3998 (../thermo.cpp:481)"},
    }  # fmt: skip
    status, _, _ = h.send.interactive(payload)
    assert status == 200
    (final,) = h.answers("CLAB", ts)
    thread = h.slack.thread("CLAB", ts)
    assert "<@UBOB> asked me about this message" in thread[0].all_text()
    assert "lost" in final.all_text().lower()
    (turn,) = h.brain.journal.turns(f"CLAB:{ts}")
    assert turn.intent == "explain" and turn.user_id == "UBOB"


def test_shortcut_where_the_bot_is_not_says_so_privately(slack_app):
    h = slack_app()
    payload = {
        "type": "message_action", "callback_id": "mdbot_ask_about", "trigger_id": "9.trigger",
        "team": {"id": TEAM}, "user": {"id": "UBOB"}, "channel": {"id": "CNOTIN1"}, "message_ts": "1.5",
        "response_url": h.slack.base + "/response/sc2",
        "message": {"type": "message", "user": "UALICE", "ts": "1.5", "text": "ERROR: Unknown pair style"},
    }  # fmt: skip
    h.send.interactive(payload)
    assert h.slack.wait_for(lambda: h.slack.responses)
    assert "invite me" in h.slack.responses[0]["text"]


def test_status_text_reads_after_the_app_name():
    from mdbot.bot.agent import status_text

    assert status_text("Searching the manual…") == "is searching the manual…"
    assert status_text("Attempt 2 of 3") == "is working: Attempt 2 of 3"
    assert len(status_text("Running " + "x" * 500)) < 130


def test_manifest_declares_the_agent_experience_home_and_shortcut():
    from pathlib import Path

    import yaml

    from mdbot.bot.agent import PROMPTS
    from mdbot.bot.app import SHORTCUT

    manifest = yaml.safe_load((Path(__file__).parents[2] / "bot" / "manifest.yaml").read_text())
    features = manifest["features"]
    assert "assistant_view" not in features and features["agent_view"]["agent_description"]
    assert features["agent_view"]["suggested_prompts"] == PROMPTS  # the same prompts the DM shows
    assert features["app_home"]["home_tab_enabled"] and features["app_home"]["messages_tab_enabled"]
    assert [(s["type"], s["callback_id"]) for s in features["shortcuts"]] == [("message", SHORTCUT)]
    assert "assistant:write" in manifest["oauth_config"]["scopes"]["bot"]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "assistant_thread_started", "app_mention", "message.im"} <= events
    assert [c["command"] for c in features["slash_commands"]] == ["/lammps"]
