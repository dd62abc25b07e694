"""Settings of the brain: model endpoints per role, the loop's budget, where checkpoints and the journal live.

Environment prefix ``MDBOT_`` (docs/architecture.md §3). Each model role has its own group, ``MDBOT_LLM_<ROLE>_*``, so
a lab can serve MD-Instruct and MD-Code from two vLLM servers, or one base model with two LoRA adapters from
one server (same base URL, two model names). Roles left unset borrow from ``instruct``: a single endpoint is
enough to get started, and no endpoint at all is the offline mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["instruct", "code", "judge"]
ROLES: tuple[Role, ...] = ("instruct", "code", "judge")


class _RoleSettings(BaseSettings):
    """One OpenAI-compatible endpoint and how to call it."""

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://gpu1:8000/v1.")
    model: str | None = Field(
        None, description="Model name as the server knows it (vLLM: --served-model-name)."
    )
    api_key: SecretStr | None = Field(
        None, description="API key; vLLM accepts any unless started with --api-key."
    )
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int | None = Field(None, gt=0, description="Most tokens per reply.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds per request before it is retried.")
    max_retries: int = Field(3, ge=0, description="Retries with exponential backoff on timeouts and 5xx/429.")


class InstructSettings(_RoleSettings):
    model_config = SettingsConfigDict(env_prefix="MDBOT_LLM_INSTRUCT_", env_file=".env", extra="ignore")


class CodeSettings(_RoleSettings):
    model_config = SettingsConfigDict(env_prefix="MDBOT_LLM_CODE_", env_file=".env", extra="ignore")


class JudgeSettings(_RoleSettings):
    model_config = SettingsConfigDict(env_prefix="MDBOT_LLM_JUDGE_", env_file=".env", extra="ignore")


ROLE_SETTINGS: dict[Role, type[_RoleSettings]] = {
    "instruct": InstructSettings,
    "code": CodeSettings,
    "judge": JudgeSettings,
}
DEFAULT_TEMPERATURE: dict[Role, float] = {"instruct": 0.2, "code": 0.2, "judge": 0.0}
DEFAULT_MAX_TOKENS: dict[Role, int] = {"instruct": 1024, "code": 2048, "judge": 512}


class GraphSettings(BaseSettings):
    """How the brain behaves and where it keeps its memory."""

    model_config = SettingsConfigDict(env_prefix="MDBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".mdbot"), description="Checkpoints and the journal (SQLite) live here.")
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL for the journal and the conversation checkpoints; SQLite under "
        "MDBOT_DATA_DIR if unset.",
    )
    attempt_budget: int = Field(3, ge=1, le=10, description="Scripts tried in the sandbox per request.")
    max_model_calls: int = Field(8, ge=1, description="Model calls per request at most (all roles).")
    run_timeout_s: float = Field(300.0, gt=0, description="Wall-clock limit of each run the bot starts.")
    run_ranks: int = Field(1, ge=1, description="MPI ranks of each run the bot starts.")
    qa_passages: int = Field(6, ge=1, le=20, description="Passages retrieved for a question.")
    example_scripts: int = Field(2, ge=0, le=10, description="Example scripts shown to the code model.")
    history_turns: int = Field(6, ge=0, description="Earlier messages of the thread the models see.")
    judge: bool = Field(True, description="Ask the judge model to grade task fidelity (when one is set).")

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoints.sqlite"

    @property
    def journal_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'journal.sqlite').resolve()}"


def role_settings(role: Role, env_file: str | None = ".env") -> _RoleSettings:
    """The settings of ``role``, with what it leaves unset taken from ``instruct``.

    A role without its own endpoint borrows instruct's endpoint, key and (unless set) model; a role with its
    own endpoint never receives instruct's API key — a key is only sent to the server it was set for."""
    own = ROLE_SETTINGS[role](_env_file=env_file)
    base = own if role == "instruct" else InstructSettings(_env_file=env_file)
    merged = own.model_copy()
    borrowed = merged.base_url is None
    if borrowed:
        merged.base_url = base.base_url
        if merged.api_key is None:
            merged.api_key = base.api_key
    if merged.model is None:
        merged.model = base.model
    if merged.temperature is None:
        merged.temperature = DEFAULT_TEMPERATURE[role]
    if merged.max_tokens is None:
        merged.max_tokens = DEFAULT_MAX_TOKENS[role]
    return merged
