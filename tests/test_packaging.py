"""Packaging: mdbot installs as one namespace, and nothing in a user's directory can shadow it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import requires_bwrap

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_mdbot_and_nothing_else_at_the_top(tmp_path):
    # Built from a copy: setuptools' build/ directory must not appear in (or go stale in) the checkout.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", ".mdbot", "build", "*.egg-info", "__pycache__", ".*_cache"))
    # No build isolation: setuptools is in the environment already, and CI must not depend on a download.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path, src],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("mdbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops - {"mdbot"} == {f"{'-'.join(wheel.name.split('-')[:2])}.dist-info"}, tops
    for part in ("bot", "graph", "retrieval", "sandbox", "finetune", "evals"):
        assert f"mdbot/{part}/__init__.py" in names
    # the data the code opens by path travels with it
    assert "mdbot/bot/manifest.yaml" in names
    assert "mdbot/graph/journal/migrations/script.py.mako" in names
    assert any(n.startswith("mdbot/graph/journal/migrations/versions/0001_") for n in names)


@requires_bwrap
def test_the_cli_works_from_a_directory_with_a_graph_py_and_an_empty_sandbox(tmp_path):
    """`python -m` puts the working directory first on sys.path: the old top-level names were shadowed."""
    work = tmp_path / "project"
    (work / "sandbox").mkdir(parents=True)
    (work / "graph.py").write_text("raise SystemExit('the user graph.py was imported')\n")
    (work / "in.bad").write_text("units lj\natom_style atomic\npair_styl lj/cut 2.5\n")
    env = {**os.environ, "MDBOT_DATA_DIR": str(tmp_path / "data"), "MDBOT_PICTURES": "false"}
    env.pop("PYTHONPATH", None)
    probe = "import mdbot.graph.state, mdbot.sandbox.jobs; print(mdbot.graph.state.__file__)"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=work, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == ROOT / "graph" / "state.py"
    proc = subprocess.run(
        [sys.executable, "-m", "mdbot.cli", "check", "in.bad"], cwd=work, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "line 3" in proc.stdout and "pair_style" in proc.stdout
