"""What the bot posts: status lines while it works, the answer with sources, files and feedback buttons.

Pure functions from the brain's :class:`~graph.service.Turn` to Slack blocks and a list of files to upload,
so presentation is tested without Slack. Rules: the answer in mrkdwn with citation numbers linking to their
sources; a script turn's final input, thermo plot and snapshot go up as files (and the full log when it
failed); whatever does not fit a message goes into a file with a line saying so — nothing is cut silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import mrkdwn

ACTION_UP, ACTION_DOWN, ACTION_COMMENT = "mdbot_feedback_up", "mdbot_feedback_down", "mdbot_feedback_comment"
VIEW_FEEDBACK = "mdbot_feedback_view"
MAX_SECTIONS = (
    4  # about 11 600 characters in the message (Slack refuses very long block sets); more: answer.md
)
LOG_UPLOAD_BYTES = 20_000_000
MARKDOWN_LIMIT = 12_000  # Slack's markdown block: 12 000 characters per message
_CITE = re.compile(r"\[(\d+)\](?!\()")
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_FILES_LINE = re.compile(r"\n*^Files \(.*\): .*$", re.M)


@dataclass
class Upload:
    filename: str
    title: str
    path: str | None = None
    content: str | None = None

    def for_slack(self) -> dict:
        item = {"filename": self.filename, "title": self.title}
        if self.path:
            item["file"] = self.path
        else:
            item["content"] = self.content or ""
        return item


@dataclass
class Reply:
    text: str  # notification / fallback text
    blocks: list[dict]
    uploads: list[Upload]
    tail: list[dict] = field(
        default_factory=list
    )  # what follows the answer's text: sources, details, buttons
    plain: list[dict] | None = None  # the same answer in mrkdwn sections, where a markdown block is refused


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:2900]}]}


def status_blocks(lines: list[str]) -> tuple[str, list[dict]]:
    """The status message: steps done (✓) and the current one (⏳), the last eight."""
    shown = [x[:300] for x in lines[-8:]]
    rendered = [f"✓ {mrkdwn.escape(x)}" for x in shown[:-1]] + [f"⏳ {mrkdwn.escape(shown[-1])}"]
    return mrkdwn.escape(shown[-1]), [context("\n".join(rendered))]


def notice(text: str, emoji: str = "⚠️") -> tuple[str, list[dict]]:
    """A short message of the bot's own (refusals, errors) from plain text: escaped everywhere, so a file
    name like ``<!channel>`` stays text."""
    safe = mrkdwn.escape(text)
    return safe, [section(f"{emoji} {safe}"[: mrkdwn.SECTION_LIMIT])]


def info(mrkdwn_text: str) -> tuple[str, list[dict]]:
    """A message of the bot's own that is already mrkdwn (help)."""
    return mrkdwn_text[:300], [section(p) for p in mrkdwn.pieces_of_mrkdwn(mrkdwn_text)]


def citation_url(c: dict, manual_url: str) -> str | None:
    """A web address for a citation (escaped for a Slack link), or None for lab files without one."""
    source = str(c.get("source") or "")
    if c.get("url"):  # the page of the manual version the passage came from (retrieval records it)
        url = str(c["url"])
    elif source.startswith(("https://", "http://")):
        url = source
    elif c.get("kind", "manual") == "manual" and c.get("doc_id") and not c.get("version"):
        url = manual_url.rstrip("/") + f"/{c['doc_id']}.html"
    else:
        return None
    return mrkdwn.escape(url).replace("|", "%7C").replace(" ", "%20")


def _sources(cites: list[dict], manual_url: str) -> str:
    """The Sources section: whole lines only; what does not fit is counted, not cut."""
    lines = []
    for c in cites:
        label = mrkdwn.escape(c.get("title") or c.get("doc_id") or "source")
        if c.get("section"):
            label += " — " + mrkdwn.escape(c["section"])
        if c.get("version"):
            label += f" (manual of {mrkdwn.escape(c['version'])})"
        url = citation_url(c, manual_url)
        where = f"<{url}|{label}>" if url else f"{label} (`{mrkdwn.escape(Path(c.get('source', '')).name)}`)"
        lines.append(f"[{c['n']}] {where}")
    out, size = ["*Sources*"], 10
    for i, line in enumerate(lines):
        if size + len(line) + 1 > mrkdwn.SECTION_LIMIT - 40:
            out.append(f"…and {len(lines) - i} more")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def _script_body(turn) -> str:
    """A script turn's answer without the final script (uploaded as a file) and the server-side paths."""
    body = turn.answer
    if turn.script:
        block = f"```lammps\n{turn.script.rstrip()}\n```"
        if block in body:
            body = body.replace(block, "_The final input script is attached below as `in.mdbot`._")
    return _FILES_LINE.sub("", body).strip()


def feedback_block(turn_id: str) -> dict:
    def button(text: str, action: str) -> dict:
        return {
            "type": "button",
            "text": {"type": "plain_text", "text": text, "emoji": True},
            "action_id": action,
            "value": turn_id,
        }

    return {
        "type": "actions",
        "block_id": "mdbot_feedback",
        "elements": [
            button("👍 Helpful", ACTION_UP),
            button("👎 Not helpful", ACTION_DOWN),
            button("💬 Comment", ACTION_COMMENT),
        ],
    }


def markdown_block(text: str) -> dict:
    """Slack's ``markdown`` block: standard Markdown (code fences, tables, links) rendered by Slack."""
    return {"type": "markdown", "text": text}


def _linked(body: str, link) -> str:
    """Citation numbers as Markdown links to their sources, outside code."""
    out = []
    for i, part in enumerate(_CODE.split(body)):
        if i % 2:
            out.append(part)  # code: as written
        else:
            out.append(
                _CITE.sub(lambda m: f"[[{m[1]}]]({link(int(m[1]))})" if link(int(m[1])) else m[0], part)
            )
    return "".join(out)


def answer(turn, manual_url: str, markdown: bool = False) -> Reply:
    """The final message that replaces the status message, and the files to upload under it. ``markdown``:
    the answer's text in one markdown block when it fits (``plain`` keeps the mrkdwn sections)."""
    uploads: list[Upload] = []
    cites = [c for c in turn.citations if c.get("cited", True)] or turn.citations
    by_n = {c["n"]: c for c in turn.citations}

    def link(n: int) -> str | None:
        return citation_url(by_n[n], manual_url) if n in by_n else None

    script_turn = bool(turn.script and turn.result)
    body = _script_body(turn) if script_turn else turn.answer
    parts = mrkdwn.pieces(body or "_(no answer)_", link)
    if len(parts) > MAX_SECTIONS:
        uploads.append(answer_file(turn))
        parts = parts[: MAX_SECTIONS - 1] + [
            f"_The answer is too long for one Slack message ({len(turn.answer):,} characters): its beginning "
            "is above, and the whole answer is in `answer.md` below._"
        ]
    tail = []
    if cites:
        tail.append(section(_sources(cites, manual_url)))
    if script_turn:
        uploads += _result_uploads(turn)
    meta = [f"{turn.intent or '?'}", turn.outcome or "?"]
    if turn.attempts:
        meta.append(f"{len(turn.attempts)} attempt(s)")
    meta += [f"{turn.model_calls} model call(s)", f"{turn.latency_s:.1f} s"]
    tail.append(context(" · ".join(meta)))
    if turn.turn_id:
        tail.append(feedback_block(turn.turn_id))
    plain = [section(p) for p in parts] + tail
    text = (body or "").strip()
    if (
        markdown
        and text
        and len(text) <= MARKDOWN_LIMIT
        and not any(u.filename == "answer.md" for u in uploads)
    ):
        blocks = [markdown_block(_linked(text, link)), *tail]
        return Reply(text=_fallback(parts[0]), blocks=blocks, uploads=uploads, tail=tail, plain=plain)
    return Reply(text=_fallback(parts[0]), blocks=plain, uploads=uploads, tail=tail)


def answer_file(turn) -> Upload:
    return Upload("answer.md", "The full answer (Markdown)", content=turn.answer)


def _fallback(first: str) -> str:
    """Notification text (shown where blocks are not): the opening of the answer, marked if shortened."""
    flat = " ".join(first.replace("```", "").split())
    return flat if len(flat) <= 300 else flat[:300].rsplit(" ", 1)[0] + " …"


def _result_uploads(turn) -> list[Upload]:
    outcome = turn.outcome or "?"
    out = [Upload("in.mdbot", f"Final input script ({outcome})", content=turn.script.rstrip() + "\n")]
    for pic in turn.pictures:
        name = Path(pic).name
        title = {"thermo.png": "Thermo plot", "snapshot.jpg": "Snapshot (last frame)"}.get(name, name)
        out.append(Upload(name, title, path=pic))
    workdir = turn.result.get("workdir")  # a script turn has a result
    if outcome != "success" and workdir:
        log = Path(workdir) / "log.lammps"
        if log.is_file() and log.stat().st_size:
            if log.stat().st_size <= LOG_UPLOAD_BYTES:
                out.append(Upload("log.lammps", "LAMMPS log", path=str(log)))
            else:
                with open(log, "rb") as fh:
                    fh.seek(-LOG_UPLOAD_BYTES, 2)
                    tail = fh.read().decode("utf-8", "replace")
                out.append(
                    Upload(
                        "log.tail.lammps",
                        f"The last {LOG_UPLOAD_BYTES // 1_000_000} MB of the LAMMPS log "
                        f"({log.stat().st_size / 1e6:.0f} MB in all, kept in the job directory)",
                        content=tail,
                    )
                )
    return out


def comment_view(turn_id: str, channel: str, thread_ts: str | None) -> dict:
    """The modal behind 💬: a rating and a comment, stored against the turn."""
    options = [
        {"text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True}, "value": "1"},
        {"text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True}, "value": "-1"},
    ]
    radio = {"type": "radio_buttons", "action_id": "value", "options": options}
    return {
        "type": "modal",
        "callback_id": VIEW_FEEDBACK,
        "private_metadata": json.dumps({"turn": turn_id, "channel": channel, "thread_ts": thread_ts}),
        "title": {"type": "plain_text", "text": "Feedback on mdbot"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "rating", "label": {"type": "plain_text", "text": "Was it useful?"}, "element": radio},
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": "What was right or wrong?"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 3000},
            },
        ],
    }  # fmt: skip
