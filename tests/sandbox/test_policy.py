"""The static policy and the script reader (no LAMMPS needed)."""

from __future__ import annotations

import pytest

from mdbot.sandbox.mkdirs import plan
from mdbot.sandbox.policy import check_script
from mdbot.sandbox.script import commands, tokenize


def test_commands_join_continuations_and_strip_comments():
    script = 'units lj # reduced units\n\nfix 1 all &\n   nvt temp 1.0 1.0 0.5\nprint "a # not a comment"\n'
    cmds = commands(script)
    assert [c.line for c in cmds] == [1, 3, 5]
    assert cmds[0].words == ["units", "lj"]
    assert cmds[1].words == ["fix", "1", "all", "nvt", "temp", "1.0", "1.0", "0.5"]
    assert cmds[2].words == ["print", "a # not a comment"]


def test_tokenize_quotes():
    assert tokenize('print \'x y\' "z" """a\nb"""') == ["print", "x y", "z", "a\nb"]


@pytest.mark.parametrize(
    ("script", "line", "fragment"),
    [
        ("units lj\nshell rm -rf /\n", 2, "'shell' is not allowed"),
        ('python f input 1 v_x format f here """\ndef f(x): return x\n"""\n', 1, "'python' is not allowed"),
        ("plugin load evil.so\n", 1, "'plugin' is not allowed"),
        ("geturl https://example.org/pot.eam\n", 1, "network"),
        ("dump m all movie 10 movie.mpg type type\n", 1, "'dump movie' is not allowed"),
        ("units lj\nread_data /etc/passwd\n", 2, "absolute path '/etc/passwd'"),
        ("include ../../secret.in\n", 1, "leaves the job directory"),
        ("log ~/notes.txt\n", 1, "home-directory"),
        ("variable v python f\n", 1, "runs Python"),
        ('print "hi" file "/tmp/x"\n', 1, "absolute path"),
    ],
)
def test_policy_rejects(script, line, fragment):
    violations = check_script(script)
    assert violations, script
    assert violations[0].line == line
    assert fragment in violations[0].message


@pytest.mark.parametrize(
    "script",
    [
        "variable a equal 1/2\nfix 1 all ave/time 1 10 10 c_t file out/temp.txt\n",
        'print "ratio 1 / 2 and ../ inside text"\n',
        "pair_coeff * * Cu_u3.eam Cu\ninclude sub/settings.in\n",
        "region box block 0 10 0 10 0 10 units box\n",
        "variable a string sh\nvariable b string ell\n${a}${b} echo hi\n",  # caught by the sandbox, not here
    ],
)
def test_policy_accepts_ordinary_scripts(script):
    assert check_script(script) == []


@pytest.mark.parametrize(
    ("line", "dirs"),
    [
        ("shell mkdir out", ("out",)),
        ("shell mkdir -p a b/c/", ("a", "b/c")),
        ("  shell mkdir dumps   # for the dumps", ("dumps",)),
    ],
)
def test_harmless_mkdir_becomes_a_comment(line, dirs):
    text, found = plan(f"units lj\n{line}\nrun 0\n")
    assert [m.dirs for m in found] == [dirs] and found[0].line == 2
    assert text.splitlines()[1].startswith("#") and len(text.splitlines()) == 3
    assert check_script(text) == []


@pytest.mark.parametrize(
    "line",
    [
        "shell rm -rf out",
        "shell cd out",
        "shell mkdir /etc/x",
        "shell mkdir ../x",
        "shell mkdir a/../../x",
        "shell mkdir ~/x",
        "shell mkdir .hidden",
        "shell mkdir $(v_x)",
        "shell mkdir ${dir}",
        "shell mkdir $d",
        'shell mkdir "out"',
        "shell mkdir a;touch b",
        "shell mkdir a* b?",
        "shell mkdir -p",
        "shell mkdir a &\n  b",
        "shell mkdir out && rm x",
    ],
)
def test_anything_else_stays_refused(line):
    script = f"units lj\n{line}\n"
    text, found = plan(script)
    assert found == [] and text == script
    assert check_script(text)[0].message == "'shell' is not allowed: it runs operating-system commands"
