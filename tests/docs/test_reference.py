"""The built CLI and API references cover the real parser and the real ``__all__``.

What is compared comes from the code, not from a list in this file: every command and action of
:func:`mailconf.cli.build_parser`, every option string of each, every example of its ``--help``,
and every name of ``mailconf.__all__``.
"""

from __future__ import annotations

import argparse
import html
import re
from collections.abc import Iterator
from pathlib import Path

import mailconf
from mailconf.cli import build_parser

#: reStructuredText or argparse's epilog left raw in the page: what rendering should have consumed.
RAW = re.compile(
    r"``|:(?:class|func|meth|mod|data):`|\.\. code-block::|\.\. rubric::|^examples:", re.M
)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and action of the parser, depth first (the reference's order)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))


def text_of(markup: str) -> str:
    """The words a reader sees: tags dropped, entities decoded, blanks collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def sections(page: str, ids: list[str]) -> dict[str, str]:
    """The part of ``page`` from each id to the next one, in page order."""
    starts = {}
    for anchor in ids:
        found = page.find(f'id="{anchor}"')
        assert found >= 0, f"the CLI reference has no section {anchor!r}"
        starts[anchor] = found
    order = sorted(ids, key=starts.__getitem__)
    ends = [starts[anchor] for anchor in order[1:]] + [len(page)]
    return {anchor: page[starts[anchor] : end] for anchor, end in zip(order, ends, strict=True)}


def test_every_command_with_its_options_and_examples_is_in_the_cli_reference(
    html_site: Path,
) -> None:
    page = (html_site / "cli.html").read_text(encoding="utf-8")
    found = list(commands(build_parser()))
    assert {path[0] for path, _ in found} >= {"show", "plan", "apply", "dkim", "completion"}
    ids = {path: "mailconf-" + "-".join(path) for path, _ in found}
    parts = sections(page, list(ids.values()))
    for index, (path, parser) in enumerate(found):
        # Its own part ends where its first action's begins: options are looked for there; the
        # examples of a command with actions come after them, before the next command.
        text = text_of(parts[ids[path]])
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in text, f"mailconf {' '.join(path)}: {option} not documented"
        following = [other for other, _ in found[index + 1 :] if other[: len(path)] != path]
        end = page.find(f'id="{ids[following[0]]}"') if following else len(page)
        subtree = text_of(page[page.find(f'id="{ids[path]}"') : end])
        epilog = parser.epilog or ""
        if epilog.startswith("examples:\n"):
            for line in epilog.splitlines()[1:]:  # as written, continuation lines included
                assert " ".join(line.split()) in subtree, f"example not shown: {line.strip()}"


def test_the_cli_reference_renders_help_text_as_written(html_site: Path) -> None:
    """Examples are a code block, texts are not read as markup (``*``, backquotes)."""
    page = (html_site / "cli.html").read_text(encoding="utf-8")
    assert not RAW.search(html.unescape(re.sub(r"<[^>]+>", "", page)))
    assert page.count('<div class="highlight-sh') >= sum(
        1 for _, parser in commands(build_parser()) if parser.epilog
    )
    # `mailconf plan` in apply's description: the backquotes as written, not emphasis.
    assert "(as `mailconf plan` does)" in text_of(page)


def test_every_public_name_is_in_the_api_reference(html_site: Path) -> None:
    page = (html_site / "api.html").read_text(encoding="utf-8")
    missing = [name for name in mailconf.__all__ if f'id="mailconf.{name}"' not in page]
    assert missing == [], "add them to docs/api.md"
    # The models' methods are there too, not only the class names.
    for method in ("MainCf.add_milter", "MasterCf.set_field", "Plan.render", "Document.lint"):
        assert f'id="mailconf.{method}"' in page


def test_every_page_of_the_table_of_contents_is_built(html_site: Path) -> None:
    index = (html_site / "index.html").read_text(encoding="utf-8")
    source = (Path(__file__).resolve().parents[2] / "docs" / "index.md").read_text()
    toctree = re.search(r"```\{toctree\}\n(?::.*\n)*\n((?:.+\n)+)```", source)
    assert toctree, "docs/index.md has no toctree"
    pages = toctree.group(1).split()
    assert pages[:2] == ["install", "tutorial/index"]
    for name in pages:
        assert (html_site / f"{name}.html").is_file(), name
        assert f'href="{name}.html"' in index, name
