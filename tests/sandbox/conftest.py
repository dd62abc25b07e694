"""Sandbox test settings: wall-clock limits that only guard our own work are far beyond what it needs."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings(settings):
    # A check's own limit (30 s by default) is never the point of these tests; on a slow, loaded machine it
    # must not be what decides them. Tests about time limits pass their own timeout= to run().
    settings.check_timeout_s = 300.0
    return settings
