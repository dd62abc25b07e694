"""The retrieval tests use the shared knowledge base fixture of tests/conftest.py."""

from tests.conftest import MANUAL, MANUAL_2020, PAGES, make_lab_docs, requires_manual  # noqa: F401
