"""Retrieval settings (environment prefix ``MDBOT_``, read from ``.env``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class RetrievalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MDBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".mdbot"), description="Where the knowledge base lives (chromadb files).")
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://host:8000); embedded if unset."
    )
    collection: str = Field("mdbot-knowledge", description="Chroma collection name.")
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="sentence-transformers model: a local path, or the packaged all-MiniLM-L6-v2 (offline).",
    )
    embedding_backend: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="auto: queries by ONNX Runtime (an export that agrees), batches by sentence-transformers.",
    )
    manual_source_url: str = Field(
        "https://github.com/lammps/lammps/blob/patch_{tag}/doc/src/{stem}.rst",
        description="A manual page's link for its own version ({tag} = 29Aug2024, {stem} = fix_nh); empty: the file.",
    )
    embedding_precision: Literal["auto", "float32"] = Field(
        "auto",
        description="auto: ingest batches in bfloat16 where the CPU has it natively and it agrees with float32.",
    )
    embedding_batch: int = Field(64, gt=0, description="Texts per embedding batch during ingest.")
    embedding_workers: int = Field(
        0, ge=0, description="Processes embedding an ingest's passages: 0 = one per core (up to 4) from 4,096 on."
    )
    potentials_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Lab potential directories (':'-separated), catalogued on ingest."
    )
    max_file_mb: int = Field(50, gt=0, description="Larger source files are skipped with a message.")

    @field_validator("potentials_dirs", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        import os

        if isinstance(value, str):
            return [Path(p) for p in value.split(os.pathsep) if p.strip()]
        return value

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "knowledge"
