"""The scripted OpenAI-compatible endpoint the eval tests talk to, with every model role pointing at it."""

from __future__ import annotations

import pytest

from tests.graph.openai_server import ScriptedOpenAI


@pytest.fixture
def serve(monkeypatch):
    """serve(responder, api_key=None) -> a started ScriptedOpenAI. The instruct settings point at it (every
    role borrows them) without client retries, so a scripted 500 fails the call at once."""
    servers: list[ScriptedOpenAI] = []

    def start(responder, api_key: str | None = None) -> ScriptedOpenAI:
        server = ScriptedOpenAI(responder, api_key=api_key).start()
        servers.append(server)
        monkeypatch.setenv("MDBOT_LLM_INSTRUCT_BASE_URL", server.base_url)
        if api_key:
            monkeypatch.setenv("MDBOT_LLM_INSTRUCT_API_KEY", api_key)
        monkeypatch.setenv("MDBOT_LLM_INSTRUCT_MAX_RETRIES", "0")
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def roles():
    """(model, judge): ChatOpenAI clients built from the settings, as the command line builds them."""
    from mdbot.graph.models import chat_model

    return lambda: (chat_model("instruct", env_file=None), chat_model("judge", env_file=None))
