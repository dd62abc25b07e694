"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """mdbot's data directory with the smoke model prepared once per session for all training tests
    (test_train and test_pipeline both use it; defined here so it is one fixture, not one per module)."""
    pytest.importorskip("trl")
    from mdbot.finetune.models import smoke_model

    root = tmp_path_factory.mktemp("ft-data")
    smoke_model(root / "models")
    return root
