"""Files attached to Slack messages: checked, downloaded with the bot token, kept for the thread's jobs.

Every attachment is hostile until checked. Before anything is downloaded: a name LAMMPS can use and that
cannot escape the job directory, a size under the limit, not a known binary/media type. While downloading:
the size again (Slack's metadata may lie, the stream is cut at the limit). After: text only (no NUL bytes,
decodable), because every LAMMPS input, data, molecule and potential file a lab attaches is text. The bot
token is only sent to Slack's own hosts or to the configured API host (tests, enterprise proxies).

Files are kept under ``<data_dir>/slack/<channel>/<thread_ts>/<message_ts>/`` so a later turn of the thread
can still use them (the graph stages every file of the thread into each job).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mdbot.graph.service import SAFE_NAME

BINARY_TYPES = {
    "zip", "gzip", "gz", "tar", "tgz", "bz2", "xz", "7z", "rar", "pdf", "png", "jpg", "jpeg", "gif", "bmp",
    "tiff", "svg", "heic", "webp", "mp4", "mov", "avi", "mp3", "wav", "binary", "exe", "dmg", "apk", "docx",
    "doc", "xlsx", "xls", "pptx", "ppt", "odt", "psd", "ai", "sketch",
}  # fmt: skip
SLACK_HOSTS = ("slack.com", "slack-edge.com", "slack-files.com")
CHUNK = 64 * 1024


class AttachmentError(ValueError):
    """One attached file cannot be used; the message says which and why, for the user."""


@dataclass
class Attachment:
    """What the event says about one file (Slack's file object, trimmed)."""

    id: str
    name: str
    size: int
    filetype: str
    mimetype: str
    url: str | None

    @classmethod
    def from_slack(cls, f: dict) -> Attachment:
        return cls(
            id=str(f.get("id", "")),
            name=str(f.get("name") or f.get("title") or ""),
            size=int(f.get("size") or 0),
            filetype=str(f.get("filetype") or "").lower(),
            mimetype=str(f.get("mimetype") or "").lower(),
            url=f.get("url_private_download") or f.get("url_private"),
        )


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def check(a: Attachment, max_bytes: int) -> None:
    """Refuse by metadata, before downloading anything."""
    if not a.name:
        raise AttachmentError("an attached file has no name")
    if "/" in a.name or "\\" in a.name or a.name in (".", "..") or a.name.startswith("."):
        raise AttachmentError(
            f"`{a.name}`: file names may not contain a path or start with a dot; rename it, "
            "e.g. `in.melt` or `data.cu`"
        )
    if not SAFE_NAME.match(a.name):
        raise AttachmentError(
            f"`{a.name}`: LAMMPS needs plain file names (letters, digits, `.`, `_`, `+`, `-`; no spaces); "
            "rename it and attach it again"
        )
    if a.size > max_bytes:
        raise AttachmentError(f"`{a.name}` is {_mb(a.size)}; the limit is {_mb(max_bytes)} per file")
    ext = a.name.rsplit(".", 1)[-1].lower() if "." in a.name else ""
    kind = a.filetype if a.filetype in BINARY_TYPES else ext if ext in BINARY_TYPES else ""
    if kind or a.mimetype.startswith(("image/", "video/", "audio/")):
        what = kind or a.mimetype
        raise AttachmentError(
            f"`{a.name}` is a {what} file; I take text files only (input scripts, data, molecule and "
            "potential files). Attach them one by one — archives are not unpacked"
        )


def _token_allowed(url: str, api_url: str) -> bool:
    """Send the token to Slack over HTTPS, or to the host the Web API itself is configured at."""
    u, api = urlsplit(url), urlsplit(api_url)
    if (u.scheme, u.netloc) == (api.scheme, api.netloc):
        return True
    host = (u.hostname or "").lower()
    return u.scheme == "https" and any(host == h or host.endswith("." + h) for h in SLACK_HOSTS)


class _KeepTokenOnSlack(urllib.request.HTTPRedirectHandler):
    """urllib copies every header, Authorization included, onto a redirect: drop the token when the
    redirect leaves the hosts it may go to."""

    def __init__(self, api_url: str):
        self.api_url = api_url

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not _token_allowed(newurl, self.api_url):
            new.remove_header("Authorization")
        return new


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sample's end
            return True
    bad = sum(1 for b in head if b < 9 or 13 < b < 32)
    return bad <= len(head) // 100  # latin-1 text with the odd control byte


def download(a: Attachment, dest_dir: Path, token: str, api_url: str, max_bytes: int) -> Path:
    """Fetch one checked attachment into ``dest_dir``; the partial file is removed on any failure."""
    if not a.url:
        raise AttachmentError(f"`{a.name}`: Slack gave no download URL (is the file still shared?)")
    if not _token_allowed(a.url, api_url):
        raise AttachmentError(f"`{a.name}`: the download URL is not on Slack ({urlsplit(a.url).netloc})")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / a.name
    request = urllib.request.Request(a.url, headers={"Authorization": f"Bearer {token}"})
    try:
        opener = urllib.request.build_opener(_KeepTokenOnSlack(api_url))
        with opener.open(request, timeout=60) as resp, open(target, "wb") as out:
            ctype = resp.headers.get("Content-Type", "")
            if ctype.startswith("text/html") and not a.name.lower().endswith((".html", ".htm")):
                raise AttachmentError(
                    f"`{a.name}`: Slack returned a web page instead of the file — the app needs the "
                    "files:read scope (reinstall it from bot/manifest.yaml)"
                )
            total, head = 0, b""
            while chunk := resp.read(CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise AttachmentError(f"`{a.name}` is larger than the limit of {_mb(max_bytes)}")
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                out.write(chunk)
        if not _looks_like_text(head):
            raise AttachmentError(
                f"`{a.name}` is a binary file; I take text files only (input scripts, data, molecule and "
                "potential files; use write_data rather than a binary restart file)"
            )
    except AttachmentError:
        target.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        target.unlink(missing_ok=True)
        reason = getattr(exc, "code", None) or getattr(exc, "reason", None) or exc
        raise AttachmentError(f"`{a.name}` could not be downloaded from Slack ({reason})") from exc
    return target


def thread_dir(data_dir: Path, channel: str, thread_ts: str, message_ts: str) -> Path:
    """Where one message's files live; Slack IDs and timestamps are sanitised to plain names."""

    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "_", s)[:64] or "_"

    return data_dir / "slack" / clean(channel) / clean(thread_ts) / clean(message_ts)
