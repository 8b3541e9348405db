"""``--help``: every command listed from the table, each with its own help and examples that run."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest

from mailconf.cli import COMMANDS, build_parser, main

#: reStructuredText a reader of --help would see as noise.
MARKUP = re.compile(r"``|:(?:class|mod|func|meth|data|attr):`")


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit:
        main([*argv, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["--help"], 0), (["--help", "get"], 0), ([], 2)],
    ids=["--help", "--help before a command", "no command"],
)
def test_top_level_help_lists_every_command_with_its_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: int
) -> None:
    try:
        assert main(argv) == status
    except SystemExit as exit:
        assert exit.code == status
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())  # argparse wraps the lines
    for name, command in COMMANDS.items():
        assert f" {name} {' '.join(command.help.split())}" in text
    assert not MARKUP.search(text)


def test_the_table_and_the_command_modules_agree() -> None:
    for module_name in {command.module for command in COMMANDS.values()}:
        module = importlib.import_module(f"mailconf.cli.{module_name}")
        named_here = {name for name, command in COMMANDS.items() if command.module == module_name}
        assert set(module.PARSERS) == named_here


def examples(help_text: str) -> list[list[str]]:
    """The command lines under "examples:" at the end of a --help, as argv lists."""
    _, found, epilog = help_text.partition("\nexamples:\n")
    assert found
    lines = epilog.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines]


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_examples_that_parse(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text = help_text(capsys, name)
    assert text.startswith(f"usage: mailconf {name} ")
    assert not MARKUP.search(text)
    found = examples(text)
    assert 1 <= len(found) <= 3
    for argv in found:
        assert argv[:2] == ["mailconf", name]
        args = build_parser([name]).parse_args(argv[1:])
        assert args.handler is not None
