"""Chat models per role and the one way we ask them for structured output.

Structured output goes through ``response_format`` with a JSON schema (OpenAI's current path, which vLLM
implements with guided decoding; the old ``guided_json`` extra parameter is silently ignored by recent vLLM).
The reply is still validated here: a server without guided decoding, or a fake model in tests, may send prose
around the JSON, and a bad reply must become a fallback, never an exception in a user's thread.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from .settings import Role, role_settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

M = TypeVar("M", bound=BaseModel)


def chat_model(role: Role, env_file: str | None = ".env", model: str | None = None) -> BaseChatModel | None:
    """A ``ChatOpenAI`` for ``role`` from the settings, or None when no endpoint is configured (offline).

    ``model`` overrides the served model name at the role's endpoint (``mdbot eval --model my-adapter``
    compares LoRA adapters served by one vLLM)."""
    s = role_settings(role, env_file)
    if model:
        s.model = model
    if not s.base_url:
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=s.base_url,
        model=s.model or "default",
        api_key=s.api_key.get_secret_value() if s.api_key else "EMPTY",
        temperature=s.temperature,
        max_completion_tokens=s.max_tokens,
        timeout=s.timeout_s,
        max_retries=s.max_retries,  # the openai client retries 408/409/429/5xx and timeouts with backoff
        use_responses_api=False,  # vLLM and most local servers speak chat completions
        stream_usage=True,  # token counts for the journal
    )


def model_id(model: BaseChatModel | None) -> str | None:
    """A readable identifier of the model for the journal (``model@base_url``)."""
    if model is None:
        return None
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    base = getattr(model, "openai_api_base", None)
    if base:
        base = re.sub(r"//[^/@]*@", "//", base)  # never journal credentials embedded in a URL
    return f"{name}@{base}" if base else str(name)


def _json_schema(schema: type[BaseModel]) -> dict:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": False},
    }


_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def parse_json(text: str, schema: type[M]) -> M | None:
    """The first JSON object in ``text`` that validates against ``schema``, or None."""
    candidates = [text.strip()]
    candidates += _FENCE.findall(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return schema.model_validate(json.loads(candidate))
        except (ValueError, ValidationError):
            continue
    return None


def ask_structured(model: BaseChatModel, schema: type[M], messages: list[BaseMessage]) -> M | None:
    """Ask ``model`` for an instance of ``schema``; None if the reply does not validate."""
    reply = model.bind(response_format=_json_schema(schema)).invoke(messages)
    return parse_json(text_of(reply), schema)


def text_of(message) -> str:
    """The text of a model reply (content may be a string or a list of content blocks)."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "".join(parts)


def stream_text(model: BaseChatModel, messages: list[BaseMessage]) -> tuple[str, dict | None]:
    """Generate with streaming (keeps long generations alive through proxies); (whole text, token usage)."""
    full = None
    for chunk in model.stream(messages):
        full = chunk if full is None else full + chunk
    if full is None:
        return "", None
    return text_of(full), getattr(full, "usage_metadata", None)
