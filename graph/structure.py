"""The structure path: an attached structure (or a SMILES) is described, drawn, measured and, when asked, built.

No model is needed: ``mdbot.structures`` reads the file, spglib and Zeo++ measure it. "Set up a 300 K NVT
run of this" builds a setup whose script then goes down the same validate → execute → critique path as any
script, so the reply reports the run like every other (docs/architecture.md §11).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from langgraph.runtime import Runtime

from .configuration import Context
from .state import State

_BUILD = re.compile(r"\b(set ?up|run|simulat\w*|build|equilibrat\w*|nvt|npt|md|minimi[sz]e|relax)\b", re.I)
_PORES = re.compile(r"\b(pores?|porosity|lcd|pld|cavity|surface area|void|channels?)\b", re.I)
_TEMPERATURE = re.compile(r"(\d+(?:\.\d+)?)\s*K\b")
_PRESSURE = re.compile(r"(\d+(?:\.\d+)?)\s*(bar|atm|GPa)\b", re.I)
_STEPS = re.compile(r"(\d[\d,_]*)\s*(?:time)?steps\b", re.I)
# "with charges", "add partial charges", "equilibrate the charges", "QEq" (not "no charges")
_CHARGES = re.compile(r"\b(?:with|add|assign|compute|equilibrate)\b[^.]{0,30}\bcharges?\b|\bqeq\b", re.I)
_SMILES = re.compile(r"\bsmiles\b[\s:=]*`?([^\s`]+)`?", re.I)
_DENSITY = re.compile(r"(\d+(?:\.\d+)?)\s*g\s*/\s*cm(?:3|³|\^3)", re.I)
# "200 molecules", "30 ethylene carbonate molecules" (a name of up to four words between; not "500 steps")
_COUNT = re.compile(r"\b(\d+)\s+(?:(?!(?:time)?steps\b|K\b)[A-Za-z(][\w()\-]*\s+){0,4}molecules\b", re.I)
DEFAULT_STEPS = 5000


def attached_structure(state: State) -> str | None:
    from mdbot.structures.read import is_structure_name

    files = state.get("files", {})
    for name in state.get("attached", []):
        if name in files and is_structure_name(name):
            return name
    return None


def smiles_in(text: str) -> str | None:
    m = _SMILES.search(text)
    return m.group(1).rstrip(".,;") if m else None


# "build a box of 200 ethylene carbonate molecules", "simulate liquid DMSO": a request, not a question
_LIQUID = re.compile(r"\b(liquid|box of|mixture|molecules)\b", re.I)
_QUESTION = re.compile(r"^\s*(how|what|why|which|when|where|can|could|should|is|are|do|does)\b|\?", re.I)


def named_in_docs(text: str, searcher) -> tuple[str, str] | None:
    """(name, SMILES) of a molecule the message asks to simulate by a name the lab's docs give a SMILES for."""
    if searcher is None or not (_LIQUID.search(text) and _BUILD.search(text)) or _QUESTION.search(text):
        return None
    from mdbot.structures.molecules import find_in_message

    try:
        hits = searcher.search(text, 8, kinds={"docs"})
    except Exception:  # noqa: BLE001 - an empty or unreadable knowledge base: no name lookup, the usual routes
        return None
    return find_in_message(text, [h.text for h in hits])


def _request(text: str):
    from mdbot.structures.build import Request

    t, p, steps = _TEMPERATURE.search(text), _PRESSURE.search(text), _STEPS.search(text)
    pressure = None
    if p:
        pressure = float(p.group(1)) * {"bar": 1.0, "atm": 1.01325, "gpa": 10_000.0}[p.group(2).lower()]
    ensemble = (
        "npt"
        if re.search(r"\bnpt\b", text, re.I)
        or (pressure is not None and not re.search(r"\bnvt\b", text, re.I))
        else "nvt"
    )
    return Request(
        temperature=float(t.group(1)) if t else 300.0,
        pressure=pressure,
        ensemble=ensemble,
        steps=int(re.sub(r"[,_]", "", steps.group(1))) if steps else DEFAULT_STEPS,
        charges="qeq" if _CHARGES.search(text) else "none",
    )


def structure(state: State, runtime: Runtime[Context]) -> dict:
    """Describe the structure; build a setup when the message asks for a simulation."""
    from mdbot.structures.errors import StructureError

    ctx, text = runtime.context, state.get("request", "")
    name = attached_structure(state)
    work = (ctx.sandbox.data_dir / "structures" / uuid.uuid4().hex[:12]).resolve()
    runtime.stream_writer({"stage": "structure", "text": f"Reading {name or 'the molecule'}…"})
    try:
        work.mkdir(parents=True, exist_ok=True)
        preface, pictures = _describe(state, name, text, work) if name else ("", [])
        if not (_BUILD.search(text) or not name):
            return {"outcome": "answered", "answer": preface, "pictures": pictures}
        if not state.get("may_run", True):
            return {
                "outcome": "not_run",
                "answer": preface + "\n\nYou may not start simulations here.",
                "pictures": pictures,
            }
        runtime.stream_writer({"stage": "structure", "text": "Building the LAMMPS setup…"})
        planned = _plan_with_tools(state, ctx, text, work)
        built = (
            planned
            if planned and planned.get("script")
            else {**_build(state, name, text, work, ctx), **(planned or {})}
        )
        return {**built, "preface": preface, "pictures": pictures}
    except StructureError as exc:
        return {"outcome": "rejected", "answer": f"I could not use {name or 'that molecule'}: {exc}"}


def _describe(state: State, name: str, text: str, work: Path) -> tuple[str, list[str]]:
    from mdbot.structures.build import classify
    from mdbot.structures.errors import StructureError
    from mdbot.structures.info import summary_text
    from mdbot.structures.picture import draw
    from mdbot.structures.pores import is_porous, pore_geometry
    from mdbot.structures.service import info

    structure, doc = info(Path(state["files"][name]))
    lines = [summary_text(doc)]
    atoms = structure.atoms
    if atoms.pbc.all() and (_PORES.search(text) or classify(atoms) == "framework"):
        try:
            pores = pore_geometry(atoms, "fast")
            verdict = "porous" if is_porous(pores) else "no channel wide enough for a helium-sized probe"
            lines.append(
                f"pores (Zeo++, fast mode): LCD {pores['lcd']:.2f} Å, PLD {pores['pld']:.2f} Å, accessible surface "
                f"{pores['asa_m2_g']} m²/g, void fraction {pores['void_fraction']} ({verdict}); "
                "`mdbot structure pores --exact` gives CoRE-grade values"
            )
        except StructureError as exc:
            lines.append(f"pores: {exc}")
    picture = draw(atoms, work / f"{Path(name).stem}.png")
    return "\n".join(lines), [str(picture)] if picture else []


def _build(state: State, name: str | None, text: str, work: Path, ctx: Context) -> dict:
    from mdbot.structures.errors import StructureError
    from mdbot.structures.service import make_setup

    request, sandbox, named = _request(text), ctx.sandbox, None
    smiles = smiles_in(text)
    if not name and not smiles:
        named = named_in_docs(text, ctx.searcher)
        if named is None:
            raise StructureError(
                'give the molecule as SMILES ("SMILES CCO"), or add its SMILES to the lab\'s docs'
            )
        smiles = named[1]
    if name:
        setup = make_setup(work / "setup", request, path=Path(state["files"][name]), sandbox=sandbox)
    else:
        density, count = _DENSITY.search(text), _COUNT.search(text)
        setup = make_setup(
            work / "setup",
            request,
            smiles=smiles,
            density=float(density.group(1)) if density else (None if count else 0.8),
            count=int(count.group(1)) if count else None,
            sandbox=sandbox,
        )
    notes = [f"Built a {setup.kind} setup: {setup.natoms} atoms, {setup.force_field}."]
    if named:
        notes.append(f"{named[0]} is {named[1]} in the lab's docs.")
    notes += [f"⚠️ {w}" for w in setup.warnings]
    return {
        "script": setup.script.read_text(),
        "origin": "structure",
        "changes": [],
        "script_file": "",
        "files": {f.name: str(f) for f in setup.files},
        "build_notes": notes,
    }


def _plan_with_tools(state: State, ctx: Context, text: str, work: Path) -> dict | None:
    """With a code model: let it call the structure tools; the last setup it built (None: no model, an
    outage, or no build — the deterministic build then runs, keeping the model calls' accounting)."""
    import logging

    from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage

    from . import prompts
    from .calls import Calls
    from .structure_tools import MAX_ROUNDS, Toolbox

    calls = Calls(state, ctx)
    if not calls.has("code"):
        return None
    files = {n: p for n, p in state.get("files", {}).items() if n in state.get("attached", [])}
    box = Toolbox(files, work, ctx.sandbox)
    messages = [
        SystemMessage(prompts.STRUCTURE_TOOLS_SYSTEM.format(files=", ".join(files) or "none")),
        HumanMessage(text),
    ]
    try:
        for _ in range(MAX_ROUNDS):
            if not calls.has("code"):
                break
            reply = calls.with_tools("code", "structure tools", messages, box.tools())
            messages.append(reply)
            if not getattr(reply, "tool_calls", None):
                break
            for call in reply.tool_calls:
                messages.append(
                    ToolMessage(box.call(call["name"], call.get("args") or {}), tool_call_id=call["id"])
                )
    except Exception as exc:  # noqa: BLE001 - an unreachable or confused model falls back to the rules
        logging.getLogger(__name__).warning("structure tools: %s", exc)
    update: dict = calls.update()
    if box.setup is not None:
        notes = [
            f"Built a {box.setup.kind} setup with the code model's choices (tools: {', '.join(box.used)}): "
            f"{box.setup.natoms} atoms, {box.setup.force_field}."
        ] + [f"⚠️ {w}" for w in box.setup.warnings]
        update.update(
            script=box.setup.script.read_text(),
            origin="structure",
            changes=[],
            script_file="",
            files={f.name: str(f) for f in box.setup.files},
            build_notes=notes,
        )
    return update


def after_structure(state: State) -> str:
    return "validate" if state.get("origin") == "structure" and not state.get("outcome") else "respond"
