"""The key's life (issue 12): stage -> publish -> activate -> retire, ``status --json`` at each
state, the refusals, and the dates kept above the KeyTable rows."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dnsserver import DnsServer
from example_tree import mailconf_cli, require_root_to_apply
from mailconf.dns.lookup import make_resolver
from mailconf.dns.records import dkim_record
from mailconf.keys import load_public_key
from mailconf.setup import Setup, apply, keymarks, make_plan
from mailconf.setup import lifecycle as lc
from mailconf.setup.apply import perform
from mailconf.system.root import SystemRoot

DOMAIN = "hogehoge.com"
SPEC = Setup.from_flags(domain=DOMAIN, ip=["192.0.2.10"])
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone.utc)
KEYS = "etc/opendkim/keys/hogehoge.com"


@pytest.fixture(scope="module")
def spec() -> Setup:
    return SPEC


def status(root: Path, *extra: str) -> list[dict[str, Any]]:
    """``mailconf dkim status --json`` as a user runs it."""
    done = mailconf_cli("dkim", "status", "--root", root, "--json", *extra)
    assert done.returncode == 0, done.stderr
    data: list[dict[str, Any]] = json.loads(done.stdout)
    return data


def states(root: Path) -> dict[str, str]:
    return {key["selector"]: key["state"] for key in status(root, "--no-dns")}


def serving(root: Path, *selectors: str) -> DnsServer:
    """A DNS server with the DKIM records of ``selectors`` (from their key files)."""
    txt = {}
    for selector in selectors:
        key = load_public_key(root / KEYS / f"{selector}.private")
        record, _ = dkim_record(selector, DOMAIN, key)
        txt[record.name] = [record.strings]
    return DnsServer(txt=txt)


def run(root: Path, make: Any) -> Any:
    return perform(SystemRoot(root), make, progress=lambda line: None)


def test_full_rotation(root: Path) -> None:
    r = SystemRoot(root)
    assert states(root) == {"default": "active"}
    old_key = (root / KEYS / "default.private").read_bytes()

    staged = run(root, lambda: lc.plan_rotate(r, DOMAIN, now=T0))
    assert staged.ok and not staged.plan.of_kind("restart"), "staging restarts nothing"
    assert states(root) == {"default": "active", "s202611": "staged"}
    assert (
        "*@hogehoge.com default._domainkey.hogehoge.com"
        in (root / "etc/opendkim/signing.table").read_text()
    )
    table = (root / "etc/opendkim/key.table").read_text()
    assert "# mailconf-dkim: staged=2026-11-02T10:00:00Z\ns202611._domainkey" in table

    from mailconf.cli.doctor import records_for

    names = [rec.name for rec in records_for(SPEC, r)[0]]
    assert "s202611._domainkey.hogehoge.com" in names, "mailconf dns prints the staged key"

    with (
        serving(root, "default") as old_only,
        pytest.raises(lc.LifecycleError, match="DNS does not serve s202611"),
    ):
        lc.plan_activate(r, DOMAIN, dns=make_resolver(old_only.address), now=T0)
    with serving(root, "default", "s202611") as both:
        published = {
            k["selector"]: k["published"] for k in status(root, "--nameserver", both.address)
        }
        assert published == {"default": True, "s202611": True}
        activated = run(
            root, lambda: lc.plan_activate(r, DOMAIN, dns=make_resolver(both.address), now=T0)
        )
    assert activated.ok and all(v.ok for v in activated.validations)
    assert [s.target for s in activated.plan.of_kind("restart")] == ["opendkim"]
    assert any("SigningTable row" in flag for flag in activated.flags())
    assert states(root) == {"default": "retiring", "s202611": "active"}
    assert (
        "*@hogehoge.com s202611._domainkey.hogehoge.com"
        in (root / "etc/opendkim/signing.table").read_text()
    )
    retiring = next(k for k in status(root, "--no-dns") if k["selector"] == "default")
    assert retiring["dates"] == {"superseded": "2026-11-02T10:00:00Z", "by": "s202611"}
    names = [rec.name for rec in records_for(SPEC, r)[0]]
    assert "default._domainkey.hogehoge.com" in names, "a retiring key stays published"

    with pytest.raises(lc.LifecycleError, match="grace period runs until 2026-11-09T10:00:00Z"):
        lc.plan_retire(r, DOMAIN, "default", now=T0 + dt.timedelta(days=6))
    with pytest.raises(lc.LifecycleError, match="still signs"):
        lc.plan_retire(r, DOMAIN, "s202611", now=T0 + dt.timedelta(days=30))
    retired = run(root, lambda: lc.plan_retire(r, DOMAIN, "default", now=T0 + dt.timedelta(days=8)))
    assert retired.ok
    assert any(n.code == "setup.dns-remove" for n in retired.plan.notes)
    assert states(root) == {"s202611": "active"}
    assert not (root / KEYS / "default.private").exists()
    assert retired.backup is not None
    backed_up = [p for p in retired.backup.rglob("default.private")]
    assert backed_up and backed_up[0].read_bytes() == old_key
    assert "default._domainkey" not in (root / "etc/opendkim/key.table").read_text()


def test_refusals(root: Path, tmp_path: Path) -> None:
    r = SystemRoot(root)
    with pytest.raises(lc.LifecycleError, match="already in the KeyTable"):
        lc.plan_rotate(r, DOMAIN, selector="default")
    with pytest.raises(lc.LifecycleError, match="no staged key"):
        lc.plan_activate(r, DOMAIN, force=True)
    with pytest.raises(lc.LifecycleError, match="does not sign yet"):
        lc.plan_rotate(r, "other.example")
    run(root, lambda: lc.plan_rotate(r, DOMAIN, selector="a1", now=T0))
    run(root, lambda: lc.plan_rotate(r, DOMAIN, selector="a2", ed25519=True, now=T0))
    assert states(root) == {"default": "active", "a1": "staged", "a2": "staged"}
    with pytest.raises(lc.LifecycleError, match="several staged keys"):
        lc.plan_activate(r, DOMAIN, force=True)
    with pytest.raises(lc.LifecycleError, match="no date of its replacement"):
        lc.plan_retire(r, DOMAIN, "a1")


def test_forced_activation_and_early_retirement_warn(root: Path) -> None:
    r = SystemRoot(root)
    run(root, lambda: lc.plan_rotate(r, DOMAIN, selector="new", now=T0))
    activated = run(root, lambda: lc.plan_activate(r, DOMAIN, force=True, now=T0))
    assert any(n.code == "setup.activated-unchecked" for n in activated.plan.notes)
    retired = run(root, lambda: lc.plan_retire(r, DOMAIN, "default", force=True, now=T0))
    assert any(n.code == "setup.retired-early" for n in retired.plan.notes)
    assert states(root) == {"new": "active"}


def test_cli_rotate_activate_retire(root: Path) -> None:
    where = ["--root", str(root), "--domain", DOMAIN]

    def mailconf(*argv: str) -> subprocess.CompletedProcess[str]:
        return mailconf_cli("dkim", *argv)

    rotated = mailconf("rotate", *where, "--selector", "s1", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["result"]["ok"]
    refused = mailconf("activate", *where, "--nameserver", "127.0.0.1:9")
    assert refused.returncode == 1 and "DNS does not serve s1" in refused.stderr
    forced = mailconf("activate", *where, "--force")
    assert forced.returncode == 0 and "signs without DNS having been checked" in forced.stdout
    early = mailconf("retire", *where, "--selector", "default")
    assert early.returncode == 1 and "grace period" in early.stderr
    done = mailconf("retire", *where, "--selector", "default", "--grace-days", "0")
    assert done.returncode == 0, done.stderr
    assert "remove the DNS record default._domainkey.hogehoge.com" in done.stdout
    assert states(root) == {"s1": "active"}


def test_stage_only_first_key_waits_for_dns(example_root: Path) -> None:
    require_root_to_apply()
    r = SystemRoot(example_root)
    result = apply(SPEC, r, progress=lambda line: None, stage_only=True)
    assert result.ok and all(v.ok for v in result.validations), result.render()
    assert states(example_root) == {"default": "staged"}
    (key,) = status(example_root, "--no-dns")
    assert keymarks.parse_stamp(key["dates"]["staged"]) is not None  # as a rotation stamps it
    signing = (example_root / "etc/opendkim/signing.table").read_text()
    assert "default._domainkey" not in signing
    again = make_plan(SPEC, r)  # without the flag: the staged key stays staged
    assert again.empty and any(n.code == "setup.key-staged" for n in again.notes)
    with serving(example_root, "default") as server:
        activated = run(
            example_root,
            lambda: lc.plan_activate(r, DOMAIN, dns=make_resolver(server.address), now=T0),
        )
    assert activated.ok
    assert states(example_root) == {"default": "active"}
    assert (
        "*@hogehoge.com default._domainkey.hogehoge.com"
        in (example_root / "etc/opendkim/signing.table").read_text()
    )
    assert make_plan(SPEC, r).empty


def test_a_refused_retirement_puts_the_row_and_the_key_back(root: Path, helpers: Any) -> None:
    """A validator's refusal restores every file the command wrote or removed, as apply does."""
    from mailconf.setup import ApplyError
    from mailconf.system.validate import Validation

    r = SystemRoot(root)
    run(root, lambda: lc.plan_rotate(r, DOMAIN, selector="new", now=T0))
    run(root, lambda: lc.plan_activate(r, DOMAIN, force=True, now=T0))
    before = helpers.snapshot(root)

    def refuse(root: SystemRoot, **kwargs: Any) -> Validation:
        # Passes the check of the planned files (``staged``), refuses the files once written.
        return Validation("refuser", "staged" in kwargs, "no")

    with pytest.raises(ApplyError) as failed:
        perform(
            r,
            lambda: lc.plan_retire(r, DOMAIN, "default", force=True, now=T0),
            progress=lambda line: None,
            validators=(refuse,),
        )
    assert "/etc/opendkim/keys/hogehoge.com/default.private" in failed.value.result.restored
    assert helpers.snapshot(root) == before
    assert states(root) == {"default": "retiring", "new": "active"}


def test_rotation_published_by_rfc2136(root: Path, tmp_path: Path) -> None:
    """The key's life against a real authoritative server (Knot, TSIG): `mailconf dns --update`
    publishes the staged key, activate checks it there, `retire --update` deletes the record."""
    from authserver import AuthServer, require_knotd

    require_knotd()
    spec = ["--root", str(root), "--domain", DOMAIN, "--ip", "192.0.2.10"]
    where = ["--root", str(root), "--domain", DOMAIN]

    def mailconf(*argv: str) -> subprocess.CompletedProcess[str]:
        done = mailconf_cli(*argv)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    with AuthServer({DOMAIN: ""}) as server:
        key = str(server.key_file(tmp_path / "tsig.key"))
        publish = ["--update", server.address, "--tsig-key", key]

        def dkim(selector: str) -> list[str]:
            return server.txt(f"{selector}._domainkey.{DOMAIN}")

        mailconf("dns", *spec, *publish)
        assert dkim("default") and not dkim("s1")
        mailconf("dkim", "rotate", *where, "--selector", "s1")
        mailconf("dns", *spec, *publish)  # the staged key's record too
        assert dkim("default") and dkim("s1")
        keys = status(root, "--nameserver", server.address)
        assert {k["selector"]: (k["state"], k["published"]) for k in keys} == {
            "default": ("active", True),
            "s1": ("staged", True),
        }
        mailconf("dkim", "activate", *where, "--nameserver", server.address)
        assert states(root) == {"default": "retiring", "s1": "active"}
        retired = mailconf("dkim", "retire", *where, "--selector", "default", "--force", *publish)
        assert "default._domainkey.hogehoge.com" in retired.stdout
        assert not dkim("default") and dkim("s1")
        assert states(root) == {"s1": "active"}
        mailconf("dns", *spec, *publish)  # the zone now holds exactly what dns prints
        assert not dkim("default") and dkim("s1")
