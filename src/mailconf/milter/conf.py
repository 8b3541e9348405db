"""/etc/opendkim.conf and /etc/opendmarc.conf: one ``Name value`` option per line.

Both daemons read their file with the same routine (``config.c``); they differ in where a line
ends (OpenDKIM also cuts at a carriage return) and in their option tables
(:mod:`mailconf.milter.options`, measured on the packaged binaries).

Reading: :meth:`MilterConf.get` (raw string, last occurrence wins, name case-insensitive; for
OpenDKIM with every ``Include`` read in place, as ``opendkim -e`` answers),
:meth:`~MilterConf.typed` (the daemon's boolean/integer), :meth:`~MilterConf.dataset` (what a
data-set value points at).  Editing: :meth:`~MilterConf.set` / :meth:`~MilterConf.unset`, which
refuse what the daemon would refuse and keep comments and the file's name/value alignment.
Checking: :meth:`~MilterConf.validate` (errors: the daemon would not start) and
:meth:`~MilterConf.lint` (those errors, and warnings, see :mod:`mailconf.milter.lint`).
The values OpenDKIM refuses are checked in :mod:`mailconf.milter.opendkim_rules`.
"""

from __future__ import annotations

import re
from typing import ClassVar

import attrs

from mailconf.errors import EditError, ValidationError
from mailconf.findings import Finding, Severity
from mailconf.milter import opendkim_rules
from mailconf.milter import options as mo
from mailconf.milter.datasets import DataSetSpec, parse_dataset
from mailconf.syntax import grammar
from mailconf.syntax.document import Document, Value
from mailconf.syntax.layout import align_like, visual_width
from mailconf.syntax.parts import NameValueEntry


@attrs.frozen(eq=False)
class Option(NameValueEntry):
    """``Name value [# comment]``: the parts the grammar's ``OPTION`` names (indent, name, sep,
    value, space, comment, newline).  The value is what the daemon reads: trimmed, and cut where
    the daemon cuts the line (``#`` or a NUL byte; OpenDKIM also cuts at a carriage return)."""

    grammar_name = "opendmarc"
    parts_terminal = "OPTION"

    @property
    def value_column(self) -> int:
        """The visual column (tabs every 8) where the value starts."""
        return visual_width(self.text[: self.parts.start("value")])

    def with_value(self, value: str) -> str:
        """This line with another value, everything else (indentation, spelling of the name,
        separator, trailing comment, line ending) kept."""
        parts = self.parts
        return self.text[: parts.start("value")] + value + self.text[parts.end("value") :]


@attrs.frozen(eq=False)
class OpenDkimOption(Option):
    grammar_name = "opendkim"


@attrs.define(eq=False)
class MilterConf(Document):
    """Shared by both daemons' files: options by case-insensitive name, the last one winning.

    Its lint (:meth:`lint`, :func:`mailconf.milter.lint.lint_milter_conf`) is :meth:`validate`'s
    errors and the warnings about what the daemon accepts but does not do what was meant."""

    linter = ("mailconf.milter.lint", "lint_milter_conf")

    #: The daemon's name as its documentation writes it.
    daemon: ClassVar[str] = ""
    #: The daemon reads a line longer than its 1 KiB buffer as two lines.
    splits_long_lines: ClassVar[bool] = False
    #: The daemon cuts a line at a carriage return (else a CR is part of the value or name).
    cuts_at_cr: ClassVar[bool] = False
    #: Files (option names, lower case) read only once mail flows: ``-n`` ignores them.
    late_files: ClassVar[tuple[str, ...]] = ()
    #: Where ``Include`` paths are read (OpenDKIM): ``/``, the ``--root`` the file belongs to,
    #: or None (the default) to read this file alone: only the caller knows which system the
    #: file belongs to, so it says (the CLI, the doctor and lint do; lint reads each included
    #: file alone too).
    include_root: str | None = attrs.field(default=None, kw_only=True)
    _read_cache: tuple[tuple[int, ...], list[Option]] | None = attrs.field(
        default=None, init=False, repr=False
    )

    # ------------------------------------------------------------------ reading
    @property
    def options(self) -> dict[str, str]:
        """Name (as first written) -> value of the last occurrence, names matched ignoring case
        (included options too: :meth:`read_options`)."""
        spelled: dict[str, str] = {}
        values: dict[str, str] = {}
        for entry in self.read_options():
            folded = entry.name.lower()
            spelled.setdefault(folded, entry.name)
            values[folded] = entry.value
        return {spelled[folded]: value for folded, value in values.items()}

    @property
    def _options(self) -> list[Option]:
        return [entry for entry in self.entries if isinstance(entry, Option)]

    def read_options(self) -> list[Option]:
        """The options in the order the daemon reads them: this file's, each OpenDKIM
        ``Include`` replaced by the options of the file it names (recursively, as deep as
        opendkim goes), so the last occurrence of a name is the one ``opendkim -e`` prints
        first.  An included file that cannot be read or parsed adds nothing (lint says why).
        Read once per state of the entries."""
        key = tuple(map(id, self.entries))
        if self._read_cache is None or self._read_cache[0] != key:
            self._read_cache = (key, self._read_includes())
        return self._read_cache[1]

    def _read_includes(self) -> list[Option]:
        return self._options

    def occurrences(self, name: str) -> list[Option]:
        """This file's own lines for ``name`` (what edits change; includes not read)."""
        folded = name.lower()
        return [entry for entry in self._options if entry.name.lower() == folded]

    def get(self, name: str) -> str | None:
        """The raw value the daemon uses for ``name`` (last occurrence, included files read in
        place; name ignoring case)."""
        folded = name.lower()
        for entry in reversed(self.read_options()):
            if entry.name.lower() == folded:
                return entry.value
        return None

    def typed(self, name: str) -> bool | int | str | None:
        """``get(name)`` read the daemon's way: booleans by first character, integers as C
        ``strtol`` base 0 cast to int; strings unchanged.  None when absent; the raw string when
        the daemon would refuse the value (:meth:`validate` reports it)."""
        value = self.get(name)
        return None if value is None else self._typed(name, value)

    def _typed(self, name: str, value: str) -> bool | int | str:
        spec = mo.option_spec(self.kind, name)
        if spec is None:
            return value
        typed = mo.typed_value(spec.type, value)
        return value if typed is None else typed

    def typed_options(self) -> dict[str, bool | int | str]:
        """Every option (name as first written) -> :meth:`typed` value."""
        # From one pass over the file: typed(name) for each name would be a pass each.
        return {name: self._typed(name, value) for name, value in self.options.items()}

    def dataset(self, name: str) -> DataSetSpec | None:
        """What a data-set option (``KeyTable``, ``InternalHosts``, ...) points at, or None when
        the option is absent or not a data set.  OpenDMARC's ``IgnoreHosts`` is a plain file."""
        value = self.get(name)
        if value is None:
            return None
        spec = mo.option_spec(self.kind, name)
        if spec is None or spec.type != mo.DATASET:
            return None
        return parse_dataset(value)

    def to_json(self) -> dict[str, object]:
        """Each option typed (booleans, integers), except a file mode, given as written (``"022"``,
        as ``show`` and ``get`` print it: :data:`~mailconf.milter.options.MODE_OPTIONS`)."""
        return {
            "options": {
                name: value if name.lower() in mo.MODE_OPTIONS else self._typed(name, value)
                for name, value in self.options.items()
            }
        }

    # ------------------------------------------------------------------ editing
    def check_option(self, name: str, value: str) -> tuple[str, str]:
        """The canonical name and trimmed value of ``name value``, or ValidationError when the
        daemon would refuse the line."""
        spec = mo.option_spec(self.kind, name)
        if spec is None:
            message, fix, _ = mo.unknown_option_message(self.kind, name)
            raise ValidationError(f"{self.kind}: {message}; {fix}")
        stripped = value.strip(" \t")
        if not stripped:
            raise ValidationError(f"{spec.name}: empty value (the daemon refuses to start)")
        forbidden = "#\n\r\0"
        for char in forbidden:
            if char in stripped:
                raise ValidationError(
                    f"{spec.name}: the value may not contain {char!r} "
                    "(the daemon cuts the line there)"
                )
        problem = mo.value_problem(self.kind, spec.name, stripped)
        if problem is not None:
            expected = {mo.BOOLEAN: "a boolean (yes/no, true/false, 1/0)", mo.INTEGER: "an integer"}
            raise ValidationError(
                f"{spec.name}: {stripped!r} is not {expected.get(spec.type, 'valid')} ({problem})"
            )
        return spec.name, stripped

    def set(
        self, name: str, value: Value, *, after: str | None = None, force: bool = False
    ) -> bool:
        """Set ``name`` to ``value``; False when the daemon already reads that value (from this
        file, or from an ``Include`` when :attr:`include_root` is set): nothing changes.  A
        number is written in decimal, a boolean as ``yes``/``no``.

        An existing option is replaced in place (its spelling, indentation, separator and trailing
        comment kept); a new one goes after the last occurrence of ``after`` or after the last
        option, aligned like that line.  Raises ValidationError for a line the daemon refuses,
        and EditError for a value :meth:`validate` (so ``lint``) calls an error, such as
        ``Mode xyz`` (:meth:`value_error`, the one check of both); ``force`` writes it anyway
        (``mailconf edit --force``).  What depends on other options (KeyTable without
        SigningTable) is not refused here: a caller sets them one by one.
        """
        if not force:
            text = self.value_text(value).strip(" \t")
            error = self.value_error(name, text)
            if error is not None:
                message, code = error
                raise EditError(
                    f"{self.kind}: {name} {text}: {message} [{code}] (the daemon refuses to "
                    "start; force=True writes it anyway)"
                )
        canonical, value = self.check_option(name, self.value_text(value))
        found = self.occurrences(canonical)
        if found:
            last = found[-1]
            if last.value == value:
                return False
            self.replace(last, last.with_value(value))
            return True
        if self.get(canonical) == value:  # an Include already sets it so: the daemon has it
            return False
        if after is None and self._next_to_commented(canonical, value):
            return True
        reference: Option | None = None
        if after is not None:
            anchors = self.occurrences(after)
            if not anchors:
                raise ValidationError(f"{self.kind}: cannot insert after {after!r}: it is not set")
            reference = anchors[-1]
        elif self._options:
            reference = self._options[-1]
        text = _aligned_line(canonical, value, reference, self._options)
        entry = self.parse_entry(text)
        index = self.entries.index(reference) + 1 if reference is not None else len(self.entries)
        self.insert(index, entry)
        return True

    def _next_to_commented(self, name: str, value: str) -> bool:
        """Put a new ``name value`` where the file already shows it commented out (Debian's
        ``#Mode  sv``): in its place when the commented line has the same value (the admin's
        line, uncommented), else on the line after it; laid out like that line.  False when no
        comment names it (the caller appends it then).  The commented line with the same value
        wins, else the last one."""
        pattern = re.compile(
            rf"^#[ \t]*({re.escape(name)})([ \t]+)([^\r\n]*?)[ \t]*(\r?\n)", re.IGNORECASE | re.M
        )
        places = [
            (index, match)
            for index, text in enumerate([*(e.leading for e in self.entries), self.trailer])
            for match in pattern.finditer(text)
        ]
        if not places:
            return False
        same = [place for place in places if place[1].group(3) == value]
        index, match = (same or places)[-1]
        text = self.entries[index].leading if index < len(self.entries) else self.trailer
        cut = match.start() if same else match.end()
        line = self.parse_entry(f"{name}{match.group(2)}{value}{match.group(4)}")
        if index < len(self.entries):
            following = self.entries[index]
            self.entries[index] = attrs.evolve(following, leading=text[match.end() :])
            self.entries.insert(index, attrs.evolve(line, leading=text[:cut]))
        else:
            self.trailer = text[match.end() :]
            self.entries.append(attrs.evolve(line, leading=text[:cut]))
        return True

    def unset(self, name: str) -> bool:
        """Remove every occurrence of ``name`` with the comment lines directly above it (a
        heading above a blank line stays: :func:`~mailconf.syntax.document.split_owned`); False
        if absent."""
        found = self.occurrences(name)
        self.remove_each(found)
        return bool(found)

    # ----------------------------------------------------------------- checking
    def value_error(self, name: str, value: str) -> tuple[str, str] | None:
        """``(message, code)`` when the daemon refuses ``value`` for option ``name`` once the file
        is read (in its words), else None: what :meth:`validate` reports and :meth:`set`
        refuses, so the two cannot disagree.  The daemons without such checks: None."""
        return None

    def validate(self) -> list[Finding]:
        """What the daemon refuses (errors), the daemon's first complaint first: this file's
        lines, then the checks on every option read (included ones too)."""
        return self.validate_lines() or self._semantics()

    def validate_lines(self) -> list[Finding]:
        """The lines of this file the daemon refuses (names, values), without the checks made
        on the whole configuration (an included file is only part of it)."""
        findings: list[Finding] = []
        for entry in self._options:
            problem = mo.value_problem(self.kind, entry.name, entry.value)
            if problem is None:
                continue
            findings.append(self._line_finding(entry, problem))
        return findings

    def _semantics(self) -> list[Finding]:
        """The checks the daemon makes after reading the file (each kind its own)."""
        return []

    def _last_line(self, name: str) -> int | None:
        found = self.occurrences(name)
        return (found[-1].lineno or self.line_of(found[-1])) if found else None

    def _line_finding(self, entry: Option, problem: str) -> Finding:
        line = entry.lineno or self.line_of(entry)
        if problem == "unrecognized parameter":
            message, fix, code = mo.unknown_option_message(self.kind, entry.name)
            return Finding(Severity.ERROR, code, message, fix, self.path, line)
        spec = mo.option_spec(self.kind, entry.name)
        assert spec is not None
        if problem == "illegal value":
            expected = {mo.BOOLEAN: "a boolean", mo.INTEGER: "an integer"}.get(spec.type, "valid")
            fix = {
                mo.BOOLEAN: "use yes/no, true/false or 1/0 (on/off are refused)",
                mo.INTEGER: "write a C integer: decimal, 0-prefixed octal (digits 0-7) or 0x hex",
            }.get(spec.type, "")
            message = f"illegal value: {spec.name} {entry.value!r} is not {expected}"
            return Finding(Severity.ERROR, "milter.illegal-value", message, fix, self.path, line)
        return Finding(
            Severity.ERROR,
            "milter.missing-value",
            f"required value missing for {spec.name}",
            "",
            self.path,
            line,
        )

    # ------------------------------------------------------------------ parsing
    @classmethod
    def explain_line(cls, line: str, column: int = 1) -> tuple[int, str]:
        """Why a line did not parse, in the daemon's terms (it exits 78 on these)."""
        stripped = line.lstrip(" \t")
        column = len(line) - len(stripped) + 1
        if stripped.startswith("\r") and not cls.cuts_at_cr:
            return column, "a line holding only a carriage return is an unnamed option to OpenDMARC"
        name = grammar.part_pattern(cls.kind, "NAME").match(stripped)
        spelled = name.group() if name is not None else ""
        if mo.option_spec(cls.kind, spelled) is None:
            message = mo.unknown_option_message(cls.kind, spelled)[0]
            return column, f"{message} (the daemon refuses to start)"
        message = (
            f"option {spelled!r} has no value (required value missing: the daemon refuses to start)"
        )
        return column + len(spelled), message


# opendkim/config.c refuses nesting deeper than this (MAXLEVEL).
INCLUDE_DEPTH = 5


def _with_includes(options: list[Option], root: str, depth: int) -> list[Option]:
    """``options`` with each ``Include`` replaced by the included file's options, in place."""
    from mailconf.errors import MailconfError
    from mailconf.rootpath import under

    result: list[Option] = []
    for entry in options:
        if entry.name.lower() != mo.INCLUDE or depth >= INCLUDE_DEPTH:
            result.append(entry)
            continue
        try:
            included = OpenDkimConf.load(under(root, entry.value))
        except (MailconfError, OSError):
            continue
        result.extend(_with_includes(included._options, root, depth + 1))
    return result


def _aligned_line(name: str, value: str, reference: Option | None, options: list[Option]) -> str:
    """``name value`` laid out like ``reference`` (tabs or spaces up to the same value column)."""
    if reference is None:
        return f"{name} {value}"
    return align_like(
        reference.part("indent"), name, value, reference.part("sep"), reference.value_column
    )


@attrs.define(eq=False)
class OpenDkimConf(MilterConf):
    kind = "opendkim"
    entry_type = OpenDkimOption
    daemon = "OpenDKIM"
    cuts_at_cr = True

    def _read_includes(self) -> list[Option]:
        if self.include_root is None:
            return self._options
        return _with_includes(self._options, self.include_root, 0)

    def _semantics(self) -> list[Finding]:
        """The checks ``dkimf_config_load()`` makes (:mod:`mailconf.milter.opendkim_rules`)."""
        errors = opendkim_rules.config_errors(self)
        return [Finding(Severity.ERROR, code, message, "", self.path) for message, code in errors]

    def value_error(self, name: str, value: str) -> tuple[str, str] | None:
        return opendkim_rules.value_error(name, value)


@attrs.define(eq=False)
class OpenDmarcConf(MilterConf):
    kind = "opendmarc"
    entry_type = Option
    daemon = "OpenDMARC"
    splits_long_lines = True
    # read only once mail flows (``opendmarc -n`` ignores them)
    late_files = ("ignorehosts", "publicsuffixlist")

    def dataset(self, name: str) -> DataSetSpec | None:
        """OpenDMARC has no data sets; its ``IgnoreHosts`` is a plain file of hosts."""
        value = self.get(name)
        if value is None or name.lower() != "ignorehosts":
            return None
        return DataSetSpec(value, "file", path=value)

    def _semantics(self) -> list[Finding]:
        """The check ``opendmarc -n`` makes after reading the file (measured on 1.4.2: the
        ``RejectString`` must hold exactly one ``%s``, counted as ``strstr`` finds them)."""
        reject = self.get("RejectString")
        if reject is None or reject.count("%s") == 1:
            return []
        count = reject.count("%s")
        message = (
            "The RejectString doesn't contain %s!"
            if count == 0
            else f"The RejectString contains {count} occurrences of %s instead of one!"
        )
        return [
            Finding(
                Severity.ERROR,
                "milter.bad-rejectstring",
                message,
                "write exactly one %s where the domain goes",
                self.path,
                self._last_line("RejectString"),
            )
        ]
