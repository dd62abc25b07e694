"""PostgreSQL for the journal and the checkpoints (MDBOT_DATABASE_URL), against a real throw-away server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from tests.conftest import requires_bwrap
from tests.graph.fakes import GOOD_LJ, lammps, model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of our own on 127.0.0.1 (as an unprivileged user when we are root)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = tempfile.mkdtemp(prefix="mdbot-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        os.chown(root, 65534, 65534)
        as_user = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    data, port = os.path.join(root, "data"), _free_port()
    subprocess.run(
        [*as_user, initdb, "-D", data, "-A", "trust", "-U", "mdbot"], check=True, capture_output=True
    )
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    wait = ["-w", "-t", "3600"]  # until it accepts connections, however loaded the machine (default: 60 s)
    subprocess.run(
        [*as_user, pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(root, "log"), *wait, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://mdbot@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@requires_bwrap
def test_postgres_keeps_threads_and_journal(make_brain, postgres_url, tmp_path):
    brain = make_brain(code=model(lammps(GOOD_LJ)), retrieval=False, database_url=postgres_url)
    turn = brain.ask("write a LAMMPS script for an LJ liquid at T*=1.5 in NVT", thread_id="C5:77.1")
    assert turn.outcome == "success"
    brain.feedback(turn.turn_id, -1, "U1", "too small")
    brain.close()
    # A new process (here: a new Brain) continues the thread from PostgreSQL.
    code = model(lammps(GOOD_LJ.replace("run 500", "run 1000")))
    again = make_brain(
        instruct=model({"intent": "generate", "reason": "follow-up"}),
        code=code,
        retrieval=False,
        database_url=postgres_url,
        data_dir=tmp_path / "elsewhere",
    )
    turn = again.ask("run it twice as long", thread_id="C5:77.1")
    assert turn.outcome == "success" and "run 500" in code.prompt_text(0)
    rows = again.journal.turns("C5:77.1")
    assert [r.intent for r in rows] == ["generate", "generate"]
    assert rows[0].feedback[0].rating == -1 and again.journal.engine.dialect.name == "postgresql"
    assert not (tmp_path / "elsewhere" / "journal.sqlite").exists()
