"""The structure operations as the bot, the brain and the command line call them: info, pores, build.

``build`` makes the setup, then proves it like any script: ``mdbot.sandbox.check``, then a short sandboxed
run of the same input (a brief minimization and ``test_steps`` of dynamics). The document it returns is
the ``mdbot structure build --json`` contract (docs/architecture.md §4).
"""

from __future__ import annotations

from pathlib import Path

from . import build as builders
from .errors import StructureError
from .info import describe
from .read import Structure, read_structure
from .settings import StructureSettings


def info(path: Path, settings: StructureSettings | None = None) -> tuple[Structure, dict]:
    structure = read_structure(path, settings)
    return structure, describe(structure)


def make_setup(
    out: Path,
    request: builders.Request,
    *,
    path: Path | None = None,
    smiles: str | None = None,
    count: int | None = None,
    density: float | None = None,
    settings: StructureSettings | None = None,
    sandbox=None,
) -> builders.Setup:
    """Build (no run): from a structure file, or from SMILES for a molecular liquid."""
    from mdbot.sandbox.potentials import library_for
    from mdbot.sandbox.settings import SandboxSettings

    settings = settings or StructureSettings()
    request.check()
    out.mkdir(parents=True, exist_ok=True)
    if smiles:
        return builders.build_liquid(
            smiles, out, request, settings, count=count, density=density, sandbox=sandbox
        )
    if path is None:
        raise StructureError("give a structure file or --smiles")
    structure = read_structure(path, settings)
    atoms, name = structure.atoms, builders.safe_name(structure.name)
    if not atoms.pbc.all():
        raise StructureError(
            f"{structure.name} has no periodic cell: for a liquid of this molecule use --smiles, or give a crystal"
        )
    if structure.partial_occupancy:
        raise StructureError(
            "the structure has partial occupancies: choose one configuration before building"
        )
    if builders.classify(atoms) == "framework":
        return builders.build_framework(atoms, name, out, request, settings, sandbox)
    library = library_for(sandbox or SandboxSettings())
    return builders.build_crystal(atoms, name, out, request, library, settings)


def build_and_prove(out: Path, request: builders.Request, *, settings=None, sandbox=None, **source) -> dict:
    """The ``structure build`` document: the setup, its check, and a short test run in the sandbox."""
    from mdbot.sandbox import jobs

    settings = settings or StructureSettings()
    setup = make_setup(out, request, settings=settings, sandbox=sandbox, **source)
    check = jobs.check(setup.script, setup.files, settings=sandbox)
    doc = {**setup.to_dict(), "check": _doc(check), "run": None}
    if check.status == "ok":
        test = builders.test_script(setup, settings.test_steps)
        doc["run"] = _doc(jobs.run(test, setup.files, settings=sandbox, pictures_ok=False))
    return doc


def _doc(result) -> dict:
    return result.model_dump(mode="json")
