"""The Slack app end to end: signed Slack payloads → Bolt over HTTP → brain (real sandbox, real knowledge
base, scripted models) → a local Slack Web API that records what the bot posted, edited and uploaded."""

from __future__ import annotations

import json
from functools import partial

from tests.bot import PATIENT_S
from tests.bot.slack_api import BOT_TOKEN, BOT_USER, message_event
from tests.conftest import requires_bwrap
from tests.graph.fakes import GOOD_LJ, lammps, model

QUESTION = "What does the Tdamp parameter of the Nose-Hoover thermostat mean?"
ANSWER = (
    "**Tdamp** is the relaxation time of the thermostat in time units [1]; about 100 timesteps is a good "
    "start [1]. Thermostats in general are compared in [2].\n\n```lammps\nfix 1 all nvt temp 300.0 300.0 0.1\n```"
)


def _qa_model(*answers: str):
    replies = []
    for a in answers or (ANSWER,):
        replies += [{"intent": "qa", "reason": "a question"}, a]
    return model(*replies)


def _feedback_rows(brain, thread_id: str) -> list:
    return [fb for t in brain.journal.turns(thread_id) for fb in t.feedback]


# ------------------------------------------------------------------------------------------ Q&A
def test_mention_gets_a_threaded_answer_with_linked_citations(slack_app):
    h = slack_app(instruct=_qa_model())
    status, body, _ = h.send.event(
        message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="1000.000100")
    )
    assert status == 200
    (answer,) = h.answers("CLAB", "1000.000100")
    assert answer.thread_ts == "1000.000100"  # in a thread under the mention
    text = answer.all_text()
    # citation numbers link to their page in the version of the manual the passage came from
    assert "<https://github.com/lammps/lammps/blob/patch_29Aug2024/doc/src/fix_nh.rst|[1]>" in text
    assert "*Tdamp*" in text and "**" not in text  # Markdown became mrkdwn
    assert "*Sources*" in text and "(manual of 29 Aug 2024)" in text
    assert "[1] <https://github.com/lammps/lammps/blob/patch_29Aug2024/doc/src/fix_nh.rst|" in text
    assert "```\nfix 1 all nvt temp 300.0 300.0 0.1\n```" in text  # code kept, no language tag
    # one message per request: the status message was edited through the stages, then became the answer
    assert len(h.slack.thread("CLAB", "1000.000100")) == 1
    edits = [e["text"] for e in answer.edits]
    assert "Searching the manual and the lab's documents…" in edits and "Intent: qa" in edits
    # the mention itself never reached the model
    assert f"<@{BOT_USER}>" not in h.brain.context.instruct.prompt_text(0)
    # every Web API call carried the bot token
    assert h.slack.calls and all(c.auth == f"Bearer {BOT_TOKEN}" for c in h.slack.calls)


def test_follow_up_in_the_thread_needs_no_mention_and_chatter_is_ignored(slack_app):
    follow_up = "With fix nvt, is **Tdamp** in time units? [1]"
    h = slack_app(instruct=_qa_model(ANSWER, follow_up))
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="1100.000100"))
    h.answers("CLAB", "1100.000100")
    h.send.event(message_event("and is it in time units?", ts="1100.000200", thread_ts="1100.000100"))
    answers = h.answers("CLAB", "1100.000100", n=2)
    assert "Tdamp" in answers[1].all_text()
    # channel chatter and other threads: not addressed to the bot
    h.send.event(message_event("lunch anyone?", ts="1100.000300"))
    h.send.event(message_event("what about fix nvt?", ts="1100.000400", thread_ts="999.000001"))
    h.settle()
    assert len(h.slack.final("CLAB", "1100.000100")) == 2
    assert not h.slack.thread("CLAB", "1100.000300") and not h.slack.thread("CLAB", "999.000001")
    # one graph thread: the follow-up saw the first exchange
    turns = h.brain.journal.turns("CLAB:1100.000100")
    assert len(turns) == 2 and turns[1].source == "slack" and turns[1].user_id == "UALICE"
    assert QUESTION in h.brain.context.instruct.prompt_text(2)  # the router saw the history


def test_direct_message_is_answered(slack_app):
    h = slack_app()  # offline: passages with citations
    h.send.event(message_event(QUESTION, channel="D0ALICE", channel_type="im", ts="1200.000100"))
    (answer,) = h.answers("D0ALICE", "1200.000100")
    assert "/patch_29Aug2024/doc/src/fix_nh.rst" in answer.all_text()


def test_duplicate_deliveries_are_answered_once(slack_app):
    h = slack_app()
    event = message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="1300.000100")
    for retry in (None, 1, 2):  # Slack retries with the same event_id
        assert h.send.event(event, event_id="EvSAME0001", retry=retry)[0] == 200
    # the same @mention also arrives as a message event (different event_id)
    as_message = message_event(f"<@{BOT_USER}> {QUESTION}", ts="1300.000100")
    h.send.event(as_message, event_id="EvOTHER0001")
    h.answers("CLAB", "1300.000100")
    h.settle()
    assert len(h.slack.thread("CLAB", "1300.000100")) == 1
    assert len(h.brain.journal.turns("CLAB:1300.000100")) == 1
    # the bot's own messages and other bots' are never answered
    own = {**message_event("I am the bot", ts="1300.000200", thread_ts="1300.000100"), "user": BOT_USER}
    other = {**message_event("beep", ts="1300.000300", thread_ts="1300.000100"), "bot_id": "BOTHER"}
    edited = {**message_event("x", ts="1300.000400", thread_ts="1300.000100"), "subtype": "message_changed"}
    for e in (own, other, edited):
        h.send.event(e)
    h.settle()
    assert len(h.brain.journal.turns("CLAB:1300.000100")) == 1


# ------------------------------------------------------------------------------------------ /lammps
@requires_bwrap
def test_slash_command_acks_fast_then_answers_in_a_thread(slack_app):
    code = model(lammps(GOOD_LJ))
    instruct = model({"intent": "generate", "reason": "a simulation"})
    h = slack_app(instruct=instruct, code=code, pictures=True)
    request = "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT (T < 2 & short)"
    # Slack's 3 s for the acknowledgement, by order: the ack comes back while the work is held in the brain
    # (bench/slack_load.py measures the time)
    with h.hold_work() as work:
        ((status, body, _),) = work.acks(lambda: h.send.command(request))
        assert status == 200, f"{status}: Bolt answers 404 when the ack listener has not acked in 3 s"
        work.wait_held(1)  # the request's work had begun, and could not have ended, when the ack was back
    ok = h.slack.wait_for(lambda: any(m.thread_ts is None for m in h.slack.messages.values()))
    assert ok, "the request was not posted as a thread root"
    root = next(m for m in h.slack.messages.values() if m.thread_ts is None)
    assert root.channel == "CLAB" and "<@UALICE>" in root.text
    assert "(T &lt; 2 &amp; short)" in root.text  # Slack's escaping undone once, escaped once again
    (answer,) = h.answers("CLAB", root.ts)
    assert "(T < 2 & short)" in code.prompt_text(0)  # the model reads what the user typed
    text = answer.all_text()
    assert "The script runs" in text and "final step 500" in text
    assert "attached below as `in.mdbot`" in text and "pair_coeff 1 1" not in text  # the script is a file
    assert "Files (" not in text  # no server paths
    h.slack.wait_for(lambda: len(h.slack.uploads_in("CLAB", root.ts)) >= 3)
    uploads = {u["filename"]: u for u in h.slack.uploads_in("CLAB", root.ts)}
    assert set(uploads) == {"in.mdbot", "thermo.png", "snapshot.jpg"}
    assert uploads["in.mdbot"]["content"].decode().strip() == GOOD_LJ.strip()
    assert uploads["thermo.png"]["content"].startswith(b"\x89PNG")
    assert uploads["snapshot.jpg"]["content"].startswith(b"\xff\xd8")
    edits = " ".join(e["text"] for e in answer.edits)
    for stage in ("Attempt 1: checking", "Attempt 1: running LAMMPS", "Attempt 1: reviewing"):
        assert stage in edits


def test_slash_command_help_and_empty(slack_app):
    h = slack_app(retrieval=False)
    for text in ("help", ""):
        # answered in the acknowledgement itself, with no work behind it: nothing to wait for, so nothing
        # to time here (bench/slack_load.py measures acknowledgements against Slack's 3 s)
        status, body, _ = h.send.command(text)
        assert status == 200
        reply = json.loads(body)
        assert reply["response_type"] == "ephemeral"
        assert "Ask a question" in reply["text"] and "/lammps" in reply["text"]
    assert not h.slack.messages  # nothing posted in the channel


def test_slash_command_where_the_bot_cannot_post_says_so(slack_app):
    h = slack_app(retrieval=False)
    status, _, _ = h.send.command("what is fix nvt?", channel="CNOTIN1")
    assert status == 200
    assert h.slack.wait_for(lambda: h.slack.responses)
    assert "/invite @mdbot" in h.slack.responses[0]["text"]
    assert h.slack.responses[0]["response_type"] == "ephemeral"


# ------------------------------------------------------------------------------------------ files
def _lj_data(cells: int = 3) -> str:
    a = (4 / 0.8442) ** (1 / 3)
    basis = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    atoms = [
        ((i + bx) * a, (j + by) * a, (k + bz) * a)
        for i in range(cells)
        for j in range(cells)
        for k in range(cells)
        for bx, by, bz in basis
    ]
    box = cells * a
    lines = ["LAMMPS data file for an LJ fcc crystal", "", f"{len(atoms)} atoms", "1 atom types", ""]
    lines += [f"0 {box:.6f} {d}lo {d}hi" for d in "xyz"]
    lines += ["", "Masses", "", "1 1.0", "", "Atoms # atomic", ""]
    lines += [f"{n} 1 {x:.6f} {y:.6f} {z:.6f}" for n, (x, y, z) in enumerate(atoms, 1)]
    return "\n".join(lines) + "\n"


# GOOD_LJ's system read from a data file (which holds the masses)
IN_LJ = "units lj\natom_style atomic\nread_data data.lj\n" + GOOD_LJ[GOOD_LJ.index("velocity") :]


@requires_bwrap
def test_thread_reply_with_input_and_data_files_runs_them(slack_app):
    h = slack_app(retrieval=False, pictures=True)  # offline: routing by the attached in.* file
    files = [h.slack.host_file("in.lj", IN_LJ), h.slack.host_file("data.lj", _lj_data())]
    h.send.event(message_event(f"<@{BOT_USER}> hello", kind="app_mention", ts="1400.000100"))
    h.answers("CLAB", "1400.000100")
    h.send.event(message_event("please run these", ts="1400.000200", thread_ts="1400.000100", files=files))
    answers = h.answers("CLAB", "1400.000100", n=2)
    text = answers[1].all_text()
    assert "Your script runs" in text and "final step 500" in text
    # both files downloaded with the bot token, kept for the thread
    assert sorted(d["id"] for d in h.slack.downloads) == sorted(f["id"] for f in files)
    assert all(d["auth"] == f"Bearer {BOT_TOKEN}" for d in h.slack.downloads)
    kept = h.brain.settings.data_dir / "slack" / "CLAB" / "1400_000100" / "1400_000200"
    assert (kept / "in.lj").read_text() == IN_LJ and (kept / "data.lj").is_file()
    h.slack.wait_for(lambda: len(h.slack.uploads_in("CLAB", "1400.000100")) >= 3)
    names = {u["filename"] for u in h.slack.uploads_in("CLAB", "1400.000100")}
    assert {"in.mdbot", "thermo.png", "snapshot.jpg"} <= names
    (turn,) = [t for t in h.brain.journal.turns("CLAB:1400.000100") if t.attempts]
    assert turn.intent == "run" and turn.attempts[0].run_result["status"] == "ok"


@requires_bwrap
def test_files_known_only_by_id_are_looked_up_and_checked(slack_app):
    h = slack_app(retrieval=False)
    script = h.slack.host_file("in.lj", IN_LJ)
    data = h.slack.host_file("data.lj", _lj_data())
    only_id = {"id": script["id"], "file_access": "check_file_info"}  # as Slack sends some shares
    h.send.event(
        message_event(f"<@{BOT_USER}> run", kind="app_mention", ts="1450.000100", files=[only_id, data])
    )
    (answer,) = h.answers("CLAB", "1450.000100")
    assert "Your script runs" in answer.all_text()
    assert [c.params["file"] for c in h.slack.calls_of("files.info")] == [script["id"]]
    # what files.info says is checked like any attachment
    sneaky = h.slack.host_file("../../.ssh/authorized_keys", "ssh-rsa AAA")
    h.send.event(message_event(f"<@{BOT_USER}> run", kind="app_mention", ts="1450.000200",
                               files=[{"id": sneaky["id"], "file_access": "check_file_info"}]))  # fmt: skip
    assert h.slack.wait_for(lambda: h.slack.thread("CLAB", "1450.000200"))
    assert "may not contain a path" in h.slack.thread("CLAB", "1450.000200")[0].all_text()
    assert sneaky["id"] not in {d["id"] for d in h.slack.downloads}


def test_an_answer_slack_will_not_display_arrives_as_a_file(slack_app):
    h = slack_app()
    h.slack.max_blocks_chars = 1500  # the offline answer's blocks are longer than this
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="1460.000100"))
    (answer,) = h.answers("CLAB", "1460.000100")
    assert "attached as answer.md" in answer.all_text()
    assert h.slack.wait_for(lambda: h.slack.uploads_in("CLAB", "1460.000100"))
    (upload,) = h.slack.uploads_in("CLAB", "1460.000100")
    (turn,) = h.brain.journal.turns("CLAB:1460.000100")
    assert upload["filename"] == "answer.md" and upload["content"].decode() == turn.answers[0].text


def test_hostile_attachments_get_a_clear_message(slack_app):
    h = slack_app(retrieval=False, max_file_mb=1)
    cases = {
        "../../etc/passwd": (h.slack.host_file("../../etc/passwd", "root:x:0:0"), "may not contain a path"),
        "huge": (h.slack.host_file("data.huge", "1 2 3\n", size=500_000_000), "limit is 1.0 MB"),
        "zip": (
            h.slack.host_file("inputs.zip", b"PK\x03\x04", filetype="zip", mimetype="application/zip"),
            "archives are not unpacked",
        ),  # fmt: skip
        "png": (h.slack.host_file("plot.png", b"\x89PNG", filetype="png", mimetype="image/png"), "png file"),
        "space": (h.slack.host_file("my data.txt", "1 2 3\n"), "no spaces"),
        "broadcast": (h.slack.host_file("<!channel>.txt", "1\n"), "`&lt;!channel&gt;.txt`"),
    }
    for n, (f, _) in enumerate(cases.values()):
        h.send.event(
            message_event(f"<@{BOT_USER}> run this", kind="app_mention", ts=f"1500.00010{n}", files=[f])
        )
    for n, (key, (_, expected)) in enumerate(cases.items()):
        assert h.slack.wait_for(lambda n=n: h.slack.thread("CLAB", f"1500.00010{n}")), key
        (msg,) = h.slack.thread("CLAB", f"1500.00010{n}")
        assert expected in msg.all_text(), (key, msg.all_text())
        assert "<!channel>" not in msg.all_text()  # a file's name never becomes a Slack command
    assert not h.slack.downloads  # refused by what Slack says about them, nothing fetched
    # a binary file disguised as text is caught after download, and removed
    disguised = h.slack.host_file("data.txt", b"\x00\x01\x02ELF" * 100)
    h.send.event(message_event(f"<@{BOT_USER}> run", kind="app_mention", ts="1500.000200", files=[disguised]))
    assert h.slack.wait_for(
        lambda: (
            h.slack.thread("CLAB", "1500.000200")
            and "binary" in h.slack.thread("CLAB", "1500.000200")[0].all_text()
        ),
    )
    assert not list((h.brain.settings.data_dir / "slack").rglob("data.txt"))
    assert not h.brain.journal.turns()  # no turn was run on bad input


def test_download_failure_ends_with_a_message(slack_app):
    h = slack_app(retrieval=False)
    f = h.slack.host_file("in.melt", "units lj\n")
    del h.slack.hosted[f["id"]]  # Slack no longer has it
    h.send.event(message_event(f"<@{BOT_USER}> run", kind="app_mention", ts="1600.000100", files=[f]))
    assert h.slack.wait_for(
        lambda: (
            "could not be downloaded" in " ".join(m.all_text() for m in h.slack.thread("CLAB", "1600.000100"))
        ),
    )


# ------------------------------------------------------------------------------------------ feedback
def test_feedback_buttons_and_comment_are_stored_against_the_turn(slack_app):
    h = slack_app()
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="1700.000100"))
    (answer,) = h.answers("CLAB", "1700.000100")
    actions = next(b for b in answer.blocks if b["type"] == "actions")
    turn_id = actions["elements"][0]["value"]
    message = {"ts": answer.ts, "thread_ts": "1700.000100"}

    def click(action_id: str, user: str = "UBOB") -> None:
        button = next(e for e in actions["elements"] if e["action_id"] == action_id)
        payload = {
            "type": "block_actions", "user": {"id": user}, "team": {"id": "T0LAB"}, "api_app_id": "A0MDBOT",
            "trigger_id": "123.trigger", "channel": {"id": "CLAB"}, "message": message,
            "container": {"type": "message", "channel_id": "CLAB", "message_ts": answer.ts},
            "actions": [{**button, "block_id": "mdbot_feedback", "type": "button", "action_ts": "1"}],
        }  # fmt: skip
        assert h.send.interactive(payload)[0] == 200

    click("mdbot_feedback_down")
    assert h.slack.wait_for(lambda: _feedback_rows(h.brain, "CLAB:1700.000100"))
    (fb,) = _feedback_rows(h.brain, "CLAB:1700.000100")
    assert fb.rating == -1 and fb.user_id == "UBOB" and fb.interaction_id == turn_id
    assert h.slack.wait_for(lambda: h.slack.ephemerals)
    assert h.slack.ephemerals[0]["user"] == "UBOB" and "stored" in h.slack.ephemerals[0]["text"]

    click("mdbot_feedback_comment")
    assert h.slack.wait_for(lambda: h.slack.views)
    view = h.slack.views[0]["view"]
    assert h.slack.views[0]["trigger_id"] == "123.trigger" and view["callback_id"] == "mdbot_feedback_view"
    submission = {
        "type": "view_submission", "user": {"id": "UBOB"}, "team": {"id": "T0LAB"}, "api_app_id": "A0MDBOT",
        "view": {**view, "id": "V1", "state": {"values": {
            "rating": {"value": {"type": "radio_buttons", "selected_option": {"value": "1"}}},
            "comment": {"value": {"type": "plain_text_input", "value": "Good, but cite the Tdamp units page."}},
        }}},
    }  # fmt: skip
    status, body, _ = h.send.interactive(submission)
    assert status == 200 and body in ("", "{}")  # the modal closes
    assert h.slack.wait_for(lambda: len(_feedback_rows(h.brain, "CLAB:1700.000100")) == 2)
    rows = _feedback_rows(h.brain, "CLAB:1700.000100")
    commented = next(r for r in rows if r.comment)
    assert commented.rating == 1 and commented.comment.startswith("Good, but")


# ------------------------------------------------------------------------------------------ load
def test_twenty_concurrent_mentions_are_each_answered_exactly_once(slack_app):
    h = slack_app(workers=2)
    events = [
        message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", user=f"U{n:03d}", ts=f"1800.{n:06d}")
        for n in range(20)
    ]
    # every acknowledgement comes back while the work is held (Slack's 3 s, by order; the bench times it)
    with h.hold_work() as work:
        statuses = work.acks(*(partial(h.send.event, e) for e in events))
        work.wait_held(2)  # both workers hold a request; the other 18 wait in the queue
    assert all(s == 200 for s, _, _ in statuses)
    for e in events:
        h.answers("CLAB", e["ts"])
    h.settle()
    for e in events:
        msgs = h.slack.thread("CLAB", e["ts"])
        assert len(msgs) == 1 and len(h.slack.final("CLAB", e["ts"])) == 1
    assert len(h.brain.journal.turns()) == 20
    # with two workers, some requests waited and were told so
    queued = [m for m in h.slack.messages.values() if any("Queued" in x["text"] for x in m.edits)]
    assert queued


def test_per_user_rate_limit_refuses_with_a_reason(slack_app):
    h = slack_app(user_rate=2)
    for n in range(2):
        h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts=f"1900.00000{n}"))
        h.answers("CLAB", f"1900.00000{n}")
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="1900.000002"))
    assert h.slack.wait_for(
        lambda: "in the last hour" in " ".join(m.all_text() for m in h.slack.thread("CLAB", "1900.000002")),
    )
    h.send.event(
        message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", user="UBOB", ts="1900.000003")
    )
    h.answers("CLAB", "1900.000003")  # others are not affected
    assert len(h.brain.journal.turns()) == 3


def test_web_api_rate_limits_are_retried_except_for_progress(slack_app):
    h = slack_app()
    h.slack.rate_limit("chat.postMessage", times=1)  # Retry-After: 1
    # far past every wait of the test's: a bot that waited this edit out would never answer in time
    h.slack.rate_limit("chat.update", times=1, retry_after=int(10 * PATIENT_S))
    h.send.event(message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", ts="2000.000100"))
    assert h.slack.wait_for(lambda: h.slack.final("CLAB", "2000.000100")), (
        "no answer: the bot is waiting out a progress edit's Retry-After instead of dropping the edit"
    )
    posts, updates = h.slack.calls_of("chat.postMessage"), h.slack.calls_of("chat.update")
    assert [c.method for c in h.slack.limited] == ["chat.postMessage", "chat.update"]
    # the status message: waited Retry-After (a slow machine only makes this longer), then sent again
    assert len(posts) == 2 and posts[0] is h.slack.limited[0] and posts[1].params == posts[0].params
    assert posts[1].at - posts[0].at >= 1.0
    # a rate-limited progress edit is dropped, not waited for: the answer is in place (above) long before
    # the edit's Retry-After, and the edit was never sent again
    dropped = updates[0]
    assert dropped is h.slack.limited[1] and '"mdbot_feedback"' not in json.dumps(dropped.params)  # progress
    assert len(updates) >= 2 and all(u.params != dropped.params for u in updates[1:])


# ------------------------------------------------------------------------------------------ access
def test_channel_allow_list_and_runners(slack_app):
    h = slack_app(retrieval=False, channels="CLAB", runners="UADMIN")
    h.send.event(
        message_event(f"<@{BOT_USER}> {QUESTION}", kind="app_mention", channel="CELSE", ts="2100.000100")
    )
    assert h.slack.wait_for(lambda: h.slack.ephemerals)
    assert (
        "don't answer in this channel" in h.slack.ephemerals[0]["text"]
        and "<#CLAB>" in h.slack.ephemerals[0]["text"]
    )
    script = f"<@{BOT_USER}> run this\n```\n{GOOD_LJ}```"
    h.send.event(message_event(script, kind="app_mention", user="UALICE", ts="2100.000200"))
    (answer,) = h.answers("CLAB", "2100.000200")
    assert "did not start a sandbox job" in answer.all_text()
    (turn,) = h.brain.journal.turns("CLAB:2100.000200")
    assert turn.outcome == "not_run" and not turn.attempts
