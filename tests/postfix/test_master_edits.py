"""master.cf: typed services, edits in the file's layout, and agreement with postconf -M/-P."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import mailconf
from example_tree import EXAMPLE_TREE
from mailconf.errors import EditError
from mailconf.postfix.master import MasterCf
from postfix.test_oracle import DEBIAN_MASTER, assert_master_agrees, config_dir, corpus, postconf

SPF = "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf"
LAYOUT = (
    "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
    "smtp      inet  n       -       y       -       -       smtpd\n"
    "submission inet n       -       y       -       -       smtpd\n"
    "  -o syslog_name=postfix/submission\n"
    "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
    "pickup    unix  n       -       y       60?     1       pickup\n"
    "maildrop  unix  -       n       n       -       -       pipe\n"
    "  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n"
)


def master(text: str) -> MasterCf:
    doc = mailconf.parse(text, "postfix-master")
    assert isinstance(doc, MasterCf)
    return doc


def edited(text: str, edit: str, *args: str) -> str:
    doc = master(text)
    assert getattr(doc, edit)(*args) is True
    once = doc.dump()
    assert getattr(doc, edit)(*args) is False
    assert doc.dump() == once
    return once


def test_typed_fields_and_json() -> None:
    doc = master(LAYOUT)
    pickup = doc.service("pickup", "unix")
    assert pickup is not None
    assert (pickup.wakeup, pickup.wakeup_seconds, pickup.wakeup_if_used) == ("60?", 60, True)
    assert pickup.process_limit == 1
    services = doc.to_json()["services"]
    assert isinstance(services, list)
    submission = services[1]
    assert submission == {
        "name": "submission",
        "type": "inet",
        "private": "n",
        "unpriv": "-",
        "chroot": "y",
        "wakeup": "-",
        "maxproc": "-",
        "command": "smtpd",
        "args": [],
        "overrides": {
            "syslog_name": "postfix/submission",
            "smtpd_client_restrictions": "permit_sasl_authenticated, reject",
        },
    }
    assert services[3]["args"] == [
        "flags=DRXhu",
        "user=vmail",
        "argv=/usr/bin/maildrop",
        "-d",
        "${recipient}",
    ]
    assert doc.service("smtp", "unix") is None


# -o words that are no override: postconf -P skips them, -F still shows them as arguments.
MALFORMED_OPTIONS = (
    "a unix - - - - - spawn -o\n"
    "b unix - - - - - spawn -vo\n"
    "c unix - - - - - spawn -o x -o y=1\n"
    "d unix - - - - - spawn -o { -o y=2 } -o =x -o {} -o z=3 arg\n"
)


def test_options_that_are_no_override_stay_arguments(tmp_path: Path) -> None:
    doc = master(MALFORMED_OPTIONS)
    got = {s.name: (s.args, s.overrides) for s in doc.services}
    assert got == {
        "a": (["-o"], {}),
        "b": (["-v", "-o"], {}),
        "c": (["-o", "x"], {"y": "1"}),
        "d": (["-o", "-o y=2", "-o", "=x", "-o", "", "arg"], {"z": "3"}),
    }
    assert_master_agrees(doc, config_dir(tmp_path, main="", master=MALFORMED_OPTIONS))


def test_add_service_pads_to_the_columns() -> None:
    # LAYOUT's services continue their arguments on lines indented by two blanks: so does SPF.
    out = edited(LAYOUT, "add_service", SPF)
    assert out == LAYOUT + (
        "policyd-spf unix -       n       n       -       0       spawn\n"
        "  user=policyd-spf argv=/usr/bin/policyd-spf\n"
    )
    out = edited(LAYOUT, "add_service", "x unix - n n - 0 spawn argv=/bin/true")
    assert out.endswith(
        "x         unix  -       n       n       -       0       spawn\n  argv=/bin/true\n"
    )


COMPACT = (
    "smtp inet n - y - - smtpd -o smtpd_milters=inet:127.0.0.1:8891\n"
    "pickup unix n - y 60 1 pickup\n"
    "maildrop unix - n n - - pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n"
)
WITH_OPTIONS = "sub2 inet n - y - - smtpd -o syslog_name=x -o { a = b c } -v"


def test_new_service_arguments_follow_the_neighbours() -> None:
    """Arguments stay on the command's line in a file that writes them so; on continuation
    lines otherwise, each -o on its own line, indented as the file indents each kind."""
    out = edited(COMPACT, "add_service", SPF.replace("spawn ", "spawn\n  "))
    assert (
        out
        == COMPACT + "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf\n"
    )
    out = edited(LAYOUT, "add_service", WITH_OPTIONS)
    assert out.endswith("smtpd\n  -o syslog_name=x\n  -o { a = b c }\n  -v\n")
    tabs = LAYOUT.replace("\n  ", "\n\t")
    assert edited(tabs, "add_service", SPF).endswith(
        "spawn\n\tuser=policyd-spf argv=/usr/bin/policyd-spf\n"
    )
    # No service has arguments: the caller's layout is kept.
    bare = "smtp inet n - y - - smtpd\n"
    given = "policyd-spf unix - n n - 0 spawn\n   user=policyd-spf argv=/usr/bin/policyd-spf"
    assert edited(bare, "add_service", given).endswith(
        "spawn\n   user=policyd-spf argv=/usr/bin/policyd-spf\n"
    )
    # A comment among the given arguments stays where it is, and so do they.
    commented = "x unix - n n - - spawn\n# why\n  argv=/bin/true"
    assert edited(COMPACT, "add_service", commented).endswith("spawn\n# why\n  argv=/bin/true\n")


def _debian_like() -> list[tuple[str, str]]:
    texts = [("example", (EXAMPLE_TREE / "etc/postfix/master.cf").read_text())]
    if DEBIAN_MASTER.exists():
        texts.append(("debian", DEBIAN_MASTER.read_text()))
    return texts


def continuation_indent(text: str) -> str:
    """How the file's own services indent a continuation line of arguments: most often among
    their continuation lines that are not ``-o``, else among their ``-o`` lines.  Read off the
    file, not assumed: Debian 12's master.cf has pipe services with arguments indented by two
    blanks, Debian 13's has those only commented out and its ``-o`` lines indented by eight."""
    plain: Counter[str] = Counter()
    options: Counter[str] = Counter()
    in_service = False
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            in_service = True
            continue
        if in_service:
            words = line.lstrip()
            (options if words.startswith("-o") else plain)[line[: len(line) - len(words)]] += 1
    return (plain or options).most_common(1)[0][0]


@pytest.mark.parametrize(("label", "text"), _debian_like(), ids=[t[0] for t in _debian_like()])
def test_debian_master_cf_new_service_reads_like_its_neighbours(label: str, text: str) -> None:
    """Debian's master.cf: the new service's arguments on a continuation line indented as the
    file's own services indent theirs."""
    out = edited(text, "add_service", SPF)
    assert (
        "\npolicyd-spf unix -       n       n       -       0       spawn\n"
        f"{continuation_indent(text)}user=policyd-spf argv=/usr/bin/policyd-spf\n"
    ) in out
    out = edited(text, "add_service", WITH_OPTIONS)  # after the last service, comments below it
    assert (
        "\nsub2      inet  n       -       y       -       -       smtpd\n"
        "        -o syslog_name=x\n        -o { a = b c }\n        -v\n"
    ) in out


def _all_masters() -> list[tuple[str, str]]:
    texts = [("layout", LAYOUT), ("compact", COMPACT), *_debian_like()]
    texts += [(p.name, p.read_text(errors="surrogateescape")) for p in corpus("postfix-master")]
    return texts


@pytest.mark.parametrize(("label", "text"), _all_masters(), ids=[t[0] for t in _all_masters()])
def test_new_service_is_the_same_service_for_postconf(
    label: str, text: str, tmp_path: Path
) -> None:
    """Whatever layout the file gives the new service, postconf -M reads the service given
    (the same as postconf -M adding it itself), the file round-trips and the edit is idempotent."""
    for index, line in enumerate((SPF, WITH_OPTIONS)):
        mine = master(text)
        assert mine.add_service(line) is True
        written = mine.dump()
        assert master(written).dump() == written  # round trip
        assert master(written).add_service(line) is False  # idempotent
        theirs = config_dir(
            tmp_path / f"theirs{index}",
            main="",
            master=text if text.endswith("\n") else text + "\n",
        )
        key = f"{line.split()[0]}/{line.split()[1]}"
        postconf(theirs, "-M", f"{key}={line}")
        ours = config_dir(tmp_path / f"ours{index}", main="", master=written)
        assert postconf(ours, "-M", key).stdout == postconf(theirs, "-M", key).stdout
        assert_master_agrees(master(written), theirs)


def test_add_service_updates_in_place_keeping_comments() -> None:
    out = edited(LAYOUT, "add_service", "smtp inet n - n - - smtpd")
    assert out == LAYOUT.replace(
        "smtp      inet  n       -       y", "smtp      inet  n       -       n"
    )


def test_add_service_keeps_missing_final_newline_and_crlf() -> None:
    assert edited("a unix - n n - - pipe", "add_service", "b unix - n n - - pipe") == (
        "a unix - n n - - pipe\nb unix - n n - - pipe"  # the neighbour's single blanks
    )
    crlf = LAYOUT.replace("\n", "\r\n")
    out = edited(crlf, "add_service", SPF)
    assert "\n" not in out.replace("\r\n", "")


def test_overrides() -> None:
    out = edited(
        LAYOUT, "set_override", "submission", "inet", "smtpd_tls_security_level", "encrypt"
    )
    assert out == LAYOUT.replace("reject }\n", "reject }\n  -o smtpd_tls_security_level=encrypt\n")
    out = edited(LAYOUT, "set_override", "submission", "inet", "syslog_name", "postfix/sub")
    assert out == LAYOUT.replace("syslog_name=postfix/submission", "syslog_name=postfix/sub")
    out = edited(LAYOUT, "set_override", "smtp", "inet", "smtpd_milters", "inet:127.0.0.1:8891")
    assert "smtpd -o smtpd_milters=inet:127.0.0.1:8891\n" in out
    out = edited(LAYOUT, "set_override", "maildrop", "unix", "x", "a b")
    assert "pipe\n  -o { x = a b }\n  flags=DRXhu" in out
    out = edited(LAYOUT, "remove_override", "submission", "inet", "syslog_name")
    assert out == LAYOUT.replace("  -o syslog_name=postfix/submission\n", "")
    with pytest.raises(EditError):
        master(LAYOUT).set_override("nope", "unix", "a", "b")


def test_remove_service_takes_the_comments_directly_above() -> None:
    out = edited(LAYOUT, "remove_service", "maildrop", "unix")
    assert out == LAYOUT.split("maildrop")[0]
    # The one ownership rule (tests/syntax/test_ownership.py): a commented-out service directly
    # above another is disabled configuration, not that one's comment: it stays.
    text = "a unix - n n - - pipe\n#disabled unix - n n - - pipe\nb unix - n n - - pipe\n"
    assert edited(text, "remove_service", "b", "unix") == (
        "a unix - n n - - pipe\n#disabled unix - n n - - pipe\n"
    )
    text = text.replace("#disabled", "\n#disabled").replace("pipe\nb", "pipe\n\nb")
    assert edited(text, "remove_service", "b", "unix") == (
        "a unix - n n - - pipe\n\n#disabled unix - n n - - pipe\n"
    )


def test_lint_master() -> None:
    text = (
        LAYOUT
        + "smtp      inet  n       -       y       -       -       smtpd -o smtpd_tls_levl=x\n"
    )
    codes = {f.code: f for f in master(text).lint()}
    assert "postfix.duplicate-service" in codes
    assert "did you mean" in codes["postfix.unknown-override"].message
    broken = master("s unix - n n - - smtpd -o a = b\n").lint()
    assert [f.code for f in broken] == ["postfix.override-blanks"]


# ----------------------------------------------------------------- agreement with postconf
def _master_texts() -> list[tuple[str, str]]:
    texts = [("layout", LAYOUT)]
    if DEBIAN_MASTER.exists():
        texts.append(("debian", DEBIAN_MASTER.read_text()))
    texts += [(p.name, p.read_text(errors="surrogateescape")) for p in corpus("postfix-master")[:4]]
    return texts


@pytest.mark.parametrize(("label", "text"), _master_texts(), ids=[t[0] for t in _master_texts()])
def test_master_edits_agree_with_postconf(label: str, text: str, tmp_path: Path) -> None:
    doc = master(text)
    smtp = doc.service("smtp", "inet")
    cases: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        (("add_service", SPF), ("-M", f"policyd-spf/unix={SPF}")),
    ]
    if smtp is not None:
        cases += [
            (
                ("set_override", "smtp", "inet", "smtpd_milters", "inet:127.0.0.1:8891"),
                ("-P", "smtp/inet/smtpd_milters=inet:127.0.0.1:8891"),
            ),
            (
                ("add_service", "smtp inet n - n - 1 smtpd -o x=y"),
                ("-M", "smtp/inet=smtp inet n - n - 1 smtpd -o x=y"),
            ),
            (("remove_service", "smtp", "inet"), ("-MX", "smtp/inet")),
        ]
        if smtp.overrides:
            name = next(iter(smtp.overrides))
            cases.append((("remove_override", "smtp", "inet", name), ("-PX", f"smtp/inet/{name}")))
    for index, ((edit, *args), pc_args) in enumerate(cases):
        mine = master(text)
        getattr(mine, edit)(*args)
        theirs = config_dir(
            tmp_path / f"theirs{index}",
            main="",
            master=text if text.endswith("\n") else text + "\n",
        )
        postconf(theirs, *pc_args)
        assert_master_agrees(mine, theirs)
        # and what we wrote reads back the same through postconf
        ours = config_dir(tmp_path / f"ours{index}", main="", master=mine.dump())
        assert_master_agrees(mine, ours)
