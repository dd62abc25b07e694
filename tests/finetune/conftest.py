"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest

from tests.conftest import built_once

# Shorter than the cpu-smoke profile's 512-token sequences and 48-token completions, for every training test:
# forward, backward and sampling cost scale with the tokens, and two steps are about the machinery, not what
# the model learns.
SHORT_RUN = {"max_length": 128, "max_completion_length": 16}


def _prepare_smoke_model(root) -> None:
    from mdbot.finetune.models import smoke_model

    smoke_model(root / "models")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """mdbot's data directory with the smoke model prepared once per test run for all training tests, whichever
    pytest-xdist worker runs them (test_train and test_pipeline both use it). The data directory is this
    worker's own; its ``models`` is the run's shared, read-only preparation."""
    pytest.importorskip("trl")
    shared = built_once(tmp_path_factory, "smoke-model", _prepare_smoke_model)
    root = tmp_path_factory.mktemp("ft-data")
    (root / "models").symlink_to(shared / "models", target_is_directory=True)
    return root
