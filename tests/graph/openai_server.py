"""A scripted OpenAI-compatible server on 127.0.0.1, for tests, demos and benchmarks.

In the style of bolt-python's ``tests/mock_web_api_server``: a real HTTP server in a daemon thread, so the
code under test goes through its real client (``ChatOpenAI`` → openai → httpx) instead of a mock of our own
code. It speaks the two endpoints mdbot uses, ``GET /v1/models`` and ``POST /v1/chat/completions`` (plain
and ``"stream": true`` Server-Sent Events), checks the Bearer key when given one, and records every
request. What the assistant says comes from a *responder*, ``(request body) -> text``; :class:`Script`
answers like mdbot's models would (router, judge, code model, instruct model).

    with ScriptedOpenAI(Script(scripts=[SCRIPT]), api_key="k") as server:
        os.environ["MDBOT_LLM_INSTRUCT_BASE_URL"] = server.base_url

As a command (README demos, benchmarks):

    python -m tests.graph.openai_server --port 8011 --scripts in.lj [in.fixed ...]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Responder = Callable[[dict], str]
DEFAULT_MODELS = ("md-instruct", "md-code")
# What the code model writes when the command line names no --scripts: a small LJ liquid in NVT at T*=1.5.
DEMO_SCRIPT = """\
# LJ liquid at T* = 1.5 in NVT (Nose-Hoover), 500 atoms
units lj
atom_style atomic
variable T equal 1.5
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create ${T} 4928459 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
neigh_modify every 1 delay 0 check yes
timestep 0.005
fix 1 all nvt temp ${T} ${T} 0.5
thermo_style custom step temp pe ke etotal press
thermo 50
run 500
"""
DEFAULT_JUDGE = {
    "task_completion": 9,
    "does_other_task": False,
    "physics": 8,
    "comments": "Does what was asked with sensible settings.",
}
EVAL_VERDICTS = {
    "CodeVerdict": {"score": 8, "reason": "Does the task as the reference does."},
    "OpenVerdict": {"score": 0.5, "reason": "Partly right."},
    "BlankVerdict": {"correct": False, "reason": "Another term."},
}
CODE_MARKER = (
    "LAMMPS input scripts"  # in graph/prompts.py CODE_SYSTEM (and JUDGE_SYSTEM, told apart by schema)
)


# --------------------------------------------------------------------------------------- request helpers
def text_of(content: Any) -> str:
    """Message content as text (a string, or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def schema_name(body: dict) -> str | None:
    """The name of the JSON schema the request asks the reply to follow, if any."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") != "json_schema":
        return None
    return (fmt.get("json_schema") or {}).get("name") or ""


def system_prompt(body: dict) -> str:
    return "\n".join(
        text_of(m.get("content"))
        for m in body.get("messages", [])
        if m.get("role") in ("system", "developer")
    )


def last_user_message(body: dict) -> str:
    users = [text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def _tokens(text: str) -> int:
    """A rough token count (words), enough for usage accounting in tests."""
    return len(text.split())


class Script:
    """A responder that answers each of mdbot's model calls the way a sensible model would.

    Routing by the request: the ``RouteDecision`` schema gets ``route``; the ``JudgeVerdict`` schema gets
    ``judge``; a code-model prompt gets the next of ``scripts`` in a ```lammps fence (the last one again
    once they run out); anything else gets ``answer``.
    """

    def __init__(
        self,
        route: str = "generate",
        scripts: Sequence[str] = (),
        judge: dict | None = None,
        answer: str = "Use `fix nvt` for a Nose-Hoover thermostat [1].",
        reason: str = "scripted route",
    ):
        self.route, self.reason = route, reason
        self.scripts = list(scripts)
        self.judge = dict(DEFAULT_JUDGE if judge is None else judge)
        self.answer = answer
        self.served = 0  # scripts handed out so far
        self._lock = threading.Lock()

    def next_script(self) -> str:
        if not self.scripts:
            return "I have no script to offer."
        with self._lock:
            script = self.scripts[min(self.served, len(self.scripts) - 1)]
            self.served += 1
        return f"```lammps\n{script.strip()}\n```\nA small system and a short run, as asked."

    def __call__(self, body: dict) -> str:
        name = schema_name(body)
        if name == "RouteDecision":
            return json.dumps({"intent": self.route, "reason": self.reason})
        if name == "JudgeVerdict":
            return json.dumps(self.judge)
        if name in EVAL_VERDICTS:  # mdbot eval's judge (evals/judge.py)
            return json.dumps(EVAL_VERDICTS[name])
        if CODE_MARKER in system_prompt(body):
            return self.next_script()
        return self.answer


# ------------------------------------------------------------------------------------------------ server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects of a real server
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet tests; failures show up as HTTP errors in the client

    # --- plumbing
    def _send_json(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, type_: str, code: str | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": type_, "param": None, "code": code}})

    def _authorized(self) -> bool:
        owner = self.server.owner
        if owner.api_key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {owner.api_key}":
            return True
        owner._count_rejection()
        # Never echo the key that was sent: secrets stay out of logs and error messages.
        self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return False

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    # --- endpoints
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._authorized():
            return
        if self._path() == "/v1/models":
            models = [
                {"id": m, "object": "model", "created": 0, "owned_by": "mdbot-tests"}
                for m in self.server.owner.models
            ]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._error(404, f"no route {self.path}", "invalid_request_error")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            return
        if self._path() != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "the body is not JSON", "invalid_request_error")
            return
        owner = self.server.owner
        owner._record(body)
        try:
            content = owner.responder(body)
        except Exception as exc:  # noqa: BLE001 - a responder bug must reach the test as a 500, not a hang
            self._error(500, f"responder failed: {type(exc).__name__}: {exc}", "server_error")
            return
        problem = _structured_problem(body, content)
        if problem:
            self._error(500, f"responder bug: {problem}", "server_error")
            return
        if body.get("stream"):
            self._stream(body, content)
        else:
            self._send_json(200, _completion(body, content))

    def _stream(self, body: dict, content: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in _events(body, content, self.server.owner.chunks):
            data = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _structured_problem(body: dict, content: str) -> str | None:
    """Why ``content`` cannot be the reply to a request for JSON that follows a schema (None: it can)."""
    if schema_name(body) is None:
        return None
    try:
        doc = json.loads(content)
    except ValueError as exc:
        return f"the reply to a json_schema request is not JSON ({exc})"
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    if schema.get("type") == "object" and not isinstance(doc, dict):
        return "the reply to a json_schema request is not a JSON object"
    missing = [k for k in schema.get("required", []) if not isinstance(doc, dict) or k not in doc]
    if missing:
        return f"the reply lacks required keys {missing}"
    return None


def _usage(body: dict, content: str) -> dict:
    prompt = sum(_tokens(text_of(m.get("content"))) for m in body.get("messages", []))
    completion = _tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(body: dict, content: str) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", DEFAULT_MODELS[0]),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(body, content),
    }


def split(text: str, pieces: int) -> list[str]:
    """``text`` in about ``pieces`` consecutive parts (at least one, possibly empty)."""
    if not text:
        return [""]
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _events(body: dict, content: str, pieces: int) -> Iterator[str]:
    """The SSE ``data:`` payloads of a streamed reply, as OpenAI sends them."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", DEFAULT_MODELS[0]),
    }

    def chunk(delta: dict, finish: str | None = None) -> str:
        doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        return json.dumps(doc)

    yield chunk({"role": "assistant", "content": ""})
    for piece in split(content, pieces):
        if piece:
            yield chunk({"content": piece})
    yield chunk({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield json.dumps({**base, "choices": [], "usage": _usage(body, content)})
    yield "[DONE]"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client dropping an idle keep-alive connection is normal; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ScriptedOpenAI:
    """An OpenAI-compatible endpoint whose replies come from ``responder``; a context manager."""

    def __init__(
        self,
        responder: Responder,
        *,
        api_key: str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        chunks: int = 4,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.responder = responder
        self.api_key = api_key
        self.models = list(models)
        self.chunks = chunks  # content pieces per streamed reply
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._rejected = 0
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # --- what happened
    @property
    def requests(self) -> list[dict]:
        """A snapshot of the chat-completion request bodies received so far (accepted ones), in order."""
        with self._lock:
            return list(self._requests)

    @property
    def schemas(self) -> list[str]:
        """Names of the JSON schemas the requests asked for (``RouteDecision``, ``JudgeVerdict``, …)."""
        return [n for n in (schema_name(r) for r in self.requests) if n is not None]

    @property
    def rejected(self) -> int:
        """Requests answered 401 for a missing or wrong API key."""
        with self._lock:
            return self._rejected

    def _record(self, body: dict) -> None:
        with self._lock:
            self._requests.append(body)

    def _count_rejection(self) -> None:
        with self._lock:
            self._rejected += 1

    # --- life cycle
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}/v1"

    def start(self) -> ScriptedOpenAI:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ScriptedOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------ command
def _read_script(path: str) -> str:
    text = Path(path).read_text()
    m = re.search(r"```[\w+-]*\n(.*?)```", text, re.S)  # a file may hold a fenced reply already
    return m.group(1) if m else text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a scripted OpenAI-compatible endpoint forever.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument(
        "--scripts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="code-model replies, in order (default: a demo LJ script)",
    )
    parser.add_argument("--route", default="generate", help="intent the router answers (qa, generate, help)")
    parser.add_argument("--answer", default=Script().answer, help="reply to every other request")
    parser.add_argument("--judge", help="judge verdict as JSON (default: a good grade)")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), help="names /v1/models lists")
    args = parser.parse_args(argv)
    script = Script(
        route=args.route,
        scripts=[_read_script(f) for f in args.scripts] or [DEMO_SCRIPT],
        judge=json.loads(args.judge) if args.judge else None,
        answer=args.answer,
    )
    server = ScriptedOpenAI(
        script, api_key=args.api_key, models=args.models, host=args.host, port=args.port
    ).start()
    print(server.base_url, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # a background job ignores SIGINT by default: take both
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.stop()
        print(f"served {len(server.requests)} requests", file=sys.stderr)


if __name__ == "__main__":
    main()
