"""main.cf lint: each finding on a small file, and no finding on a clean one."""

from __future__ import annotations

import difflib
import random
from pathlib import Path

import mailconf
from mailconf.findings import Severity
from mailconf.postfix.lint import Suggestions, lint_main
from mailconf.postfix.main import MainCf, known_parameters, legacy_parameters
from mailconf.postfix.master import MasterCf

MASTER = "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf\n"


def lint(text: str, master: str | None = MASTER) -> dict[str, list[str]]:
    doc = mailconf.parse(text, "postfix-main")
    assert isinstance(doc, MainCf)
    master_doc = None
    if master is not None:
        master_doc = mailconf.parse(master, "postfix-master")
        assert isinstance(master_doc, MasterCf)
    found: dict[str, list[str]] = {}
    for finding in lint_main(doc, master_doc):
        found.setdefault(finding.code, []).append(f"{finding.line}:{finding.message}")
    return found


BASE = "compatibility_level = 3.6\n"


def test_clean_file_has_no_findings() -> None:
    text = BASE + (
        "policyd-spf_time_limit = 3600\n"
        "smtpd_restriction_classes = my_class\nmy_class = permit\n"
        "relayhost = $my_relay\nmy_relay = [mx.example]\n"
        "smtpd_recipient_restrictions = reject_unauth_destination,"
        " check_policy_service unix:private/policyd-spf\n"
        "virtual_maps = hash:/etc/postfix/virtual\n"
    )
    assert lint(text) == {}


def test_unknown_name_with_suggestion() -> None:
    found = lint(BASE + "myhostnme = a\nsmtpd_milter = b\n")
    messages = found["postfix.unknown-parameter"]
    assert "did you mean myhostname?" in messages[0]
    assert "did you mean smtpd_milters?" in messages[1]


def test_suggestions_are_difflibs_over_every_built_in_name() -> None:
    """Suggestions only lets difflib compare the names that can reach its cutoff: same answers."""
    known = set(known_parameters()) | legacy_parameters()
    names = sorted(known)
    suggestions = Suggestions(known, {})
    rng = random.Random(7)
    for _ in range(150):
        chars = list(rng.choice(names))
        for _ in range(rng.randint(0, 4)):
            at = rng.randrange(len(chars) + 1)
            chars[at:at] = rng.choice("aeiost_0")
            del chars[rng.randrange(len(chars))]
        name = "".join(chars[: rng.randint(1, len(chars))])
        expected = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
        assert suggestions.guess(name) == (expected[0] if expected else None), name


def test_per_service_name_suggestions() -> None:
    """Per-service names are suggested from the service named at the start, - and _ alike."""
    for typo in ("policyd_spf_time_limit", "policyd-spf_time_limt", "Policyd-Spf_time_limit"):
        (message,) = lint(BASE + f"{typo} = 1\n")["postfix.unknown-parameter"]
        assert "did you mean policyd-spf_time_limit?" in message, typo


def test_time_limit_needs_the_service() -> None:
    assert "postfix.unknown-parameter" in lint(BASE + "policyd-spf_time_limit = 1\n", master="")
    assert lint(BASE + "policyd-spf_time_limit = 1\n", master=None) == {}


def test_duplicates_and_read_only() -> None:
    found = lint(BASE + "myhostname = a\nmyhostname = b\nprocess_name = x\n")
    assert found["postfix.duplicate"] == [
        "3:myhostname is set again here; the earlier value (line 2) is ignored"
    ]
    assert "postfix.read-only" in found


def test_restriction_findings() -> None:
    found = lint(
        BASE + "smtpd_recipient_restrictions = check_policy_service unix:private/nope,"
        " reject_unauth_destination, permit, reject_rbl_client zen.example\n"
    )
    assert "postfix.dead-restriction" in found
    assert "postfix.policy-before-relay-check" in found
    assert "postfix.policy-service-missing" in found
    doc = mailconf.parse(
        BASE + "smtpd_recipient_restrictions = check_policy_service unix:private/nope,"
        " reject_unauth_destination\n",
        "postfix-main",
    )
    assert isinstance(doc, MainCf)
    errors = [
        f
        for f in lint_main(doc, mailconf.parse("", "postfix-master"))
        if f.severity is Severity.ERROR
    ]
    assert [f.code for f in errors] == ["postfix.policy-service-missing"]


def test_no_relay_control_is_an_error() -> None:
    found = lint(BASE + "smtpd_relay_restrictions =\n")
    assert "postfix.no-relay-control" in found
    assert "postfix.no-relay-control" in lint("")  # compatibility level 0: empty relay default


def test_bad_macro_is_an_error_for_a_built_in_parameter() -> None:
    """postconf (and every daemon) dies with "macro processing error" on these values."""
    for value in ("a$", "x$.y", "${}", "$()", "${a", "$(a(b)", "${a?{x}", "${a b}"):
        found = lint(BASE + f"myhostname = {value}\n")
        assert list(found) == ["postfix.bad-macro"], value
        assert found["postfix.bad-macro"][0].startswith("2:myhostname: ")
    doc = mailconf.parse(BASE + "my_own = a$\nrelayhost = $my_own\n", "postfix-main")
    assert isinstance(doc, MainCf)
    (finding,) = lint_main(doc, None)
    assert (finding.code, finding.severity) == ("postfix.bad-macro", Severity.WARNING)
    # an earlier duplicate is never read; the literal and reference forms are fine
    ok = "myhostname = a$\nmyhostname = $$ ${a?{x}} $(b) ${c:x} ${{$a} == {b}?{c}:{d}} $d_1\n"
    assert "postfix.bad-macro" not in lint(BASE + ok)


def test_bad_macro_agrees_with_postconf(tmp_path: Path) -> None:
    from postfix.test_oracle import config_dir, postconf

    for index, value in enumerate(("a$", "${a", "${a b}", "$$ ${a?{x}} $(b) ${c:x}")):
        text = BASE + f"myhostname = {value}\n"
        result = postconf(config_dir(tmp_path / str(index), main=text), "-n", check=False)
        refused = "macro processing error" in result.stderr
        assert refused == ("postfix.bad-macro" in lint(text)), value
