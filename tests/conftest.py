"""Shared fixtures: real sandbox settings in a throw-away data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# A check's wall-clock limit (30 s by default) guards our own work and is never what a test is about: on a
# slow, loaded machine it must not decide the result (a check that timed out made a turn "stuck"). Through
# the environment it reaches every SandboxSettings a test builds, in subprocesses too. Tests about time
# limits pass their own timeout= to run() or check().
os.environ.setdefault("MDBOT_CHECK_TIMEOUT_S", "600")
# Under `make test` there are two pytest workers per core: a worker's torch (and any OpenMP library) using every
# core as well only oversubscribes them, and OpenMP's spinning threads then burn the other workers' time.
# One thread each halved the CPU time of a CPT smoke step (81 s to 40 s) and more on a busy machine.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    # Below pytest's private (0700) base directory on purpose: mdbot must cope with that itself.
    d = tmp_path / "mdbot-data"
    d.mkdir()
    return d


@pytest.fixture
def settings(data_dir: Path):
    from mdbot.sandbox.settings import SandboxSettings

    return SandboxSettings(_env_file=None, data_dir=data_dir, pictures=False)


@pytest.fixture(scope="session")
def lammps():
    from mdbot.sandbox.install import find_lammps

    return find_lammps()


def bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if not exe:
        return False
    return subprocess.run([exe, "--unshare-all", "--ro-bind", "/", "/", "--", "/bin/true"]).returncode == 0


# In CI the sandbox must be there: a missing bubblewrap fails the hostile tests instead of skipping them.
requires_bwrap = pytest.mark.skipif(
    not bwrap_works() and os.environ.get("CI") != "true",
    reason="bubblewrap is not usable here (make setup installs it when run as root)",
)


# ------------------------------------------------------------------ a small real knowledge base

# The 2024 manual's reStructuredText sources (the default of `make run`); the 2020 HTML copy stays supported.
MANUAL = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "lammps-manual-2024"
MANUAL_2020 = MANUAL.parent / "lammps-manual-2020"
PAGES = """fix_nh fix_langevin fix_temp_berendsen fix_rigid fix_shake Howto_thermostat Howto_spc pair_eam pair_lj
compute_msd compute_rdf Howto_diffusion neighbor neigh_modify units velocity Errors_warnings fix_nvt_sllod
read_data fix_qeq_reaxff pair_reaxff thermo_modify fix_addforce kspace_style minimize run fix_deform variable
Howto_walls fix_wall""".split()

requires_manual = pytest.mark.skipif(not MANUAL.is_dir(), reason=f"manual corpus not found at {MANUAL}")


def make_lab_docs(root: Path) -> Path:
    docs = root / "lab-docs"
    docs.mkdir()
    (docs / "protocols.md").write_text(
        "# Lab protocols\n\n## Water equilibration\n\nWe always equilibrate the SPC/E water box for 200 ps "
        "in NPT at 300 K with SHAKE on the O-H bonds before production runs.\n\n## Naming\n\n"
        "Job directories are named after the project code, e.g. ZEBRA-17.\n"
    )
    (docs / "molecules.md").write_text(
        "# Our solvents\n\n| name | SMILES |\n|---|---|\n| ethylene carbonate | C1COC(=O)O1 |\n"
        "| dimethyl sulfoxide (DMSO) | CS(C)=O |\n"
    )
    (docs / "cluster.txt").write_text(
        "The group cluster 'kestrel' has 64 cores per node. Use at most 4 nodes for LAMMPS jobs.\n"
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["pdf.fonttype"] = 42
    fig = plt.figure()
    fig.text(0.05, 0.5, "Safety note: the Quokka potential is calibrated only below 900 K.")
    fig.savefig(docs / "quokka-note.pdf")
    plt.close(fig)
    return docs


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The directory ``name``, filled by ``build(directory)`` once per test run and shared by every
    pytest-xdist worker of the run (each has its own base temp directory below one the run shares). The first
    worker to ask builds it under a file lock; the others wait for the lock and use the result. A failed build
    leaves no completion mark, so the next worker tries again and reports its own error. Read-only by
    convention: a fixture that changes what it finds copies it first."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    target = base / f"built-once-{name}"
    with FileLock(f"{target}.lock"):
        if not (target / ".complete").is_file():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            (target / ".complete").touch()
    return target


def _build_knowledge(root: Path) -> None:
    """The knowledge base (the manual pages, the installed examples and potentials, the lab docs: about 1,000
    passages to embed), built once per run."""
    from mdbot.retrieval.ingest import ingest
    from mdbot.retrieval.settings import RetrievalSettings

    pages = root / "manual"
    pages.mkdir()
    for page in PAGES:
        source = next(f for f in (MANUAL / f"{page}.rst", MANUAL / f"{page}.html") if f.is_file())
        shutil.copy(source, pages / source.name)
    settings = RetrievalSettings(_env_file=None, data_dir=root / "data")
    report = ingest([pages], "manual", settings)
    assert not report.errors, report.errors
    report = ingest([make_lab_docs(root)], "docs", settings, include_installed=False)
    assert not report.errors, report.errors


@pytest.fixture(scope="session")
def knowledge(tmp_path_factory):
    """(settings, pages dir, docs dir) of an ingested knowledge base of this worker's own: a copy of the run's
    shared one, so tests may add to it. The pages and the lab docs are the run's, read-only: a test that edits
    a file ingests its own. (Each worker ingesting the lab docs itself cost it 11 CPU-s, mostly loading the
    embedding model, which searching alone does not need.)"""
    if not MANUAL.is_dir():
        pytest.skip(f"manual corpus not found at {MANUAL}")
    from mdbot.retrieval.settings import RetrievalSettings

    shared = built_once(tmp_path_factory, "knowledge", _build_knowledge)
    root = tmp_path_factory.mktemp("knowledge")
    shutil.copytree(shared / "data", root / "data")
    return RetrievalSettings(_env_file=None, data_dir=root / "data"), shared / "manual", shared / "lab-docs"


# ------------------------------------------------------------------ brains with scripted models
@pytest.fixture(scope="session")
def searcher(knowledge):
    from mdbot.retrieval.search import Searcher

    settings, _pages, _docs = knowledge
    s = Searcher(settings)
    s.warm_up()
    return s


@contextmanager
def _brain_maker(default_root: Path, request):
    """make(instruct=, code=, judge=, retrieval=True, pictures=False, **graph settings) -> Brain: the real
    sandbox and the shared knowledge base, with the given (scripted) models; the brains close after."""
    from mdbot.graph.service import Brain
    from mdbot.graph.settings import GraphSettings
    from mdbot.sandbox.settings import SandboxSettings

    brains = []

    def make(
        instruct=None, code=None, judge=None, retrieval=True, data_dir=None, pictures=False, **overrides
    ):
        root = data_dir or default_root
        settings = GraphSettings(_env_file=None, data_dir=root, **overrides)
        sandbox = SandboxSettings(_env_file=None, data_dir=root, pictures=pictures)
        searcher = request.getfixturevalue("searcher") if retrieval else False
        brain = Brain(
            settings,
            sandbox=sandbox,
            models={"instruct": instruct, "code": code, "judge": judge},
            searcher=searcher,
        )
        brains.append(brain)
        return brain

    try:
        yield make
    finally:
        for b in brains:
            b.close()


@pytest.fixture
def make_brain(tmp_path, request):
    """A brain factory for one test (see _brain_maker)."""
    with _brain_maker(tmp_path / "brain", request) as make:
        yield make


@pytest.fixture(scope="module")
def make_module_brain(tmp_path_factory, request):
    """A brain factory whose brains serve a whole module: for fixtures that fill a journal once and tests
    that only read it."""
    with _brain_maker(tmp_path_factory.mktemp("brain"), request) as make:
        yield make


# ------------------------------------------------------------------ order
# The modules that take longest go first, so that under `make test`'s workers (pytest-xdist, one module per
# worker at a time) they overlap the many short ones instead of starting last and running alone. A stable
# sort: every module's tests stay together and in their own order.
LONGEST_FIRST = (  # longest first, by the seconds each took under `make test` (2 cores, 4 workers, 3 Dec 2026)
    "tests/finetune/test_train.py",  # 108: CPT, SFT (and its resume) and GRPO on the smoke model
    "tests/bot/test_slack.py",  # 100: builds the shared knowledge base first
    "tests/cluster/test_timeout.py",  # 93: Slurm's one-minute minimum time limit, mostly waiting
    "tests/structures/test_build.py",  # 79
    "tests/cluster/test_cluster.py",  # 69
    "tests/finetune/test_pipeline.py",  # 68: export, then one step of each stage
    "tests/structures/test_pores.py",  # 47
    "tests/sandbox/test_hostile.py",  # 41
    "tests/structures/test_read.py",  # 33
    "tests/retrieval/test_search.py",  # 32
    "tests/structures/test_in_the_bot.py",  # 31
    "tests/graph/test_graph.py",  # 26
    "tests/cluster/test_slack.py",  # 24
    "tests/bot/test_command.py",  # 23
    "tests/bot/test_agent.py",  # 22
    "tests/test_console.py",  # 20
)


def pytest_configure(config):
    """Keep this order under pytest-xdist: its loadfile scheduler re-sorts modules by test count unless told not
    to (``--no-loadscope-reorder``), which put the longest modules last."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONGEST_FIRST)))
