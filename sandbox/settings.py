"""Sandbox settings (environment prefix ``MDBOT_``, read from ``.env``).

Every limit lives here so an operator can tighten the sandbox for a busy lab channel without touching code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SandboxSettings(BaseSettings):
    """Limits and locations for LAMMPS jobs."""

    model_config = SettingsConfigDict(env_prefix="MDBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".mdbot"), description="Where jobs, caches and the knowledge base live.")
    potentials_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Lab potential directories, separated by ':' (searched first)."
    )
    # Wall clock and resources, per job.
    timeout_s: float = Field(600.0, gt=0, description="Default wall-clock limit of a run.")
    check_timeout_s: float = Field(30.0, gt=0, description="Wall-clock limit of a check (no dynamics).")
    max_timeout_s: float = Field(3600.0, gt=0, description="Largest timeout a user may ask for.")
    cpu_s: int = Field(0, ge=0, description="CPU seconds per process; 0 = derived from the timeout.")
    memory_mb: int = Field(4096, gt=0, description="Address-space limit per process (MiB).")
    file_size_mb: int = Field(1024, gt=0, description="Largest single file a job may write (MiB).")
    output_mb: int = Field(2048, gt=0, description="Total size a job directory may reach (MiB).")
    max_files: int = Field(5000, gt=0, description="Most files a job may create.")
    max_processes: int = Field(256, gt=0, description="Processes and threads a job may have at once.")
    job_memory_mb: int = Field(
        8192, gt=0, description="Memory of all a job's processes together (needs cgroups)."
    )
    max_open_files: int = Field(1024, gt=0, description="Open files per process.")
    max_depth: int = Field(64, gt=0, description="Deepest directory nesting a job may create.")
    min_free_disk_mb: int = Field(1024, ge=0, description="Stop a job when the disk has less free than this.")
    max_ranks: int = Field(os.cpu_count() or 1, gt=0, description="Most MPI ranks a job may ask for.")
    max_threads: int = Field(os.cpu_count() or 1, gt=0, description="Most OpenMP threads per rank.")
    max_input_mb: int = Field(200, gt=0, description="Largest staged input file (MiB).")
    kept_output_kb: int = Field(256, gt=0, description="Console output kept from a job (head + tail, KiB).")
    # Isolation.
    bwrap: str = Field("bwrap", description="bubblewrap executable.")
    allow_unsandboxed: bool = Field(
        False, description="Run without bubblewrap (rlimits and timeout only). Never for untrusted input."
    )
    sandbox_uid: int = Field(
        65534, description="Unprivileged uid the sandbox runs as when mdbot runs as root."
    )
    # Pictures.
    pictures: bool = Field(
        True, description="Render a thermo plot and a snapshot of the final configuration."
    )
    snapshot_size: int = Field(512, ge=64, le=4096, description="Snapshot image size in pixels.")

    @field_validator("potentials_dirs", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        """Accept ``dir1:dir2`` (the Unix convention) as well as a list."""
        if isinstance(value, str):
            return [Path(p) for p in value.split(os.pathsep) if p.strip()]
        return value

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"
