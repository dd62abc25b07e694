"""The same knowledge base on a Chroma server (MDBOT_CHROMA_URL), started locally on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mdbot.retrieval.ingest import ingest
from mdbot.retrieval.search import Searcher
from mdbot.retrieval.settings import RetrievalSettings

CHROMA = Path(sys.executable).with_name("chroma")


@pytest.fixture
def chroma_server(tmp_path):
    if not CHROMA.exists():
        pytest.skip("the chroma command is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "server")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a hang guard: a loaded machine starts it slowly
    while True:  # wait for the server's heartbeat (bounded), not a fixed sleep
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("chroma server did not start")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=600)


def test_ingest_and_search_against_a_chroma_server(chroma_server, tmp_path):
    docs = tmp_path / "notes"
    docs.mkdir()
    (docs / "shake.md").write_text(
        "# Rigid water\n\nUse fix shake on the O-H bonds and the H-O-H angle of SPC/E water.\n"
    )
    (docs / "cluster.md").write_text("# Cluster\n\nThe kestrel cluster has 64 cores per node.\n")
    settings = RetrievalSettings(_env_file=None, data_dir=tmp_path / "local", chroma_url=chroma_server)
    report = ingest([docs], "docs", settings, include_installed=False)
    assert report.added == 2 and not report.errors
    assert not (tmp_path / "local" / "knowledge" / "chroma").exists()  # nothing stored locally in server mode
    hits = Searcher(settings).search("keep water molecules rigid", 2)
    assert hits[0].doc_id == "docs/shake"
    # A second client (another host, say) sees the same collection.
    other = RetrievalSettings(_env_file=None, data_dir=tmp_path / "elsewhere", chroma_url=chroma_server)
    assert Searcher(other).search("cores per node", 1)[0].doc_id == "docs/cluster"
    shutil.rmtree(tmp_path / "elsewhere", ignore_errors=True)


def test_bad_chroma_url_is_a_clear_error(tmp_path):
    settings = RetrievalSettings(_env_file=None, data_dir=tmp_path, chroma_url="ftp://nowhere")
    with pytest.raises(ValueError, match="MDBOT_CHROMA_URL must look like"):
        Searcher(settings).search("anything")
