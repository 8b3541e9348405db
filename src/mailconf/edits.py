"""The edits of one file, as ``mailconf edit`` and the Ansible module ``mailconf.mailconf.edit``
make them: one catalogue of operations and one way to apply them.

The command line and the collection are two front ends over the same edits.  With one list of
operations (the name, which kinds of file take it, the shape of its argument, its help) and one
function that applies them and runs ``lint`` on the result, an operation cannot exist in one
front end and not in the other, and an edit one refuses the other refuses with the same findings.
Each front end only spells the arguments its own way: the command line repeats an option with a
word (``--set NAME=VALUE``, built by :mod:`mailconf.cli.edit` from :data:`OPERATIONS`); YAML or
JSON gives a list of items or a mapping of key to value (:func:`from_structured`).

Each operation calls the model's method of the same name (``add_milter`` is
:meth:`MainCf.add_milter <mailconf.postfix.main.MainCf.add_milter>`), so a Python caller of the
models gets the same edits; what :func:`apply` adds is the net under them: what lint says of the
result that it did not say before is returned, and an error refuses the edit unless ``force``.

Only the base layer is imported here: the file's model comes from its kind
(:mod:`mailconf.syntax.kinds`), so ``mailconf edit main.cf`` imports main.cf's model and nothing
heavier (tests/cli/test_lazy_imports.py).
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from mailconf.errors import EditError, UsageError
from mailconf.findings import Finding, Severity

if TYPE_CHECKING:
    from mailconf.syntax.document import Document, Value

__all__ = [
    "OPERATIONS",
    "Call",
    "EditResult",
    "LintRefusal",
    "Operation",
    "Shape",
    "apply",
    "check_kind",
    "from_structured",
    "from_word",
    "load",
    "operation",
    "operations_for",
    "restriction",
]


class Shape(enum.Enum):
    """How an operation's argument is given."""

    #: One string an edit: ``--unset NAME`` repeated; a list of strings.
    ITEM = "item"
    #: A key and a value an edit: ``--set NAME=VALUE`` repeated; a mapping of key to value.
    PAIR = "pair"
    #: A restriction list, an item and its place: ``--add-restriction LIST ITEM --last``; a
    #: mapping with ``list``, ``item``, ``after`` and ``last``.
    RESTRICTION = "restriction"


_MAIN = frozenset({"postfix-main"})
_MASTER = frozenset({"postfix-master"})
_MILTER_CONF = frozenset({"opendkim", "opendmarc"})
_SETTABLE = _MAIN | _MILTER_CONF | {"shellvars"}
_TABLES = frozenset({"keytable", "signingtable"})
_HOSTS = frozenset({"hostlist"})


@attrs.frozen
class Operation:
    """One edit: the model method ``name`` called on a file of one of ``kinds``."""

    name: str
    kinds: frozenset[str]
    shape: Shape
    #: The argument as the command line shows it (``NAME=VALUE``; ``LIST ITEM`` as a pair).
    metavar: str | tuple[str, str]
    help: str | None = None
    #: What a key is made of, when it is a path (``NAME/TYPE/FIELD``): the method takes the
    #: parts as arguments of their own.  Empty: the key is one argument.
    parts: tuple[str, ...] = ()
    #: Between key and value in one word: ``=``, or a blank for a table row (``'KEY VALUE'``).
    separator: str = "="
    #: The kinds whose method takes ``force`` (it refuses what lint calls an error by itself).
    force_kinds: frozenset[str] = frozenset()
    #: The method takes ``root``: where the milters' configuration is read.
    takes_root: bool = False


#: Every edit, in the order :func:`apply` makes them and ``mailconf edit --help`` lists them: a
#: table's additions before its removals; master.cf's services added, then removed, then their
#: fields and overrides edited (an edit of a service removed in the same command is refused:
#: the service is not there).
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "set", _SETTABLE, Shape.PAIR, "NAME=VALUE", "set a parameter/option",
        force_kinds=_MILTER_CONF,
    ),
    Operation("unset", _SETTABLE, Shape.ITEM, "NAME", "remove a parameter/option"),
    Operation(
        "add_milter", _MAIN, Shape.ITEM, "M",
        "main.cf: add a milter (opendkim, opendmarc, or a socket spec) to smtpd_milters "
        "(and non_smtpd_milters: $smtpd_milters unless set otherwise)",
        takes_root=True,
    ),
    Operation(
        "remove_milter", _MAIN, Shape.ITEM, "M",
        "main.cf: remove the milter connecting to M's socket from both lists",
        takes_root=True,
    ),
    Operation(
        "add_restriction", _MAIN, Shape.RESTRICTION, ("LIST", "ITEM"),
        "main.cf: insert ITEM into the restriction list LIST (with --last or --after)",
    ),
    Operation(
        "add_service", _MASTER, Shape.ITEM, "LINE",
        "master.cf: add or update a service from a master.cf line",
    ),
    Operation(
        "add_entry", _TABLES, Shape.PAIR, "'KEY VALUE'", "KeyTable/SigningTable: add a row",
        separator=" ", force_kinds=_TABLES,
    ),
    Operation(
        "remove_entry", _TABLES, Shape.ITEM, "KEY", "KeyTable/SigningTable: remove KEY's rows"
    ),
    Operation(
        "add_host", _HOSTS, Shape.ITEM, "HOST", "host list: add a host", force_kinds=_HOSTS
    ),
    Operation("remove_host", _HOSTS, Shape.ITEM, "HOST", "host list: remove a host"),
    Operation(
        "remove_service", _MASTER, Shape.ITEM, "NAME/TYPE", "postconf -MX", parts=("NAME", "TYPE")
    ),
    Operation(
        "set_field", _MASTER, Shape.PAIR, "NAME/TYPE/FIELD=VALUE",
        "master.cf: set a field (postconf -F; FIELD as postconf names it)",
        parts=("NAME", "TYPE", "FIELD"),
    ),
    Operation(
        "set_option", _MASTER, Shape.PAIR, "NAME/TYPE/PARAM=VALUE",
        "master.cf: set a -o override (postconf -P)",
        parts=("NAME", "TYPE", "PARAM"),
    ),
    Operation(
        "unset_option", _MASTER, Shape.ITEM, "NAME/TYPE/PARAM",
        "master.cf: remove a -o override (postconf -PX)",
        parts=("NAME", "TYPE", "PARAM"),
    ),
)  # fmt: skip

_BY_NAME = {op.name: op for op in OPERATIONS}
_ORDER = {op.name: index for index, op in enumerate(OPERATIONS)}

#: How a front end spells an option's name in its messages (``--add-host``, ``add_host``).
Spell = Callable[[str], str]


def _as_is(name: str) -> str:
    return name


def operation(name: str) -> Operation:
    """The operation called ``name`` (KeyError for none)."""
    return _BY_NAME[name]


def operations_for(kind: str) -> list[Operation]:
    """The operations a file of ``kind`` takes, in :data:`OPERATIONS` order."""
    return [op for op in OPERATIONS if kind in op.kinds]


def check_kind(kind: str, names: Iterable[str], spell: Spell = _as_is) -> None:
    """UsageError naming the first operation of ``names`` (in catalogue order) that a file of
    ``kind`` does not take."""
    for name in sorted(names, key=_ORDER.__getitem__):
        if kind not in _BY_NAME[name].kinds:
            raise UsageError(f"{spell(name)} does not apply to a {kind} file")


# ----------------------------------------------------------------------------- one edit
@attrs.frozen
class Call:
    """One edit: ``operation``'s method with ``arguments`` (and a restriction's place)."""

    operation: Operation
    arguments: tuple[Value, ...]
    after: str | None = None
    last: bool = False


def from_word(op: Operation, text: str, spell: Spell = _as_is) -> Call:
    """The edit one word of the command line asks for (``--set-field smtp/inet/chroot=n``)."""
    if op.shape is Shape.ITEM:
        return _item(op, text, spell)
    if op.shape is not Shape.PAIR:
        raise ValueError(f"{op.name} is not given as one word")
    if op.separator == " ":
        key, _, value = text.strip().partition(" ")
        return Call(op, (key, value.strip()))
    key, equals, value = text.partition("=")
    if not equals:
        raise _form_error(op, text, spell)
    return _pair(op, key, value, text, spell)


def restriction(list_name: str, item: str, *, after: str | None, last: bool) -> Call:
    """``add_restriction``: ``item`` into ``list_name``, after ``after`` or ``last``."""
    return Call(_BY_NAME["add_restriction"], (list_name, item), after=after, last=last)


def from_structured(values: Mapping[str, object], spell: Spell = _as_is) -> list[Call]:
    """The edits named by the keys of ``values`` (YAML or JSON: the Ansible module's options),
    each given as its shape says: a list of strings (:attr:`Shape.ITEM`), a mapping of key to
    value (:attr:`Shape.PAIR`; a null value is empty), or a mapping with ``list``, ``item`` and
    ``after`` or ``last`` (:attr:`Shape.RESTRICTION`).  Keys of no operation, and None values,
    are skipped."""
    calls: list[Call] = []
    for op in OPERATIONS:
        value = values.get(op.name)
        if value is None:
            continue
        if op.shape is Shape.ITEM:
            calls.extend(_item(op, str(item), spell) for item in _sequence(op, value, spell))
        elif op.shape is Shape.PAIR:
            for key, item in _mapping(op, value, spell).items():
                item = "" if item is None else item
                text = f"{key}{op.separator}{item}"
                if op.separator == " ":
                    calls.append(Call(op, (str(key).strip(), _value(op, item, text, spell))))
                else:
                    calls.append(_pair(op, str(key), item, text, spell))
        else:
            where = _mapping(op, value, spell)
            after = where.get("after")
            calls.append(
                restriction(
                    str(where.get("list", "")),
                    str(where.get("item", "")),
                    after=None if after is None else str(after),
                    last=bool(where.get("last")),
                )
            )
    return calls


def _sequence(op: Operation, value: object, spell: Spell) -> Sequence[object]:
    if isinstance(value, (list, tuple)):
        return value
    raise UsageError(f"{spell(op.name)} takes a list, got {type(value).__name__}")


def _mapping(op: Operation, value: object, spell: Spell) -> Mapping[str, object]:
    if isinstance(value, Mapping):
        return value
    raise UsageError(f"{spell(op.name)} takes a mapping, got {type(value).__name__}")


def _item(op: Operation, text: str, spell: Spell) -> Call:
    if not op.parts:
        return Call(op, (text,))
    if "=" in text:
        raise _form_error(op, text, spell)
    return Call(op, _split(op, text, text, spell))


def _pair(op: Operation, key: str, value: object, text: str, spell: Spell) -> Call:
    if op.parts:
        return Call(op, (*_split(op, key, text, spell), _value(op, value, text, spell)))
    if not key.strip():
        raise _form_error(op, text, spell)
    given = _value(op, value, text, spell)
    return Call(op, (key.strip(), given.strip() if isinstance(given, str) else given))


def _split(op: Operation, key: str, text: str, spell: Spell) -> tuple[str, ...]:
    parts = tuple(key.split("/"))
    if len(parts) != len(op.parts) or not all(parts):
        raise _form_error(op, text, spell)
    return parts


def _value(op: Operation, value: object, text: str, spell: Spell) -> Value:
    """A value as the model takes it: text, or (a parameter or option, ``set``) a number or a
    boolean, which the model spells as the file's daemon does.  A master.cf field or override
    and a table row's value are text: a YAML boolean there is refused rather than guessed (``y``,
    ``yes`` or ``true``?), a number is written in decimal."""
    settable = not op.parts and op.separator == "="
    if isinstance(value, str) or (isinstance(value, (int, bool)) and settable):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise UsageError(f"{spell(op.name)} needs text for {text!r} (quote it)")


def _form_error(op: Operation, text: str, spell: Spell) -> UsageError:
    return UsageError(f"{spell(op.name)} needs {op.metavar}, got {text!r}")


# ----------------------------------------------------------------------------- applying
@attrs.frozen
class EditResult:
    """The file's text before and after the edits, and what lint says of the result that it
    did not say before (warnings; with ``force``, errors too)."""

    before: str
    after: str
    findings: tuple[Finding, ...]

    @property
    def changed(self) -> bool:
        return self.after != self.before


class LintRefusal(EditError):
    """The edits were refused, the document left as it was: lint would call the result an
    error.  :attr:`findings` is everything lint says of the result that it did not say before."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        self.errors = tuple(f for f in self.findings if f.severity is Severity.ERROR)
        super().__init__(
            f"not changed: lint would report {len(self.errors)} error(s) in the result"
        )


def load(path: str | os.PathLike[str], kind: str | None = None, root: str = "/") -> Document:
    """The document ``path`` holds, as its kind's model (the kind from its name unless given),
    an OpenDKIM file with its ``Include``s read under ``root``, so an edit and ``get`` see what
    ``opendkim -e`` sees."""
    from mailconf.syntax.kinds import load_file

    doc = load_file(path, kind)
    if doc.kind == "opendkim":  # by kind: other files' edits import no milter model
        from mailconf.milter.conf import MilterConf

        assert isinstance(doc, MilterConf)
        doc.include_root = root
    return doc


def apply(
    doc: Document, calls: Iterable[Call], *, root: str = "/", force: bool = False
) -> EditResult:
    """Make ``calls`` on ``doc`` in :data:`OPERATIONS` order (the calls of one operation in the
    order given), then lint the result under ``root``.  LintRefusal when lint calls the result
    an error it did not call the file before, unless ``force``; an edit the model refuses itself
    raises its own EditError.  Nothing is written: the caller saves ``doc`` (or shows the
    diff), and does neither after a refusal."""
    calls = sorted(calls, key=lambda call: _ORDER[call.operation.name])
    check_kind(doc.kind, {call.operation.name for call in calls})
    before = doc.dump()
    findings_before = doc.lint(root)
    for call in calls:
        _make(doc, call, root, force)
    after = doc.dump()
    new = _new_findings(findings_before, doc.lint(root)) if after != before else []
    refusal = LintRefusal(new)
    if refusal.errors and not force:
        raise refusal
    return EditResult(before, after, tuple(new))


def _make(doc: Document, call: Call, root: str, force: bool) -> None:
    op = call.operation
    keywords: dict[str, object] = {}
    if op.takes_root:
        keywords["root"] = root
    if doc.kind in op.force_kinds:
        keywords["force"] = force
    if op.shape is Shape.RESTRICTION:
        keywords.update(after=call.after, last=call.last)
    getattr(doc, op.name)(*call.arguments, **keywords)


def _new_findings(before: Sequence[Finding], after: Sequence[Finding]) -> list[Finding]:
    """The findings of ``after`` that ``before`` does not have (as many times as it has them)."""
    seen = Counter((f.code, f.message) for f in before)
    new = []
    for finding in after:
        if seen[(finding.code, finding.message)]:
            seen[(finding.code, finding.message)] -= 1
        else:
            new.append(finding)
    return new
