"""A small real knowledge base shared by the retrieval tests: 30 pages of the 2020 manual, a lab notes
folder (Markdown, text, PDF) and the installed LAMMPS potentials and benchmark inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MANUAL = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "lammps-manual-2020"
PAGES = """fix_nh fix_langevin fix_temp_berendsen fix_rigid fix_shake Howto_thermostat Howto_spc pair_eam pair_lj
compute_msd compute_rdf Howto_diffusion neighbor neigh_modify units velocity Errors_warnings fix_nvt_sllod
read_data fix_qeq_reax pair_reaxc thermo_modify fix_addforce kspace_style minimize run fix_deform variable
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


@pytest.fixture(scope="session")
def knowledge(tmp_path_factory):
    """(settings, pages dir, docs dir) of an ingested knowledge base."""
    if not MANUAL.is_dir():
        pytest.skip(f"manual corpus not found at {MANUAL}")
    from retrieval.ingest import ingest
    from retrieval.settings import RetrievalSettings

    root = tmp_path_factory.mktemp("knowledge")
    pages = root / "manual"
    pages.mkdir()
    for page in PAGES:
        shutil.copy(MANUAL / f"{page}.html", pages / f"{page}.html")
    docs = make_lab_docs(root)
    settings = RetrievalSettings(_env_file=None, data_dir=root / "data")
    report = ingest([pages], "manual", settings, include_installed=True)
    assert not report.errors, report.errors
    report = ingest([docs], "docs", settings, include_installed=False)
    assert not report.errors, report.errors
    return settings, pages, docs
