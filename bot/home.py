"""The App Home tab: a member's own recent requests and runs, their cluster jobs, the knowledge base, the model
endpoints and the disk; a lab admin also sees usage and feedback counts.

:func:`home_view` is a pure function of :class:`HomeData` to a Block Kit ``home`` view (tested without Slack);
:meth:`Home.publish` gathers the data — from the journal's database, so it shows what every process did —
and calls ``views.publish``. Who opened their tab is kept there too (bot/fleet.py), so whichever process ends
one of a member's requests republishes their tab, at most once per ``min_interval_s`` across all processes
(``views.publish`` is rate limited per user); opening the tab always publishes it afresh.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import mrkdwn

log = logging.getLogger(__name__)
STATE_ICON = {"new": "🆕", "queued": "⏳", "started": "⚙️", "answered": "✅", "closed": "⛔"}
HEALTH_ICON = {True: "🟢 healthy", False: "🟠 health issues", None: ""}


@dataclass
class HomeData:
    user: str
    requests: list[dict] = field(default_factory=list)  # slack_requests rows, newest first, + outcome/health
    jobs: list[dict] | None = None  # cluster jobs (None: no cluster set up)
    knowledge: dict = field(default_factory=dict)  # passages, sources, kinds, updated
    endpoints: dict[str, str | None] = field(default_factory=dict)  # role -> model id (None: not configured)
    disk: dict = field(default_factory=dict)  # free_mb, reserve_mb, path
    admin: dict | None = None  # usage and feedback counts, for admins only
    workspace_url: str = ""


def thread_link(url: str, channel: str, ts: str) -> str:
    """A link to a Slack thread (``https://lab.slack.com/archives/C…/p…``)."""
    if not url:
        return f"`{channel}` {ts}"
    return f"<{url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}|open thread>"


def _when(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time}}|{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC>"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[: mrkdwn.SECTION_LIMIT]}}


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:2900]}]}


def home_view(d: HomeData) -> dict:
    """The Home tab (Slack allows 100 blocks: every list here is bounded)."""
    blocks: list[dict] = [_header("Your recent requests")]
    if not d.requests:
        blocks.append(_section("Nothing yet. Mention me in a channel, DM me, or type `/lammps help`."))
    for r in d.requests[:10]:
        text = mrkdwn.escape(" ".join((r.get("text") or "(files only)").split()))[:140]
        parts = [f"{STATE_ICON.get(r['state'], '•')} *{r['state']}*", _when(r.get("created_at"))]
        if r.get("outcome"):
            parts.append(mrkdwn.escape(r["outcome"]))
        if r.get("attempts"):
            parts.append(f"{r['attempts']} run(s)")
        if HEALTH_ICON.get(r.get("health")):
            parts.append(HEALTH_ICON[r["health"]])
        parts.append(thread_link(d.workspace_url, r["channel"], r["thread_ts"]))
        blocks.append(_section(f"{text}\n" + " · ".join(parts)))
    if d.jobs is not None:
        blocks += [{"type": "divider"}, _header("Your cluster jobs")]
        if not d.jobs:
            blocks.append(_section("No cluster jobs. Ask me to “run this on the cluster” in a thread."))
        for j in d.jobs[:8]:
            where = thread_link(d.workspace_url, *j["thread"]) if j.get("thread") else "from the command line"
            slurm = f" (Slurm {j['cluster_id']})" if j.get("cluster_id") else ""
            blocks.append(
                _section(f"`{j['id']}`{slurm} *{j['state']}* — {mrkdwn.escape(j['script_name'])} · {where}")
            )
    k = d.knowledge
    blocks += [{"type": "divider"}, _header("Knowledge base")]
    if k.get("error"):
        blocks.append(_section(f"Not available: {mrkdwn.escape(k['error'])}"))
    else:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(k.get("kinds", {}).items())) or "no sources"
        blocks.append(_section(f"*{k.get('passages', 0):,}* passages from *{k.get('sources', 0):,}* source files "
                               f"({kinds}) · updated {_when(k.get('updated'))}"))  # fmt: skip
    blocks += [{"type": "divider"}, _header("Models and the machine")]
    lines = [f"*{role}*: {f'`{mrkdwn.escape(m)}`' if m else 'not configured (answers from the manual, no model)'}"
             for role, m in d.endpoints.items()]  # fmt: skip
    disk = d.disk
    if disk:
        ok = disk["free_mb"] >= disk["reserve_mb"]
        lines.append(f"*disk for jobs*: {disk['free_mb'] / 1024:,.1f} GiB free, reserve {disk['reserve_mb']:,} MiB "
                     f"{'🟢' if ok else '🔴 below the reserve: new jobs are stopped'}")  # fmt: skip
    blocks.append(_section("\n".join(lines) or "—"))
    if d.admin is not None:
        a = d.admin
        blocks += [{"type": "divider"}, _header("Lab usage (admins)")]
        states = ", ".join(f"{n} {s}" for s, n in sorted(a.get("requests", {}).items())) or "none"
        blocks.append(_section(
            f"*Requests*: {states}\n*Turns* (last 7 days): {a.get('turns_7d', 0)} by {a.get('users_7d', 0)} member(s)\n"
            f"*Feedback*: 👍 {a.get('up', 0)} · 👎 {a.get('down', 0)} · 💬 {a.get('comments', 0)}\n"
            f"*Processes*: {a.get('processes', 1)} answering"))  # fmt: skip
    blocks.append(_context(f"Updated {_when(time.time())}"))
    return {"type": "home", "callback_id": "mdbot_home", "blocks": blocks[:100]}


class Home:
    """Gathers a member's Home data and publishes it."""

    def __init__(self, bot, min_interval_s: float = 10.0):
        self.bot, self.min_interval_s = bot, min_interval_s
        self._knowledge: tuple[float, dict] | None = None

    def opened(self, user: str) -> None:
        """The member opened the tab (in this process): published now, and kept current by every process."""
        try:
            self.bot.fleet.home_opened(user)
            self.bot.fleet.home_due(user, self.min_interval_s, force=True)
        except Exception:  # noqa: BLE001 - the database away for a moment: still show the tab
            log.exception("could not record that %s opened the Home tab", user)
        self.publish(user)

    def changed(self, user: str) -> None:
        """One of ``user``'s requests ended: republish if they opened the tab (in any process), within the
        rate limit; one process publishes."""
        try:
            due = self.bot.fleet.home_due(user, self.min_interval_s)
        except Exception:  # noqa: BLE001 - the Home tab is a view of state, never worth a failed request
            log.exception("could not check the Home tab of %s", user)
            return
        if due:
            self.publish(user)

    def publish(self, user: str) -> bool:
        try:
            view = home_view(self.data(user))
            self.bot.client.views_publish(user_id=user, view=view)
            return True
        except Exception:  # noqa: BLE001 - the Home tab is a view of state, never worth a failed request
            log.exception("could not publish the Home tab of %s", user)
            return False

    # ----------------------------------------------------------------------------------------- data
    def data(self, user: str) -> HomeData:
        bot = self.bot
        d = HomeData(user=user, workspace_url=bot.workspace_url)
        d.requests = [self._with_turn(r) for r in bot.fleet.requests(user, 10)]
        if bot.cluster is not None:
            d.jobs = [
                {"id": j.id, "cluster_id": j.cluster_id, "state": j.state, "script_name": j.script_name,
                 "thread": j.thread}
                for j in bot.cluster.cluster.store.recent(8, user=user)
            ]  # fmt: skip
        d.knowledge = self._knowledge_stats()
        d.endpoints = bot.brain.model_ids()
        d.disk = self._disk()
        if user in bot.settings.admins:
            d.admin = self._admin()
        return d

    def _with_turn(self, r: dict) -> dict:
        journal = self.bot.brain.journal
        if journal is None or not r.get("turn_id"):
            return r
        from mdbot.graph.journal.models import Interaction

        with journal.session() as s:
            turn = s.get(Interaction, r["turn_id"])
            if turn is None:
                return r
            runs = [a for a in turn.attempts if a.run_status]
            health = runs[-1].health_ok if runs else None
            return {**r, "outcome": turn.outcome, "attempts": len(runs), "health": health}

    def _knowledge_stats(self) -> dict:
        """Passages, sources by kind and when the knowledge base last changed (cached for a minute)."""
        if self._knowledge and time.monotonic() - self._knowledge[0] < 60:
            return self._knowledge[1]
        searcher = self.bot.brain.context.searcher
        inner = getattr(searcher, "_searcher", searcher)  # graph's LockedSearcher wraps retrieval's Searcher
        store = getattr(inner, "store", None)
        if store is None:
            out: dict = {"error": "no knowledge base is configured"}
        else:
            try:
                got = store.collection.get(include=["metadatas"])
                metas = got["metadatas"] or []
                files: dict[str, str] = {m.get("file", ""): m.get("kind", "?") for m in metas}
                kinds: dict[str, int] = {}
                for kind in files.values():
                    kinds[kind] = kinds.get(kind, 0) + 1
                root = Path(store.settings.data_dir)
                stamps = [p.stat().st_mtime for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
                out = {"passages": len(metas), "sources": len(files), "kinds": kinds,
                       "updated": max(stamps) if stamps else None}  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - chromadb missing or broken: say so on the tab
                out = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        self._knowledge = (time.monotonic(), out)
        return out

    def _disk(self) -> dict:
        sandbox = self.bot.brain.context.sandbox
        jobs = Path(sandbox.jobs_dir)
        where = jobs if jobs.exists() else Path(sandbox.data_dir)
        where.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(where).free // (1024 * 1024)
        return {"free_mb": int(free), "reserve_mb": int(sandbox.min_free_disk_mb), "path": str(where)}

    def _admin(self) -> dict:
        bot = self.bot
        out: dict = {"requests": bot.fleet.counts(), "processes": 1}
        if bot.fleet.store is not None:
            out["processes"] = max(1, len(bot.fleet.store.alive()))
        journal = bot.brain.journal
        if journal is None:
            return out
        from datetime import timedelta

        from sqlalchemy import func, select

        from mdbot.graph.journal.models import Feedback, Interaction

        since = datetime.now(UTC) - timedelta(days=7)
        with journal.session() as s:
            recent = select(Interaction).where(Interaction.started_at >= since).subquery()
            out["turns_7d"] = s.scalar(select(func.count()).select_from(recent)) or 0
            out["users_7d"] = s.scalar(select(func.count(func.distinct(recent.c.user_id)))) or 0
            out["up"] = s.scalar(select(func.count()).where(Feedback.rating == 1)) or 0
            out["down"] = s.scalar(select(func.count()).where(Feedback.rating == -1)) or 0
            out["comments"] = s.scalar(select(func.count()).where(Feedback.comment.is_not(None))) or 0
        return out
