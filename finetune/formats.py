"""The shapes of the training records: system prompts and chat-record helpers shared by export and training.

The exporter writes records with these helpers and the trainers and the GRPO reward read them back, so a
prompt seen in SFT is byte-for-byte the prompt GRPO samples from and the reply format SFT teaches
(one ```lammps block) is the one the reward's ``format`` component looks for. Change them here only.

Records are chat-format (``{"role", "content"}`` lists), which TRL's SFT and GRPO trainers apply the model's
chat template to; no model-specific tokens live in the data.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

CODE_SYSTEM = (
    "You write LAMMPS input scripts for a molecular-dynamics research lab. Given a task, reply with the "
    "complete script in one ```lammps block. The script must run as is in a sandbox: current LAMMPS syntax, "
    "no shell or python commands, only the files named in the task or potential files that ship with "
    "LAMMPS, a small system and a short run unless the task says otherwise, regular thermo output."
)

QA_SYSTEM = (
    "You are a molecular-dynamics expert helping a research lab with LAMMPS. Answer the question directly "
    "and concisely, then give details or a short example; write LAMMPS commands in `code` and name only "
    "commands and styles that exist. If you do not know, say so rather than guess."
)

REPAIR_INTRO = "The script below was tried in the LAMMPS sandbox and must be fixed."
REPAIR_OUTRO = (
    "Return the complete corrected script in one ```lammps block. Change what the problem needs and keep "
    "the rest of the script as it is."
)
MDAGENT_PREFIX = "BASE64:"
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.S)


def code_reply(script: str) -> str:
    """The assistant's reply to a code task: exactly one fenced block and nothing else.

    Prose around the block would teach the model to spend tokens the reward does not pay for, and a bare
    script (no fence) scores lower in the reward's format component."""
    return f"```lammps\n{script.strip()}\n```"


def task_message(
    task: str, files: Mapping[str, str] | Sequence[str] = (), previous: str | None = None
) -> str:
    """The user turn of a code task: the request, the names of the files it may use, the script to change.

    File names matter because the script has to refer to them (``read_data data.melt``); the earlier script
    matters for follow-ups ("now make it 500 K") that mean nothing without it."""
    parts = [task.strip()]
    names = sorted(files)
    if names:
        parts.append("Files in the job directory: " + ", ".join(names))
    if previous and previous.strip():
        parts.append(
            "The current script of this conversation (change it as the task asks):\n" + code_reply(previous)
        )
    return "\n\n".join(parts)


def code_example(
    task: str,
    script: str,
    files: Mapping[str, str] | Sequence[str] = (),
    previous: str | None = None,
) -> dict:
    """An SFT pair: the code task → the script in one ```lammps block (``kind`` "code")."""
    return {
        "messages": [
            {"role": "system", "content": CODE_SYSTEM},
            {"role": "user", "content": task_message(task, files, previous)},
            {"role": "assistant", "content": code_reply(script)},
        ],
        "kind": "code",
    }


def qa_example(question: str, answer: str) -> dict:
    """An SFT pair: a question → the answer the lab accepted (``kind`` "qa")."""
    return {
        "messages": [
            {"role": "system", "content": QA_SYSTEM},
            {"role": "user", "content": question.strip()},
            {"role": "assistant", "content": answer.strip()},
        ],
        "kind": "qa",
    }


def format_error(error: Mapping[str, Any] | None, issues: Sequence[str] = ()) -> str:
    """What went wrong with a script, in the words the bot's repair prompt uses (message, command, line)."""
    lines: list[str] = []
    if error:
        if error.get("message"):
            lines.append(f"Error: {error['message']}")
        if error.get("command"):
            lines.append(f"Command: {error['command']}")
        if error.get("line"):
            lines.append(f"Line: {error['line']}")
        if error.get("hint"):
            lines.append(f"Hint: {error['hint']}")
    lines += [f"Problem: {issue}" for issue in issues if issue]
    return "\n".join(lines) or "The run did not do what the task asked."


def repair_message(
    task: str, script: str, problem: str, files: Mapping[str, str] | Sequence[str] = ()
) -> str:
    """The user turn of a repair: task, the failed script and what went wrong (like graph's REPAIR_REQUEST)."""
    task_part = task_message(task, files)
    return (
        f"{REPAIR_INTRO}\n\nTask: {task_part}\n\nScript:\n{code_reply(script)}\n\n"
        f"What went wrong:\n{problem.strip()}\n\n{REPAIR_OUTRO}"
    )


def repair_example(
    task: str,
    failed_script: str,
    problem: str,
    repaired_script: str,
    files: Mapping[str, str] | Sequence[str] = (),
) -> dict:
    """A recycled trajectory: failed script + its error → the script that then ran (``kind`` "repair")."""
    return {
        "messages": [
            {"role": "system", "content": CODE_SYSTEM},
            {"role": "user", "content": repair_message(task, failed_script, problem, files)},
            {"role": "assistant", "content": code_reply(repaired_script)},
        ],
        "kind": "repair",
    }


def grpo_prompt(task: str, files: Mapping[str, str] | None = None, previous: str | None = None) -> dict:
    """A GRPO prompt: the same system and user turns as an SFT code pair, plus what the reward needs.

    ``task`` (the bare request) goes to the reward's judge; ``files`` ({name: absolute path}) are staged
    into every sampled script's sandbox job."""
    files = dict(files or {})
    return {
        "prompt": [
            {"role": "system", "content": CODE_SYSTEM},
            {"role": "user", "content": task_message(task, files, previous)},
        ],
        "task": task.strip(),
        "files": files,
    }


def decode_mdagent(value: Any) -> Any:
    """A value of an MDAgent JSON-lines file: ``"BASE64:" + base64(json.dumps(v))`` becomes ``v``.

    MDAgent's public sets obfuscate some fields this way (against scraping into pre-training corpora); other
    values pass through unchanged. Raises ValueError for a prefix followed by invalid base64 or JSON."""
    if isinstance(value, str) and value.startswith(MDAGENT_PREFIX):
        raw = value[len(MDAGENT_PREFIX) :].strip()
        try:
            decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("utf-8")
            return json.loads(decoded)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"bad BASE64 value: {exc}") from exc
    return value


def strip_fence(text: str) -> str:
    """The script inside a fenced block if the text has one (imports often store ```lammps … ```)."""
    blocks = _FENCE.findall(text)
    if len(blocks) == 1:
        return blocks[0][1].strip()
    return text.strip()


def normalize(text: str) -> str:
    """Whitespace-insensitive form of a text: what deduplication compares."""
    return " ".join(text.split())
