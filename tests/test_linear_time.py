"""Every command stays linear in the size of its input: counted, not timed.

Each case runs one operation on inputs of size n, 2n and 3n and counts the function calls it makes
(``sys.setprofile`` sees every Python and C call), plus the length of the document's entry list at
each operation that walks it (``index``, ``in``, ``insert``, ``del``: one C call each, but a scan).

For a linear operation the step from 2n to 3n costs what the step from n to 2n cost, fixed costs
cancelling out (measured: x1.00 for every case); for a quadratic one it costs 5/3 as much.  The
quadratic paths of issue 10 (numbering each finding with ``Document.line_of``, a pass over the
file per duplicate or per built-in name, ``entries.index`` per edited duplicate, a KeyTable lookup
per SigningTable row) measured x1.2 to x1.6 here.  Counts do not depend on the machine's load, so
the bound can be tight.  Other scans inside one C call (``str.find`` to the end of a 50,000-item
line for each item) stay invisible: ``benchmarks/`` times those cases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

import mailconf
from mailconf.milter.conf import MilterConf
from mailconf.milter.table_lint import lint_signingtable
from mailconf.milter.tables import HostList, KeyTable, SigningTable
from mailconf.postfix.lint import lint_main
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf

N = 200
STEP_GROWTH_LIMIT = 1.1


class _Entries(list[Any]):
    """A document's entry list that counts the entries each walking operation goes over."""

    walked = 0

    def _walk(self) -> None:
        _Entries.walked += len(self)

    def index(self, *args: Any) -> int:
        self._walk()
        return super().index(*args)

    def __contains__(self, item: object) -> bool:
        self._walk()
        return super().__contains__(item)

    def insert(self, index: Any, item: Any) -> None:
        self._walk()
        super().insert(index, item)

    def __delitem__(self, index: Any) -> None:
        self._walk()
        super().__delitem__(index)

    def remove(self, item: Any) -> None:
        self._walk()
        super().remove(item)


def _counted(doc: Any) -> Any:
    doc.entries = _Entries(doc.entries)
    return doc


def _cost(action: Callable[[], object]) -> int:
    """Function calls made by ``action``, plus the entries walked by list operations."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        calls += 1

    _Entries.walked = 0
    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls + _Entries.walked


# ---------------------------------------------------------------------------------------- inputs
def repeated(n: int) -> str:
    """n lines setting the same two parameters over and over."""
    return "".join(("biff = no\n", "mydestination = localhost\n")[i % 2] for i in range(n))


def long_list(n: int, *, continued: bool = False) -> str:
    """smtpd_milters and smtpd_recipient_restrictions with n items each."""
    joiner = ",\n    " if continued else ", "
    milters = joiner.join(f"inet:127.0.0.1:{10000 + i}" for i in range(n))
    checks = joiner.join(f"check_sender_access hash:/etc/postfix/s{i}" for i in range(n // 2))
    return (
        "compatibility_level = 3.6\n"
        f"smtpd_milters = {milters}\n"
        f"smtpd_recipient_restrictions = {checks}, reject_unauth_destination\n"
    )


def services(n: int) -> str:
    return "".join(
        f"s{i} unix - - n - - smtp\n  -o smtp_helo_timeout=5s\n  -o s{i}_unknown=1\n"
        for i in range(n)
    )


def key_table(n: int) -> str:
    return "".join(f"k{i} d{i}.example:s:/nonexistent/d{i}.private\n" for i in range(n))


def signing_table(n: int) -> str:
    return "".join(f"*@d{i}.example k{i}\n" for i in range(n))


def host_list(n: int) -> str:
    return "".join(f"10.0.{i // 256}.{i % 256}\nmx{i}.example\n" for i in range(n // 2))


def dkim_conf(n: int) -> str:
    base = "Syslog yes\nMode sv\nSocket local:/run/opendkim/opendkim.sock\n"
    return base + "".join(("SubDomains no\n", "MinimumKeyBits 1024\n")[i % 2] for i in range(n))


# ---------------------------------------------------------------------------------------- cases
Operation = Callable[[], object]


def _main(text: str) -> MainCf:
    doc = _parse(text, "postfix-main")
    assert isinstance(doc, MainCf)
    return doc


def _master(text: str) -> MasterCf:
    doc = _parse(text, "postfix-master")
    assert isinstance(doc, MasterCf)
    return doc


def _parse(text: str, kind: str) -> Any:
    return _counted(mailconf.parse(text, kind))


MASTER = _master("policy unix - n n - 0 spawn user=nobody argv=/bin/true\n")
RELAY = "smtpd_relay_restrictions = reject_unauth_destination\n"
CHECK = "check_policy_service unix:private/policy"


def _main_with_services(n: int) -> Operation:
    """Unknown names in main.cf and in -o, with n services to suggest per-service names from."""
    master = _master(services(n))
    main = _main("".join(f"s{i}_tim_limit = 1\n" for i in range(n)))
    return lambda: (lint_main(main, master), master.lint())


def _signing_lint(n: int) -> Operation:
    doc: SigningTable = _parse(signing_table(n), "signingtable")
    keys: KeyTable = _parse(key_table(n), "keytable")
    return lambda: lint_signingtable(doc, keys, regex=True)


def _host_list(n: int) -> Operation:
    doc: HostList = _parse(host_list(n), "hostlist")
    return lambda: (doc.match("2001:db8::1"), doc.match("a.b.example"), doc.lint())


def _dkim_read(n: int) -> Operation:
    doc: MilterConf = _parse(dkim_conf(n), "opendkim")
    return lambda: (doc.validate(), doc.lint(), doc.to_json())


def _dkim_edit(n: int) -> Operation:
    doc: MilterConf = _parse(dkim_conf(n), "opendkim")
    return lambda: (doc.set("SubDomains", "yes"), doc.unset("MinimumKeyBits"))


def _on(
    make: Callable[[int], Any], operation: Callable[[Any], object]
) -> Callable[[int], Operation]:
    """A case: ``operation`` on a fresh ``make(n)`` (made outside the count)."""

    def case(n: int) -> Operation:
        doc = make(n)
        return lambda: operation(doc)

    return case


# name -> (n -> the operation on a fresh input of size n)
CASES: dict[str, Callable[[int], Operation]] = {
    "main.cf duplicates: lint": _on(lambda n: _main(repeated(n)), lambda d: lint_main(d, MASTER)),
    "main.cf duplicates: to_json, get": _on(
        lambda n: _main(repeated(n)), lambda d: (d.to_json(), d.get("biff"))
    ),
    "main.cf duplicates: set": _on(lambda n: _main(repeated(n)), lambda d: d.set("biff", "yes")),
    "main.cf duplicates: unset": _on(lambda n: _main(repeated(n)), lambda d: d.unset("biff")),
    "main.cf duplicates: comment_out": _on(
        lambda n: _main(repeated(n)), lambda d: d.comment_out("biff")
    ),
    "main.cf duplicates: add_milter": _on(
        lambda n: _main(repeated(n)), lambda d: d.add_milter("inet:127.0.0.1:8891")
    ),
    "main.cf duplicates: add_restriction": _on(
        lambda n: _main(repeated(n) + RELAY), lambda d: d.add_restriction(RELAY.split()[0], CHECK)
    ),
    "main.cf long list: lint": _on(lambda n: _main(long_list(n)), lambda d: lint_main(d, MASTER)),
    "main.cf long list: add_milter": _on(
        lambda n: _main(long_list(n)), lambda d: d.add_milter("inet:127.0.0.1:8891")
    ),
    "main.cf long list: add_restriction last": _on(
        lambda n: _main(long_list(n)),
        lambda d: d.add_restriction("smtpd_recipient_restrictions", CHECK),
    ),
    "main.cf long continued list: add_milter, remove_milter": _on(
        lambda n: _main(long_list(n, continued=True)),
        lambda d: (d.add_milter("inet:127.0.0.1:8891"), d.remove_milter("inet:127.0.0.1:10001")),
    ),
    "main.cf unknown names, master.cf services: lint both": _main_with_services,
    "master.cf services: lint, to_json": _on(
        lambda n: _master(services(n)), lambda d: (d.lint(), d.to_json())
    ),
    "master.cf services: add_service, remove_service": _on(
        lambda n: _master(services(n) + "dup unix - - n - - smtp\n" * n),
        lambda d: (
            d.add_service("new unix - n n - 0 spawn argv=/bin/true"),
            d.remove_service("dup", "unix"),
        ),
    ),
    "KeyTable: lint, lookup": _on(
        lambda n: _parse(key_table(n), "keytable"), lambda d: (d.lint(), d.lookup("none"))
    ),
    "KeyTable duplicates: remove_entry": _on(
        lambda n: _parse("k v\n" * n, "keytable"), lambda d: d.remove_entry("k")
    ),
    "SigningTable: lint against the KeyTable": _signing_lint,
    "SigningTable: refile lookup": _on(
        lambda n: _parse(signing_table(n), "signingtable"),
        lambda d: d.lookup("x@none.example", regex=True),
    ),
    "host list: match, lint": _host_list,
    "opendkim.conf duplicates: validate, lint, to_json": _dkim_read,
    "opendkim.conf duplicates: set, unset": _dkim_edit,
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_step_of_n_more_costs_the_same(name: str) -> None:
    make = CASES[name]
    make(N // 10)()  # first use: caches, compiled patterns, the parameter table
    costs = [_cost(make(size)) for size in (N, 2 * N, 3 * N)]
    first, second = costs[1] - costs[0], costs[2] - costs[1]
    assert second <= STEP_GROWTH_LIMIT * first, (
        f"{name}: cost {costs} for n = {N}, {2 * N}, {3 * N}: the second step costs "
        f"x{second / first:.2f} the first (linear: x1.00, quadratic: x1.67)"
    )
