"""Brains over the real sandbox and the shared real knowledge base, with scripted models."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def searcher(knowledge):
    from retrieval.search import Searcher

    settings, _pages, _docs = knowledge
    s = Searcher(settings)
    s.warm_up()
    return s


@pytest.fixture
def make_brain(tmp_path, request):
    """make_brain(instruct=, code=, judge=, retrieval=True, **graph settings) -> Brain."""
    from graph.service import Brain
    from graph.settings import GraphSettings
    from sandbox.settings import SandboxSettings

    brains = []

    def make(instruct=None, code=None, judge=None, retrieval=True, data_dir=None, **overrides):
        root = data_dir or tmp_path / "brain"
        settings = GraphSettings(_env_file=None, data_dir=root, **overrides)
        sandbox = SandboxSettings(_env_file=None, data_dir=root, pictures=False)
        searcher = request.getfixturevalue("searcher") if retrieval else False
        brain = Brain(
            settings,
            sandbox=sandbox,
            models={"instruct": instruct, "code": code, "judge": judge},
            searcher=searcher,
        )
        brains.append(brain)
        return brain

    yield make
    for b in brains:
        b.close()
