"""Shared fixtures: real sandbox settings in a throw-away data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    # Below pytest's private (0700) base directory on purpose: mdbot must cope with that itself.
    d = tmp_path / "mdbot-data"
    d.mkdir()
    return d


@pytest.fixture
def settings(data_dir: Path):
    from sandbox.settings import SandboxSettings

    return SandboxSettings(_env_file=None, data_dir=data_dir, pictures=False)


@pytest.fixture(scope="session")
def lammps():
    from sandbox.install import find_lammps

    return find_lammps()


def bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if not exe:
        return False
    return subprocess.run([exe, "--unshare-all", "--ro-bind", "/", "/", "--", "/bin/true"]).returncode == 0


# In CI the sandbox must be there: a missing bubblewrap fails the hostile tests instead of skipping them.
requires_bwrap = pytest.mark.skipif(
    not bwrap_works() and os.environ.get("CI") != "true",
    reason="bubblewrap is not usable here (make setup installs it when run as root)",
)
