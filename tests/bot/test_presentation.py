"""What the bot writes, without Slack: mrkdwn, splitting, the answer's blocks and files, the manifest."""

from __future__ import annotations

from pathlib import Path

import yaml

from mdbot.bot import mrkdwn, replies
from mdbot.bot.app import COMMAND, clean_text
from mdbot.graph.service import Turn

ROOT = Path(__file__).resolve().parents[2]


def test_markdown_becomes_mrkdwn():
    md = (
        "# Thermostats\nUse **fix nvt** or _fix langevin_ [1]; see [the manual](https://docs.lammps.org/fix_nh.html).\n\n"
        "- one `c_1[4]` & <two>\n- two\n  1. nested\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 22 |\n\n"
        "```lammps\nvariable x equal v_t<2\n```"
    )
    out = mrkdwn.to_mrkdwn(md, link=lambda n: "https://x.org/p" if n == 1 else None)
    assert out.startswith("*Thermostats*\n\nUse *fix nvt* or _fix langevin_ <https://x.org/p|[1]>;")
    assert "<https://docs.lammps.org/fix_nh.html|the manual>" in out
    odd = mrkdwn.to_mrkdwn("[x](javascript:alert(1)) [q](https://a.org/?a=1&b=2|3) <!channel> <@U1>")
    assert odd == "[x](javascript:alert(1)) <https://a.org/?a=1&amp;b=2%7C3|q> &lt;!channel&gt; &lt;@U1&gt;"
    assert "• one `c_1[4]` &amp; &lt;two&gt;" in out  # escaped; a LAMMPS array index is not a citation
    assert "    1. nested" in out and "> quoted" in out
    assert "```\na  b\n-  --\n1  22\n```" in out  # tables become aligned text
    assert out.endswith("```\nvariable x equal v_t&lt;2\n```")


def test_long_content_is_split_into_whole_pieces():
    code = "\n".join(f"pair_coeff {i} {i} 1.0 1.0 2.5" for i in range(400))
    md = "Intro paragraph.\n\n```lammps\n" + code + "\n```\n\n" + "word " * 1000
    parts = mrkdwn.pieces(md)
    assert all(len(p) <= mrkdwn.SECTION_LIMIT for p in parts)
    fences = [p for p in parts if "pair_coeff" in p]
    assert all(p.count("```") % 2 == 0 for p in parts)  # every piece's code blocks are closed
    lines = [ln for p in fences for ln in p.splitlines() if ln.startswith("pair_coeff")]
    assert lines == code.splitlines()  # nothing lost or cut
    assert "".join(parts).count("word") == 1000


def _turn(**kw) -> Turn:
    base = dict(turn_id="t-1", thread_id="C:1", intent="qa", outcome="answered", answer="Hi [1].")
    base["citations"] = [
        {"n": 1, "doc_id": "fix_nh", "title": "fix nvt command", "section": "Description", "source": "/x/fix_nh.html", "kind": "manual", "cited": True},
        {"n": 2, "doc_id": "lab-notes", "title": "Our water model", "section": "", "source": "/docs/water.md", "kind": "docs", "cited": True},
    ]  # fmt: skip
    return Turn(**{**base, **kw})


def test_answer_blocks_sources_and_feedback():
    reply = replies.answer(_turn(answer="See [1] and [2]."), "https://docs.lammps.org/")
    texts = [b["text"]["text"] for b in reply.blocks if b["type"] == "section"]
    assert texts[0] == "See <https://docs.lammps.org/fix_nh.html|[1]> and [2]."  # lab docs have no URL
    assert "[2] Our water model (`water.md`)" in texts[1]
    actions = reply.blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        replies.ACTION_UP,
        replies.ACTION_DOWN,
        replies.ACTION_COMMENT,
    ]
    assert {e["value"] for e in actions["elements"]} == {"t-1"}
    assert not reply.uploads
    # no journal row, no buttons (nothing to store a rating against)
    assert not any(b["type"] == "actions" for b in replies.answer(_turn(turn_id=None), "u").blocks)


def test_a_very_long_answer_goes_into_a_file_with_a_note():
    long = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum " * 60 for i in range(60))
    reply = replies.answer(_turn(answer=long), "https://docs.lammps.org/")
    sections = [b for b in reply.blocks if b["type"] == "section" and "*Sources*" not in b["text"]["text"]]
    assert len(sections) == replies.MAX_SECTIONS
    assert "whole answer is in `answer.md`" in sections[-1]["text"]["text"]
    (upload,) = reply.uploads
    assert upload.filename == "answer.md" and upload.content == long
    assert len(reply.text) <= 302 and reply.text.endswith("…")


def test_script_turn_uploads_script_pictures_and_log_when_it_failed(tmp_path):
    (tmp_path / "log.lammps").write_text("LAMMPS\nERROR: Unknown pair style\n")
    (tmp_path / "thermo.png").write_bytes(b"\x89PNG")
    script = "units lj\npair_style lj/cutt 2.5\n"
    answer = (
        f"**No attempt ran cleanly**.\n\n```lammps\n{script.rstrip()}\n```\n\nFiles ({tmp_path}): log.lammps"
    )
    turn = _turn(
        intent="run", outcome="failed", answer=answer, script=script, citations=[],
        result={"status": "error", "workdir": str(tmp_path), "files": []}, pictures=[str(tmp_path / "thermo.png")],
    )  # fmt: skip
    reply = replies.answer(turn, "https://docs.lammps.org/")
    text = "\n".join(b["text"]["text"] for b in reply.blocks if b["type"] == "section")
    assert "lj/cutt" not in text and "attached below as `in.mdbot`" in text and str(tmp_path) not in text
    by_name = {u.filename: u for u in reply.uploads}
    assert by_name["in.mdbot"].content == script
    assert by_name["thermo.png"].path == str(tmp_path / "thermo.png")
    assert by_name["log.lammps"].path == str(tmp_path / "log.lammps")


def test_message_text_is_cleaned():
    raw = "<@UMDBOT> see <https://docs.lammps.org/fix_nh.html|the page> &amp; use `x &lt; 2` in <#C1|md-lab>"
    assert clean_text(raw, "UMDBOT") == (
        "see the page (https://docs.lammps.org/fix_nh.html) & use `x < 2` in #md-lab"
    )


def test_manifest_matches_what_the_app_listens_to():
    manifest = yaml.safe_load((ROOT / "bot" / "manifest.yaml").read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.channels", "message.groups", "message.im", "message.mpim"} <= events
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == [COMMAND]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {"app_mentions:read", "chat:write", "commands", "files:read", "files:write", "im:history",
              "channels:history", "groups:history"}  # fmt: skip
    assert needed <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"]  # feedback buttons and the comment modal
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"]  # DMs
