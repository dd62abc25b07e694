"""``mdbot doctor``: what is configured and whether it answers, and which ``.env`` file is in use.

The ``.env`` file: ``.env`` in the current directory; without one, the file ``MDBOT_ENV_FILE`` names when it
is set, else ``.env`` in the data directory (``MDBOT_DATA_DIR``, default ``./.mdbot``). The one found is loaded
into the environment before any settings are read (values already in the environment win, as they do over
``.env`` in pydantic-settings, which read ``./.env`` themselves: the first choice is theirs too), so every
package's settings see it. ``doctor`` names the file in use and any other candidate that exists but is
shadowed by it.

Checks: each model endpoint (URL, model, whether ``GET /models`` answers and lists the model), the knowledge
base (sources by kind, passages, the manual's version), the sandbox (LAMMPS, bubblewrap, cgroups), Slack
(tokens present, and valid by ``auth.test`` — never printed), the journal (its URL without a password, and
whether it opens). Nothing is changed (LAMMPS's list of styles is cached, as every command does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV_VAR = "MDBOT_ENV_FILE"
TIMEOUT_S = 5.0


def env_candidates() -> list[tuple[str, Path]]:
    """Where a ``.env`` file may be, in the order of precedence: (how it is found, path)."""
    out = [("current directory", Path(".env"))]
    named = os.environ.get(ENV_VAR)
    if named:
        out.append((ENV_VAR, Path(named)))
    out.append(("data directory", Path(os.environ.get("MDBOT_DATA_DIR", ".mdbot")) / ".env"))
    return out


def find_env_file() -> Path | None:
    """The ``.env`` file mdbot uses: ./.env, else the file MDBOT_ENV_FILE names (returned even when it is
    missing, so that the doctor can say so), else <data dir>/.env; None if none."""
    for how, path in env_candidates():
        if path.is_file() or how == ENV_VAR:
            return path
    return None


def shadowed_env_files(used: Path | None) -> list[dict[str, str]]:
    """The other candidates that exist but are not read because ``used`` comes first."""
    if used is None:
        return []
    here = used.resolve()
    return [
        {"found_by": how, "path": str(path.resolve())}
        for how, path in env_candidates()
        if path.is_file() and path.resolve() != here
    ]


def load_env_file() -> Path | None:
    """Load the ``.env`` file found into the environment (without overriding what is set); its path."""
    path = find_env_file()
    if path is None or not path.is_file():
        return path
    from dotenv import load_dotenv

    load_dotenv(path, override=False)
    return path


def _endpoint(role: str) -> dict[str, Any]:
    from mdbot.graph.settings import ROLE_SETTINGS, role_settings

    own = ROLE_SETTINGS[role](_env_file=None)
    s = role_settings(role, env_file=None)
    out: dict[str, Any] = {"role": role, "url": s.base_url, "model": s.model, "reachable": None}
    if role != "instruct" and own.base_url is None and s.base_url:
        out["borrowed_from"] = "instruct"
    if not s.base_url:
        out["status"] = "not configured (offline replies)" if role == "instruct" else "not configured"
        return out
    import httpx

    headers = {"Authorization": f"Bearer {s.api_key.get_secret_value()}"} if s.api_key else {}
    try:
        r = httpx.get(s.base_url.rstrip("/") + "/models", headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        out.update(reachable=False, status=f"unreachable: {type(exc).__name__}: {exc}"[:200])
        return out
    if r.status_code != 200:
        out.update(reachable=False, status=f"answered HTTP {r.status_code}")
        return out
    try:
        served = [m.get("id") for m in r.json().get("data", [])]
    except ValueError:
        served = []
    out.update(reachable=True, served=served)
    if s.model and served and s.model not in served:
        out["status"] = f"reachable, but it does not serve '{s.model}' (it serves {', '.join(served[:5])})"
        out["reachable"] = False
    else:
        out["status"] = "ok"
    return out


def _knowledge() -> dict[str, Any]:
    from mdbot.retrieval.settings import RetrievalSettings
    from mdbot.retrieval.store import KnowledgeStore

    settings = RetrievalSettings(_env_file=None)
    where = getattr(settings, "store_dir", settings.data_dir / "knowledge")
    if not settings.chroma_url and not Path(where).exists():
        return {"status": "empty: run 'mdbot ingest PATH…' (see the README)", "passages": 0, "sources": {},
                "manual_version": None}  # fmt: skip
    try:
        store = KnowledgeStore(settings)
        passages = store.count()
        metas = store.collection.get(include=["metadatas"])["metadatas"] or []
    except Exception as exc:  # noqa: BLE001 - a broken store is what the doctor reports
        return {"status": f"cannot open: {type(exc).__name__}: {exc}"[:200], "passages": 0}
    files: dict[str, set[str]] = {}
    versions = set()
    for m in metas:
        files.setdefault(m.get("kind", "?"), set()).add(m.get("file", ""))
        if m.get("kind") == "manual" and m.get("version"):
            versions.add(str(m["version"]))
    status = "ok" if passages else "empty: run 'mdbot ingest PATH…' (see the README)"
    return {
        "status": status,
        "passages": passages,
        "sources": {kind: len(names) for kind, names in sorted(files.items())},
        "manual_version": ", ".join(sorted(versions)) or None,
    }


def _sandbox() -> dict[str, Any]:
    from mdbot.sandbox import cgroups, isolation
    from mdbot.sandbox.install import LammpsNotFound, capabilities, find_lammps
    from mdbot.sandbox.settings import SandboxSettings

    s = SandboxSettings(_env_file=None)
    out: dict[str, Any] = {}
    try:
        inst = find_lammps()
        caps = capabilities(s.data_dir / "cache")
        out["lammps"] = f"{caps.version} ({inst.lmp})" if caps else str(inst.lmp)
    except (LammpsNotFound, OSError) as exc:
        out["lammps"] = None
        out["status"] = f"LAMMPS not found: {exc}"
    problem = isolation.bwrap_available(s.bwrap)
    out["bubblewrap"] = "ok" if problem is None else problem
    out["cgroups"] = "ok (v2, memory and pids)" if cgroups.available() else "not available (rlimits only)"
    if problem is not None and not s.allow_unsandboxed:
        out.setdefault("status", "untrusted runs are refused: bubblewrap does not work here")
    out.setdefault("status", "ok")
    return out


def _slack() -> dict[str, Any]:
    from mdbot.bot.settings import SlackSettings

    s = SlackSettings(_env_file=None)

    def present(secret) -> bool:
        return bool(secret and secret.get_secret_value())

    out: dict[str, Any] = {
        "bot_token": "present" if present(s.bot_token) else "missing",
        "app_token": "present" if present(s.app_token) else "missing",
        "signing_secret": "present" if present(s.signing_secret) else "missing",
    }
    if not present(s.bot_token):
        out["status"] = "not configured (the Slack app will not start)"
        return out
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    try:
        auth = WebClient(token=s.bot_token.get_secret_value(), base_url=s.api_url, timeout=int(TIMEOUT_S)).auth_test()
        out.update(bot_token="valid", team=auth.get("team"), status="ok")
    except SlackApiError as exc:
        out.update(bot_token=f"refused by Slack ({exc.response.get('error', 'error')})", status="token refused")
    except Exception as exc:  # noqa: BLE001 - an unreachable Slack is what the doctor reports
        out.update(status=f"cannot reach Slack at {s.api_url}: {type(exc).__name__}"[:200])
    return out


def _journal() -> dict[str, Any]:
    from sqlalchemy import create_engine, make_url, text

    from mdbot.graph.settings import GraphSettings

    url = GraphSettings(_env_file=None).journal_url
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return {"url": shown, "status": "ok", "note": "not created yet: made on the first request"}
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - an unreachable database is what the doctor reports
        return {"url": shown, "status": f"cannot open: {type(exc).__name__}"}
    return {"url": shown, "status": "ok"}


def report(env_file: Path | None) -> dict[str, Any]:
    """Every check, as one JSON-ready document; ``ok`` is False when something configured does not answer."""
    doc: dict[str, Any] = {
        "env_file": str(env_file.resolve()) if env_file and env_file.is_file() else None,
        "env_file_found_by": next(
            (how for how, path in env_candidates() if env_file is not None and path == env_file), None
        ),
        "env_shadowed": shadowed_env_files(env_file),
        "models": [_endpoint(role) for role in ("instruct", "code", "judge")],
        "knowledge": _knowledge(),
        "sandbox": _sandbox(),
        "slack": _slack(),
        "journal": _journal(),
    }
    if env_file is not None and not env_file.is_file():
        doc["env_file_problem"] = f"{ENV_VAR} names {env_file}, which is not a file"
    failing = [m["role"] for m in doc["models"] if m["url"] and not m["reachable"]]
    failing += [k for k in ("sandbox", "journal") if doc[k]["status"] != "ok"]
    if doc["slack"]["bot_token"] not in ("missing", "valid"):
        failing.append("slack")
    doc["ok"] = not failing and "env_file_problem" not in doc
    doc["failing"] = failing
    return doc


def print_report(doc: dict[str, Any]) -> None:
    from rich.console import Console

    out = Console(soft_wrap=True)

    def line(name: str, ok: bool | None, text: str) -> None:
        mark = "[green]ok[/]  " if ok else ("[dim]--[/]  " if ok is None else "[red]FAIL[/]")
        out.print(f"{mark} {name:<10} {text}", highlight=False)

    found_by = f" ({doc['env_file_found_by']})" if doc.get("env_file_found_by") and doc["env_file"] else ""
    line(".env", True if doc["env_file"] else None, (doc["env_file"] or "none found (environment only)") + found_by)
    if doc.get("env_file_problem"):
        line(".env", False, doc["env_file_problem"])
    for other in doc.get("env_shadowed", []):
        line(".env", None, f"{other['path']} ({other['found_by']}) exists but is not read: the one above comes first")
    for m in doc["models"]:
        where = f"{m['url']} model {m['model'] or '(default)'}" if m["url"] else ""
        borrowed = " (instruct's endpoint)" if m.get("borrowed_from") else ""
        line(m["role"], m["reachable"] if m["url"] else None, f"{where}{borrowed} — {m['status']}".strip(" —"))
    k = doc["knowledge"]
    sources = ", ".join(f"{n} {kind}" for kind, n in k.get("sources", {}).items())
    version = f"; manual {k['manual_version']}" if k.get("manual_version") else ""
    line("knowledge", True if k["status"] == "ok" else None, f"{k['passages']} passages ({sources or 'no sources'}){version} — {k['status']}")
    sb = doc["sandbox"]
    line("sandbox", sb["status"] == "ok", f"LAMMPS {sb.get('lammps')}; bubblewrap {sb['bubblewrap']}; cgroups {sb['cgroups']}")
    sl = doc["slack"]
    ok = None if sl["bot_token"] == "missing" else sl["bot_token"] == "valid"
    line("slack", ok, f"bot token {sl['bot_token']}, app token {sl['app_token']}, signing secret {sl['signing_secret']}")
    j = doc["journal"]
    line("journal", j["status"] == "ok", f"{j['url']} — {j['status']}")
