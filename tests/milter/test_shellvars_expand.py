"""Shell parameter expansion in /etc/default files, where the shell does it and nowhere else."""

from __future__ import annotations

import subprocess

import mailconf

TEXT = "A=1\nB=\"$A/x\"\nC='$A'\nexport D=${B}y # c\nE=\\$A\nSOCKET=local:$RUNDIR/s.sock\n"


def test_expansion_follows_quoting() -> None:
    doc = mailconf.parse(TEXT, kind="shellvars")
    values = {name: doc.get(name, expand=True) for name in "ABCDE"}
    assert values == {"A": "1", "B": "1/x", "C": "$A", "D": "1/xy", "E": "$A"}
    assert doc.get("SOCKET") == "local:$RUNDIR/s.sock"
    assert doc.get("SOCKET", expand=True, environment={"RUNDIR": "/run/x"}) == "local:/run/x/s.sock"


def test_expansion_agrees_with_dash() -> None:
    script = TEXT + 'printf "%s|%s|%s|%s|%s|%s" "$A" "$B" "$C" "$D" "$E" "$SOCKET"\n'
    shell = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True, env={"RUNDIR": "/r"}
    ).stdout
    doc = mailconf.parse(TEXT, kind="shellvars")
    ours = "|".join(
        doc.get(n, expand=True, environment={"RUNDIR": "/r"}) or "" for n in [*"ABCDE", "SOCKET"]
    )
    assert ours == shell
