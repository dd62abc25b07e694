"""The ``run``/``check`` result document (docs/architecture.md §4): one shape for the CLI, the graph and the bot."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "error", "timeout", "killed", "rejected"]
MAX_ROWS = 2000  # thermo rows per table kept in the document (evenly subsampled, first and last kept)


class ErrorInfo(BaseModel):
    message: str
    command: str | None = None
    line: int | None = None
    file: str | None = None  # the script or included file the line belongs to
    hint: str | None = None


class Thermo(BaseModel):
    columns: list[str]
    rows: list[list[float | None]]
    rows_total: int = 0


class HealthInfo(BaseModel):
    ok: bool = True
    issues: list[str] = Field(default_factory=list)
    verdict: str = Field(
        "ran", description="broken | equilibrating | equilibrated | ran | not run (sandbox/health.py)"
    )
    reason: str = ""


class Performance(BaseModel):
    timesteps_per_s: float | None = None


class FileInfo(BaseModel):
    name: str
    bytes: int


class RunResult(BaseModel):
    status: Status
    returncode: int | None = None
    wall_s: float = 0.0
    error: ErrorInfo | None = None
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(
        default_factory=list, description="What mdbot did on the script's behalf (e.g. 'shell mkdir')."
    )
    thermo: list[Thermo] = Field(default_factory=list)
    health: HealthInfo = Field(default_factory=HealthInfo)
    final_step: int | None = None
    performance: Performance = Field(default_factory=Performance)
    files: list[FileInfo] = Field(default_factory=list)
    workdir: str | None = None
    console_tail: str | None = Field(
        None, description="Last lines of console/log output when the job failed."
    )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def subsample(rows: list[list[float]], limit: int = MAX_ROWS) -> list[list[float]]:
    if len(rows) <= limit:
        return rows
    step = (len(rows) - 1) / (limit - 1)
    return [rows[round(i * step)] for i in range(limit)]
