"""``mailconf completion``: the scripts complete the real parser's commands in a real shell.

The bash case is a scripted bash session: it sources ``mailconf completion bash`` as the docs say,
asks ``complete -p mailconf`` which function completes it, and calls that function the way bash
does on TAB (COMP_WORDS, COMP_CWORD); the expected words come from the parser.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailconf.cli import build_parser
from mailconf.syntax.kinds import KINDS

BIN = Path(sys.executable).parent

# Prints, for each line of arguments on stdin, the words the completion offers (sorted, one line).
SESSION = r"""
set -u
source <(mailconf completion bash)
complete -p mailconf || exit 3
function=$(complete -p mailconf | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
while read -r -a words; do
    [ "${words[-1]}" = "''" ] && words[-1]=""
    COMP_WORDS=("${words[@]}"); COMP_CWORD=$(( ${#words[@]} - 1 ))
    COMP_LINE="${words[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    "$function" mailconf "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd ' '
done
echo "compgen: $(compgen -W "${_shtab_mailconf_subparsers[*]}" -- d | sort | paste -sd ' ')"
"""


def subcommands(parser: argparse.ArgumentParser) -> list[str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(action.choices)


def shell(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    if not (BIN / "mailconf").exists():
        pytest.skip(f"no mailconf command beside {sys.executable} (pip install -e .)")
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        argv, input=stdin, env=environment, capture_output=True, text=True, timeout=60
    )


def test_bash_completes_the_parsers_commands_options_and_files(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "main.cf").write_text("")
    parser = build_parser()
    top = subcommands(parser)
    dkim = subcommands(next(p for name, p in _children(parser) if name == "dkim"))
    asked = {
        "mailconf ''": sorted(top),
        "mailconf dkim ''": sorted(dkim),
        "mailconf plan --detailed-e": ["--detailed-exitcode"],
        "mailconf show --kind ''": sorted(KINDS),
        f"mailconf lint {tmp_path}/ma": [f"{tmp_path}/main.cf"],
    }
    result = shell(["bash", "--norc", "--noprofile", "-c", SESSION], "\n".join(asked) + "\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("complete ") and lines[0].endswith(" mailconf"), lines[0]
    assert lines[1:-1] == [" ".join(words) for words in asked.values()], result.stderr
    assert lines[-1] == "compgen: " + " ".join(sorted(n for n in top if n.startswith("d")))


def test_zsh_loads_the_script_from_fpath(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed (apt-get install zsh)")
    script = shell(["mailconf", "completion", "zsh"])
    assert script.returncode == 0, script.stderr
    (tmp_path / "_mailconf").write_text(script.stdout)
    check = shell(["zsh", "-n", str(tmp_path / "_mailconf")])
    assert check.returncode == 0, check.stderr
    session = (
        f"fpath=({tmp_path} $fpath); autoload -U compinit; compinit -u -D;"
        " print -r -- ${_comps[mailconf]}"
    )
    result = shell(["zsh", "-f", "-c", session])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "_mailconf"
    for name in subcommands(build_parser()):
        assert f"\n    {name}:'" in script.stdout


def _children(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(action.choices.items())
