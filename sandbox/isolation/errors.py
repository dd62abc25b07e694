"""The one error of the isolation layer: the sandbox cannot be provided on this host."""

from __future__ import annotations


class SandboxUnavailable(RuntimeError):
    """Isolation was required but cannot be provided (no bubblewrap, no user namespaces, …)."""
