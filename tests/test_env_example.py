"""`.env.example` lists every setting of every package, so operators can discover them."""

from __future__ import annotations

import re
from pathlib import Path

from mdbot.bot.settings import SlackSettings
from mdbot.cluster.settings import ClusterSettings
from mdbot.graph.settings import ROLE_SETTINGS, GraphSettings
from mdbot.retrieval.settings import RetrievalSettings
from mdbot.sandbox.settings import SandboxSettings
from mdbot.structures.settings import StructureSettings

ROOT = Path(__file__).resolve().parents[1]


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*(MDBOT_[A-Z0-9_]+)=", text, re.M))


def test_every_setting_is_in_env_example():
    documented = _documented()
    for model in (SandboxSettings, RetrievalSettings, GraphSettings):
        for name in model.model_fields:
            assert f"MDBOT_{name.upper()}" in documented, f"MDBOT_{name.upper()} missing from .env.example"
    for name in SlackSettings.model_fields:
        assert f"MDBOT_SLACK_{name.upper()}" in documented, (
            f"MDBOT_SLACK_{name.upper()} missing from .env.example"
        )
    for name in StructureSettings.model_fields:
        assert f"MDBOT_STRUCTURE_{name.upper()}" in documented, f"MDBOT_STRUCTURE_{name.upper()} missing"
    for name in ClusterSettings.model_fields:
        assert f"MDBOT_CLUSTER_{name.upper()}" in documented, f"MDBOT_CLUSTER_{name.upper()} missing from .env.example"
    for role, model in ROLE_SETTINGS.items():
        prefix = model.model_config["env_prefix"]
        assert prefix == f"MDBOT_LLM_{role.upper()}_"
        for name in model.model_fields:
            assert f"{prefix}{name.upper()}" in documented, (
                f"{prefix}{name.upper()} missing from .env.example"
            )


def test_env_example_values_parse(monkeypatch):
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^(MDBOT_[A-Z0-9_]+)=(.*)$", line)
        if m:
            monkeypatch.setenv(m.group(1), m.group(2))
    settings = SandboxSettings(_env_file=None)
    assert settings.timeout_s == 600 and settings.potentials_dirs == []
    graph = GraphSettings(_env_file=None)
    assert graph.database_url in (None, "") and graph.attempt_budget == 3
    slack = SlackSettings(_env_file=None)
    assert slack.channels == [] and slack.runners == [] and slack.bot_token is None and slack.workers == 2
    assert slack.problems()  # the example alone does not start Slack: the tokens are commented out
    assert StructureSettings(_env_file=None).max_atoms == 200000
    cluster = ClusterSettings(_env_file=None)
    assert not cluster.enabled and cluster.env_lines == [] and cluster.accounts == {} and not cluster.problems()
