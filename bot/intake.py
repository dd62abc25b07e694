"""What a Slack message brings in: its text as the user typed it, and its attachments — resolved, checked
by what Slack says about them before anything is downloaded, then downloaded into the thread's folder."""

from __future__ import annotations

import html
import re
from pathlib import Path

from . import files as attachments
from .posting import Poster


def clean_text(text: str, bot_user_id: str | None) -> str:
    """Slack's message text as the user typed it: no bot mention, links and entities decoded."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<(mailto:)?([^@|>]+@[^|>]+)\|[^>]+>", r"\2", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    return html.unescape(text).strip()


def resolve(
    files: list[dict], poster: Poster, max_files: int, max_bytes: int
) -> tuple[list[dict], list[str]]:
    """Full file objects (some events carry only an id: ``file_access: check_file_info``), each checked
    by what Slack says about it; and what is wrong with them, for the user."""
    problems, resolved = [], []
    if len(files) > max_files:
        problems.append(f"{len(files)} files attached; I take at most {max_files} per message")
    for f in files:
        if f.get("id") and not (f.get("name") and (f.get("url_private_download") or f.get("url_private"))):
            info, error = poster.file_info(f["id"])
            if info is None:
                problems.append(f"Slack would not tell me about file {f['id']} ({error})")
                continue
            f = info
        try:
            attachments.check(attachments.Attachment.from_slack(f), max_bytes)
            resolved.append(f)
        except attachments.AttachmentError as exc:
            problems.append(str(exc))
    names = [str(f.get("name", "")) for f in resolved]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"`{dup}` is attached twice")
    return resolved, problems


def stage(files: list[dict], dest: Path, token: str, api_url: str, max_bytes: int) -> dict[str, str]:
    """Download resolved attachments into ``dest``: name -> path (raises AttachmentError)."""
    staged = {}
    for f in files:
        a = attachments.Attachment.from_slack(f)
        staged[a.name] = str(attachments.download(a, dest, token, api_url, max_bytes))
    return staged
