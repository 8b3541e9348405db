"""mailconf.edits: an edit given as a command-line word and the same edit given as YAML/JSON
(the Ansible module's options) are one call of the model's method; what cannot be read either
way is a usage error naming the option as the front end spells it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailconf import edits
from mailconf.errors import EditError, UsageError

#: Each operation given both ways, and the arguments its method gets.
BOTH_WAYS = [
    ("set", " Mode = sv", {" Mode ": " sv"}, ("Mode", "sv")),
    ("unset", "biff", ["biff"], ("biff",)),
    ("add_milter", "opendkim", ["opendkim"], ("opendkim",)),
    ("remove_milter", "inet:localhost:8891", ["inet:localhost:8891"], ("inet:localhost:8891",)),
    ("add_service", "a unix - - - - - b", ["a unix - - - - - b"], ("a unix - - - - - b",)),
    ("set_field", "smtp/inet/chroot=n", {"smtp/inet/chroot": "n"}, ("smtp", "inet", "chroot", "n")),
    ("set_option", "smtp/inet/a=b=c", {"smtp/inet/a": "b=c"}, ("smtp", "inet", "a", "b=c")),
    ("unset_option", "smtp/inet/a", ["smtp/inet/a"], ("smtp", "inet", "a")),
    ("remove_service", "smtp/inet", ["smtp/inet"], ("smtp", "inet")),
    ("add_entry", " k  v w ", {"k": "v w"}, ("k", "v w")),
    ("remove_entry", "k", ["k"], ("k",)),
    ("add_host", "::1", ["::1"], ("::1",)),
    ("remove_host", "::1", ["::1"], ("::1",)),
]  # fmt: skip


def test_every_operation_but_the_restriction_is_in_the_table() -> None:
    named = {name for name, *_ in BOTH_WAYS}
    assert named | {"add_restriction"} == {op.name for op in edits.OPERATIONS}


@pytest.mark.parametrize(("name", "word", "structured", "arguments"), BOTH_WAYS)
def test_a_word_and_its_structured_form_are_one_call(
    name: str, word: str, structured: object, arguments: tuple[str, ...]
) -> None:
    op = edits.operation(name)
    assert edits.from_word(op, word).arguments == arguments
    (call,) = edits.from_structured({name: structured})
    assert call == edits.Call(op, arguments)


def test_a_restriction_both_ways() -> None:
    given = {"list": "smtpd_recipient_restrictions", "item": "x", "after": None, "last": True}
    (call,) = edits.from_structured({"add_restriction": given})
    assert call == edits.restriction("smtpd_recipient_restrictions", "x", after=None, last=True)


@pytest.mark.parametrize(
    ("name", "word", "said"),
    [
        ("set", "x", "--set needs NAME=VALUE, got 'x'"),
        ("set", " =1", "--set needs NAME=VALUE, got ' =1'"),
        ("set_field", "smtp/inet=n", "--set-field needs NAME/TYPE/FIELD=VALUE, got 'smtp/inet=n'"),
        ("unset_option", "a/b/c=d", "--unset-option needs NAME/TYPE/PARAM, got 'a/b/c=d'"),
        ("remove_service", "a//", "--remove-service needs NAME/TYPE, got 'a//'"),
    ],
)
def test_words_that_are_no_edit(name: str, word: str, said: str) -> None:
    with pytest.raises(UsageError) as refused:
        edits.from_word(edits.operation(name), word, lambda n: "--" + n.replace("_", "-"))
    assert str(refused.value) == said


def test_structured_values_are_typed_as_the_model_takes_them() -> None:
    (call,) = edits.from_structured({"set": {"smtpd_tls_loglevel": 1, "biff": False}})[:1]
    assert call.arguments == ("smtpd_tls_loglevel", 1)
    (field,) = edits.from_structured({"set_field": {"smtp/inet/maxproc": 10}})
    assert field.arguments[-1] == "10"
    with pytest.raises(UsageError, match=r"set_field needs text for 'smtp/inet/chroot=False'"):
        edits.from_structured({"set_field": {"smtp/inet/chroot": False}})
    with pytest.raises(UsageError, match="unset takes a list, got str"):
        edits.from_structured({"unset": "biff"})
    (row,) = edits.from_structured({"add_entry": {"onlykey": None}})
    assert row.arguments == ("onlykey", "")
    with pytest.raises(UsageError, match="add_entry needs text for 'k True'"):
        edits.from_structured({"add_entry": {"k": True}})


def test_an_operation_of_another_kind_is_named() -> None:
    edits.check_kind("postfix-main", ["set", "add_milter"])
    with pytest.raises(UsageError, match=r"^add_host does not apply to a postfix-main file$"):
        edits.check_kind("postfix-main", ["remove_host", "add_host", "set"])


def test_apply_refuses_a_new_lint_error_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "master.cf").write_text(
        "smtp      inet  n       -       y       -       -       smtpd\n"
    )
    main = tmp_path / "main.cf"
    main.write_text("smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n")
    policy = edits.restriction(
        "smtpd_recipient_restrictions",
        "check_policy_service unix:private/policyd-spf",
        after=None,
        last=True,
    )
    doc = edits.load(main)
    with pytest.raises(edits.LintRefusal) as refused:
        edits.apply(doc, [policy])
    assert [f.code for f in refused.value.errors] == ["postfix.policy-service-missing"]
    assert str(refused.value) == "not changed: lint would report 1 error(s) in the result"
    forced = edits.apply(edits.load(main), [policy], force=True)
    assert forced.changed
    assert [f.code for f in forced.findings] == ["postfix.policy-service-missing"]
    with pytest.raises(UsageError, match=r"^set_field does not apply to a postfix-main file$"):
        edits.apply(doc, [edits.from_word(edits.operation("set_field"), "a/b/c=d")])


def test_a_refusal_of_the_model_is_its_own(tmp_path: Path) -> None:
    hosts = tmp_path / "trusted.hosts"
    hosts.write_text("127.0.0.1\n")
    call = edits.from_word(edits.operation("add_host"), "*.example.org")
    with pytest.raises(EditError, match="never matches") as refused:
        edits.apply(edits.load(hosts), [call])
    assert not isinstance(refused.value, edits.LintRefusal)
    forced = edits.apply(edits.load(hosts), [call], force=True)
    assert forced.after == "127.0.0.1\n*.example.org\n"
    assert [f.code for f in forced.findings] == ["milter.host-glob"]
