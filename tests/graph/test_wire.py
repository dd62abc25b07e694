"""End to end through the real wire path: env settings → ChatOpenAI → HTTP → a scripted local server.

The fake chat models of the graph tests never exercise what breaks in production: the settings that build
the clients, the Bearer key, streaming with usage, ``response_format`` JSON schemas, and the HTTP errors a
real endpoint sends. Here the models are real ``ChatOpenAI`` clients talking to tests/graph/openai_server.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.service import Brain
from graph.settings import GraphSettings
from sandbox.settings import SandboxSettings
from tests.conftest import requires_bwrap
from tests.graph.openai_server import Script, ScriptedOpenAI, last_user_message, system_prompt

KEY = "sk-test-wire-0123456789"
TASK = "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT"

GOOD = """\
# LJ liquid at T* = 1.5 in NVT (Nose-Hoover), 500 atoms
units lj
atom_style atomic
variable T equal 1.5
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create ${T} 4928459 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
neigh_modify every 1 delay 0 check yes
timestep 0.005
fix 1 all nvt temp ${T} ${T} 0.5
thermo_style custom step temp pe ke etotal press
thermo 50
run 500
"""
# A style a model might invent: no installed pair style is close enough for the deterministic repair
# (graph/repair.py fix_style), so the fix has to come from the code model.
BROKEN = GOOD.replace("pair_style lj/cut 2.5", "pair_style lennard/jones 2.5")
MODEL_ENV = ("BASE_URL", "MODEL", "API_KEY", "TEMPERATURE", "MAX_TOKENS", "TIMEOUT_S", "MAX_RETRIES")


def _point_models_at(monkeypatch: pytest.MonkeyPatch, base_url: str, key: str) -> dict[str, str]:
    """MDBOT_LLM_* for instruct and code (the judge borrows instruct's), nothing else from outside."""
    for role in ("INSTRUCT", "CODE", "JUDGE"):
        for name in MODEL_ENV:
            monkeypatch.delenv(f"MDBOT_LLM_{role}_{name}", raising=False)
    env = {
        "MDBOT_LLM_INSTRUCT_BASE_URL": base_url,
        "MDBOT_LLM_INSTRUCT_MODEL": "md-instruct",
        "MDBOT_LLM_INSTRUCT_API_KEY": key,
        "MDBOT_LLM_CODE_BASE_URL": base_url,
        "MDBOT_LLM_CODE_MODEL": "md-code",
        "MDBOT_LLM_CODE_API_KEY": key,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _brain(data_dir: Path) -> Brain:
    """The service as the CLI builds it, models from the environment, no knowledge base."""
    return Brain(
        GraphSettings(_env_file=None, data_dir=data_dir),
        sandbox=SandboxSettings(_env_file=None, data_dir=data_dir, pictures=True),
        searcher=False,
    )


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The model settings read ``.env`` from the working directory: keep a developer's out of the test."""
    monkeypatch.chdir(tmp_path)


def _check_success(turn: dict) -> None:
    assert turn["intent"] == "generate", turn["route_reason"]
    assert turn["outcome"] == "success", turn["answer"]
    assert [a["origin"] for a in turn["attempts"]] == ["model", "repair:model"]
    first, second = turn["attempts"]
    assert first["check"] == "error" and "lennard/jones" in first["error"]["message"]
    assert second["check"] == "ok" and second["run"] == "ok" and second["success"]
    assert "pair_style lj/cut" in turn["script"] and "lennard/jones" not in turn["script"]
    result = turn["result"]
    assert result["status"] == "ok" and result["final_step"] == 500
    rows = result["thermo"][0]["rows"]
    assert result["thermo"][0]["columns"][:2] == ["Step", "Temp"] and len(rows) == 11
    assert abs(rows[-1][1] - 1.5) < 0.3  # the thermostat holds T* near 1.5
    pictures = {Path(p).name: Path(p) for p in turn["pictures"]}
    assert set(pictures) == {"thermo.png", "snapshot.jpg"}
    for path in pictures.values():
        assert path.is_file() and path.stat().st_size > 1000


@requires_bwrap
def test_generate_repair_run_over_http(monkeypatch, isolated, data_dir):
    script = Script(route="generate", scripts=[BROKEN, GOOD])
    with ScriptedOpenAI(script, api_key=KEY) as server:
        _point_models_at(monkeypatch, server.base_url, KEY)
        brain = _brain(data_dir)
        try:
            assert brain.model_ids() == {
                "instruct": f"md-instruct@{server.base_url}",
                "code": f"md-code@{server.base_url}",
                "judge": f"md-instruct@{server.base_url}",
            }
            events: list[dict] = []
            turn = brain.ask(TASK, on_progress=events.append).to_dict()
        finally:
            brain.close()
        requests = server.requests

    _check_success(turn)
    assert turn["turn_id"]  # journaled
    assert turn["model_calls"] == 4  # route, write, repair, judge
    assert server.rejected == 0  # every request carried the right Bearer key
    assert script.served == 2
    # Structured output asked by JSON schema (router and judge), text generated by streaming with usage.
    assert server.schemas == ["RouteDecision", "JudgeVerdict"]
    streamed = [r for r in requests if r.get("stream")]
    assert len(streamed) == 2 and all(r["stream_options"] == {"include_usage": True} for r in streamed)
    assert all(r["model"] == "md-code" and "LAMMPS input scripts" in system_prompt(r) for r in streamed)
    assert {r["model"] for r in requests if r.get("response_format")} == {"md-instruct"}
    # The repair request carries the sandbox's diagnosis and the failing script.
    repair = last_user_message(streamed[1])
    assert "Unrecognized pair style 'lennard/jones'" in repair and "pair_style lennard/jones" in repair
    judge = next(
        r
        for r in requests
        if (r.get("response_format") or {}).get("type") == "json_schema"
        and r["response_format"]["json_schema"]["name"] == "JudgeVerdict"
    )
    assert "pair_style lj/cut" in last_user_message(judge)  # the judge grades the script that ran
    assert [e["stage"] for e in events if e["stage"] in ("checking", "repairing", "running")] == [
        "checking",
        "repairing",
        "checking",
        "running",
    ]


def test_wrong_key_gives_an_answer_not_an_exception(monkeypatch, isolated, data_dir):
    with ScriptedOpenAI(Script(route="qa"), api_key=KEY) as server:
        _point_models_at(monkeypatch, server.base_url, "sk-wrong-key-9876543210")
        brain = _brain(data_dir)
        try:
            turn = brain.ask("what does the Tdamp parameter of fix nvt mean?")
        finally:
            brain.close()
        assert server.requests == []  # nothing got past the key check
        assert server.rejected == 2  # the router, then the answer (401 is not retried)

    assert turn.intent == "qa"  # the keyword rule after the router failed
    assert turn.outcome == "offline"
    assert "the model endpoint failed" in turn.answer and "401" in turn.answer
    assert "sk-wrong-key" not in turn.answer and KEY not in turn.answer


def test_models_endpoint_lists_the_served_names():
    import openai

    with ScriptedOpenAI(Script(), api_key=KEY, models=["md-instruct", "md-code"]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        assert [m.id for m in client.models.list()] == ["md-instruct", "md-code"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.base_url, api_key="nope", max_retries=0).models.list()


def test_a_responder_bug_in_structured_output_is_a_500():
    import openai

    with ScriptedOpenAI(lambda body: "not JSON") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        fmt = {"type": "json_schema", "json_schema": {"name": "RouteDecision", "schema": {"type": "object"}}}
        with pytest.raises(openai.InternalServerError, match="responder bug"):
            client.chat.completions.create(
                model="md-instruct", messages=[{"role": "user", "content": "hi"}], response_format=fmt
            )
        # Streaming: the content arrives in several chunks, then the finish reason, the usage and [DONE].
        chunks = list(
            client.chat.completions.create(
                model="md-instruct",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "not JSON" and len(pieces) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 2


@requires_bwrap
def test_mdbot_ask_json_over_http(monkeypatch, isolated, data_dir, tmp_path):
    mdbot = Path(sys.executable).with_name("mdbot")
    with ScriptedOpenAI(Script(route="generate", scripts=[BROKEN, GOOD]), api_key=KEY) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDBOT_")}
        env |= _point_models_at(monkeypatch, server.base_url, KEY)
        env |= {"MDBOT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        proc = subprocess.run(
            [str(mdbot), "ask", TASK, "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert server.rejected == 0
    assert proc.returncode == 0, proc.stderr[-3000:]
    turn = json.loads(proc.stdout)  # exactly one JSON document on stdout
    _check_success(turn)
    assert Path(turn["pictures"][0]).is_relative_to(data_dir)
