"""A local Slack: the Web API on 127.0.0.1, file hosting, and a signed event sender.

In the manner of bolt-python's ``tests/mock_web_api_server``, grown to what the bot uses: it checks the
bot token on every call and every download, keeps the messages it was sent (with their edits), the files
uploaded through ``files.getUploadURLExternal`` → upload URL → ``files.completeUploadExternal``, ephemeral
messages and opened views, and serves attached files at ``url_private_download``. Tests wait on it with
:meth:`MockSlack.wait_for` (a condition variable, not sleeps).

:class:`Sender` posts real Slack payloads to the bot's HTTP endpoint, signed with the signing secret the
way Slack signs them (``v0=`` HMAC-SHA256 of ``v0:timestamp:body``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.bot import PATIENT_S

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER, BOT_ID, TEAM = "UMDBOT", "BMDBOT", "T0LAB"
LOGIN_PAGE = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # bursts of 20+ concurrent calls
    daemon_threads = True


@dataclass
class Call:
    method: str
    params: dict
    auth: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list
    thread_ts: str | None
    edits: list[dict] = field(default_factory=list)  # every chat.update, in order (with "at")
    at: float = field(default_factory=time.monotonic)  # when it was posted
    streamed: list[str] | None = None  # chat.startStream/appendStream/stopStream text chunks, in order
    streaming: bool = False  # started and not yet stopped

    def all_text(self) -> str:
        """The text and every mrkdwn/plain text in the blocks."""
        out = [self.text]

        def walk(x):
            if isinstance(x, dict):
                if isinstance(x.get("text"), str):
                    out.append(x["text"])
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(self.blocks)
        return "\n".join(out)


AGENT_METHODS = ("assistant.threads.setStatus", "assistant.threads.setSuggestedPrompts",
                 "assistant.threads.setTitle", "chat.startStream", "chat.appendStream", "chat.stopStream")  # fmt: skip


class MockSlack:
    """``agent=True``: an app with Slack's agent features (``features.agent_view``); without them the
    agent methods answer ``not_allowed``, as for an app or plan that lacks them. ``markdown=False``: the
    ``markdown`` block is refused (``invalid_blocks``)."""

    def __init__(self, token: str = BOT_TOKEN, app_token: str = APP_TOKEN, agent: bool = False,
                 markdown: bool = True):  # fmt: skip
        self.token, self.app_token = token, app_token
        self.agent, self.markdown = agent, markdown
        self.statuses: list[dict] = []  # assistant.threads.setStatus calls (channel_id, thread_ts, status)
        self.prompts: list[dict] = []  # assistant.threads.setSuggestedPrompts calls
        self.home: dict[str, dict] = {}  # user -> the Home view published last
        self.publishes: list[dict] = []  # every views.publish
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[dict] = []
        self.views: list[dict] = []
        self.responses: list[dict] = []  # posted to response_url
        self.uploads: list[dict] = []
        self.downloads: list[dict] = []
        self.hosted: dict[str, tuple[str, bytes, str]] = {}  # file id -> (name, content, mimetype)
        self.socket_url: str | None = None  # what apps.connections.open returns
        self.max_blocks_chars: int | None = None  # longer block sets get msg_blocks_too_long
        self._pending_uploads: dict[str, dict] = {}
        self._rate_limited: dict[str, tuple[int, int]] = {}  # method -> (calls still to refuse, Retry-After)
        self.limited: list[Call] = []  # the calls answered 429
        self._failing: dict[str, str] = {}
        self.usergroups: dict[str, list[str]] = {}  # user group ID -> member IDs (usergroups.users.list)
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ----------------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> MockSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    # ----------------------------------------------------------------------------------------- test API
    def host_file(self, name: str, content: bytes | str, filetype: str = "text", mimetype: str = "text/plain",
                  size: int | None = None) -> dict:  # fmt: skip
        """Serve a file and return the Slack file object an event would carry."""
        data = content.encode() if isinstance(content, str) else content
        fid = "F" + uuid.uuid4().hex[:10].upper()
        self.hosted[fid] = (name, data, mimetype)
        url = f"{self.base}/files/{fid}/download/{urllib.request.quote(name, safe='')}"
        return {
            "id": fid,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "size": len(data) if size is None else size,
            "url_private": url,
            "url_private_download": url,
            "mode": "hosted",
        }

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 with ``Retry-After: retry_after`` (seconds)."""
        self._rate_limited[method] = (times, retry_after)

    def fail(self, method: str, error: str) -> None:
        """Every call of ``method`` answers ``{"ok": false, "error": error}``."""
        self._failing[method] = error

    def wait_for(self, predicate, timeout: float = PATIENT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def calls_of(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Messages the bot posted in a thread (the root too, if the bot posted it), oldest first."""
        with self._cond:
            msgs = [
                m
                for m in self.messages.values()
                if m.channel == channel and (m.thread_ts == thread_ts or m.ts == thread_ts)
            ]
        return sorted(msgs, key=lambda m: float(m.ts))

    def uploads_in(self, channel: str, thread_ts: str) -> list[dict]:
        with self._cond:
            return [u for u in self.uploads if u["channel"] == channel and u["thread_ts"] == thread_ts]

    def final(self, channel: str, thread_ts: str) -> list[Message]:
        """Thread messages whose last form has feedback buttons (an answer, not a status)."""
        return [m for m in self.thread(channel, thread_ts) if '"mdbot_feedback"' in json.dumps(m.blocks)]

    # ----------------------------------------------------------------------------------------- server
    def _handler(self):
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                path = urlsplit(self.path).path
                if path.startswith("/files/"):
                    return mock._download(self, path)
                if path.startswith("/api/"):
                    return self.do_POST()
                self._send(404, b"not found", "text/plain")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                if url.path.startswith("/upload/"):
                    return mock._receive_upload(self, url.path.rsplit("/", 1)[-1], raw)
                if url.path.startswith("/response/"):  # a slash command's response_url
                    with mock._cond:
                        mock.responses.append(json.loads(raw or b"{}"))
                        mock._cond.notify_all()
                    return self._send(200, b"ok", "text/plain")
                if not url.path.startswith("/api/"):
                    return self._send(404, b"not found", "text/plain")
                method = url.path[len("/api/") :]
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                ctype = self.headers.get("Content-Type", "")
                if raw and "json" in ctype:
                    params.update(json.loads(raw))
                elif raw:
                    params.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
                status, body, headers = mock._api(method, params, self.headers.get("Authorization"))
                self._send(status, json.dumps(body).encode(), headers=headers)

        return Handler

    def _download(self, handler, path: str) -> None:
        fid = path.split("/")[2]
        auth = handler.headers.get("Authorization")
        with self._cond:
            self.downloads.append({"id": fid, "auth": auth})
            self._cond.notify_all()
        if auth != f"Bearer {self.token}":
            # Slack answers a download without a valid token with its login page, status 200.
            return handler._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
        if fid not in self.hosted:
            return handler._send(404, b"file not found", "text/plain")
        _name, data, mimetype = self.hosted[fid]
        handler._send(200, data, mimetype or "application/octet-stream")

    def _receive_upload(self, handler, fid: str, raw: bytes) -> None:
        with self._cond:
            pending = self._pending_uploads.get(fid)
            if pending is None:
                return handler._send(404, b"unknown upload", "text/plain")
            pending["content"] = raw
        handler._send(200, b"OK - " + str(len(raw)).encode(), "text/plain")

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.{next(self._ts):06d}"

    def _api(self, method: str, params: dict, auth: str | None) -> tuple[int, dict, dict]:
        token = (auth or "").removeprefix("Bearer ") or params.get("token")
        for key in ("blocks", "files", "view", "attachments"):  # decoded before recording: calls compare
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        with self._cond:
            self.calls.append(Call(method, params, auth))
            self._cond.notify_all()
            times, retry_after = self._rate_limited.get(method, (0, 0))
            if times:
                self._rate_limited[method] = (times - 1, retry_after)
                self.limited.append(self.calls[-1])
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method in self._failing:
            return 200, {"ok": False, "error": self._failing[method]}, {}
        if method in AGENT_METHODS and not self.agent:
            return 200, {"ok": False, "error": "not_allowed"}, {}
        if not self.markdown and '"type": "markdown"' in json.dumps(params.get("blocks") or []):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if self.max_blocks_chars and len(json.dumps(params.get("blocks") or [])) > self.max_blocks_chars:
            return 200, {"ok": False, "error": "msg_blocks_too_long"}, {}
        with self._cond:
            body = handler(params)
            self._cond.notify_all()
        return 200, body, {}

    # ----------------------------------------------------------------------------------------- methods
    def _api_usergroups_users_list(self, p):
        # Slack answers no_such_subteam for an ID it does not know; usergroup is required
        if p.get("usergroup") not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[p["usergroup"]])}

    def _api_auth_test(self, p):
        return {"ok": True, "url": "https://lab.slack.com/", "team": "The Lab", "user": "mdbot",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}  # fmt: skip

    def _api_apps_connections_open(self, p):
        if not self.socket_url:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_url}

    def _api_chat_postMessage(self, p):  # noqa: N802
        channel = p.get("channel")
        if not channel or channel.startswith("CNOTIN"):
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        msg = Message(channel, ts, p.get("text", ""), p.get("blocks") or [], p.get("thread_ts"))
        self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"text": msg.text, "ts": ts, "user": BOT_USER, "bot_id": BOT_ID}}  # fmt: skip

    def _api_chat_update(self, p):
        msg = self.messages.get((p.get("channel"), p.get("ts")))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        msg.edits.append({"text": p.get("text", ""), "blocks": p.get("blocks") or [], "at": time.monotonic()})
        msg.text, msg.blocks = p.get("text", msg.text), p.get("blocks") or msg.blocks
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "text": msg.text}

    def _api_chat_postEphemeral(self, p):  # noqa: N802
        self.ephemerals.append(p)
        return {"ok": True, "message_ts": self._next_ts()}

    def _api_files_getUploadURLExternal(self, p):  # noqa: N802
        fid = "F" + uuid.uuid4().hex[:10].upper()
        self._pending_uploads[fid] = {"filename": p.get("filename"), "length": int(p.get("length", 0))}
        return {"ok": True, "upload_url": f"{self.base}/upload/{fid}", "file_id": fid}

    def _api_files_completeUploadExternal(self, p):  # noqa: N802
        done = []
        for f in p.get("files") or []:
            pending = self._pending_uploads.pop(f["id"], None)
            if pending is None or "content" not in pending:
                return {"ok": False, "error": "file_not_found"}
            self.uploads.append({**pending, "id": f["id"], "title": f.get("title"),
                                 "channel": p.get("channel_id"), "thread_ts": p.get("thread_ts")})  # fmt: skip
            done.append({"id": f["id"], "name": pending["filename"], "title": f.get("title")})
        return {"ok": True, "files": done}

    def _api_files_info(self, p):
        fid = p.get("file")
        if fid not in self.hosted:
            return {"ok": False, "error": "file_not_found"}
        name, data, mimetype = self.hosted[fid]
        url = f"{self.base}/files/{fid}/download/{urllib.request.quote(name, safe='')}"
        return {"ok": True, "file": {"id": fid, "name": name, "size": len(data), "mimetype": mimetype,
                                     "filetype": "text", "url_private_download": url}}  # fmt: skip

    # --- Slack's agent experience (docs.slack.dev/reference/methods/assistant.threads.* and chat.*Stream)
    def _api_assistant_threads_setStatus(self, p):  # noqa: N802
        if not p.get("channel_id") or not p.get("thread_ts") or "status" not in p:
            return {"ok": False, "error": "invalid_arguments"}
        self.statuses.append({"channel_id": p["channel_id"], "thread_ts": p["thread_ts"], "status": p["status"],
                              "loading_messages": p.get("loading_messages"), "at": time.monotonic()})  # fmt: skip
        return {"ok": True}

    def _api_assistant_threads_setSuggestedPrompts(self, p):  # noqa: N802
        prompts = p.get("prompts")
        if not p.get("channel_id") or not isinstance(prompts, list) or not prompts or len(prompts) > 4:
            return {"ok": False, "error": "invalid_arguments"}  # one to four prompts
        if any(not x.get("title") or not x.get("message") for x in prompts):
            return {"ok": False, "error": "invalid_arguments"}
        self.prompts.append(p)
        return {"ok": True}

    def _api_assistant_threads_setTitle(self, p):  # noqa: N802
        return {"ok": True}

    @staticmethod
    def _chunk_text(p) -> str:
        text = p.get("markdown_text") or ""
        for chunk in p.get("chunks") or []:
            if chunk.get("type") == "markdown_text":
                text += chunk.get("text", "")
        return text

    def _api_chat_startStream(self, p):  # noqa: N802
        channel, thread_ts = p.get("channel"), p.get("thread_ts")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}  # a stream is always a reply in a thread
        if not channel.startswith("D") and not (p.get("recipient_user_id") and p.get("recipient_team_id")):
            return {"ok": False, "error": "missing_recipient_user_id"}  # required in channels
        ts = self._next_ts()
        text = self._chunk_text(p)
        msg = Message(channel, ts, text, [], thread_ts, streamed=[text] if text else [], streaming=True)
        self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts}

    @staticmethod
    def _not_streaming(msg) -> dict | None:
        """Slack's answer to appendStream/stopStream on a message that is missing or no longer streaming."""
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if not msg.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        return None

    def _api_chat_appendStream(self, p):  # noqa: N802
        msg = self.messages.get((p.get("channel"), p.get("ts")))
        if refused := self._not_streaming(msg):
            return refused
        text = self._chunk_text(p)
        msg.streamed.append(text)
        msg.text += text
        return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _api_chat_stopStream(self, p):  # noqa: N802
        msg = self.messages.get((p.get("channel"), p.get("ts")))
        if refused := self._not_streaming(msg):
            return refused
        text = self._chunk_text(p)
        if text:
            msg.streamed.append(text)
            msg.text += text
        msg.blocks = p.get("blocks") or []  # rendered under the streamed text
        msg.streaming = False
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "message": {"text": msg.text, "ts": msg.ts}}

    def _api_views_publish(self, p):
        view = p.get("view") or {}
        if not p.get("user_id") or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if len(view.get("blocks") or []) > 100:
            return {"ok": False, "error": "invalid_blocks"}
        self.home[p["user_id"]] = view
        self.publishes.append(p)
        return {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:8].upper(), **view}}

    def _api_views_open(self, p):
        self.views.append(p)
        return {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:8].upper(), **(p.get("view") or {})}}


class Sender:
    """Posts signed Slack payloads to the bot's /slack/events, as Slack does."""

    def __init__(self, url: str, response_url: str, secret: str = SIGNING_SECRET):
        from slack_sdk.signature import SignatureVerifier

        self.url, self.response_url, self._verifier = url, response_url, SignatureVerifier(secret)
        self._ids = itertools.count(1)

    def post(self, body: str, ctype: str, headers: dict | None = None) -> tuple[int, str, float]:
        ts = str(int(time.time()))
        sig = self._verifier.generate_signature(timestamp=ts, body=body)
        hdrs = {
            "Content-Type": ctype,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        req = urllib.request.Request(self.url, data=body.encode(), headers=hdrs, method="POST")
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=PATIENT_S) as resp:
                return resp.status, resp.read().decode(), time.perf_counter() - t0
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), time.perf_counter() - t0

    def event(
        self, event: dict, event_id: str | None = None, retry: int | None = None
    ) -> tuple[int, str, float]:
        envelope = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0MDBOT",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(json.dumps(envelope), "application/json", headers)

    def command(self, text: str, user: str = "UALICE", channel: str = "CLAB",
                channel_name: str = "md-lab") -> tuple[int, str, float]:  # fmt: skip
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # as Slack sends it
        form = {
            "token": "legacy", "team_id": TEAM, "team_domain": "lab", "channel_id": channel,
            "channel_name": channel_name, "user_id": user, "user_name": user.lower(), "command": "/lammps",
            "text": text, "api_app_id": "A0MDBOT", "response_url": self.response_url + str(next(self._ids)),
            "trigger_id": f"{next(self._ids)}.trigger",
        }  # fmt: skip
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def interactive(self, payload: dict) -> tuple[int, str, float]:
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def message_event(text: str, user: str = "UALICE", channel: str = "CLAB", ts: str | None = None,
                  thread_ts: str | None = None, kind: str = "message", files: list | None = None,
                  channel_type: str = "channel") -> dict:  # fmt: skip
    """A message or app_mention event as Slack delivers it."""
    ts = ts or f"{time.time():.6f}"
    event = {"type": kind, "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
             "team": TEAM, "client_msg_id": str(uuid.uuid4())}  # fmt: skip
    if kind == "message":
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = files
        if kind == "message":
            event["subtype"] = "file_share"
    return event
