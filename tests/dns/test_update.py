"""Publishing by RFC 2136 dynamic update, against a real authoritative server (Knot DNS, TSIG).

The server is ``tests/authserver.py``; what the zone holds afterwards is read back from it with
dnspython queries, never from what mailconf says it sent.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.update
import pytest

from authserver import AuthServer, require_knotd
from dnsserver import closed_port
from mailconf.cli import main
from mailconf.dns.records import Record, dmarc_record, spf_record
from mailconf.dns.tsig_server import Server
from mailconf.dns.update import (
    TsigKey,
    UpdateError,
    _check_update_answer,
    parse_tsig_keys,
    plan_update,
    publish,
    read_tsig_key,
    send_update,
)
from mailconf.dns.update_plan import owned, record_kind
from mailconf.errors import ParseError, ReadError, ValidationError
from mailconf.keys import ensure_key_pair

DOMAIN = "example.test"
SELECTOR = f"default._domainkey.{DOMAIN}"
VERIFICATION = "google-site-verification=0123456789abcdef"
#: What the admin had before mailconf: an old SPF, a site verification, an A record, a note at
#: the DMARC name that is not DMARC.
ZONE = f"""\
{DOMAIN}. 300 IN TXT "{VERIFICATION}"
{DOMAIN}. 300 IN TXT "v=spf1 a -all"
{DOMAIN}. 300 IN A 192.0.2.80
_dmarc.{DOMAIN}. 3600 IN TXT "contact=postmaster"
"""
SPEC = ("--domain", DOMAIN, "--ip", "192.0.2.10", "--hostname", f"mail.{DOMAIN}")
TSIG_KEYGEN = 'key "{name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A system tree holding just the DKIM key `mailconf dns` reads."""
    root = tmp_path_factory.mktemp("update") / "root"
    keys = root / "etc/opendkim/keys" / DOMAIN
    keys.mkdir(parents=True)
    ensure_key_pair(keys, "default", DOMAIN)
    return root


@pytest.fixture
def server() -> Iterator[AuthServer]:
    require_knotd()
    with AuthServer({DOMAIN: ZONE, "other.test": ""}) as running:
        yield running


@pytest.fixture
def key_file(server: AuthServer, tmp_path: Path) -> Path:
    return server.key_file(tmp_path / "tsig.key")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit:  # argparse's errors
            code = int(exit.code or 0)
    return code, out.getvalue(), err.getvalue()


def printed(tree: Path) -> list[dict[str, object]]:
    code, out, err = cli("dns", "--root", str(tree), *SPEC, "--format", "json")
    assert code == 0, err
    records: list[dict[str, object]] = json.loads(out)
    return records


def update(tree: Path, server: AuthServer, key: Path, *extra: str) -> tuple[int, str, str]:
    return cli("dns", "--root", str(tree), *SPEC, "--update", server.address,
               "--tsig-key", str(key), *extra)  # fmt: skip


def owned_strings(server: AuthServer, name: str) -> list[tuple[bytes, ...]]:
    kind = record_kind(name)
    return [s for s in server.txt_strings(name) if owned(kind, b"".join(s).decode())]


# --- publishing ---------------------------------------------------------------------------------


def test_the_zone_then_holds_what_mailconf_dns_prints(
    tree: Path, server: AuthServer, key_file: Path
) -> None:
    code, out, err = update(tree, server, key_file)
    assert code == 0, err
    assert f"zone {DOMAIN}: sent to {server.address}" in out
    for record in printed(tree):
        name = str(record["name"])
        strings = tuple(s.encode() for s in record["strings"])  # type: ignore[attr-defined]
        assert owned_strings(server, name) == [strings], name
    # The old SPF record was replaced, not joined by a second one (receivers: permerror).
    assert not any("v=spf1 a -all" in t for t in server.txt(DOMAIN))


def test_what_mailconf_does_not_own_is_untouched(
    tree: Path, server: AuthServer, key_file: Path
) -> None:
    assert update(tree, server, key_file)[0] == 0
    assert VERIFICATION in server.txt(DOMAIN)
    assert "contact=postmaster" in server.txt(f"_dmarc.{DOMAIN}")
    assert [str(rd) for rd in server.rdatas(DOMAIN, "A")] == ["192.0.2.80"]
    # The apex TXT RRset keeps the TTL the admin gave it.
    assert server.query(DOMAIN, "TXT").answer[0].ttl == 300


def test_a_second_run_changes_nothing(tree: Path, server: AuthServer, key_file: Path) -> None:
    assert update(tree, server, key_file)[0] == 0
    serial = server.serial(DOMAIN)
    before = {r["name"]: server.txt_strings(str(r["name"])) for r in printed(tree)}
    code, out, _ = update(tree, server, key_file)
    assert code == 0
    assert out == f"zone {DOMAIN}: up to date, nothing to send\n"
    assert server.serial(DOMAIN) == serial
    assert {r["name"]: server.txt_strings(str(r["name"])) for r in printed(tree)} == before


def test_dry_run_shows_the_update_and_sends_nothing(
    tree: Path, server: AuthServer, key_file: Path
) -> None:
    serial = server.serial(DOMAIN)
    code, out, _ = update(tree, server, key_file, "--dry-run")
    assert code == 0
    assert f"zone {DOMAIN}: would send to {server.address}" in out
    assert f'  delete  {DOMAIN}. TXT "v=spf1 a -all"' in out
    assert f'  add     {DOMAIN}. 300 TXT "v=spf1 ip4:192.0.2.10 ~all"' in out
    assert f'  require {DOMAIN}. TXT "{VERIFICATION}"' in out
    assert f"  require {SELECTOR}. TXT absent" in out
    assert server.serial(DOMAIN) == serial
    assert server.txt(SELECTOR) == []


def test_json_output(tree: Path, server: AuthServer, key_file: Path) -> None:
    code, out, _ = update(tree, server, key_file, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["sent"] is True and result["key"] == server.key_name
    (zone,) = result["zones"]
    changes = {c["name"]: c for c in zone["changes"]}
    assert changes[DOMAIN]["delete"] == ["v=spf1 a -all"]
    assert changes[f"_dmarc.{DOMAIN}"]["require"] == ["contact=postmaster"]


def test_the_zone_option(tree: Path, server: AuthServer, key_file: Path) -> None:
    assert update(tree, server, key_file, "--zone", DOMAIN)[0] == 0
    assert owned_strings(server, f"_dmarc.{DOMAIN}") == [(b"v=DMARC1; p=none",)]
    code, _, err = update(tree, server, key_file, "--zone", "other.test")
    assert code == 2
    assert f"{DOMAIN} is not in the zone other.test" in err


def test_a_record_published_split_elsewhere_is_not_churned(
    server: AuthServer, key_file: Path
) -> None:
    key, _ = read_tsig_key(key_file)
    record, _ = spf_record("other.test", ["192.0.2.10"])
    add_behind(server, "other.test", '"v=spf1 ip4:" "192.0.2.10 ~all"', zone="other.test")
    serial = server.serial("other.test")
    assert publish(server.address, key, [record]).updates[0].changes == ()
    assert server.serial("other.test") == serial


def test_one_update_per_zone(server: AuthServer, key_file: Path) -> None:
    key, _ = read_tsig_key(key_file)
    records = [spf_record(d, ["192.0.2.10"])[0] for d in (DOMAIN, "other.test")]
    result = publish(server.address, key, records)
    assert [u.zone for u in result.updates] == [DOMAIN, "other.test"]
    assert server.serial(DOMAIN) == 2 and server.serial("other.test") == 2
    assert server.txt("other.test") == ["v=spf1 ip4:192.0.2.10 ~all"]


def test_deleting_a_selector_record(server: AuthServer, key_file: Path) -> None:
    key, _ = read_tsig_key(key_file)
    old = Record(f"old._domainkey.{DOMAIN}", "v=DKIM1; k=ed25519; p=" + "A" * 43 + "=")
    publish(server.address, key, [old])
    # A record at the selector that is not a DKIM key (a note someone left) stays.
    add_behind(server, old.name, '"owner=ops"')
    assert len(server.txt(old.name)) == 2
    result = publish(server.address, key, delete=[old.name])
    assert [c.remove for u in result.updates for c in u.changes] == [
        (tuple(s.encode() for s in old.strings),)
    ]
    assert server.txt(old.name) == ["owner=ops"]
    # Deleting what is not there sends nothing.
    serial = server.serial(DOMAIN)
    assert publish(server.address, key, delete=[old.name]).updates[0].changes == ()
    assert server.serial(DOMAIN) == serial


def add_behind(server: AuthServer, name: str, rdata: str, *, zone: str = DOMAIN) -> None:
    """Another client's update (signed with the same key), made behind mailconf's back."""
    message = dns.update.UpdateMessage(
        zone + ".", keyring=parse_tsig_keys(TSIG_KEYGEN.format(
            name=server.key_name, secret=server.secret))[0].dns_key())  # fmt: skip
    message.add(name + ".", 300, "TXT", rdata)
    response = dns.query.tcp(message, server.host, port=server.port, timeout=5)
    assert response.rcode() == 0


def test_a_change_made_in_between_is_not_overwritten(server: AuthServer, key_file: Path) -> None:
    key, _ = read_tsig_key(key_file)
    record, _ = dmarc_record(DOMAIN, "reject")
    updates = plan_update(server.address, key, [record])
    add_behind(server, record.name, '"v=DMARC1; p=quarantine"')
    with pytest.raises(UpdateError, match="changed since mailconf read them"):
        send_update(server.address, key, updates)
    assert sorted(server.txt(record.name)) == ["contact=postmaster", "v=DMARC1; p=quarantine"]


# --- refusals -----------------------------------------------------------------------------------


def test_a_wrong_secret_is_refused_and_nothing_changes(
    tree: Path, server: AuthServer, tmp_path: Path
) -> None:
    wrong = server.key_file(tmp_path / "wrong.key", secret="A" * 43 + "=")
    serial = server.serial(DOMAIN)
    code, _, err = update(tree, server, wrong)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"mailconf: the server {server.address} refused the TSIG key '{server.key_name}' "
        "(BADSIG: the secret is not the server's)"
    )
    assert server.serial(DOMAIN) == serial
    assert sorted(server.txt(DOMAIN)) == sorted([VERIFICATION, "v=spf1 a -all"])


def test_an_unknown_key_name_is_refused(tree: Path, server: AuthServer, tmp_path: Path) -> None:
    unknown = server.key_file(tmp_path / "unknown.key", name="stranger")
    code, _, err = update(tree, server, unknown, "--dry-run")
    assert code == 1
    # Knot 3.2 answers BADKEY in an unsigned TSIG record, Knot 3.4 a bare NOTAUTH.
    assert re.search(
        r"refused the TSIG key 'stranger' \((BADKEY|NOTAUTH, unsigned): it has no", err
    )


@pytest.mark.parametrize(
    ("rcode", "reason"),
    [
        ("REFUSED", "the key 'k' may not update this zone there: allow it in the server's update"),
        ("NXRRSET", "the TXT records there changed since mailconf read them"),
        ("YXRRSET", "the TXT records there changed since mailconf read them"),
        ("NOTZONE", "the server is not the zone's primary"),
        ("NOTIMP", "the server does not accept dynamic updates"),
        ("SERVFAIL", "see the server's log"),
    ],
)
def test_what_each_refusal_of_an_update_says(rcode: str, reason: str) -> None:
    """Knot refuses a key it does not allow with BADKEY, so the other answers are shown here."""
    server = Server("192.0.2.53", 53, TsigKey("k", "hmac-sha256", b"k"), 1.0)
    response = dns.message.make_response(dns.update.UpdateMessage("example.test."))
    response.set_rcode(dns.rcode.from_text(rcode))
    with pytest.raises(UpdateError) as caught:
        _check_update_answer(server, "example.test", response)
    assert str(caught.value).startswith(
        f"192.0.2.53:53 did not apply the update of zone example.test ({rcode}): {reason}"
    )
    assert str(caught.value).endswith("nothing was changed in that zone")


def test_a_failure_in_the_second_zone_names_the_first(server: AuthServer, key_file: Path) -> None:
    key, _ = read_tsig_key(key_file)
    records = [spf_record(d, ["192.0.2.10"])[0] for d in (DOMAIN, "other.test")]
    updates = plan_update(server.address, key, records)
    add_behind(server, "other.test", '"v=spf1 -all"', zone="other.test")
    with pytest.raises(UpdateError, match=r"prerequisite failed.*\(zones updated before: example"):
        send_update(server.address, key, updates)
    assert "v=spf1 ip4:192.0.2.10 ~all" in server.txt(DOMAIN)
    assert server.txt("other.test") == ["v=spf1 -all"]


def test_a_server_not_serving_the_zone(server: AuthServer, key_file: Path) -> None:
    key, _ = read_tsig_key(key_file)
    with pytest.raises(UpdateError, match=r"answered REFUSED about example\.org.*primary"):
        publish(server.address, key, [spf_record("example.org", ["192.0.2.10"])[0]])


def test_an_unreachable_server_is_a_clear_error_at_once(
    tree: Path, tmp_path: Path, key_file: Path
) -> None:
    """Refused at once (the message names the refusal, not a timeout)."""
    address = closed_port()
    code, _, err = update_to(tree, address, key_file)
    assert code == 1, err
    assert err.splitlines()[-1] == (
        f"mailconf: the DNS server cannot be asked ({address} refused the connection: nothing "
        "listens there); nothing was changed"
    )


def update_to(tree: Path, address: str, key: Path) -> tuple[int, str, str]:
    return cli("dns", "--root", str(tree), *SPEC, "--update", address, "--tsig-key", str(key))


def test_a_silent_server_times_out(key_file: Path) -> None:
    key, _ = read_tsig_key(key_file)
    with socket.socket() as listener:  # accepts connections (the kernel does), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(UpdateError, match=rf"no answer from {address} within 0\.3 s\); noth"):
            publish(address, key, [spf_record(DOMAIN, ["192.0.2.10"])[0]], timeout=0.3)
        # An update that was sent and got no answer may have been applied: it says so.
        host, port = address.split(":")
        silent = Server(host, int(port), key, 0.3)
        with pytest.raises(UpdateError, match="the update was sent, and may have been applied"):
            silent.exchange(dns.update.UpdateMessage(DOMAIN + ".", keyring=key.dns_key()))


def test_records_that_are_not_mailconfs_kind_are_refused(
    server: AuthServer, key_file: Path
) -> None:
    key, _ = read_tsig_key(key_file)
    with pytest.raises(ValidationError, match="is not a SPF record"):
        publish(server.address, key, [Record(DOMAIN, VERIFICATION)])
    with pytest.raises(ValidationError, match="both published and deleted"):
        publish(server.address, key, [spf_record(DOMAIN, ["192.0.2.1"])[0]], delete=[DOMAIN])


def test_usage_errors(tree: Path) -> None:
    code, _, err = cli("dns", "--root", str(tree), *SPEC, "--tsig-key", "/k")
    assert (code, err.split(" (see")[0]) == (2, "mailconf: --tsig-key only go with --update SERVER")
    code, _, err = cli("dns", "--root", str(tree), *SPEC, "--update", "127.0.0.1")
    assert code == 2 and "--update needs --tsig-key FILE" in err
    code, _, err = cli("dns", "--root", str(tree), *SPEC, "--update", "ns1", "--tsig-key", "/k")
    assert code == 2 and "'ns1' is not an IP address" in err


# --- what is owned ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "mine"),
    [
        (DOMAIN, "v=spf1 -all", True),
        (DOMAIN, "V=SPF1 ip4:192.0.2.1 -all", True),
        (DOMAIN, "v=spf10 -all", False),
        (DOMAIN, VERIFICATION, False),
        (f"_dmarc.{DOMAIN}", "v=DMARC1; p=none", True),
        (f"_dmarc.{DOMAIN}", "v = DMARC1 ; p=none", True),
        (f"_dmarc.{DOMAIN}", "contact=postmaster", False),
        (SELECTOR, "v=DKIM1; k=rsa; p=AAAA", True),
        (SELECTOR, "k=rsa; p=AAAA", True),  # v= is optional for DKIM keys
        (SELECTOR, "v=spf1 -all", False),
        (SELECTOR, "owner=ops", False),
    ],
)
def test_which_records_mailconf_owns(name: str, text: str, mine: bool) -> None:
    assert owned(record_kind(name), text) is mine


# --- the key file -------------------------------------------------------------------------------


def write_key(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="


def test_tsig_keygen_output_with_comments(tmp_path: Path) -> None:
    text = (
        "# made by tsig-keygen\n"
        "// for mailconf\n"
        "/* several\n   lines */\n"
        "key mail-update.example. { algorithm HMAC-SHA512;\n"
        f'secret "{SECRET[:20]} {SECRET[20:]}"; }};\n'
    )
    key, findings = read_tsig_key(write_key(tmp_path / "k", text))
    assert key == TsigKey("mail-update.example", "hmac-sha512", base64.b64decode(SECRET))
    assert findings == []
    assert "secret" not in repr(key)


def test_several_keys_need_a_name(tmp_path: Path) -> None:
    text = TSIG_KEYGEN.format(name="one", secret=SECRET) + TSIG_KEYGEN.format(
        name="two", secret=SECRET
    )
    path = write_key(tmp_path / "k", text)
    with pytest.raises(ValidationError, match=r"holds 2 keys \(one, two\): name the one to use"):
        read_tsig_key(path)
    assert read_tsig_key(path, name="two.")[0].name == "two"
    with pytest.raises(ValidationError, match=r"no key named 'three' .it has: one, two."):
        read_tsig_key(path, name="three")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1:1: no key statement in the file"),
        ('options { directory "/var"; };\n', "1:1: 'options': only BIND 'key' statements"),
        ('key "k" {\n\talgorithm hmac-md5;\n\tsecret "AA==";\n};\n', "2:12: algorithm 'hmac-md5'"),
        ('key "k" {\n\talgorithm hmac-sha256;\n\tsecret "A!A=";\n};\n', "3:9: the secret is not"),
        ('key "k" {\n\talgorithm hmac-sha256;\n};\n', "3:1: key k has no 'secret'"),
        ('key "k" {\n\talgorithm hmac-sha256;\n\tkeydir "/";\n};\n', "3:2: 'keydir': a key"),
        ('key "k" { algorithm hmac-sha256; secret "AA=="; }\n', "2:1: the file ends where ;"),
        ('key "k" { secret "AA==; };\n', "1:18: an unterminated string"),
        ("key /* open\n", "1:5: an unterminated comment"),
        (
            'key k { algorithm hmac-sha1; secret "AA=="; };\nkey K. {};',
            "2:5: key K is defined twice",
        ),
        ('key "a..b" { };\n', "1:5: bad key name"),
    ],
)
def test_a_bad_key_file_is_a_parse_error(tmp_path: Path, text: str, message: str) -> None:
    path = write_key(tmp_path / "k", text)
    with pytest.raises(ParseError) as caught:
        read_tsig_key(path)
    assert str(caught.value).startswith(f"{path}:{message}")


def test_key_file_cli_errors_exit_2(tree: Path, tmp_path: Path) -> None:
    broken = write_key(tmp_path / "broken.key", 'key "k" { algorithm hmac-sha256; };\n')
    code, _, err = update_to(tree, "127.0.0.1:1", broken)
    assert code == 2 and f"{broken}:1:34: key k has no 'secret'" in err
    code, _, err = update_to(tree, "127.0.0.1:1", tmp_path / "missing.key")
    assert code == 2 and "No such file" in err


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_key_file_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_key(tmp_path / "k", TSIG_KEYGEN.format(name="k", secret=SECRET), mode)
    with pytest.raises(ReadError, match=f"may write the TSIG key file .mode 0{mode:o}."):
        read_tsig_key(path)


def test_a_key_file_everyone_may_read_is_a_warning(tmp_path: Path) -> None:
    path = write_key(tmp_path / "k", TSIG_KEYGEN.format(name="k", secret=SECRET), 0o644)
    key, findings = read_tsig_key(path)
    assert key.name == "k"
    assert [f.code for f in findings] == ["dns.tsig-key-readable"]
    path.chmod(0o640)
    assert read_tsig_key(path)[1] == []


def test_a_key_file_must_be_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ReadError, match="not a regular file"):
        read_tsig_key(fifo)


@pytest.mark.skipif(os.geteuid() != 0, reason="a link owned by another user needs root")
def test_a_symlink_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    target = write_key(tmp_path / "k", TSIG_KEYGEN.format(name="k", secret=SECRET))
    link = tmp_path / "link.key"
    link.symlink_to(target)
    assert read_tsig_key(link)[0].name == "k"  # root's own link is followed
    os.lchown(link, 65534, 65534)
    with pytest.raises(Exception, match=r"is a symlink owned by uid 65534.*refusing to follow"):
        read_tsig_key(link)
    assert stat.S_ISLNK(os.lstat(link).st_mode)
