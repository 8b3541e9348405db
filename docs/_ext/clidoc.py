"""The ``mailconf`` argument parser as the CLI reference and the man page show it.

sphinx-argparse reads every description, epilog and help string as reStructuredText, but
mailconf's are plain text for a terminal (``--help`` prints them as written): a ``*`` or a
backquote would turn into markup, and the "examples:" epilog into a definition list.
:func:`parser` returns the real parser (:func:`mailconf.cli.build_parser`, every command
defined) with those texts rewritten into reStructuredText that shows exactly the same words, and
the examples as a shell code block.
"""

from __future__ import annotations

import argparse
import re

from mailconf.cli import build_parser

#: The characters reStructuredText would read as inline markup.
_MARKUP = re.compile(r"([\\`*_|])")
_EXAMPLES = "examples:\n"


def parser() -> argparse.ArgumentParser:
    """Every command's parser, with its texts as reStructuredText (the directive's ``:func:``)."""
    top = build_parser()
    _rewrite(top)
    return top


def _rewrite(parser: argparse.ArgumentParser) -> None:
    parser.description = _paragraphs(parser.description)
    parser.epilog = _epilog(parser.epilog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = _paragraphs(choice.help)
            for sub in dict.fromkeys(action._name_parser_map.values()):
                _rewrite(sub)
        elif action.help is not None and action.help != argparse.SUPPRESS:
            action.help = _paragraphs(action.help)


def _paragraphs(text: str | None) -> str | None:
    """Plain text as reStructuredText paragraphs showing the same words (lines re-flowed)."""
    if not text:
        return text
    blocks = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(_MARKUP.sub(r"\\\1", " ".join(block.split())) for block in blocks)


def _epilog(text: str | None) -> str | None:
    """The "examples:" epilog of :func:`mailconf.cli.common.examples` as a code block."""
    if not text or not text.startswith(_EXAMPLES):
        return _paragraphs(text)
    lines = text[len(_EXAMPLES) :].rstrip("\n").splitlines()
    body = "\n".join("   " + line[2:] if line.startswith("  ") else "   " + line for line in lines)
    return f".. rubric:: Examples\n\n.. code-block:: sh\n\n{body}\n"
