"""The judge: a model that grades what exact matching cannot — open answers, fill-blank answers worded
differently, and a generated script's fidelity to the task compared with the reference script.

The rubrics are module constants and printed in the README, so a lab can see exactly what a score means
(MD-EvalBench grades open questions with a model judge too). The judge runs at temperature 0 (the judge
role's default) and answers in a JSON schema; a reply that does not validate is treated as no verdict
(``None``) and counted as "unjudged" in the report, never as a zero; an unreachable judge fails the item,
which the next run retries.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

OPEN_QA_RUBRIC = """You grade an answer to a molecular-dynamics / LAMMPS exam question against the reference
answer. Score it on this scale:
- 1.0: correct and complete; every key point of the reference is there and nothing said is wrong.
- 0.75: correct, but misses one minor point or is imprecise in a detail.
- 0.5: partly correct: some key points right, others missing or wrong.
- 0.25: mostly wrong or off-topic, with one relevant correct point.
- 0.0: wrong, contradicts the reference, names LAMMPS commands or options that do not exist, or no answer.
Judge the content, not the wording or length. Reply with JSON {"score": one of 0, 0.25, 0.5, 0.75, 1,
"reason": "one sentence"}."""

FILL_BLANK_RUBRIC = """You check a fill-in-the-blank answer to a molecular-dynamics / LAMMPS question. The
answer is correct if it means the same as one of the accepted answers in this context (a synonym, another
spelling, the same value in another notation or unit written out); it is wrong if it is a different
command, keyword, value or concept, or adds something wrong. Reply with JSON {"correct": true/false,
"reason": "one sentence"}."""

CODE_RUBRIC = """You grade a LAMMPS input script written for a task, against a reference script that an
expert wrote for the same task. Score task fidelity from 0 to 10:
- 10: does everything the task asks, as the reference does (system and structure, potential, ensemble and
  thermostat/barostat, temperature/pressure, run length, the requested outputs); different but equally valid
  choices (another seed, lattice size, dump frequency) cost nothing.
- 7-9: the task is done; a secondary request (an output, a parameter) is missing or differs.
- 4-6: the main simulation is right in kind, but important parameters or a stage (equilibration,
  deformation, the measured quantity) are missing or wrong.
- 1-3: only the setup resembles the task.
- 0: another task, or no usable script.
Reply with JSON {"score": 0-10, "reason": "one or two sentences"}."""


class OpenVerdict(BaseModel):
    score: float = Field(ge=0, le=1)
    reason: str = ""


class BlankVerdict(BaseModel):
    correct: bool
    reason: str = ""


class CodeVerdict(BaseModel):
    score: float = Field(ge=0, le=10)
    reason: str = ""


def _ask(judge: BaseChatModel, schema, system: str, user: str):
    """The verdict, or None when the judge's reply does not validate (the item is then "unjudged": a judge
    that cannot follow the schema is a property of the judge, and asking again would not change it).

    An unreachable judge raises (after the client's own retries): the item is not recorded, and the next
    run with the same ``--out`` does it again, rather than keeping it unjudged for good."""
    from langchain_core.messages import HumanMessage, SystemMessage
    from openai import LengthFinishReasonError

    from mdbot.graph.models import ask_structured

    try:
        return ask_structured(judge, schema, [SystemMessage(system), HumanMessage(user)])
    except LengthFinishReasonError as exc:  # the reply ran out of tokens: no verdict, as for bad JSON
        log.warning("judge reply cut off at its token limit: %s", str(exc)[:200])
        return None


def judge_open(judge: BaseChatModel, question: str, reference: str, answer: str) -> OpenVerdict | None:
    user = f"Question:\n{question}\n\nReference answer:\n{reference}\n\nAnswer to grade:\n{answer}"
    verdict = _ask(judge, OpenVerdict, OPEN_QA_RUBRIC, user)
    if verdict is not None:  # snap to the rubric's scale: a judge's 0.8 is the rubric's 0.75
        verdict.score = round(verdict.score * 4) / 4
    return verdict


def judge_blank(judge: BaseChatModel, question: str, accepted: str, answer: str) -> BlankVerdict | None:
    user = f"Question:\n{question}\n\nAccepted answers (separated by |):\n{accepted}\n\nAnswer to check:\n{answer}"
    return _ask(judge, BlankVerdict, FILL_BLANK_RUBRIC, user)


def judge_code(judge: BaseChatModel, task: str, reference: str, script: str, run: str) -> CodeVerdict | None:
    user = (
        f"Task:\n{task}\n\nReference script:\n```lammps\n{reference.strip()}\n```\n\n"
        f"Script to grade:\n```lammps\n{script.strip()}\n```\n\nWhat happened when it ran: {run}"
    )
    return _ask(judge, CodeVerdict, CODE_RUBRIC, user)
