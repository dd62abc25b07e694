"""The console and the smaller command-line contracts of issue 16: one paste is one message in a terminal
(driven through a pseudo-terminal), ``--strict`` exits 3, ``doctor`` against endpoints that answer and
that do not, ``.env`` discovery, and the messages a newcomer meets."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdbot.cli import app
from tests.conftest import requires_bwrap
from tests.graph.openai_server import Script, ScriptedOpenAI

MDBOT = Path(sys.executable).with_name("mdbot")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
HANG_GUARD_S = 3600  # a hang guard only: a loaded machine must not decide a test
SCRIPT = (
    "units lj\natom_style atomic\nlattice fcc 0.8442\nregion box block 0 3 0 3 0 3\ncreate_box 1 box\n"
    "create_atoms 1 box\nmass 1 1.0\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\n"
    "fix 1 all nve\nthermo 10\nrun 20\n"
)


@pytest.fixture
def cli_env(data_dir, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("MDBOT_LLM_", "MDBOT_SLACK_"))] + ["MDBOT_ENV_FILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MDBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MDBOT_PICTURES", "false")
    return dict(os.environ)


class Terminal:
    """``mdbot chat`` on a pseudo-terminal: what a user at a terminal types and pastes."""

    def __init__(self, cwd: Path, env: dict):
        self.master, slave = pty.openpty()
        env = {**env, "TERM": "xterm", "COLUMNS": "200", "LINES": "50", "PROMPT_TOOLKIT_NO_CPR": "1"}
        self.proc = subprocess.Popen(
            [str(MDBOT), "chat"], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True
        )
        os.close(slave)
        self.seen = ""

    def until(self, pattern: str, after: int = 0) -> str:
        deadline = time.monotonic() + HANG_GUARD_S
        while not re.search(pattern, self.seen[after:]):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.seen[-2000:]
            ready, _, _ = select.select([self.master], [], [], 1.0)
            if ready:
                try:
                    self.seen += ANSI.sub("", os.read(self.master, 65536).decode(errors="replace"))
                except OSError:  # the child closed the terminal
                    break
        return self.seen

    def send(self, data: bytes) -> int:
        start = len(self.seen)
        os.write(self.master, data)
        return start

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=HANG_GUARD_S)
        os.close(self.master)


@requires_bwrap
def test_a_pasted_script_without_fences_is_one_message_in_a_terminal(cli_env, tmp_path):
    term = Terminal(tmp_path, cli_env)
    try:
        term.until("you ›")
        # a sentence typed, then the script pasted (bracketed paste, no fences), then Enter
        paste = b"\x1b[200~" + SCRIPT.encode().replace(b"\n", b"\r") + b"\x1b[201~"
        start = term.send(b"please run this: " + paste + b"\r")
        out = term.until(r"intent \w+ · \w+.*\n(.|\n)*you ›", start)[start:]
        assert out.count("intent run · success") == 1, out
        assert "intent qa" not in out and "Your script runs" in out
        # a sentence typed, then a fenced script pasted: one message too, not the sentence alone
        fenced = b"\x1b[200~" + f"```\n{SCRIPT}```".encode().replace(b"\n", b"\r") + b"\x1b[201~"
        start = term.send(b"and this one: " + fenced + b"\r")
        out = term.until(r"intent \w+ · \w+.*\n(.|\n)*you ›", start)[start:]
        assert out.count("intent run · success") == 1 and "intent qa" not in out, out
        start = term.send(b"/attach\r")
        assert "usage: /attach FILE" in term.until("usage: /attach", start)
        term.send(b"/quit\r")
        assert term.proc.wait(timeout=HANG_GUARD_S) == 0
    finally:
        term.close()


@requires_bwrap
def test_good_then_bad_says_that_it_replaced_the_rating(cli_env, tmp_path):
    proc = subprocess.run(
        [str(MDBOT), "chat"],
        input=f"```\n{SCRIPT}```\n/good works\n/bad no it does not\n/attach\n/quit\n",
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 0, proc.stderr
    assert "replaces your earlier 👍 /good of this answer" in proc.stdout
    assert "usage: /attach FILE" in proc.stdout
    from mdbot.graph.journal import Journal

    journal = Journal(f"sqlite:///{Path(cli_env['MDBOT_DATA_DIR']) / 'journal.sqlite'}")
    try:
        (turn,) = journal.turns()
        assert [f.rating for f in turn.feedback] == [-1]  # the second rating replaced the first
    finally:
        journal.close()


# ----------------------------------------------------------------------------------------------- --strict
@requires_bwrap
@pytest.mark.parametrize(
    ("command", "script", "code"),
    [
        ("run", SCRIPT, 0),
        ("run", "units lj\nfix 1 all nvx\n", 3),
        ("check", "units lj\natom_style atomic\npair_styl lj/cut 2.5\n", 3),
        ("run", "units lj\nshell cat /etc/passwd\n", 3),  # rejected by the policy
    ],
)
def test_strict_exits_three_when_the_script_failed(cli_env, tmp_path, command, script, code):
    path = tmp_path / "in.test"
    path.write_text(script)
    strict = CliRunner().invoke(app, [command, str(path), "--strict", "--json"])
    assert strict.exit_code == code, strict.output
    json.loads(strict.stdout)  # still exactly one document
    assert CliRunner().invoke(app, [command, str(path), "--json"]).exit_code == 0  # without it: 0


@requires_bwrap
def test_a_failed_or_refused_run_never_says_health_ok(cli_env, tmp_path):
    for script, word in (("units lj\nfix 1 all nvx\n", "broken"), ("units lj\nshell ls\n", "not run")):
        path = tmp_path / "in.test"
        path.write_text(script)
        for command in ("run", "check"):
            out = CliRunner().invoke(app, [command, str(path)]).stdout
            assert "health: ok" not in out and f"health: {word}" in out, out


def test_small_messages(cli_env, tmp_path):
    result = CliRunner().invoke(app, ["example", "foo"])
    assert result.exit_code == 2 and "available: " in result.stderr and "lj" in result.stderr
    result = CliRunner().invoke(app, ["run", "units lj"])
    assert result.exit_code == 2 and "expect the path of an input script file" in result.stderr


# ------------------------------------------------------------------------------------------------ doctor
def test_doctor_against_an_endpoint_that_answers_and_one_that_does_not(cli_env, tmp_path, monkeypatch):
    with ScriptedOpenAI(Script(), api_key="sk-secret-instruct") as server:
        monkeypatch.setenv("MDBOT_LLM_INSTRUCT_BASE_URL", server.base_url)
        monkeypatch.setenv("MDBOT_LLM_INSTRUCT_MODEL", "md-instruct")
        monkeypatch.setenv("MDBOT_LLM_INSTRUCT_API_KEY", "sk-secret-instruct")
        monkeypatch.setenv("MDBOT_LLM_CODE_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
        monkeypatch.setenv("MDBOT_SLACK_BOT_TOKEN", "xoxb-not-a-real-token")
        monkeypatch.setenv("MDBOT_SLACK_API_URL", "http://127.0.0.1:9/api/")
        result = CliRunner().invoke(app, ["doctor", "--json"])
        human = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1  # something configured does not answer
    doc = json.loads(result.stdout)
    roles = {m["role"]: m for m in doc["models"]}
    assert roles["instruct"]["reachable"] is True and roles["instruct"]["status"] == "ok"
    assert "md-instruct" in roles["instruct"]["served"]
    assert roles["code"]["reachable"] is False and "unreachable" in roles["code"]["status"]
    assert roles["judge"]["borrowed_from"] == "instruct" and roles["judge"]["reachable"] is True
    assert doc["failing"] == ["code", "slack"] and doc["slack"]["bot_token"] != "valid"
    assert doc["sandbox"]["lammps"] and doc["journal"]["status"] == "ok"
    assert doc["knowledge"]["passages"] == 0 and "mdbot ingest" in doc["knowledge"]["status"]
    for text in (result.stdout, human.stdout):
        assert "sk-secret-instruct" not in text and "xoxb-not-a-real-token" not in text
    assert "FAIL code" in human.stdout and "ok   instruct" in human.stdout


def test_doctor_finds_the_env_file(cli_env, tmp_path, monkeypatch):
    """./.env first; without it MDBOT_ENV_FILE when set, else <data dir>/.env; the doctor names the file in
    use, how it was found, and every other candidate that exists but is shadowed."""
    for name in ("MDBOT_LLM_INSTRUCT_BASE_URL", "MDBOT_LLM_INSTRUCT_MODEL"):
        monkeypatch.setenv(name, "")  # registered with monkeypatch: what the files load is undone after the test
        monkeypatch.delenv(name)
    data = Path(cli_env["MDBOT_DATA_DIR"])
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    def doctor() -> dict:
        for name in ("MDBOT_LLM_INSTRUCT_BASE_URL", "MDBOT_LLM_INSTRUCT_MODEL"):
            monkeypatch.delenv(name, raising=False)  # each run loads its file afresh
        return json.loads(CliRunner().invoke(app, ["doctor", "--json"]).stdout)

    (data / ".env").write_text("MDBOT_LLM_INSTRUCT_BASE_URL=http://127.0.0.1:9/v1\n")
    doc = doctor()  # only the data directory's
    assert doc["env_file"] == str((data / ".env").resolve()) and doc["env_file_found_by"] == "data directory"
    assert doc["models"][0]["url"] == "http://127.0.0.1:9/v1" and doc["env_shadowed"] == []

    named = tmp_path / "lab.env"
    named.write_text("MDBOT_LLM_INSTRUCT_MODEL=from-named-file\n")
    monkeypatch.setenv("MDBOT_ENV_FILE", str(named))
    doc = doctor()  # the named file before the data directory's
    assert doc["env_file"] == str(named.resolve()) and doc["env_file_found_by"] == "MDBOT_ENV_FILE"
    assert doc["models"][0]["model"] == "from-named-file" and doc["models"][0]["url"] is None
    assert doc["env_shadowed"] == [{"found_by": "data directory", "path": str((data / ".env").resolve())}]

    (here / ".env").write_text("MDBOT_LLM_INSTRUCT_MODEL=from-current-directory\n")
    doc = doctor()  # ./.env before both
    assert doc["env_file"] == str((here / ".env").resolve()) and doc["env_file_found_by"] == "current directory"
    assert doc["models"][0]["model"] == "from-current-directory"
    assert [s["found_by"] for s in doc["env_shadowed"]] == ["MDBOT_ENV_FILE", "data directory"]
    for name in ("MDBOT_LLM_INSTRUCT_BASE_URL", "MDBOT_LLM_INSTRUCT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    human = CliRunner().invoke(app, ["doctor"]).stdout
    assert f"{(here / '.env').resolve()} (current directory)" in human
    assert f"{named.resolve()} (MDBOT_ENV_FILE) exists but is not read" in human

    (here / ".env").unlink()
    named.unlink()
    doc = doctor()  # a named file that is missing is a problem, not a silent fallback
    assert doc["env_file"] is None and "MDBOT_ENV_FILE names" in doc["env_file_problem"] and not doc["ok"]
