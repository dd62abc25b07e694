"""Knowledge for the models and the replies: searches of the knowledge base, passages numbered for citation
(as the models see them; ``mdbot eval qa`` shows them the same way), the reference material of the code
model, and what a reply offers instead when no model can answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .configuration import Context

EXAMPLE_CHARS = 4000  # of each example script shown to the code model
PASSAGE_CHARS = 1500


def search(ctx: Context, query: str, k: int, kinds=None) -> tuple[list[dict], str | None]:
    """Passages (retrieval.search.Hit as dicts) and, when the search could not run, why not."""
    if ctx.searcher is None:
        return [], "no knowledge base is configured"
    from mdbot.retrieval.search import EmptyKnowledgeBase

    try:
        return [h.to_dict() for h in ctx.searcher.search(query, k, kinds=kinds)], None
    except EmptyKnowledgeBase as exc:
        return [], str(exc)
    except ValueError as exc:
        return [], str(exc)


def with_scripts(examples: list[dict]) -> list[dict]:
    """Example hits with the start of their script file added as ``script`` (when it is small and readable)."""
    for ex in examples:
        try:
            src = Path(ex["source"])
            if src.is_file() and src.stat().st_size < 200_000:
                ex["script"] = src.read_text(errors="replace")[:EXAMPLE_CHARS]
        except OSError:
            pass
    return examples


def numbered_passages(passages: list[dict], chars: int = PASSAGE_CHARS) -> str:
    """Passages as the models see them, numbered for citation ([1], [2]…); also used by ``mdbot eval qa``."""
    return (
        "\n\n".join(
            f"[{i}] {p['title']} — {p.get('section', '')} ({p.get('source', '')})\n{p['text'][:chars]}"
            for i, p in enumerate(passages, 1)
        )
        or "(no passages found)"
    )


def references(examples: list[dict], passages: list[dict]) -> str:
    """The code model's reference material: example scripts, then manual pages."""
    parts = []
    for ex in examples:
        parts.append(f"Example script {ex['title']} ({ex['source']}):\n{ex.get('script') or ex['text']}")
    for p in passages:
        parts.append(f"Manual: {p['title']} — {p.get('section', '')}:\n{p['text'][:1200]}")
    return "\n\n".join(parts) or "(none found)"


def manual_excerpt(page: dict) -> str:
    """A manual page pasted into a repair request."""
    return f"Manual ({page['title']} — {page.get('section', '')}):\n{page['text'][:1500]}\n\n"


def offline_answer(passages: list[dict], why: str, kb_problem: str = "") -> str:
    """A question's reply without a model: the most relevant passages, or why there are none."""
    if not passages:
        tail = (
            f" Nor can I show passages: {kb_problem}." if kb_problem else " The knowledge base found nothing."
        )
        return f"I can't answer this: {why}.{tail}"
    lines = [f"_{why[0].upper() + why[1:]}, so here are the most relevant passages:_"]
    for i, p in enumerate(passages[:5], 1):
        excerpt = " ".join(p["text"].split())[:300]
        lines.append(f"[{i}] *{p['title']}* ({p.get('section', '')}): {excerpt}…")
    return "\n\n".join(lines)


def offline_examples(examples: list[dict]) -> str:
    """A script request's reply without a code model: the closest example scripts."""
    if not examples:
        return "No language model is configured and no example script matched, so I can't write this yet."
    body = (
        "No language model is configured (set MDBOT_LLM_INSTRUCT_BASE_URL: one endpoint serves every role), "
        "so I can't write the script. "
    )
    body += "The closest example scripts:\n"
    for ex in examples:
        body += f"\n*{ex['title']}* (`{ex['source']}`)\n```lammps\n{(ex.get('script') or ex['text'])[:1500]}\n```\n"
    body += "\nAttach one (edited) as `in.something` and I will run it."
    return body
