"""The scripts mdbot writes around a member's input: the batch script, the short test run, restart output and
the continuation from the last restart file.

The batch script starts LAMMPS with the lab's command and writes the job's own exit status to
``.mdbot-exit`` (``terminated`` when Slurm signalled it: time limit or cancel), so a cluster without
accounting still says how the job ended. A submitted script that writes no restart files gets a
``restart`` line before its first run, so a job that runs out of time can be continued.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from mdbot.sandbox.script import Command, commands, strip_comment

BATCH = "mdbot.sbatch"
EXIT_FILE = ".mdbot-exit"
LOG = "log.lammps"
RESTART_PREFIX = "mdbot.restart"
RESTART_GLOB = re.compile(r"^mdbot\.restart\.(\d+)$")
TERMINATED = "terminated"


@dataclass(frozen=True)
class Resources:
    nodes: int
    ntasks: int
    time_s: int
    partition: str
    account: str = ""
    qos: str = ""

    def as_dict(self) -> dict:
        from .settings import format_time

        return {
            "nodes": self.nodes,
            "ntasks": self.ntasks,
            "time": format_time(self.time_s),
            "partition": self.partition,
            "account": self.account or None,
            "qos": self.qos or None,
        }


def batch_script(
    *, job_name: str, input_name: str, resources: Resources, env_lines: list[str], lammps_command: str
) -> str:
    """The sbatch script of one job (run from the job directory: ``sbatch --chdir``)."""
    from .settings import format_time

    r = resources
    head = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={r.nodes}",
        f"#SBATCH --ntasks={r.ntasks}",
        f"#SBATCH --time={format_time(r.time_s)}",
        "#SBATCH --output=slurm-%j.out",
        "#SBATCH --open-mode=append",
    ]
    if r.partition:
        head.append(f"#SBATCH --partition={r.partition}")
    if r.account:
        head.append(f"#SBATCH --account={r.account}")
    if r.qos:
        head.append(f"#SBATCH --qos={r.qos}")
    body = [
        "",
        "# written by mdbot: the job's own record of how it ended, for clusters without accounting",
        f"rm -f {EXIT_FILE}",
        f"trap 'echo {TERMINATED} > {EXIT_FILE}; kill -TERM $pid 2>/dev/null; exit 143' TERM",
        *env_lines,
        f"{lammps_command} -in {shlex.quote(input_name)} -log {LOG} -nocite &",
        "pid=$!",
        "wait $pid",
        "status=$?",
        f"echo $status > {EXIT_FILE}",
        "exit $status",
        "",
    ]
    return "\n".join(head + body)


# ------------------------------------------------------------------------------------------ editing scripts
def _span(lines: list[str], cmd: Command) -> range:
    """The physical lines (0-based) of a command: its first line and any '&' continuations."""
    i = cmd.line - 1
    end = i
    while end < len(lines) - 1 and strip_comment(lines[end]).rstrip().endswith("&"):
        end += 1
    return range(i, end + 1)


def _replace(lines: list[str], cmd: Command, text: str | None) -> None:
    span = _span(lines, cmd)
    lines[span.start] = text if text is not None else f"# (mdbot) {lines[span.start]}"
    for j in list(span)[1:]:
        lines[j] = "" if text is not None else f"# (mdbot) {lines[j]}"


def _steps(cmd: Command) -> int | None:
    if len(cmd.words) > 1 and cmd.words[1].isdigit():
        return int(cmd.words[1])
    return None


def total_steps(text: str) -> int | None:
    """Steps of all top-level ``run`` commands, None when any is not a plain number (variables, loops)."""
    total = 0
    for cmd in commands(text):
        if cmd.name in ("jump", "next", "label"):
            return None
        if cmd.name == "run":
            n = _steps(cmd)
            if n is None or "upto" in cmd.words:
                return None
            total += n
    return total or None


def test_script(text: str, steps: int) -> str:
    """The script with every plain ``run N`` cut to at most ``steps`` (the sandboxed test before submitting)."""
    lines = text.splitlines()
    for cmd in commands(text):
        n = _steps(cmd) if cmd.name == "run" else None
        if n is not None and n > steps:
            rest = [w for w in cmd.words[2:] if w != "upto"]
            _replace(lines, cmd, " ".join(["run", str(steps), *rest]))
    return "\n".join(lines) + "\n"


def has_restart(text: str) -> bool:
    return any(c.name == "restart" and len(c.words) > 1 and c.words[1] != "0" for c in commands(text)) or any(
        c.name == "write_restart" for c in commands(text)
    )


def with_restart(text: str, every: int) -> tuple[str, bool]:
    """The script with ``restart EVERY mdbot.restart.*`` before its first run, unless it writes restart
    files already; and whether it was added."""
    if has_restart(text):
        return text, False
    cmds = commands(text)
    first = next((c for c in cmds if c.name in ("run", "minimize")), None)
    if first is None:
        return text, False
    lines = text.splitlines()
    at = first.line - 1
    lines[at:at] = [
        "# added by mdbot: restart files, so a job that runs out of time can be continued",
        f"restart {every} {RESTART_PREFIX}.*",
    ]
    return "\n".join(lines) + "\n", True


def last_restart(names: list[str]) -> tuple[str, int] | None:
    """The restart file with the highest step among ``names``: (name, step)."""
    best = None
    for name in names:
        m = RESTART_GLOB.match(name)
        if m and (best is None or int(m.group(1)) > best[1]):
            best = (name, int(m.group(1)))
    return best


# What builds the system (the restart file holds it instead). lattice, region and mass stay: harmless after
# read_restart, and groups and fixes may use the regions.
_BUILD = {"create_box", "create_atoms", "read_data", "read_restart", "read_dump", "velocity", "displace_atoms",
          "replicate", "delete_atoms", "set", "create_bonds"}  # fmt: skip


class ContinuationError(ValueError):
    """The script cannot be continued automatically (its runs are not plain step counts)."""


def continuation(text: str, restart_file: str, step: int) -> str:
    """The script continued from ``restart_file`` (written at ``step``): the system comes from the restart
    file instead of being built, and the runs go on ``upto`` the steps the original asked for.

    The box-building commands (create_box, read_data, velocity, …) are commented out; runs that ended before
    ``step`` are dropped, the one in progress becomes ``run TARGET upto``, later ones stay.
    """
    cmds = commands(text)
    lines = text.splitlines()
    first_build = next((c for c in cmds if c.name in _BUILD), None)
    if first_build is None:
        raise ContinuationError("the script builds no system mdbot can recognise")
    target = 0
    resumed = False
    for cmd in cmds:
        if cmd.name in ("jump", "next", "label"):
            raise ContinuationError("the script has loops (jump/next/label): continue it by hand")
        if cmd.name in _BUILD:
            _replace(lines, cmd, None)
        elif cmd.name == "minimize" and not resumed:
            _replace(lines, cmd, None)
        elif cmd.name == "run":
            n = _steps(cmd)
            if n is None or "upto" in cmd.words:
                raise ContinuationError("a run's length is not a plain number of steps")
            target += n
            if target <= step:
                _replace(lines, cmd, None)
            elif not resumed:
                rest = [w for w in cmd.words[2:] if w != "upto"]
                _replace(lines, cmd, " ".join(["run", str(target), "upto", *rest]))
                resumed = True
    if not resumed:
        raise ContinuationError(f"the restart file is at step {step}: nothing is left to run")
    at = _span(lines, first_build).start
    lines[at:at] = [f"# continued by mdbot from {restart_file} (step {step})", f"read_restart {restart_file}"]
    return "\n".join(lines) + "\n"
