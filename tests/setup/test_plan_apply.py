"""The whole plan for hogehoge.com (golden), apply, idempotence, rollback, fault injection."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from example_tree import EXAMPLE_TOML
from mailconf.errors import MailconfError
from mailconf.keys import load_private_key
from mailconf.setup import ApplyError, Domain, Setup, apply, make_plan
from mailconf.setup.pending import PENDING_RESTARTS
from mailconf.setup.plan import Step
from mailconf.system import validate
from mailconf.system.root import SystemRoot

SPEC = Setup.from_toml(EXAMPLE_TOML)


def plan_json(root: Path, setup: Setup = SPEC) -> dict[str, Any]:
    data: dict[str, Any] = make_plan(setup, SystemRoot(root)).to_json()
    data.pop("root")
    return data


def quiet_apply(root: Path, setup: Setup = SPEC, **kwargs: Any) -> Any:
    return apply(setup, SystemRoot(root), **kwargs)


# ---------------------------------------------------------------------------------- golden
def test_golden_plan_on_example(example_root: Path, helpers: Any) -> None:
    data = plan_json(example_root)
    helpers.check_golden("hogehoge-example.json", data)
    text = make_plan(SPEC, SystemRoot(example_root)).render()
    helpers.check_golden("hogehoge-example.txt", text)


def test_plan_covers_the_walkthrough(example_root: Path) -> None:
    plan = make_plan(SPEC, SystemRoot(example_root))
    kinds = [step.kind for step in plan.steps]
    assert kinds.index("file") < kinds.index("restart")
    assert [s.target for s in plan.of_kind("restart")] == ["opendkim", "opendmarc", "postfix"]
    by_target = {s.target: s for s in plan.steps}
    main = by_target["/etc/postfix/main.cf"].diff
    assert (  # one item a line, as Debian's and most admins' main.cf write a long list
        "+smtpd_recipient_restrictions =\n+    permit_mynetworks,\n"
        "+    permit_sasl_authenticated,\n+    reject_unauth_destination,\n"
        "+    check_policy_service unix:private/policyd-spf\n" in main
    )
    assert "+smtpd_milters = local:opendkim/opendkim.sock, local:opendmarc/opendmarc.sock" in main
    assert "+non_smtpd_milters = $smtpd_milters" in main
    trusted = by_target["/etc/opendkim/trusted.hosts"].diff
    assert "+localhost\n" in trusted and "+.hogehoge.com\n" in trusted
    assert "locahost" not in trusted and "*.hogehoge.com" not in trusted
    assert "_adsp" not in json.dumps(plan.to_json())
    assert by_target["/etc/opendkim/keys/hogehoge.com/default.private"].kind == "key"
    assert {s.target for s in plan.of_kind("group-member")} == {
        "postfix@opendkim",
        "postfix@opendmarc",
    }


def test_plan_on_debian_default_files(tmp_path: Path, helpers: Any) -> None:
    if not Path("/etc/opendkim.conf").exists() or not Path("/etc/opendmarc.conf").exists():
        pytest.skip("opendkim/opendmarc are not installed here")
    root = helpers.copy_debian(tmp_path)
    setup = Setup.from_flags(domain="hogehoge.com", ip=["192.0.2.10"], hostname="mail.hogehoge.com")
    plan = make_plan(setup, SystemRoot(root))
    shape = [[s.kind, s.target] for s in plan.steps]
    helpers.check_golden("hogehoge-debian-steps.json", shape)
    result = quiet_apply(root, setup)
    assert all(v.ok for v in result.validations), result.render()
    assert make_plan(setup, SystemRoot(root)).empty
    postconf = shutil.which("postconf") or "/usr/sbin/postconf"
    if os.path.exists(postconf):
        out = subprocess.run(
            [postconf, "-c", str(root / "etc/postfix"), "-h", "smtpd_milters", "non_smtpd_milters"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        assert out[0] == "local:opendkim/opendkim.sock, local:opendmarc/opendmarc.sock"
        assert out[1] == "$smtpd_milters"


# ------------------------------------------------------------------------------- apply
def test_apply_then_nothing_to_do(example_root: Path, helpers: Any) -> None:
    lines: list[str] = []
    result = quiet_apply(example_root, progress=lines.append)
    assert result.ok
    assert any("[1/22]" in line for line in lines)
    checked = {v.tool: v for v in result.validations}
    for tool in ("postconf", "opendkim", "opendmarc"):
        if shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}"):
            assert checked[tool].ok and not checked[tool].skipped, checked[tool]
    assert make_plan(SPEC, SystemRoot(example_root)).empty
    before = helpers.snapshot(example_root)
    second = quiet_apply(example_root)
    assert second.done == [] and second.backup is None
    assert helpers.snapshot(example_root) == before
    assert not (example_root / PENDING_RESTARTS.lstrip("/")).exists()

    key_path = example_root / "etc/opendkim/keys/hogehoge.com/default.private"
    st = key_path.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 116, 122)
    assert load_private_key(key_path).bits == 2048
    assert (example_root / "etc/opendkim/keys/hogehoge.com/default.txt").exists()
    keys_dir = (example_root / "etc/opendkim/keys").stat()
    assert (keys_dir.st_mode & 0o777, keys_dir.st_uid) == (0o700, 116)
    sock_dir = (example_root / "var/spool/postfix/opendkim").stat()
    assert (sock_dir.st_mode & 0o777, sock_dir.st_uid, sock_dir.st_gid) == (0o750, 116, 120)
    group = (example_root / "etc/group").read_text()
    assert "opendkim:x:122:postfix\n" in group and "opendmarc:x:123:postfix\n" in group
    assert "opendkim:!::postfix\n" in (example_root / "etc/gshadow").read_text()


def test_existing_key_never_regenerated(example_root: Path) -> None:
    quiet_apply(example_root)
    key_path = example_root / "etc/opendkim/keys/hogehoge.com/default.private"
    key = key_path.read_bytes()
    (example_root / "etc/opendkim/keys/hogehoge.com/default.txt").unlink()
    key_path.chmod(0o640)
    plan = make_plan(SPEC, SystemRoot(example_root))
    assert [s.kind for s in plan.steps] == ["key", "mode", "restart"]
    quiet_apply(example_root)
    assert key_path.read_bytes() == key
    assert key_path.stat().st_mode & 0o777 == 0o600


def test_walkthrough_mistakes_fixed_in_place(example_root: Path) -> None:
    tables = example_root / "etc/opendkim"
    tables.mkdir()
    (tables / "trusted.hosts").write_text("127.0.0.1\nlocahost\n*.hogehoge.com\n")
    quiet_apply(example_root)
    assert (tables / "trusted.hosts").read_text() == "127.0.0.1\nlocalhost\n.hogehoge.com\n::1\n"


def test_admin_restrictions_kept(example_root: Path) -> None:
    main = example_root / "etc/postfix/main.cf"
    main.write_text(
        main.read_text()
        + "smtpd_recipient_restrictions =\n    permit_mynetworks,\n    reject_unauth_destination,\n"
        "    reject_rbl_client zen.spamhaus.org\n"
    )
    quiet_apply(example_root)
    value = main.read_text().split("smtpd_recipient_restrictions =", 1)[1]
    order = [w for w in value.replace(",", " ").split() if "_" in w or ":" in w][:6]
    assert order.index("reject_unauth_destination") < order.index("check_policy_service")
    assert "reject_rbl_client" in order


def test_inet_sockets_several_domains_ed25519(example_root: Path) -> None:
    setup = Setup(
        domains=[Domain("hogehoge.com"), Domain("fugafuga.example", "s2024")],
        hostname="mail.hogehoge.com",
        socket_style="inet",
        ed25519=True,
    )
    plan = make_plan(setup, SystemRoot(example_root))
    assert not plan.of_kind("group-member")
    assert len(plan.of_kind("key")) == 4
    result = quiet_apply(example_root, setup)
    assert all(v.ok for v in result.validations), result.render()
    main = (example_root / "etc/postfix/main.cf").read_text()
    assert "smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:8893" in main
    conf = (example_root / "etc/opendkim.conf").read_text()
    assert "inet:8891@127.0.0.1" in conf and "MultipleSignatures" in conf
    signing = (example_root / "etc/opendkim/signing.table").read_text()
    assert "s2024-ed25519._domainkey.fugafuga.example" in signing
    assert make_plan(setup, SystemRoot(example_root)).empty


# ----------------------------------------------------------------------------- rollback
def failing_postconf(root: SystemRoot, **kwargs: Any) -> validate.Validation:
    """Passes the check of the planned files (``staged``, before writing) and refuses the files
    once written: the failure only an apply's second validation can meet (``postfix check``)."""
    if "staged" in kwargs:
        return validate.Validation("postconf", ok=True, message="")
    return validate.Validation("postconf", ok=False, message="main.cf: injected failure")


def test_rollback_after_injected_validation_failure(example_root: Path, helpers: Any) -> None:
    before = helpers.snapshot(example_root)
    with pytest.raises(ApplyError) as caught:
        quiet_apply(example_root, validators=[failing_postconf])
    message = str(caught.value)
    assert "postconf" in message and "injected failure" in message
    assert "/etc/postfix/main.cf" in caught.value.result.restored
    assert any("restart" in item for item in caught.value.result.not_done)
    assert helpers.snapshot(example_root) == before
    # The next apply (with the checks passing) converges.
    quiet_apply(example_root)
    assert make_plan(SPEC, SystemRoot(example_root)).empty


def test_real_opendkim_refusal_stops_apply_before_writing(example_root: Path, helpers: Any) -> None:
    if not (shutil.which("opendkim") or os.path.exists("/usr/sbin/opendkim")):
        pytest.skip("opendkim is not installed")
    # A SigningTable row opendkim cannot compile, which only the daemon's -n catches here: the
    # check of the planned files refuses it before the first write.
    (example_root / "etc/opendkim").mkdir(exist_ok=True)
    (example_root / "etc/opendkim/signing.table").write_text("*@[bad x\n")
    before = helpers.snapshot(example_root)
    with pytest.raises(ApplyError, match=r"nothing was written.*opendkim refuses.*regular") as e:
        quiet_apply(example_root)
    assert helpers.snapshot(example_root) == before
    assert e.value.result.backup is None and not e.value.result.restored


def test_a_missing_referenced_file_stops_plan_and_apply_before_writing(
    example_root: Path, helpers: Any
) -> None:
    (example_root / "usr/share/dns/root.key").unlink()  # TrustAnchorFile now missing
    plan = make_plan(SPEC, SystemRoot(example_root))
    [note] = [n for n in plan.notes if n.code == "setup.missing-file"]
    assert note.severity.value == "error" and "/usr/share/dns/root.key" in note.message
    before = helpers.snapshot(example_root)
    with pytest.raises(ApplyError, match=r"nothing was written.*root\.key"):
        quiet_apply(example_root)
    assert helpers.snapshot(example_root) == before


# ------------------------------------------------------------------------ fault injection
def test_exception_between_any_two_steps_then_converges(tmp_path: Path, helpers: Any) -> None:
    reference = helpers.copy_example(tmp_path / "reference")
    quiet_apply(reference)
    final = helpers.snapshot(reference)
    steps = [s for s in make_plan(SPEC, SystemRoot(helpers.copy_example(tmp_path / "n"))).steps]
    count = len([s for s in steps if s.kind not in ("package", "restart")])
    for index in range(count):
        root = helpers.copy_example(tmp_path / f"at{index}")
        original = helpers.snapshot(root)

        def boom(at: int, step: Step, index: int = index) -> None:
            if at == index:
                raise RuntimeError(f"injected before {step.target}")

        with pytest.raises(ApplyError, match="injected") as caught:
            quiet_apply(root, before_step=boom)
        assert caught.value.result.not_done
        assert helpers.snapshot(root) == original, f"files changed after a failure at {index}"
        quiet_apply(root, validators=())  # the real checks run in the other tests
        assert make_plan(SPEC, SystemRoot(root)).empty
        assert _without_keys(helpers.snapshot(root)) == _without_keys(final)


def _without_keys(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snap.items() if "/keys/" not in k}


KILL_SCRIPT = """
import sys, time
from mailconf.setup import Setup, apply
from mailconf.system.root import SystemRoot
setup = Setup.from_toml(sys.argv[2])
def slow(index, step):
    print(index, step.target, flush=True)
    time.sleep(0.03)
apply(setup, SystemRoot(sys.argv[1]), before_step=slow)
print("finished", flush=True)
"""


def test_kill_9_at_random_points_then_converges(tmp_path: Path, helpers: Any) -> None:
    reference = helpers.copy_example(tmp_path / "reference")
    original = helpers.snapshot(reference)
    quiet_apply(reference)
    final = helpers.snapshot(reference)
    rng = random.Random(int(os.environ.get("MAILCONF_KILL_SEED", "20240201")))
    for attempt in range(6):
        root = helpers.copy_example(tmp_path / f"kill{attempt}")
        proc = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, str(root), str(EXAMPLE_TOML)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        now = helpers.snapshot(root)
        for name, state in now.items():
            if "/keys/" in name or name.endswith((".mailconf-tmp", ".mailconf-new")):
                continue  # keys are checked below; a killed write's temp file is removed next apply
            if name in ("etc/group", "etc/gshadow"):  # two steps write it: three states
                lines = (root / name).read_text().splitlines()
                assert len(lines) == len((reference / name).read_text().splitlines())
                continue
            assert state in (original.get(name), final.get(name)), f"{name}: neither old nor new"
        private = root / "etc/opendkim/keys/hogehoge.com/default.private"
        if private.exists():
            load_private_key(private)  # complete, never half-written
        quiet_apply(root)
        assert make_plan(SPEC, SystemRoot(root)).empty
        assert _without_keys(helpers.snapshot(root)) == _without_keys(final)
        leftovers = [
            p for p in root.rglob(".*") if p.name.endswith((".mailconf-tmp", ".mailconf-new"))
        ]
        assert leftovers == []


def test_kill_before_restart_still_restarts(example_root: Path) -> None:
    """Files written, process killed before restarting: the next plan owes the restarts."""

    class Stop(BaseException):
        pass

    def stop_after_files(index: int, step: Step) -> None:
        return None

    plan = make_plan(SPEC, SystemRoot(example_root))
    # Simulate: everything but the restarts done, pending list written, then death.
    with pytest.raises(Stop):

        def die(*_: Any, **kwargs: Any) -> validate.Validation:
            if "staged" in kwargs:  # the check before writing passes
                return validate.Validation("test", ok=True, message="")
            raise Stop

        quiet_apply(example_root, validators=[die], before_step=stop_after_files)
    pending = (example_root / PENDING_RESTARTS.lstrip("/")).read_text().split()
    assert "opendkim" in pending and "postfix" in pending
    again = make_plan(SPEC, SystemRoot(example_root))
    assert [s.kind for s in again.steps] == ["restart"] * 3
    assert len(plan.steps) > 3
    quiet_apply(example_root)
    assert make_plan(SPEC, SystemRoot(example_root)).empty


def test_hostile_inputs_write_nothing(example_root: Path, helpers: Any) -> None:
    before = helpers.snapshot(example_root, bookkeeping=True)
    for kwargs in (
        {"domain": "../../etc"},
        {"domain": "hogehoge.com", "selector": "a;b"},
        {"domain": "hogehoge.com."},
        {"domain": "ほげほげ.com"},
    ):
        with pytest.raises(MailconfError):
            quiet_apply(example_root, Setup.from_flags(ip=["192.0.2.10"], **kwargs))  # type: ignore[arg-type]
    assert helpers.snapshot(example_root, bookkeeping=True) == before
    assert not (example_root / "etc/opendkim").exists()


def test_missing_account_stops_before_writing(example_root: Path, helpers: Any) -> None:
    passwd = example_root / "etc/passwd"
    lines = passwd.read_text().splitlines(keepends=True)
    passwd.write_text("".join(line for line in lines if "opendkim" not in line))
    before = helpers.snapshot(example_root)
    with pytest.raises(ApplyError, match="user 'opendkim' does not exist"):
        quiet_apply(example_root)
    assert helpers.snapshot(example_root) == before


def test_apply_plan_refuses_a_stale_plan(example_root: Path) -> None:
    from mailconf.setup import apply_plan

    plan = make_plan(SPEC, SystemRoot(example_root))
    main = example_root / "etc/postfix/main.cf"
    main.write_text(main.read_text() + "smtpd_helo_required = yes\n")
    with pytest.raises(MailconfError, match="changed since the plan was made"):
        apply_plan(plan)
    fresh = make_plan(SPEC, SystemRoot(example_root))
    assert apply_plan(fresh, validators=()).ok
    assert make_plan(SPEC, SystemRoot(example_root)).empty


def test_review_sees_the_validated_plan_under_the_lock_and_can_stop_it(
    example_root: Path, helpers: Any
) -> None:
    from mailconf.system.lock import ApplyLock, LockHeldError

    before = helpers.snapshot(example_root)
    seen: list[Any] = []

    def decline(plan: Any) -> None:
        seen.append(plan)
        with pytest.raises(LockHeldError):  # the plan shown is made under the apply's lock
            ApplyLock(SystemRoot(example_root)).acquire()
        raise KeyboardInterrupt

    def refuses(root: SystemRoot, **kwargs: Any) -> validate.Validation:
        assert "staged" in kwargs  # the planned files, not yet written
        return validate.Validation("postconf", ok=False, message="main.cf: refused")

    with pytest.raises(KeyboardInterrupt):
        quiet_apply(example_root, validators=[refuses], review=decline)
    [plan] = seen
    assert [v.tool for v in plan.validations] == ["postconf"]
    assert [n.code for n in plan.notes if n.severity.value == "error"] == [
        "setup.validation-failed"
    ]
    assert helpers.snapshot(example_root) == before
    result = quiet_apply(example_root, review=seen.append)  # reviewed, then performed
    assert result.ok and seen[-1] is result.plan and seen[-1].validations
