"""Model-call accounting: every model call of a turn goes through :class:`Calls`, which asks the role's model,
records the call (role, model, purpose, tokens; also when it fails: a 401 or a timeout costs too) and keeps
the turn within its budget of model calls (``GraphSettings.max_model_calls``, all roles together).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict, TypeVar

from pydantic import BaseModel

from .models import ask_structured, model_id, stream_text
from .state import ModelCall, State

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from .configuration import Context

M = TypeVar("M", bound=BaseModel)
Role = Literal["instruct", "code", "judge"]


class CallTotals(TypedDict):
    model_calls: int
    calls: list[ModelCall]


class Calls:
    """The model calls of one node, continuing the turn's totals; ``update()`` goes into the node's return."""

    def __init__(self, state: State, ctx: Context):
        self.ctx = ctx
        self.count = state.get("model_calls", 0)
        self.log: list[ModelCall] = list(state.get("calls", []))
        self.limit = ctx.settings.max_model_calls

    @property
    def left(self) -> int:
        return self.limit - self.count

    def has(self, role: Role) -> bool:
        """The role's model is configured and the budget allows one more call."""
        return getattr(self.ctx, role) is not None and self.left > 0

    def text(self, role: Role, purpose: str, messages: list[BaseMessage]) -> str:
        """Generate text with streaming; raises what the endpoint raises (after recording the call)."""
        model = getattr(self.ctx, role)
        try:
            text, usage = stream_text(model, messages)
        except Exception as exc:
            self.record(role, model, purpose, error=type(exc).__name__)
            raise
        self.record(role, model, purpose, usage)
        return text

    def structured(self, role: Role, purpose: str, schema: type[M], messages: list[BaseMessage]) -> M | None:
        """An instance of ``schema`` (None if the reply does not validate); raises what the endpoint raises."""
        model = getattr(self.ctx, role)
        try:
            out = ask_structured(model, schema, messages)
        except Exception as exc:
            self.record(role, model, purpose, error=type(exc).__name__)
            raise
        self.record(role, model, purpose)
        return out

    def with_tools(self, role: Role, purpose: str, messages: list[BaseMessage], tools: list):
        """One reply of a model that may call ``tools`` (an AIMessage with ``tool_calls``); raises what the
        endpoint raises (after recording the call)."""
        model = getattr(self.ctx, role)
        try:
            reply = model.bind_tools(tools).invoke(messages)
        except Exception as exc:
            self.record(role, model, purpose, error=type(exc).__name__)
            raise
        self.record(role, model, purpose, getattr(reply, "usage_metadata", None) or None)
        return reply

    def record(
        self, role: str, model, purpose: str, usage: dict | None = None, error: str | None = None
    ) -> None:
        self.count += 1
        self.log.append(call_entry(role, model, purpose, usage, error))

    def update(self) -> CallTotals:
        return {"model_calls": self.count, "calls": self.log}


def call_entry(
    role: str, model, purpose: str, usage: dict | None = None, error: str | None = None
) -> ModelCall:
    """The journal's record of one model call (``mdbot eval code``'s direct mode keeps the same)."""
    entry: ModelCall = {"role": role, "model": model_id(model), "purpose": purpose}
    if error:
        entry["error"] = error
    if usage:
        entry["input_tokens"] = usage.get("input_tokens")
        entry["output_tokens"] = usage.get("output_tokens")
    return entry


def model_error(exc: Exception) -> str:
    """A failed model call in words for the user (never the credentials: only the exception's text)."""
    name = type(exc).__name__
    return f"the model endpoint failed ({name}: {str(exc)[:200]})"
