"""A request's lifecycle: forward-only phases, each move at most once, edits serialized by the phase."""

from __future__ import annotations

import threading

import pytest

from mdbot.bot import replies
from mdbot.bot.lifecycle import ALLOWED, Phase, Request
from tests.bot import PATIENT_S

PATHS = {  # how a request gets to each phase
    Phase.NEW: [],
    Phase.QUEUED: [Phase.QUEUED],
    Phase.STARTED: [Phase.QUEUED, Phase.STARTED],
    Phase.ANSWERED: [Phase.QUEUED, Phase.STARTED, Phase.ANSWERED],
    Phase.CLOSED: [Phase.QUEUED, Phase.CLOSED],
}


def _request(at: Phase = Phase.NEW) -> Request:
    r = Request(user="UALICE", channel="CLAB", thread_ts="1.000100", message_ts="1.000100", text="hi")
    for step in PATHS[at]:
        with r.transition(step) as allowed:
            assert allowed, (at, step)
    assert r.phase is at
    return r


@pytest.mark.parametrize("start", list(Phase))
@pytest.mark.parametrize("to", list(Phase))
def test_every_move_is_taken_or_refused_as_the_table_says(start, to):
    r = _request(start)
    with r.transition(to) as allowed:
        assert allowed == (to in ALLOWED[start])
    assert r.phase is (to if allowed else start)


def test_phases_only_go_forward_and_the_final_ones_stay():
    order = list(Phase)
    for start, targets in ALLOWED.items():
        assert all(order.index(to) > order.index(start) for to in targets)  # no way back, no loop
    assert {p for p in Phase if p.final} == {Phase.ANSWERED, Phase.CLOSED}
    assert all(not ALLOWED[p] for p in Phase if p.final)
    assert not any(Phase.NEW in targets for targets in ALLOWED.values())


def test_a_request_is_started_answered_and_closed_at_most_once():
    r = _request(Phase.STARTED)
    with r.transition(Phase.STARTED) as again:
        assert not again  # a second worker would not get it
    with r.transition(Phase.ANSWERED) as first:
        assert first
    with r.transition(Phase.ANSWERED) as second:
        assert not second  # no double answer
    with r.transition(Phase.CLOSED) as late:
        assert not late  # a late failure or restart notice does not replace the answer
    assert r.phase is Phase.ANSWERED


def test_during_says_whether_the_request_is_in_a_phase():
    r = _request(Phase.QUEUED)
    with r.during(Phase.QUEUED) as queued:
        assert queued
    with r.during(Phase.STARTED) as started:
        assert not started
    assert r.phase is Phase.QUEUED  # during never moves


def _race(r: Request, targets: list[Phase]) -> list[Phase]:
    """Threads trying the moves in ``targets`` at once; the moves that were taken."""
    go = threading.Barrier(len(targets))
    won: list[Phase] = []

    def attempt(to: Phase) -> None:
        go.wait(PATIENT_S)
        with r.transition(to) as allowed:
            if allowed:
                won.append(to)

    threads = [threading.Thread(target=attempt, args=(to,)) for to in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENT_S)
    return won


def test_of_racing_answers_and_closes_exactly_one_wins():
    for _ in range(50):
        r = _request(Phase.STARTED)
        won = _race(r, [Phase.ANSWERED, Phase.CLOSED] * 4)
        assert len(won) == 1 and r.phase is won[0]
    for _ in range(20):  # two workers can't both start a request
        r = _request(Phase.QUEUED)
        assert _race(r, [Phase.STARTED] * 4) == [Phase.STARTED]


def _edits_while_answering(r: Request, progress_threads: int = 3) -> list[str]:
    """Threads edit progress in while another answers; the edits in the order "Slack" got them."""
    edits: list[str] = []
    progressed = threading.Event()

    def progress() -> None:
        while True:
            with r.during(Phase.STARTED) as working:
                if not working:
                    return
                edits.append("progress")
            progressed.set()

    workers = [threading.Thread(target=progress) for _ in range(progress_threads)]
    for t in workers:
        t.start()
    assert progressed.wait(PATIENT_S)
    with r.transition(Phase.ANSWERED) as allowed:
        assert allowed
        edits.append("answer")
    for t in workers:
        t.join(PATIENT_S)
    return edits


def test_no_progress_edit_lands_after_the_answer():
    """Progress and the answer edit the same message; the lock around each phase's edit orders them."""
    for _ in range(20):
        edits = _edits_while_answering(_request(Phase.STARTED))
        assert edits[-1] == "answer" and edits.count("answer") == 1 and len(edits) > 1


def test_the_bot_leaves_an_answered_request_alone(slack_app):
    """Through SlackBot: after the answer, progress edits nothing and a failure is a new message."""
    h = slack_app(retrieval=False)
    r = _request(Phase.NEW)
    posted = h.bot.poster.post(r.channel, r.thread_ts, "Received")
    with r.transition(Phase.QUEUED):
        r.status_ts = posted.ts
    with r.transition(Phase.STARTED):
        pass
    h.bot._progress(r, {"text": "Attempt 1: checking"})
    with r.transition(Phase.ANSWERED):
        h.bot.poster.edit(r.channel, r.status_ts, "The answer", [replies.section("The answer")])
    h.bot._progress(r, {"text": "Attempt 1: running LAMMPS"})  # late: dropped
    h.bot._close(r, *replies.notice("Something went wrong on my side (RuntimeError: late)."))
    (status, note) = h.slack.thread(r.channel, r.thread_ts)
    assert [e["text"] for e in status.edits] == ["Attempt 1: checking", "The answer"]
    assert status.text == "The answer" and "late" in note.text
    assert r.phase is Phase.ANSWERED
