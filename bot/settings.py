"""Settings of the Slack app (docs/architecture.md §3): tokens, the transport, access control and the bot's limits.

Socket Mode when ``MDBOT_SLACK_APP_TOKEN`` is set (no public URL needed), HTTP with request signing
otherwise. Tokens are ``SecretStr`` so they never show in logs, reprs or error messages.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MDBOT_SLACK_", env_file=".env", extra="ignore")

    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-…) of the installed app.")
    app_token: SecretStr | None = Field(
        None, description="App-level token (xapp-…, connections:write): Socket Mode."
    )
    signing_secret: SecretStr | None = Field(
        None, description="Signing secret: HTTP mode verifies every request with it."
    )
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode: port of /slack/events.")
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    # --- access control
    channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Channel IDs the bot answers in, comma-separated; empty: every channel it is in.",
    )
    dms: bool = Field(True, description="Answer direct messages.")
    runners: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="User IDs who may start sandbox jobs, comma-separated; empty: everyone.",
    )
    # --- load
    workers: int = Field(2, ge=1, le=64, description="Requests worked on at once (graph runs).")
    queue_limit: int = Field(50, ge=1, description="Requests waiting at most; more are turned away.")
    user_concurrency: int = Field(2, ge=1, description="Requests one user may have waiting or running.")
    user_rate: int = Field(30, ge=1, description="Requests one user may make per hour.")
    # --- attachments
    max_file_mb: float = Field(20.0, gt=0, description="Largest attached file (MB).")
    max_files: int = Field(10, ge=1, description="Attached files per message at most.")
    # --- presentation
    manual_url: str = Field(
        "https://docs.lammps.org/", description="Where citations of manual pages link to (page = doc id)."
    )
    progress_interval_s: float = Field(
        3.0, ge=0, description="Least time between two edits of a status message (Slack rate limits)."
    )
    # --- Slack's agent experience and the Home tab
    agent: bool = Field(
        True,
        description="Use the thread status line, suggested prompts and streamed replies where Slack has them.",
    )
    stream_buffer: int = Field(
        120,
        ge=1,
        le=12000,
        description="Characters of a streamed answer gathered before each chat.appendStream.",
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="User IDs who see usage and feedback counts on the Home tab."
    )
    home_interval_s: float = Field(
        10.0,
        ge=0,
        description="Least time between two updates of one member's Home tab (views.publish limits).",
    )
    # --- several processes (coordinated in the journal's database)
    lease_s: float = Field(
        30.0, gt=0, description="A process silent this long is gone; another finishes its requests or tells."
    )
    heartbeat_s: float = Field(
        5.0, gt=0, description="How often a process says it is alive and looks for orphans."
    )
    # --- retention
    retention_days: float = Field(
        30.0, ge=0, description="Job directories and pictures older than this are removed (0: kept forever)."
    )
    retention_floor_h: float = Field(
        24.0, ge=1, description="Never remove a directory with a file changed this recently (a running job)."
    )

    @field_validator("channels", "runners", "admins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.replace(" ", ",").split(",") if v.strip()]
        return value

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None and bool(self.app_token.get_secret_value())

    def problems(self) -> list[str]:
        """What is missing to start, in words an operator can act on (empty when ready)."""
        out = []
        token = self.bot_token.get_secret_value() if self.bot_token else ""
        if not token:
            out.append("MDBOT_SLACK_BOT_TOKEN is not set (the app's Bot User OAuth Token, xoxb-…)")
        elif not token.startswith("xoxb-"):
            out.append("MDBOT_SLACK_BOT_TOKEN should be a bot token starting with xoxb-")
        if self.socket_mode:
            if not self.app_token.get_secret_value().startswith("xapp-"):
                out.append("MDBOT_SLACK_APP_TOKEN should be an app-level token starting with xapp-")
        elif not (self.signing_secret and self.signing_secret.get_secret_value()):
            out.append(
                "set MDBOT_SLACK_APP_TOKEN (Socket Mode) or MDBOT_SLACK_SIGNING_SECRET (HTTP mode, "
                "needs a public URL)"
            )
        return out
