"""``mdbot structure …``: read a structure, compute its pores, build a LAMMPS setup (docs/architecture.md §11).

The same operations the bot runs on an attached structure, each with ``--json`` printing one document.
Exit status as for the other commands: 0 done, 2 bad usage or a file that cannot be used, 1 internal failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .output import fail as _fail

app = typer.Typer(
    help="Structures: summary and picture, pore geometry (Zeo++), and LAMMPS setups that run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@app.command()
def info(
    file: Annotated[
        Path, typer.Argument(help="CIF, POSCAR/CONTCAR, xyz/extxyz, PDB, mol/SDF or LAMMPS data file.")
    ],
    picture: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional here
        typer.Option("--picture", help="Also draw the structure into this PNG file."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Formula, atoms, cell, volume, density, space group, shortest distance and warnings."""
    from mdbot.structures.errors import StructureError
    from mdbot.structures.info import summary_text
    from mdbot.structures.service import info as read_info

    try:
        structure, doc = read_info(file)
    except StructureError as exc:
        _fail(str(exc), 2, as_json)
    if picture:
        from mdbot.structures.picture import draw

        doc["picture"] = str(draw(structure.atoms, picture) or "") or None
    print(json.dumps(doc, indent=2) if as_json else summary_text(doc).replace("*", ""))


@app.command()
def pores(
    file: Annotated[Path, typer.Argument(help="A periodic structure (CIF, POSCAR, …).")],
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Zeo++'s DEF high-accuracy setting, as published CoRE values (slow)."),
    ] = False,
    probe: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--probe", help="Probe radius for surface area and volume (Å; default 1.2)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Largest cavity (LCD) and pore limiting (PLD) diameters, accessible surface area and void fraction."""
    from mdbot.structures.errors import StructureError
    from mdbot.structures.pores import pore_geometry
    from mdbot.structures.read import read_structure

    try:
        doc = pore_geometry(read_structure(file).atoms, "exact" if exact else "fast", probe)
    except StructureError as exc:
        _fail(str(exc), 2, as_json)
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    print(f"LCD {doc['lcd']:.3f} Å   PLD {doc['pld']:.3f} Å   (largest free sphere path {doc['lfpd']:.3f} Å)")
    print(
        f"accessible surface {doc['asa']} Å² ({doc['asa_m2_g']} m²/g), void fraction {doc['void_fraction']}, "
        f"probe {doc['probe']} Å"
    )
    print(f"settings: {doc['settings']['mode']} (Zeo++ {doc['settings']['zeo_accuracy']})")


def _smiles_from_docs(name: str, as_json: bool) -> str:
    """The SMILES the knowledge base's lab documents give ``name`` (ingested with ``mdbot ingest --kind docs``)."""
    from mdbot.retrieval.search import EmptyKnowledgeBase, Searcher
    from mdbot.retrieval.settings import RetrievalSettings
    from mdbot.structures.molecules import find_in_message

    try:
        hits = Searcher(RetrievalSettings()).search(name, 8, kinds={"docs"})
    except EmptyKnowledgeBase as exc:
        _fail(f"--molecule looks the name up in the lab's docs, and {exc}", 2, as_json)
    found = find_in_message(name, [h.text for h in hits])
    if found is None:
        _fail(
            f"no SMILES for '{name}' in the lab's docs: give --smiles, or add a line 'name: SMILES' to them",
            2,
            as_json,
        )
    return found[1]


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Directory for the script and every file it reads.")],
    file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="A crystal or framework structure file (or use --smiles)."),
    ] = None,
    smiles: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--smiles", help="A molecule for a molecular liquid, packed with packmol."),
    ] = None,
    molecule: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--molecule", help="A molecule by the name the lab's docs give its SMILES under."),
    ] = None,
    count: Annotated[Optional[int], typer.Option("--count", help="Molecules in the box.")] = None,  # noqa: UP045
    density: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--density", help="Target density (g/cm³)."),
    ] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Temperature (K).")] = 300.0,
    pressure: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--pressure", help="Pressure (bar) for NPT; default 1 bar."),
    ] = None,
    ensemble: Annotated[str, typer.Option("--ensemble", help="nvt or npt.")] = "nvt",
    steps: Annotated[
        int, typer.Option("--steps", help="Steps of the production run in the script.")
    ] = 10_000,
    force_field: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--force-field", help="For frameworks: UFF4MOF (default), UFF or Dreiding."),
    ] = None,
    charges: Annotated[
        str,
        typer.Option("--charges", help="none (lammps-interface's zero charges) or qeq (QEq in LAMMPS)."),
    ] = "none",
    as_json: JsonOpt = False,
) -> None:
    """Build a data file, a force field and an input; check it and run it briefly in the sandbox."""
    from mdbot.sandbox.jobs import JobInputError, LammpsNotFound
    from mdbot.structures.build import Request
    from mdbot.structures.errors import StructureError
    from mdbot.structures.service import build_and_prove

    if molecule and not smiles:
        smiles = _smiles_from_docs(molecule, as_json)
    if (file is None) == (smiles is None):
        _fail("give either a structure FILE, --smiles or --molecule", 2, as_json)
    if smiles and count is None and density is None:
        _fail("with --smiles give --count N or --density D", 2, as_json)
    request = Request(temperature, pressure, ensemble.lower(), steps, force_field, charges.lower())
    try:
        doc = build_and_prove(out, request, path=file, smiles=smiles, count=count, density=density)
    except StructureError as exc:
        _fail(str(exc), 2, as_json)
    except (JobInputError, LammpsNotFound) as exc:
        _fail(str(exc), 1, as_json)
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    print(f"{doc['kind']}: {doc['natoms']} atoms, {doc['force_field']}")
    print(f"script: {doc['script']}")
    for f in doc["files"]:
        print(f"file:   {f}")
    for w in doc["warnings"]:
        print(f"warning: {w}")
    check = doc["check"]
    print(f"check: {check['status']}" + (f" ({check['error']['message']})" if check.get("error") else ""))
    if doc["run"]:
        run = doc["run"]
        health = "healthy" if run["health"]["ok"] else "; ".join(run["health"]["issues"])
        print(f"test run: {run['status']}, {run['final_step']} steps, {health}")
    files = " ".join(f"--file {f}" for f in doc["files"])
    print(f"run it: mdbot run {doc['script']} {files}")
