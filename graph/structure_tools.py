"""The structure operations as tools the code model can call: it chooses the steps and parameters, the tools
do the chemistry (ChemCRAFT's idea, with mdbot's exact tools).

Tools: ``read_structure``, ``pore_geometry``, ``find_potential``, ``build_setup`` and ``check_setup``; the
script of the last successful build then runs down the graph's usual validate → execute → critique path.
Every tool answers with a small JSON document, errors included, so a wrong choice is something the model can
read and correct; the loop ends after ``MAX_ROUNDS`` model calls or when the model stops calling tools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_ROUNDS = 6


class Toolbox:
    """The tools of one turn over the thread's files; remembers the last setup that was built."""

    def __init__(self, files: dict[str, str], work: Path, sandbox):
        self.files, self.work, self.sandbox = files, work, sandbox
        self.setup = None
        self.used: list[str] = []

    def _path(self, name: str) -> Path:
        if name not in self.files:
            raise ValueError(f"no attached file named {name!r}; attached: {', '.join(self.files) or 'none'}")
        return Path(self.files[name])

    def read_structure(self, name: str) -> dict:
        """Formula, atoms, cell, density, space group, shortest distance and warnings of an attached file."""
        from mdbot.structures.service import info

        return info(self._path(name))[1]

    def pore_geometry(self, name: str, exact: bool = False, probe: float = 1.2) -> dict:
        """LCD, PLD, accessible surface and void fraction (Zeo++); exact=True is slow and CoRE-grade."""
        from mdbot.structures.pores import pore_geometry
        from mdbot.structures.read import read_structure

        return pore_geometry(read_structure(self._path(name)).atoms, "exact" if exact else "fast", probe)

    def find_potential(self, elements: list[str]) -> dict:
        """The catalog potential that covers these elements (pair style, file), or the closest files."""
        from mdbot.sandbox.potentials import library_for
        from mdbot.structures.build import find_potential

        library = library_for(self.sandbox)
        found = find_potential(elements, library)
        if found:
            return {"pair_style": found[0], "file": found[1]}
        return {"pair_style": None, "closest": library.suggest("x", elements, n=5)}

    def build_setup(
        self,
        name: str | None = None,
        smiles: str | None = None,
        temperature: float = 300.0,
        ensemble: str = "nvt",
        pressure: float | None = None,
        steps: int = 5000,
        force_field: str | None = None,
        count: int | None = None,
        density: float | None = None,
        charges: str = "none",
    ) -> dict:
        """Build a data file, force field and input from an attached structure (name) or a SMILES liquid;
        charges "qeq" equilibrates partial charges (frameworks and liquids), "none" keeps them zero."""
        from mdbot.structures.build import Request
        from mdbot.structures.service import make_setup

        request = Request(temperature, pressure, ensemble, steps, force_field, charges)
        path = self._path(name) if name else None
        self.setup = make_setup(
            self.work / f"setup-{len(self.used)}",
            request,
            path=path,
            smiles=smiles,
            count=count,
            density=density,
            sandbox=self.sandbox,
        )
        return {k: v for k, v in self.setup.to_dict().items() if k != "provenance"}

    def check_setup(self) -> dict:
        """LAMMPS check (no dynamics) of the last built setup: status and the error, if any."""
        from mdbot.sandbox.jobs import check

        if self.setup is None:
            return {"status": "error", "message": "build_setup first"}
        result = check(self.setup.script, self.setup.files, settings=self.sandbox)
        return {"status": result.status, "error": result.error.model_dump() if result.error else None}

    def tools(self) -> list:
        from langchain_core.tools import StructuredTool

        names = ("read_structure", "pore_geometry", "find_potential", "build_setup", "check_setup")
        return [StructuredTool.from_function(getattr(self, n), name=n) for n in names]

    def call(self, name: str, args: dict[str, Any]) -> str:
        """Run one tool call; the answer (or the error) as JSON for the model."""
        from mdbot.structures.errors import StructureError

        self.used.append(name)
        try:
            if name not in {t.name for t in self.tools()}:
                raise ValueError(f"unknown tool {name}")
            out = getattr(self, name)(**args)
        except (StructureError, ValueError, TypeError) as exc:
            out = {"error": str(exc)}
        return json.dumps(out, default=str)[:6000]
