"""Hostile scripts are contained — checked by evidence, not by trusting the policy.

Every attack goes around the static policy with variable substitution (``${a}${b}`` → ``shell``), so what
is tested is the sandbox itself: bubblewrap, the resource limits and the watchdog.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mdbot.sandbox.jobs import check, run
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap

SHELL = "variable a string sh\nvariable b string ell\n"  # ${a}${b} becomes "shell" only at run time
# What the sandbox may take beyond a time limit that is the point of a test (kill, teardown, parsing)
# on a slow, loaded machine; the limits themselves are seconds, so a runaway job still fails the test.
GRACE_S = 10.0


def _all_output(result) -> str:
    """Everything the job produced: the result document and every file in its directory."""
    texts = [result.to_json()]
    for p in Path(result.workdir).rglob("*"):
        if p.is_file():
            texts.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(texts)


def _sandbox_processes() -> list[str]:
    uid = 65534 if os.geteuid() == 0 else os.geteuid()
    out = subprocess.run(["ps", "-u", str(uid), "-o", "pid=,cmd="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "ps -u" not in line]


def test_shell_by_substitution_cannot_touch_the_host(settings, tmp_path):
    canary = tmp_path / "canary"
    script = tmp_path / "in.escape"
    script.write_text(SHELL + f'${{a}}${{b}} "touch {canary}; echo ran > ran.txt"\n')
    result = run(script, settings=settings)
    assert result.status == "ok"
    assert (Path(result.workdir) / "ran.txt").read_text().strip() == "ran"  # the shell really ran…
    assert not canary.exists()  # …but could not reach the host path


def test_secret_file_outside_the_job_is_invisible(settings, tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOPSECRET-4f9a1c")
    os.chmod(secret.parent, 0o755)
    os.chmod(secret, 0o644)  # readable by anyone on the host: only the sandbox stands in the way
    project_file = Path(__file__).resolve()
    script = tmp_path / "in.steal"
    script.write_text(
        SHELL
        + f'${{a}}${{b}} "cat {secret} {project_file} /root/.bashrc /etc/shadow > stolen.txt 2>&1"\n'
        + "variable s string /\n"
        + f"include ${{s}}{str(secret)[1:]}\n"
    )
    result = run(script, settings=settings)
    everything = _all_output(result)
    assert "TOPSECRET-4f9a1c" not in everything
    assert "Hostile scripts are contained" not in everything  # this test file's docstring
    assert result.status == "error" and "Cannot open input script" in result.error.message


def test_environment_tokens_never_reach_the_job(settings, tmp_path, monkeypatch):
    token = "xoxb-canary-9d3e7f0a1b"
    monkeypatch.setenv("MDBOT_SLACK_BOT_TOKEN", token)
    monkeypatch.setenv("OPENAI_API_KEY", token + "-key")
    script = tmp_path / "in.env"
    script.write_text(
        SHELL
        + "variable t getenv MDBOT_SLACK_BOT_TOKEN\n"
        + 'print "token=[${t}]"\n'
        + '${a}${b} "env > env.txt; cat /proc/1/environ >> env.txt"\n'
    )
    result = run(script, settings=settings)
    assert result.status == "ok"
    assert "token=[]" in (Path(result.workdir) / "log.lammps").read_text()
    assert token not in _all_output(result)
    assert "PATH=" in (Path(result.workdir) / "env.txt").read_text()  # the dump itself did happen


def test_cannot_write_outside_the_job(settings, tmp_path):
    target = tmp_path / "written-from-sandbox"
    script = tmp_path / "in.write"
    script.write_text(
        "variable s string /\n"
        + f"log ${{s}}{str(target)[1:]}\n"  # LAMMPS itself writing to an absolute host path
        + 'print "hello"\n'
        + SHELL
        + f'${{a}}${{b}} "echo x > {target}.sh; echo x > /usr/evil; echo x > /etc/evil"\n'
    )
    result = run(script, settings=settings)
    assert not target.exists()
    assert not Path(f"{target}.sh").exists()
    assert not Path("/usr/evil").exists() and not Path("/etc/evil").exists()
    assert result.status in ("ok", "error")


def test_no_network_connection_reaches_a_host_listener(settings, tmp_path):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[tuple] = []
    stop = threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                conn, addr = server.accept()
                accepted.append(addr)
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        connect = f"bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}'"
        # The vector works outside the sandbox: proof that the listener would see it.
        subprocess.run(connect, shell=True, timeout=120)
        deadline = time.monotonic() + 60
        while not accepted and time.monotonic() < deadline:
            stop.wait(0.05)
        assert len(accepted) == 1
        accepted.clear()
        script = tmp_path / "in.net"
        script.write_text(
            SHELL
            + f'${{a}}${{b}} "{connect} > net.txt 2>&1; echo exit=$? >> net.txt"\n'
            + "variable g string get\n"
            + f"${{g}}url http://127.0.0.1:{port}/x output got.txt\n"
        )
        result = run(script, settings=settings)
        assert "exit=1" in (Path(result.workdir) / "net.txt").read_text()
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    assert accepted == []


def test_infinite_jump_loop_times_out(settings, tmp_path):
    script = tmp_path / "in.loop"
    script.write_text("label again\nvariable x equal 1\njump SELF again\n")
    start = time.monotonic()
    result = run(script, settings=settings, timeout=3)
    elapsed = time.monotonic() - start
    assert result.status == "timeout"
    assert "3 s" in result.error.message
    assert elapsed < 3 + GRACE_S


def test_fork_bomb_is_contained(settings, tmp_path):
    settings.max_processes = 64
    script = tmp_path / "in.bomb"
    script.write_text(
        SHELL
        # dash (LAMMPS's /bin/sh) fails a fork at once where bash would retry with back-off; the count
        # uses builtins only, because with the cap reached even `ls | wc` could not fork.
        + '${a}${b} "(for i in $(seq 300); do sleep 3 & done) 2> forkerr.txt; '
        + 'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n > count.txt"\n'
        + "${a}${b} \"bash -c ':(){ :|:& };:'\"\n"
        + '${a}${b} "sleep 30"\n'
    )
    start = time.monotonic()
    result = run(script, settings=settings, timeout=5)
    assert time.monotonic() - start < 5 + GRACE_S
    # "timeout" when the last `sleep 30` could fork; "ok"/"error" when the bomb left no room to fork it.
    assert result.status in ("timeout", "ok", "error")
    workdir = Path(result.workdir)
    assert int((workdir / "count.txt").read_text()) <= 64  # the process cap held inside
    assert "Cannot fork" in (workdir / "forkerr.txt").read_text()
    # The host is fine and nothing of the job outlives it (namespace teardown is asynchronous: bounded wait).
    assert subprocess.run(["true"]).returncode == 0
    deadline = time.monotonic() + 60
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sandbox_processes() == []


def test_filling_the_disk_is_stopped(settings, tmp_path):
    settings.file_size_mb = 20
    settings.output_mb = 60
    script = tmp_path / "in.fill"
    script.write_text(
        SHELL
        + '${a}${b} "head -c 100000000 /dev/zero > one-big-file"\n'
        + '${a}${b} "for i in $(seq 100); do head -c 15000000 /dev/zero > f$i; done"\n'
        + '${a}${b} "sleep 30"\n'
    )
    result = run(script, settings=settings, timeout=300)
    assert result.status == "killed"
    assert "60 MiB" in result.error.message
    sizes = {f.name: f.bytes for f in result.files}
    assert sizes["one-big-file"] <= 20 * 1024 * 1024  # the per-file limit
    # It tried to write 1.6 GB; the watchdog (50 ms polls) stopped it soon after the 60 MiB limit.
    assert sum(sizes.values()) < 400 * 1024 * 1024


def test_huge_lattice_hits_the_memory_limit(settings, tmp_path):
    settings.memory_mb = 1024
    script = tmp_path / "in.huge"
    script.write_text(
        "units lj\nlattice fcc 0.8442\nregion box block 0 300 0 300 0 300\ncreate_box 1 box\ncreate_atoms 1 box\n"
    )
    start = time.monotonic()
    result = run(script, settings=settings, timeout=300)
    assert time.monotonic() - start < 120  # the limit stops it, long before the 300 s timeout
    assert result.status in ("error", "killed")
    assert "allocate" in result.error.message or "memory" in result.error.message
    assert result.error.line == 5
    assert "MDBOT_MEMORY_MB" in result.error.hint


def test_flooding_output_is_capped(settings, tmp_path):
    settings.file_size_mb = 10
    settings.kept_output_kb = 16
    script = tmp_path / "in.flood"
    script.write_text('label l\nprint "' + "flood " * 30 + '"\njump SELF l\n')
    start = time.monotonic()
    result = run(script, settings=settings, timeout=300)
    assert time.monotonic() - start < 120  # the size limit stops it, long before the 300 s timeout
    assert result.status == "killed"
    assert (Path(result.workdir) / "log.lammps").stat().st_size <= 10 * 1024 * 1024
    assert len(result.to_json()) < 100_000  # the result stays small


@pytest.mark.parametrize("n_jobs", [4])
def test_parallel_jobs_do_not_interfere(settings, tmp_path, n_jobs):
    template = (
        "units lj\natom_style atomic\nlattice fcc 0.8442\nregion box block 0 4 0 4 0 4\ncreate_box 1 box\n"
        "create_atoms 1 box\nmass 1 1.0\nvelocity all create {t} {seed} loop geom\npair_style lj/cut 2.5\n"
        "pair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nve\nthermo 25\nrun 100\n"
        'print "job {i}" file mine.txt\n'
        + SHELL
        + '${{a}}${{b}} "ls /tmp /job > seen.txt; echo {i} > /tmp/marker"\n'
    )
    scripts = []
    for i in range(n_jobs):
        p = tmp_path / f"in.job{i}"
        p.write_text(template.format(t=1.0 + 0.2 * i, seed=1000 + i, i=i))
        scripts.append(p)
    serial = [run(p, settings=settings) for p in scripts]
    with ThreadPoolExecutor(n_jobs) as pool:
        parallel = list(pool.map(lambda p: run(p, settings=settings), scripts))
    workdirs = {r.workdir for r in parallel}
    assert len(workdirs) == n_jobs
    for i, (s, p) in enumerate(zip(serial, parallel, strict=True)):
        assert p.status == "ok", p.error
        assert p.thermo[0].rows == s.thermo[0].rows  # same numbers as alone
        assert (Path(p.workdir) / "mine.txt").read_text().strip() == f"job {i}"
        seen = (Path(p.workdir) / "seen.txt").read_text()
        assert "marker" not in seen.split("/job:")[0]  # no other job's /tmp is visible
        assert all(f"in.job{j}" not in seen for j in range(n_jobs) if j != i)


def test_links_left_by_the_job_are_never_followed(settings, tmp_path):
    """A job can leave `log.lammps -> /host/secret` or `thermo.png -> /host/file`; those paths mean nothing in
    the sandbox but everything on the host, where mdbot (maybe as root) reads, writes and uploads results."""
    settings.pictures = True
    secret = tmp_path / "host-secret.env"
    secret.write_text("MDBOT_SLACK_BOT_TOKEN=xoxb-host-secret-77")
    target = tmp_path / "host-target.txt"
    target.write_text("precious")
    script = tmp_path / "in.links"
    script.write_text(
        "units lj\natom_style atomic\nlattice fcc 0.8442\nregion box block 0 3 0 3 0 3\ncreate_box 1 box\n"
        "create_atoms 1 box\nmass 1 1.0\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nve\n"
        "velocity all create 1.0 87287\nthermo 5\nrun 10\n"  # moving atoms: the plot skips constant columns
        + SHELL
        + f'${{a}}${{b}} "ln -sf {target} thermo.png; ln -sf {secret} stolen.env; ln -sf {secret} .mdbot-run.in"\n'
        + f'${{a}}${{b}} "rm -f log.lammps; ln -s {secret} log.lammps"\n'
        + "fix 2 all nvx\n"  # fail, so the log tail would be shown
    )
    result = run(script, settings=settings)
    assert target.read_text() == "precious"  # the plot did not write through the link
    assert "xoxb-host-secret-77" not in result.to_json()
    names = {f.name for f in result.files}
    assert "stolen.env" not in names and "log.lammps" not in names  # links are not results
    # Same plant with an intact log: the plot is drawn, replacing the link instead of writing through it.
    script.write_text(script.read_text().split('${a}${b} "rm -f log.lammps')[0])
    result = run(script, settings=settings)
    assert result.status == "ok", result.error
    assert target.read_text() == "precious"
    assert (Path(result.workdir) / "thermo.png").read_bytes().startswith(b"\x89PNG")


# --- regressions from the red-team review -----------------------------------------------------------------


def _cgroups_available() -> bool:
    from mdbot.sandbox import cgroups

    group = cgroups.create("mdbot-probe-" + str(os.getpid()), 64, 16)
    if group is None:
        return False
    group.remove()
    return True


needs_cgroups = pytest.mark.skipif(
    not _cgroups_available(), reason="no writable cgroup hierarchy here (mdbot not running as root)"
)


def test_double_slash_include_of_host_file_is_rejected_unread(settings, tmp_path):
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir(mode=0o700)
    secret.write_text("cd /srv/private && deploy --key=TOPSECRET-42\n")
    script = tmp_path / "in.slash"
    script.write_text(f"units lj\ninclude /{secret}\n")  # "//tmp/…" is absolute for Linux and Python alike
    result = run(script, settings=settings)
    assert result.status == "rejected"
    assert "TOPSECRET-42" not in result.to_json()


def test_include_through_planted_directory_link_is_not_read(settings, tmp_path):
    secret_dir = tmp_path / "private"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "secret.txt").write_text("token abcdef123456SECRET\n")
    script = tmp_path / "in.symdir"
    script.write_text(
        SHELL
        + f'${{a}}${{b}} "ln -s {secret_dir} sub"\n'
        + "variable f string inc.txt\n"
        + 'print "token abcdef12345X" file inc.txt\n'
        + "include ${f}\n"
        + "include sub/secret.txt\n"  # never executed; mdbot must not read it either
    )
    result = run(script, settings=settings)
    assert "SECRET" not in result.to_json()


def test_crafted_log_lines_cannot_stall_the_host(settings, tmp_path):
    script = tmp_path / "in.redos"
    script.write_text(
        'print "WARNING: a'
        + " " * 200_000
        + 'b"\n'
        + "variable f string inc.txt\n"
        + 'print "xx '
        + "a" * 60
        + '" file inc.txt\n'
        + "include ${f}\n"
        + "xx "
        + "$a" * 12
        + " Z\n"
    )
    start = time.monotonic()
    result = run(script, settings=settings, timeout=300)
    assert time.monotonic() - start < 60  # post-processing is linear: no catastrophic backtracking
    assert result.status == "error"


def test_sandbox_root_and_dev_are_read_only(settings, tmp_path):
    script = tmp_path / "in.tmpfs"
    script.write_text(
        SHELL + '${a}${b} "for f in /big /dev/big /opt/big /potentials/big; do '
        '(head -c 1000000 /dev/zero > $f && echo wrote $f) >> out.txt 2>&1; done; echo done >> out.txt"\n'
    )
    result = run(script, settings=settings)
    out = (Path(result.workdir) / "out.txt").read_text()
    assert "done" in out and "wrote" not in out
    assert "Read-only file system" in out


def test_nested_user_namespaces_are_refused(settings, tmp_path):
    script = tmp_path / "in.userns"
    script.write_text(SHELL + '${a}${b} "unshare -Ur id > out.txt 2>&1; echo rc=$? >> out.txt"\n')
    result = run(script, settings=settings)
    out = (Path(result.workdir) / "out.txt").read_text()
    assert "uid=0" not in out and "rc=0" not in out


@needs_cgroups
def test_total_memory_of_a_job_is_capped(settings, tmp_path):
    if not Path("/usr/bin/python3").exists():
        pytest.skip("needs /usr/bin/python3 inside the sandbox to allocate memory")
    settings.memory_mb = 1024  # each process alone is within its limit…
    settings.job_memory_mb = 600  # …but three together are not
    alloc = tmp_path / "alloc.py"
    alloc.write_text(
        "import time\nb = bytearray(300 * 1024 * 1024)\nb[::4096] = b'x' * len(b[::4096])\ntime.sleep(5)\n"
    )
    script = tmp_path / "in.mem"
    script.write_text(SHELL + '${a}${b} "for i in 1 2 3; do python3 alloc.py & done; wait"\n')
    result = run(script, [alloc], settings=settings, timeout=300)
    assert result.status == "killed"
    assert "600 MiB of memory in total" in result.error.message


@needs_cgroups
def test_one_jobs_fork_storm_does_not_block_other_jobs(settings, tmp_path):
    settings.max_processes = 64
    hog = tmp_path / "in.hog"
    hog.write_text(SHELL + '${a}${b} "(for i in $(seq 200); do sleep 6 & done) 2>/dev/null; sleep 6"\n')
    victim = tmp_path / "in.victim"
    victim.write_text("units lj\nprint 'still running'\n")
    with ThreadPoolExecutor(2) as pool:
        hogging = pool.submit(run, hog, settings=settings, timeout=300)
        time.sleep(2)  # let the hog reach its process cap first (the order is the point of the test)
        result = run(victim, settings=settings)
        hogging.result()
    assert result.status == "ok", result.error


def test_deep_and_wide_trees_are_stopped(settings, tmp_path):
    settings.max_files = 500
    for name, body in (
        ("deep", "for i in $(seq 200); do mkdir d; cd d; done; sleep 10"),
        ("wide", "i=0; while [ $i -lt 100000 ]; do mkdir d$i; i=$((i+1)); done"),
    ):
        script = tmp_path / f"in.{name}"
        script.write_text(SHELL + f'${{a}}${{b}} "{body}"\n')
        start = time.monotonic()
        result = run(script, settings=settings, timeout=300)
        assert time.monotonic() - start < 60, name  # killed, not waited out (deep sleeps 10 s after)
        assert result.status == "killed", (name, result.error)
        assert "deep" in result.error.message or "500 files and directories" in result.error.message


def test_reserved_names_taken_by_the_job_do_not_break_results(settings, tmp_path):
    settings.pictures = True
    script = tmp_path / "in.reserved"
    script.write_text(
        "units lj\natom_style atomic\nlattice fcc 0.8442\nregion box block 0 3 0 3 0 3\ncreate_box 1 box\n"
        "create_atoms 1 box\nmass 1 1.0\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nve\n"
        "thermo 5\nrun 10\n" + SHELL + '${a}${b} "mkdir thermo.png snapshot.jpg; mkfifo .mdbot-setup.in"\n'
    )
    result = run(script, settings=settings)
    assert result.status in ("ok", "error")
    assert result.final_step == 10
    checked = check(script, settings=settings)
    assert checked.status in ("ok", "error")


def test_check_does_not_reveal_whether_host_paths_exist(settings, tmp_path):
    """A link named like a shipped potential must not make mdbot stat its host target: whether the target
    exists on the host (not in the sandbox) must not change the outcome."""
    host_only = tmp_path / "exists-on-host-only"
    host_only.write_text("x")
    outcomes = []
    for target in (host_only, tmp_path / "exists-nowhere"):
        script = tmp_path / "in.oracle"
        script.write_text(
            SHELL + f'${{a}}${{b}} "ln -sf {target} Cu_smf7.eam"\n'
            "units metal\nlattice fcc 3.6\nregion b block 0 2 0 2 0 2\ncreate_box 1 b\ncreate_atoms 1 box\n"
            "mass 1 63.5\npair_style eam\npair_coeff 1 1 Cu_smf7.eam\nrun 10\n"
        )
        r = check(script, settings=settings)
        outcomes.append((r.status, r.error.message if r.error else None))
    assert outcomes[0] == outcomes[1]


def test_setuid_and_world_writable_bits_are_stripped(settings, tmp_path):
    script = tmp_path / "in.suid"
    script.write_text(SHELL + '${a}${b} "cp /bin/dash x; chmod 6777 x; mkdir -m 1777 d"\n')
    result = run(script, settings=settings)
    workdir = Path(result.workdir)
    for name in ("x", "d"):
        mode = (workdir / name).lstat().st_mode
        assert not mode & 0o7000 and not mode & 0o002, (name, oct(mode))


# --- regressions from the second review ----------------------------------------------------------------


def test_preallocated_space_counts_against_the_output_limit(settings, tmp_path):
    settings.output_mb = 100
    script = tmp_path / "in.falloc"
    script.write_text(
        SHELL + '${a}${b} "for i in 1 2 3 4 5 6; do : > f$i; fallocate -n -l 200M f$i; done; sleep 10"\n'
    )
    result = run(script, settings=settings, timeout=300)
    assert result.status == "killed"
    assert "100 MiB" in result.error.message


def test_crafted_potential_names_are_cheap_and_harmless(settings, tmp_path):
    script = tmp_path / "in.potname"
    script.write_text(
        "units metal\nlattice fcc 3.6\nregion b block 0 2 0 2 0 2\ncreate_box 1 b\ncreate_atoms 1 box\n"
        f"pair_style eam\npair_coeff * * {'1' * 100_000}.x Cu\npair_coeff * * {'a' * 300}.eam Cu\nrun 0\n"
    )
    start = time.monotonic()
    result = run(script, settings=settings, timeout=300)
    assert time.monotonic() - start < 60
    assert result.status == "error"


@needs_cgroups
def test_deleted_open_files_are_charged_to_their_job(settings, tmp_path):
    if not Path("/usr/bin/python3").exists():
        pytest.skip("needs /usr/bin/python3 inside the sandbox")
    settings.output_mb = 100
    hold = tmp_path / "hold.py"
    hold.write_text(
        "import os, time\nfds = []\nfor i in range(3):\n"
        "    fd = os.open(f'f{i}', os.O_CREAT | os.O_WRONLY)\n    os.unlink(f'f{i}')\n"
        "    for _ in range(60):\n        os.write(fd, b'\\0' * (1 << 20))\n    fds.append(fd)\ntime.sleep(20)\n"
    )
    script = tmp_path / "in.unlinked"
    script.write_text(SHELL + '${a}${b} "python3 hold.py"\n')
    result = run(script, [hold], settings=settings, timeout=300)
    assert result.status == "killed"
    assert "100 MiB" in result.error.message


def test_without_bubblewrap_untrusted_runs_are_refused(settings, tmp_path):
    from mdbot.sandbox import jobs

    jobs._bwrap_problem.cache_clear()
    settings.bwrap = str(tmp_path / "no-such-bwrap")
    script = tmp_path / "in.plain"
    script.write_text("units lj\nprint 'hello'\n")
    try:
        refused = run(script, settings=settings)
        assert refused.status == "rejected"
        assert "bubblewrap is not installed" in refused.error.message
        assert "apt-get install bubblewrap" in refused.error.message
        assert "MDBOT_ALLOW_UNSANDBOXED" in refused.error.message
        settings.allow_unsandboxed = True  # the explicit, weaker mode: limits and timeout only
        allowed = run(script, settings=settings)
        assert allowed.status == "ok", allowed.error
        assert "hello" in (Path(allowed.workdir) / "log.lammps").read_text()
    finally:
        jobs._bwrap_problem.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setfacl") is None, reason="needs root and setfacl")
def test_private_parent_directory_gets_a_search_only_grant(tmp_path):
    """A data directory below a 0700 directory (a temporary clone, say) works; the sandbox uid gains search
    permission there and nothing more."""
    from mdbot.sandbox.settings import SandboxSettings

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "listing-secret.txt").write_text("x")
    settings = SandboxSettings(_env_file=None, data_dir=private / "data", pictures=False)
    script = tmp_path / "in.small"
    script.write_text("units lj\nprint 'ok'\n")
    assert run(script, settings=settings).status == "ok"
    # Others gain nothing (with an ACL the group bits show the mask, --x; the owning group's entry stays ---).
    assert private.stat().st_mode & 0o007 == 0
    acl = subprocess.run(["getfacl", "-p", str(private)], capture_output=True, text=True).stdout
    assert "group::---" in acl and "user:nobody:--x" in acl
    listing = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "ls", str(private)],
        capture_output=True,
        text=True,
    )
    assert listing.returncode != 0 and "listing-secret" not in listing.stdout


# --- `shell mkdir`: the one shell form mdbot does itself -------------------------------------------------

SHELL_REFUSED = "'shell' is not allowed: it runs operating-system commands"


@pytest.mark.parametrize("do", [run, check])
@pytest.mark.parametrize(
    "line",
    [
        "shell rm -f in.keep",
        "shell cd sub",
        "shell mkdir /etc/mdbot-made-this",
        "shell mkdir ../mdbot-escaped",
        "shell mkdir sub/../../mdbot-escaped",
        "shell mkdir $(1+1)",
        "shell mkdir ${d}",
        'shell mkdir "spaced name"',
        "shell mkdir made;touch pwned",
    ],
)
def test_shell_other_than_plain_mkdir_is_refused(settings, tmp_path, do, line):
    script = tmp_path / "in.keep"
    script.write_text(f"variable d string sub\n{line}\nunits lj\n")
    result = do(script, settings=settings)
    assert result.status == "rejected"
    assert result.error.message == SHELL_REFUSED and result.error.line == 2
    assert result.notes == []
    workdir = Path(result.workdir)
    assert not Path("/etc/mdbot-made-this").exists() and not (workdir.parent / "mdbot-escaped").exists()
    assert sorted(p.name for p in workdir.iterdir()) == ["in.keep"]  # nothing was made, nothing removed


def test_mkdir_beside_a_refused_shell_makes_nothing(settings, tmp_path):
    script = tmp_path / "in.mixed"
    script.write_text("shell mkdir out\nunits lj\nshell rm -rf out\n")
    result = run(script, settings=settings)
    assert result.status == "rejected" and result.error.message == SHELL_REFUSED and result.error.line == 3
    assert not (Path(result.workdir) / "out").exists()


def test_mkdir_onto_a_staged_file_or_in_an_include_is_refused(settings, tmp_path):
    staged = tmp_path / "out"
    staged.write_text("a staged input file, not a directory\n")
    script = tmp_path / "in.clash"
    script.write_text("shell mkdir out/sub\nunits lj\n")
    result = run(script, [staged], settings=settings)
    assert result.status == "rejected" and result.error.message == SHELL_REFUSED and result.error.line == 1
    assert (Path(result.workdir) / "out").read_text() == staged.read_text()
    inc = tmp_path / "dirs.inc"
    inc.write_text("shell mkdir out\n")
    script.write_text("units lj\ninclude dirs.inc\n")
    result = run(script, [inc], settings=settings)
    assert result.status == "rejected" and result.error.message == SHELL_REFUSED
    assert result.error.file == "dirs.inc"
