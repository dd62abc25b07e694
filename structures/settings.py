"""Structure settings (environment prefix ``MDBOT_STRUCTURE_``, read from ``.env``): the bounds on reading an
untrusted file and on the tools that work on it."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StructureSettings(BaseSettings):
    """Limits for reading, analysing and building structures."""

    model_config = SettingsConfigDict(env_prefix="MDBOT_STRUCTURE_", env_file=".env", extra="ignore")

    max_file_mb: float = Field(50.0, gt=0, description="Largest structure file accepted (MiB).")
    max_atoms: int = Field(200_000, gt=0, description="Most atoms a structure may have.")
    read_timeout_s: float = Field(60.0, gt=0, description="Wall-clock limit for parsing one file.")
    memory_mb: int = Field(
        4096, gt=0, description="Address-space limit of the parsing and Zeo++ processes (MiB)."
    )
    pores_timeout_s: float = Field(300.0, gt=0, description="Wall-clock limit of the fast pore calculation.")
    pores_exact_timeout_s: float = Field(3600.0, gt=0, description="Wall-clock limit of the exact one.")
    probe_radius: float = Field(1.2, ge=0, description="Default probe radius for surface and volume (Å).")
    build_max_atoms: int = Field(20_000, gt=0, description="Largest system a build may produce.")
    test_steps: int = Field(200, gt=0, description="Steps of the short sandbox run that proves a build.")
