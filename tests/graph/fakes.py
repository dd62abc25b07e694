"""Scripted chat models (langchain_core's fake) that also record what they were asked."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class Scripted(FakeMessagesListChatModel):
    """Replies in order (the last one repeats) and keeps every prompt and call kwargs."""

    prompts: list[list[BaseMessage]] = []
    kwargs: list[dict[str, Any]] = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.prompts.append(list(messages))
        self.kwargs.append(kwargs)
        response = self.responses[min(self.i, len(self.responses) - 1)]
        self.i += 1
        return ChatResult(generations=[ChatGeneration(message=response)])

    def bind_tools(self, tools, **kwargs):
        """Tool calling is scripted too: the replies carry their ``tool_calls``; the tools are kept."""
        self.kwargs.append({"tools": [t.name for t in tools]})
        return self

    def prompt_text(self, call: int) -> str:
        return "\n".join(str(m.content) for m in self.prompts[call])


def model(*replies: str | dict | AIMessage) -> Scripted:
    """A scripted model; dict replies are sent as JSON (structured output), messages as they are."""
    msgs = [
        r if isinstance(r, AIMessage) else AIMessage(json.dumps(r) if isinstance(r, dict) else r)
        for r in replies
    ]
    return Scripted(responses=msgs, prompts=[], kwargs=[])


def tool_calls(*calls: tuple[str, dict]) -> AIMessage:
    """A reply that calls tools: (name, args) pairs."""
    return AIMessage(
        "", tool_calls=[{"name": n, "args": a, "id": f"call-{i}"} for i, (n, a) in enumerate(calls)]
    )


def lammps(script: str, note: str = "") -> str:
    """A code model's reply: one fenced script and a sentence."""
    return f"```lammps\n{script.strip()}\n```\n{note or 'A small system, short run.'}"


GOOD_LJ = """units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.5 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
fix 1 all nvt temp 1.5 1.5 0.5
thermo 50
run 500
"""

# A keyword no deterministic repair can fix: only a model can.
BROKEN_LJ = GOOD_LJ.replace("fix 1 all nvt temp 1.5 1.5 0.5", "fix 1 all nvt temperature 1.5 1.5 0.5")

CU_EAM = """units metal
atom_style atomic
lattice fcc 3.615
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
pair_style eam/alloy
pair_coeff * * Cu_mishin.eam.alloy Cu
velocity all create 600 4928459 loop geom
fix 1 all nvt temp 300 300 0.1
timestep 0.002
thermo 50
run 500
"""
