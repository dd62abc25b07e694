"""The run-time context of the graph: models, knowledge, sandbox settings. Not checkpointed.

Nodes receive it as ``runtime.context``. Tests build it with fake chat models; the service builds it from the
settings. Heavy parts (the searcher's embedding model, LAMMPS capabilities) load on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .settings import GraphSettings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from mdbot.retrieval.search import Searcher
    from mdbot.sandbox.install import Capabilities
    from mdbot.sandbox.potentials import PotentialLibrary
    from mdbot.sandbox.settings import SandboxSettings


@dataclass
class Context:
    settings: GraphSettings
    sandbox: SandboxSettings
    instruct: BaseChatModel | None = None
    code: BaseChatModel | None = None
    judge: BaseChatModel | None = None
    searcher: Searcher | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def offline(self) -> bool:
        return self.instruct is None and self.code is None

    def capabilities(self) -> Capabilities | None:
        """Styles of the installed LAMMPS (None if it cannot be asked: checks are then skipped)."""
        if "caps" not in self._cache:
            from mdbot.sandbox.install import LammpsNotFound, capabilities

            try:
                self._cache["caps"] = capabilities(self.sandbox.data_dir / "cache")
            except (LammpsNotFound, OSError):
                self._cache["caps"] = None
        return self._cache["caps"]

    def potentials(self) -> PotentialLibrary:
        if "library" not in self._cache:
            from mdbot.sandbox.potentials import library_for

            self._cache["library"] = library_for(self.sandbox)
        return self._cache["library"]

    def command_names(self) -> frozenset[str]:
        """Command styles of the installed LAMMPS (beyond the input parser's own), for spotting scripts."""
        caps = self.capabilities()
        return frozenset(caps.styles.get("command", [])) if caps else frozenset()

    def command_checker(self):
        """The checker of command and style names in answers, built once (its name sets are large)."""
        if "checker" not in self._cache:
            from .verify import CommandChecker

            caps = self.capabilities()
            self._cache["checker"] = CommandChecker(
                caps.styles if caps else None, self.manual_names(), caps.version if caps else ""
            )
        return self._cache["checker"]

    def manual_names(self) -> set[str]:
        """Command and style names the ingested manual documents ("fix nvt", "pair_style eam", …)."""
        if "names" not in self._cache:
            names: set[str] = set()
            if self.searcher is not None:
                try:
                    names = self.searcher.known_names()
                except Exception:  # noqa: BLE001 - an empty knowledge base has no names
                    names = set()
            self._cache["names"] = names
        return self._cache["names"]
