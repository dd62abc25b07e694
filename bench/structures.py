"""Structures: pore geometry against published CoRE MOF 2019 values, and build → first run success.

    .venv/bin/python bench/structures.py [--mofs 20] [--seed 0] [--max-kb 40] [--json]

Pores: ``--mofs`` CoRE MOF 2019 (ASR) entries drawn with a fixed seed among those whose CIF is under
``--max-kb`` KB (the exact mode's time grows quickly with the atom count) and whose published PLD is at least
2.5 Å; for each accuracy setting, the mean absolute error of LCD and PLD against the published values and
the time per structure. The anchor is L2M3OF, which predicts them with a multimodal LLM at 0.55 / 0.53 Å MAE.
Builds: metals and covalent crystals, MOFs (UFF4MOF) and molecular liquids (SMILES): the share whose built
input passes ``check`` and runs its short test in the sandbox with a healthy result.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIQUIDS = ["O", "CO", "CCO", "CC(C)=O", "c1ccccc1", "CCCCCC", "ClC(Cl)Cl", "CS(C)=O"]
METALS = [
    ("Cu", "fcc", 3.615),
    ("Ni", "fcc", 3.52),
    ("Al", "fcc", 4.05),
    ("Fe", "bcc", 2.87),
    ("W", "bcc", 3.165),
]


def pick(n: int, seed: int, max_kb: float) -> list[str]:
    from importlib import resources

    import CoRE_MOF.data as data

    from mdbot.structures.reference import DATASET, table

    rows = table()
    small = []
    with tarfile.open(resources.files(data) / f"{DATASET}.tar.xz") as tar:
        for m in tar:
            name = m.name.rsplit("/", 1)[-1].removesuffix(".cif")
            if (
                m.isfile()
                and name in rows
                and m.size < max_kb * 1024
                and float(rows[name]["PLD"] or 0) >= 2.5
            ):
                small.append(name)
    return sorted(random.Random(seed).sample(sorted(small), n))


def pores(names: list[str], tmp: Path) -> dict:
    from mdbot.structures.pores import pore_geometry
    from mdbot.structures.read import read_structure
    from mdbot.structures.reference import extract, table

    rows, paths = table(), extract(names, tmp / "core")
    out = {}
    for mode in ("fast", "exact"):
        errors, times, failed = {"lcd": [], "pld": []}, [], []
        for name in names:
            atoms = read_structure(paths[name]).atoms
            start = time.perf_counter()
            try:
                doc = pore_geometry(atoms, mode)
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures, it does not stop on them
                failed.append(f"{name}: {exc}")
                continue
            times.append(time.perf_counter() - start)
            errors["lcd"].append(abs(doc["lcd"] - float(rows[name]["LCD"])))
            errors["pld"].append(abs(doc["pld"] - float(rows[name]["PLD"])))
            print(
                f"  {mode:5s} {name:40s} {len(atoms):5d} atoms  LCD {doc['lcd']:7.3f} ({rows[name]['LCD']:>8s})"
                f"  PLD {doc['pld']:7.3f} ({rows[name]['PLD']:>8s})  {times[-1]:6.1f} s",
                flush=True,
            )
        out[mode] = {
            "structures": len(times),
            "failed": failed,
            "lcd_mae": round(statistics.mean(errors["lcd"]), 4) if times else None,
            "pld_mae": round(statistics.mean(errors["pld"]), 4) if times else None,
            "lcd_max_error": round(max(errors["lcd"]), 4) if times else None,
            "seconds_median": round(statistics.median(times), 2) if times else None,
            "seconds_max": round(max(times), 2) if times else None,
        }
    return out


def _ok(doc: dict) -> bool:
    run = doc.get("run") or {}
    return (
        doc["check"]["status"] == "ok" and run.get("status") == "ok" and bool(run.get("health", {}).get("ok"))
    )


def builds(mofs: list[str], tmp: Path) -> dict:
    from ase.build import bulk
    from ase.io import write

    from mdbot.structures.build import Request
    from mdbot.structures.reference import extract
    from mdbot.structures.service import build_and_prove

    kinds: dict[str, list[tuple[str, bool, str]]] = {"crystal": [], "framework": [], "liquid": []}

    def attempt(kind: str, label: str, **source) -> None:
        start = time.perf_counter()
        try:
            doc = build_and_prove(tmp / "builds" / label, Request(), **source)
            ok, why = _ok(doc), "" if _ok(doc) else json.dumps(doc["run"] or doc["check"])[:200]
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            ok, why = False, str(exc)[:200]
        kinds[kind].append((label, ok, why))
        print(
            f"  build {kind:9s} {label:40s} {'ok' if ok else 'FAILED'} {time.perf_counter() - start:6.1f} s {why}",
            flush=True,
        )

    for symbol, lattice, a in METALS:
        path = tmp / f"{symbol}.cif"
        write(path, bulk(symbol, lattice, a=a, cubic=True))
        attempt("crystal", symbol, path=path)
    sic = Path(__import__("ase").__file__).parent / "test" / "testdata" / "minerals" / "cod_1010995.cif"
    if sic.is_file():
        attempt("crystal", "SiC (COD 1010995)", path=sic)
    with_h = extract(mofs, tmp / "mofs")
    for name, path in with_h.items():
        attempt("framework", name, path=path)
    for smiles in LIQUIDS:
        attempt("liquid", smiles, smiles=smiles, density=0.8)
    return {
        kind: {
            "attempted": len(r),
            "ran_healthy": sum(ok for _, ok, _ in r),
            "failed": [f"{n}: {w}" for n, ok, w in r if not ok],
        }
        for kind, r in kinds.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mofs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-kb", type=float, default=40.0)
    ap.add_argument("--builds", type=int, default=8, help="MOFs (with hydrogens) to build, from the pore set")
    ap.add_argument(
        "--only", choices=("pores", "builds"), help="run one half (the exact pores take the longest)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    names = pick(args.mofs, args.seed, args.max_kb)
    with tempfile.TemporaryDirectory(prefix="mdbot-bench-structures-") as tmp:
        from mdbot.structures.read import read_structure
        from mdbot.structures.reference import extract

        result = {"pores": pores(names, Path(tmp)) if args.only != "builds" else {}}
        core = extract(names, Path(tmp) / "core")
        hydrogenated = [n for n in names if "H" in read_structure(core[n]).atoms.get_chemical_symbols()]
        result["builds"] = builds(hydrogenated[: args.builds], Path(tmp)) if args.only != "pores" else {}
    result["anchor"] = {"L2M3OF_lcd_mae": 0.55, "L2M3OF_pld_mae": 0.53}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("\nmode   structures  LCD MAE  PLD MAE  LCD max err  s/structure (median, max)")
    for mode, r in result["pores"].items():
        print(
            f"{mode:6s} {r['structures']:10d}  {r['lcd_mae']:7.3f}  {r['pld_mae']:7.3f}  {r['lcd_max_error']:11.3f}"
            f"  {r['seconds_median']:.1f}, {r['seconds_max']:.1f}"
        )
    print("L2M3OF (predicted): LCD MAE 0.55 Å, PLD MAE 0.53 Å")
    for kind, r in result["builds"].items():
        print(f"build {kind:9s}: {r['ran_healthy']}/{r['attempted']} ran healthy  {'; '.join(r['failed'])}")


if __name__ == "__main__":
    main()
