"""The option tables of OpenDKIM and OpenDMARC and how each daemon reads a value.

The tables are data (``data/milter/<daemon>.tsv``), measured on the packaged binaries by
``tools/gen_milter_options.py``.  Value rules are those of the daemons' shared ``config.c``:

* names match ignoring case (``strcasecmp``);
* a boolean looks at its first character only: ``t T y Y 1`` are true, ``f F n N 0`` false,
  anything else (``on``, ``off``) is refused;
* an integer is C ``strtol(value, &end, 0)`` and the whole value must be consumed: ``007`` is
  octal, ``0x1ff`` hex, ``08`` refused; the ``long`` result is then cast to ``int``.
"""

from __future__ import annotations

import difflib
import functools

import attrs

from mailconf._data import read_data

BOOLEAN = "boolean"
INTEGER = "integer"
STRING = "string"
DATASET = "dataset"
INCLUDE = "include"
REFUSED = "refused"

_TRUE = "tTyY1"
_FALSE = "fFnN0"
_C_SPACE = " \t\n\v\f\r"
_LONG_MAX = 2**63 - 1
_LONG_MIN = -(2**63)

# Options that were removed from OpenDKIM with ADSP (RFC 5617, Historic since 2013); the binary
# refuses them as unrecognized parameters.
ADSP_OPTIONS = frozenset(
    name.lower()
    for name in (
        "ADSPAction",
        "ADSPNoSuchDomain",
        "LocalADSP",
        "SendADSPReports",
        "BogusPolicy",
        "UnprotectedPolicy",
        "On-PolicyError",
    )
)

# Names people write that the binaries do not know, and what they meant.
KNOWN_MISTAKES = {
    "opendkim": {
        "resolverconfig": "ResolverConfiguration",
        "socketpath": "Socket",
        "keytablefile": "KeyTable",
        "user": "UserID",
    },
    "opendmarc": {
        "user": "UserID",
    },
}


@attrs.frozen
class OptionSpec:
    """One option as the binary knows it."""

    name: str
    type: str
    documented: bool
    #: what ``-n`` opens at start when the value is a path: "file", "directory" or "" (nothing;
    #: data sets are opened too, see :func:`path_options`)
    opens: str = ""

    @property
    def accepted(self) -> bool:
        return self.type != REFUSED


@functools.cache
def option_table(kind: str) -> dict[str, OptionSpec]:
    """Lower-cased name -> spec for ``kind`` ("opendkim" or "opendmarc"), refused names included."""
    text = read_data("milter", f"{kind}.tsv")
    table: dict[str, OptionSpec] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, type_, documented, opens = line.split("\t")
        table[name.lower()] = OptionSpec(
            name, type_, documented == "documented", "" if opens == "-" else opens
        )
    return table


@functools.cache
def path_options(kind: str) -> dict[str, OptionSpec]:
    """Lower-cased name -> spec of every accepted option whose path ``-n`` opens at start: the
    data sets (OpenDKIM) and the files and directories of the ``opens`` column."""
    return {
        folded: spec
        for folded, spec in option_table(kind).items()
        if spec.accepted and (spec.opens or (kind == "opendkim" and spec.type == DATASET))
    }


#: Integer options whose value is a file mode (folded names; the same in both daemons' tables):
#: written and read in octal by admins and the manuals (``UMask 022``), so a view of the file
#: (``show``, its ``--json``, ``get``) gives the value as written, never the integer (18).
MODE_OPTIONS = frozenset({"umask"})


def option_spec(kind: str, name: str) -> OptionSpec | None:
    """The spec of an option the binary accepts, or None (unknown or refused by this build)."""
    spec = option_table(kind).get(name.lower())
    return spec if spec is not None and spec.accepted else None


def canonical_name(kind: str, name: str) -> str:
    spec = option_spec(kind, name)
    return spec.name if spec is not None else name


def suggest(kind: str, name: str) -> str | None:
    """The accepted option an unknown ``name`` most likely means (did-you-mean)."""
    folded = name.lower()
    mistake = KNOWN_MISTAKES.get(kind, {}).get(folded)
    if mistake is not None:
        return mistake
    accepted = {key: spec.name for key, spec in option_table(kind).items() if spec.accepted}
    base = folded.split("=", 1)[0].split(":", 1)[0]
    if base in accepted and base != folded:
        return accepted[base]
    close = difflib.get_close_matches(base, list(accepted), n=1, cutoff=0.75)
    return accepted[close[0]] if close else None


def unknown_option_message(kind: str, name: str) -> tuple[str, str, str]:
    """``(message, fix, code)`` for an option the binary does not know."""
    folded = name.lower()
    spec = option_table(kind).get(folded)
    hint = suggest(kind, name)
    fix = f"did you mean {hint!r}?" if hint else "remove the line"
    if folded in ADSP_OPTIONS:
        return (
            f"unrecognized parameter {name!r}: an ADSP option (ADSP is Historic since 2013 and was "
            "removed from OpenDKIM)",
            "remove the line",
            "milter.adsp-option",
        )
    if spec is not None and spec.documented:
        return (
            f"unrecognized parameter {name!r}: documented in {kind}.conf(5) but not compiled into "
            "this build",
            "remove the line",
            "milter.option-not-in-build",
        )
    if "=" in name:
        left = name.split("=", 1)[0]
        fix = f"write {left!r} and its value separated by a space, not '='"
    return f"unrecognized parameter {name!r}", fix, "milter.unknown-option"


def parse_boolean(value: str) -> bool | None:
    """The daemon's boolean (first character only), or None when it refuses the value."""
    if value[:1] and value[0] in _TRUE:
        return True
    if value[:1] and value[0] in _FALSE:
        return False
    return None


def c_strtol(value: str) -> tuple[int, int]:
    """C ``strtol(value, &end, 0)``: ``(result, end index)``; end 0 means no conversion."""
    index, length = 0, len(value)
    while index < length and value[index] in _C_SPACE:
        index += 1
    negative = False
    if index < length and value[index] in "+-":
        negative = value[index] == "-"
        index += 1
    base = 10
    if (
        value[index : index + 2].lower() == "0x"
        and index + 2 < length
        and _digit(value[index + 2], 16)
    ):
        base, index = 16, index + 2
    elif value[index : index + 1] == "0":
        base = 8
    start = index
    while index < length and _digit(value[index], base):
        index += 1
    if index == start:
        return 0, 0
    number = int(value[start:index], base)
    number = -number if negative else number
    return max(_LONG_MIN, min(_LONG_MAX, number)), index


def _digit(char: str, base: int) -> bool:
    return char.isascii() and char.isalnum() and int(char, 36) < base


def parse_integer(value: str) -> int | None:
    """The daemon's integer (``(int) strtol(value, &end, 0)``, all consumed), or None if refused."""
    number, end = c_strtol(value)
    if end == 0 or end != len(value):
        return None
    number &= 0xFFFFFFFF  # the cast of the long to a 32-bit int
    return number - 2**32 if number >= 2**31 else number


def typed_value(spec_type: str, value: str) -> bool | int | str | None:
    """``value`` read as ``spec_type``; None when the daemon refuses it."""
    if spec_type == BOOLEAN:
        return parse_boolean(value)
    if spec_type == INTEGER:
        return parse_integer(value)
    return value


def value_problem(kind: str, name: str, value: str) -> str | None:
    """Why the daemon refuses ``name value`` while reading the file, in its words; else None."""
    spec = option_spec(kind, name)
    if spec is None:
        return "unrecognized parameter"
    if value == "":
        return "required value missing"
    if kind == "opendkim" and spec.type == INCLUDE:
        return None
    if typed_value(spec.type, value) is None:
        return "illegal value"
    return None


def daemon_first_error(text: str, kind: str) -> tuple[int, str] | None:
    """``(line, reason)`` of the first line the daemon's ``config_load`` refuses, reading raw text
    as it does (for a file that does not parse: the daemon may stop on an earlier line than the
    one the parser stopped on, e.g. an unknown name before a name-only line)."""
    cuts = "#\r" if kind == "opendkim" else "#"
    for number, line in enumerate(text.split("\n"), start=1):
        for cut in cuts:
            line = line.split(cut, 1)[0]
        words = line.lstrip(" \t")
        if not words.strip(" \t"):
            continue
        end = next((i for i, char in enumerate(words) if char in " \t"), len(words))
        problem = value_problem(kind, words[:end], words[end:].strip(" \t"))
        if problem is not None:
            return number, problem
    return None
