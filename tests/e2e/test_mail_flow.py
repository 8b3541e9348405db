"""End to end: real Postfix, OpenDKIM, OpenDMARC and policyd-spf, configured by ``mailconf apply``.

The proof of issues 5 and 6 (issue 7). ``mail_flow_driver.py`` runs as PID 1 of private
mount, network, pid and UTS namespaces (``unshare --mount --net --pid --uts --fork``), with
overlays over ``/etc``, ``/var`` (``/var/spool/postfix``, ``/var/mail``, ``/var/lib``, ...),
``/run`` and ``/dev`` whose upper directories live on a tmpfs: the whole setup runs on the real
paths and the machine is left as it was (``/etc`` is hashed before and after, below).

Inside: ``lo`` up; the server's address 192.0.2.1 and the partner's 192.0.2.2 on a dummy
interface (a veth pair when the kernel has no dummy driver) — not loopback, which policyd-spf
skips; ``/etc/resolv.conf`` -> a DNS server on 127.0.0.1:53 (``tests/dnsserver.py``) serving the
test's own records: the server's PTR, ``partner.test`` (SPF covering 192.0.2.2, a DKIM key the
test signs with dkimpy, DMARC ``p=reject``), ``forger.test`` (SPF not covering 192.0.2.2,
``-all``); it passes every question about the two mail domains' zones on to a real authoritative
server, Knot (``tests/authserver.py``, on 127.0.0.1 and a free port, accepting RFC 2136 updates
signed with a TSIG key), which holds the server's A record and gets the SPF, DKIM and DMARC
records from ``mailconf dns --update``: the zone must then hold exactly what ``mailconf dns
--format json`` prints. dkimpy verifies outbound signatures against Knot's answers. Syslog lines
are read from ``/dev/log`` (and the Postfix chroot's ``dev/log``), which the test binds: there is
no syslogd.

Setup is ``python -m mailconf apply --config FILE`` (two domains) and nothing else; the services
are then started through mailconf's service layer (``ServiceManager.start``: a no-op for those
apply already started).

**Decision — how OpenDKIM reaches the test DNS:** OpenDKIM resolves with libunbound, which
refuses to ask 127.0.0.1 and answers ``.test`` itself. That needs ``ResolverConfiguration``
pointing at an unbound.conf (``do-not-query-localhost: no``, ``domain-insecure: "test."``,
``local-zone: "test." nodefault``, a forward-zone to 127.0.0.1). mailconf's spec has that as a
real, documented option (``[opendkim] resolver_configuration`` in mailconf.toml,
``--resolver-configuration`` on the command line; useful to anyone running a local validating
resolver), so the test uses it; the unbound.conf itself is a file the test adds to ``/etc``
inside the namespace. Nothing else is test-specific: no hidden switch in mailconf.

Then: outbound mail for each domain is signed (``d=DOMAIN s=SELECTOR c=relaxed/simple``) and
verified again with dkimpy; partner mail gets ``dkim=pass``/``dmarc=pass``/``Received-SPF: Pass``;
a body-tampered copy gets ``dkim=fail`` but ``dmarc=pass`` (aligned SPF); a signed message with a
null envelope sender passes DMARC through aligned DKIM alone (OpenDMARC trusts OpenDKIM's
results); a tampered one with a null sender is rejected by OpenDMARC; the forger is rejected by
policyd-spf; ``mailconf check`` finds no errors; a second apply changes no byte and restarts
nothing.

Then a key rotation of example.test (issue 12): ``dkim rotate`` stages a new selector (which does
not sign), ``dkim activate`` is refused while DNS does not serve it, ``mailconf dns --update``
publishes it to Knot, ``dkim activate`` switches to it, ``dkim retire --update`` deletes the old
selector's record from Knot; mail verifies at every step, ``dkim status --json`` is kept at each.
A message signed with the new selector is also sent in again from the partner's address, as a
receiver would get it: OpenDKIM verifies it (``dkim=pass``) and OpenDMARC passes it. At the
end every daemon is stopped by its PID.

A second run of the driver (issue 14), in namespaces of its own and at the same time as the
first (both mostly wait for daemons), sets the same system up with ``ansible-playbook``
and ``mailconf.mailconf.setup`` instead of ``mailconf apply`` (the collection built and installed
as tests/ansible does it): the daemons run after the playbook, outbound mail of both domains is
signed and verifies, and a second run of the playbook changes nothing and passes
``mailconf.mailconf.check``. It needs ansible-core (skipped, saying so, without it); both runs
need ``knotd`` (Debian's knot, which ``.ci/install-daemons`` installs). A run starts only when a
selected test needs it (``-k ansible``: the Ansible run alone).

On failure the assertion message carries the Postfix log, the milters' log lines and the
delivered message.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def _load_helpers() -> Any:
    # By path: works under any --import-mode, and no top-level name "namespace" leaks.
    spec = importlib.util.spec_from_file_location("mailconf_e2e_namespace", HERE / "namespace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ns = _load_helpers()
DRIVER = HERE / "mail_flow_driver.py"
TOTAL_TIMEOUT = 270.0
SELECTORS = {"example.test": "mail2024", "second.test": "s1"}


class Flow:
    def __init__(self, report: dict[str, Any], out: Path, etc_changes: list[str], seconds: float):
        self.report = report
        self.out = out
        self.etc_changes = etc_changes
        self.seconds = seconds

    def syslog(self) -> str:
        path = self.out / "syslog.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def explain(self, label: str | None = None) -> str:
        """What a reader of a CI log needs: the logs and the message in question."""
        lines = self.syslog().splitlines()
        postfix = [line for line in lines if "postfix/" in line]
        milters = [line for line in lines if re.search(r"opendkim|opendmarc|policyd-spf", line)]
        parts = [
            f"driver error: {self.report.get('error') or 'none'}",
            f"steps: {self.report.get('timings')}",
            "---- Postfix log ----",
            *postfix[-80:],
            "---- milter and policyd-spf log ----",
            *milters[-80:],
        ]
        if label is not None:
            outcome = self.report.get("mail", {}).get(label)
            parts += [f"---- {label}: SMTP outcome ----", json.dumps(outcome, indent=1)]
            delivered = self.out / f"delivered-{label}.eml"
            if delivered.exists():
                parts += [
                    f"---- {label}: delivered message ----",
                    delivered.read_text(errors="replace"),
                ]
        return "\n".join(parts)

    def mail(self, label: str) -> dict[str, Any]:
        outcome = self.report.get("mail", {}).get(label)
        assert outcome is not None, f"{label} was never sent\n{self.explain()}"
        return outcome


def require_namespace() -> None:
    """Skip, saying why, when the namespace or a program the driver needs is missing here."""
    reason = ns.unavailable()
    if reason:
        pytest.skip(reason)
    probe = subprocess.run(
        [sys.executable, "-m", "mailconf", "apply", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, f"`mailconf apply` is not available: {probe.stderr[-500:]}"


class Run:
    """The driver started in new namespaces (``extra``: its arguments after the two directories);
    :meth:`finish` waits for it, once, and reads its report."""

    def __init__(self, base: Path, *extra: str | Path) -> None:
        scratch, self.out = base / "ns", base / "out"
        self.out.mkdir()
        self.etc_before = ns.tree_digest("/etc")
        # Its output goes to a file: two drivers run at once, neither may block on a full pipe.
        self.output = base / "driver-output.txt"
        self.started = time.monotonic()
        with self.output.open("wb") as output:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--net", "--pid", "--uts", "--fork", "--kill-child",
                 sys.executable, DRIVER, scratch, self.out, *extra],
                stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            )  # fmt: skip
        self.flow: Flow | None = None

    def kill(self) -> None:
        """End the run if it still runs (--kill-child takes the namespace along)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def finish(self) -> Flow:
        if self.flow is None:
            self.flow = self._wait()
        return self.flow

    def _wait(self) -> Flow:
        left = TOTAL_TIMEOUT - (time.monotonic() - self.started)
        try:
            exit_status = self.proc.wait(timeout=max(left, 0.0))
            killed = ""
        except subprocess.TimeoutExpired:
            self.kill()
            exit_status, killed = -1, f"killed after {TOTAL_TIMEOUT:g} s\n"
        seconds = time.monotonic() - self.started
        stderr = killed + self.output.read_text(errors="replace")
        etc_changes = ns.digest_changes(self.etc_before, ns.tree_digest("/etc"))
        report_path = self.out / "report.json"
        assert report_path.exists(), f"the driver wrote no report (exit {exit_status}):\n{stderr}"
        report = json.loads(report_path.read_text())
        report["driver_exit"] = exit_status
        report["driver_stderr"] = stderr
        print(f"\ne2e: {seconds:.1f} s; steps at {report.get('timings')}")
        return Flow(report, self.out, etc_changes, seconds)


#: Each run of the driver, by the fixture through which a test waits for it.
RUN_FIXTURES = {"mail": "flow", "ansible": "ansible_flow"}


def _wanted(request: pytest.FixtureRequest) -> set[str]:
    """The runs that a selected test of this module waits for.  pytest has selected the tests
    (``-k``, ``-m``, node ids) before the first one runs, so a run no selected test needs is
    never started: it would take minutes of the CPUs only to be killed at the end."""
    used = {
        name
        for item in request.session.items
        if item.path == request.path
        for name in getattr(item, "fixturenames", ())
    }
    return {run for run, fixture in RUN_FIXTURES.items() if fixture in used}


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Run | str | Exception]]:
    """The runs of the driver that the selected tests need, at the same time (they share nothing
    but the CPUs, and mostly wait for daemons): the mail flow, and the Ansible run once the
    collection is built and installed as tests/ansible does it. Instead of the Ansible run: why
    it is skipped, or the error that stopped it (the mail flow runs on)."""
    require_namespace()
    wanted = _wanted(request)
    started: dict[str, Run | str | Exception] = {}
    if "mail" in wanted:
        started["mail"] = Run(tmp_path_factory.mktemp("e2e"))
    if "ansible" in wanted:
        started["ansible"] = _start_ansible(tmp_path_factory)
    yield started
    # A run whose tests failed before waiting for it must not outlive the session.
    for run in started.values():
        if isinstance(run, Run):
            run.kill()


def _start_ansible(tmp_path_factory: pytest.TempPathFactory) -> Run | str | Exception:
    """The Ansible run, or why it is skipped, or the error that stopped it."""
    try:
        # Its import skips, saying why, when ansible-core is missing.
        helpers = ns.load_by_path(
            "mailconf_ansible_helpers", HERE.parent / "ansible" / "conftest.py"
        )
        base = tmp_path_factory.mktemp("e2e-ansible")
        (base / "ansible").mkdir()
        began = time.monotonic()
        helpers.install_collection(base / "ansible")
        print(f"\ne2e: the collection built and installed in {time.monotonic() - began:.1f} s")
        return Run(base, base / "ansible")
    except pytest.skip.Exception as skipped:
        return str(skipped.msg)
    except Exception as error:
        return error


def test_only_the_runs_the_selected_tests_need_are_started(
    request: pytest.FixtureRequest, runs: dict[str, Run | str | Exception]
) -> None:
    """``-k ansible`` starts no mail flow, ``-k rotation`` no Ansible run; the whole module both.
    (By the tests' names here, not by the fixtures that decide it.)"""
    here = request.node.name
    names = [i.name for i in request.session.items if i.path == request.path and i.name != here]
    expected = {"ansible"} if any(name.startswith("test_ansible_") for name in names) else set()
    if any(not name.startswith("test_ansible_") for name in names):
        expected.add("mail")
    assert set(runs) == expected, names


@pytest.fixture(scope="module")
def flow(runs: dict[str, Run | str | Exception]) -> Flow:
    run = runs["mail"]
    assert isinstance(run, Run)
    return run.finish()


@pytest.fixture(scope="module")
def ansible_flow(runs: dict[str, Run | str | Exception]) -> Flow:
    """The driver's Ansible run."""
    run = runs["ansible"]
    if isinstance(run, str):
        pytest.skip(run)
    if isinstance(run, Exception):
        raise run
    return run.finish()


def test_driver_ran_to_the_end(flow: Flow) -> None:
    assert flow.report.get("error") is None, flow.explain()
    assert flow.report["driver_exit"] == 0, flow.report["driver_stderr"]
    assert flow.seconds < 300, f"took {flow.seconds:.0f} s"
    apply1 = flow.report["apply1"]
    assert apply1["rc"] == 0, f"{apply1}\n{flow.explain()}"


@pytest.mark.parametrize("domain", sorted(SELECTORS))
def test_outbound_is_signed_and_verifies_elsewhere(flow: Flow, domain: str) -> None:
    _signed_and_verifies(flow, domain)


def _signed_and_verifies(flow: Flow, domain: str) -> None:
    label = f"outbound-{domain}"
    outcome = flow.mail(label)
    assert outcome["accepted"] and outcome["delivered"], flow.explain(label)
    headers = outcome["headers"]
    signature = re.search(r"^DKIM-Signature:.*(?:\n[ \t].*)*", headers, re.M)
    assert signature, flow.explain(label)
    tags = dict(
        (k.strip(), v.strip())
        for k, _, v in (
            t.partition("=") for t in re.sub(r"\s+", "", signature.group(0)[15:]).split(";")
        )
        if k.strip()
    )
    assert tags.get("d") == domain, flow.explain(label)
    assert tags.get("s") == SELECTORS[domain], flow.explain(label)
    assert tags.get("c") == "relaxed/simple", flow.explain(label)
    assert outcome["dkimpy_verify"] is True, "dkimpy says the signature is bad\n" + flow.explain(
        label
    )


def _by_name(printed: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    """``mailconf dns --format json`` as the driver reads a zone: name -> sorted strings lists."""
    names: dict[str, list[list[str]]] = {}
    for record in printed:
        assert record["type"] == "TXT", record
        names.setdefault(record["name"], []).append(list(record["strings"]))
    return {name: sorted(records) for name, records in names.items()}


def test_records_are_published_by_rfc2136_to_knot(flow: Flow) -> None:
    update = flow.report.get("dns_update")
    assert update is not None, flow.explain()
    assert update["rc"] == 0, f"{update['stdout']}\n{update['stderr']}"
    published = flow.report["published"]
    names = {r["name"] for r in published["printed"]}
    assert {f"{s}._domainkey.{d}" for d, s in SELECTORS.items()} | set(SELECTORS) <= names
    assert published["served"] == _by_name(published["printed"])


def _auth_results(headers: str) -> str:
    return "\n".join(
        m.group(0) for m in re.finditer(r"^Authentication-Results:.*(?:\n[ \t].*)*", headers, re.M)
    )


def test_partner_mail_passes_dkim_dmarc_spf(flow: Flow) -> None:
    outcome = flow.mail("inbound")
    assert outcome["accepted"] and outcome["delivered"], flow.explain("inbound")
    results = _auth_results(outcome["headers"])
    assert re.search(r"\bdkim=pass\b.*header\.d=partner\.test", results), flow.explain("inbound")
    assert re.search(r"\bdmarc=pass\b.*header\.from=partner\.test", results), flow.explain(
        "inbound"
    )
    assert re.search(r"^Received-SPF: Pass\b", outcome["headers"], re.M), flow.explain("inbound")
    assert outcome["dkimpy_verify"] is True, flow.explain("inbound")


def test_tampered_body_fails_dkim_but_passes_dmarc_through_spf(flow: Flow) -> None:
    outcome = flow.mail("tampered")
    assert outcome["accepted"] and outcome["delivered"], flow.explain("tampered")
    results = _auth_results(outcome["headers"])
    assert re.search(r"\bdkim=fail\b", results), flow.explain("tampered")
    assert re.search(r"\bdmarc=pass\b", results), flow.explain("tampered")
    assert re.search(r"^Received-SPF: Pass\b", outcome["headers"], re.M), flow.explain("tampered")
    assert outcome["dkimpy_verify"] is False, flow.explain("tampered")


def test_signed_null_sender_passes_dmarc_through_dkim_alone(flow: Flow) -> None:
    """No SPF identity to align: only OpenDKIM's result, trusted by OpenDMARC, can pass DMARC."""
    outcome = flow.mail("signed-null")
    assert outcome["accepted"] and outcome["delivered"], (
        "OpenDMARC did not use OpenDKIM's dkim=pass (does TrustedAuthservIDs name OpenDKIM's "
        "authserv-id?)\n" + flow.explain("signed-null")
    )
    results = _auth_results(outcome["headers"])
    assert re.search(r"\bdkim=pass\b", results), flow.explain("signed-null")
    assert re.search(r"\bdmarc=pass\b", results), flow.explain("signed-null")


def test_tampered_null_sender_is_rejected_by_opendmarc(flow: Flow) -> None:
    outcome = flow.mail("tampered-null")
    assert not outcome["accepted"], flow.explain("tampered-null")
    assert outcome["stage"] == "DATA", flow.explain("tampered-null")
    code, text = outcome["response"]
    assert code == 550 and "DMARC" in text, flow.explain("tampered-null")


def test_spf_fail_is_rejected_by_policyd_spf(flow: Flow) -> None:
    outcome = flow.mail("forged")
    assert not outcome["accepted"], flow.explain("forged")
    assert outcome["stage"] == "RCPT", flow.explain("forged")
    [(code, text)] = outcome["response"].values()
    assert code == 550 and "SPF fail" in text, flow.explain("forged")
    assert re.search(r"policyd-spf\[\d+\]: .*SPF fail", flow.syslog()), flow.explain("forged")


def test_mailconf_check_reports_no_errors(flow: Flow) -> None:
    check = flow.report.get("check")
    assert check is not None, flow.explain()
    assert check["rc"] == 0, f"{check['stdout']}\n{check['stderr']}"
    findings = json.loads(flow.report["check_json"]["stdout"])
    items = findings["findings"] if isinstance(findings, dict) else findings
    errors = [f for f in items if f.get("severity") == "error"]
    assert not errors, json.dumps(errors, indent=1)


def test_second_apply_changes_nothing_and_restarts_nothing(flow: Flow) -> None:
    report = flow.report
    assert "apply2" in report, flow.explain()
    assert report["apply2"]["rc"] == 0, report["apply2"]
    plan = json.loads(report["plan_after"]["stdout"])
    assert plan["steps"] == [], json.dumps(plan, indent=1)
    assert report["apply2_changes"] == [], report["apply2_changes"]
    before, after = report["pids_before_apply2"], report["pids_after_apply2"]
    assert all(before.values()), before
    assert before == after, f"restarted: {before} -> {after}"


def test_every_process_stopped_by_pid(flow: Flow) -> None:
    stopped = flow.report.get("stopped", {})
    assert set(stopped) == {"postfix", "opendkim", "opendmarc"}, stopped
    assert all(s["stopped"] for s in stopped.values()), stopped
    assert flow.report.get("leftover") == [], flow.report.get("leftover")


def test_the_machine_is_unchanged(flow: Flow) -> None:
    assert flow.etc_changes == [], "\n".join(flow.etc_changes[:50])
    assert not Path("/var/mail/mailtest").exists()


def _states(flow: Flow, label: str) -> dict[str, tuple[str, bool | None]]:
    result = flow.report["rotation"][f"status-{label}"]
    assert result["rc"] == 0, result
    return {
        k["selector"]: (k["state"], k["published"])
        for k in json.loads(result["stdout"])
        if k["domain"] == "example.test"
    }


def _signed_by(flow: Flow, label: str) -> str | None:
    outcome = flow.mail(label)
    assert outcome["accepted"] and outcome["delivered"], flow.explain(label)
    assert outcome["dkimpy_verify"] is True, flow.explain(label)
    found = re.search(r"^DKIM-Signature:(?:.|\n[ \t])*?\bs=([^;\s]+)", outcome["headers"], re.M)
    return found.group(1) if found else None


def test_key_rotation_stage_activate_retire(flow: Flow) -> None:
    """Issue 12: a rotation with mail verifying at every step and `dkim status` at each state."""
    rotation = flow.report.get("rotation")
    assert rotation is not None, flow.explain()
    old = SELECTORS["example.test"]
    assert _states(flow, "before") == {old: ("active", True)}
    assert rotation["rotate"]["rc"] == 0, rotation["rotate"]
    assert _states(flow, "staged") == {old: ("active", True), "s2": ("staged", False)}
    assert _signed_by(flow, "rotation-staged") == old, "a staged key must not sign"
    refused = rotation["activate-unpublished"]
    assert refused["rc"] == 1 and "DNS does not serve" in refused["stderr"], refused
    assert rotation["publish"]["rc"] == 0, rotation["publish"]
    published = rotation["published"]
    staged = _by_name(published["printed"])
    assert {f"{old}._domainkey.example.test", "s2._domainkey.example.test"} <= set(staged)
    assert published["served"] == staged, "Knot does not hold what `mailconf dns` prints"
    assert _states(flow, "published") == {old: ("active", True), "s2": ("staged", True)}
    assert rotation["activate"]["rc"] == 0, rotation["activate"]
    assert _states(flow, "active") == {old: ("retiring", True), "s2": ("active", True)}
    assert _signed_by(flow, "rotation-active") == "s2", flow.explain("rotation-active")
    # The same message at a receiver: OpenDKIM finds the new key (its resolver reaches Knot), and
    # with a null envelope sender only that aligned DKIM pass can make OpenDMARC pass it.
    relayed = "rotation-active-relayed"
    outcome = flow.mail(relayed)
    assert outcome["accepted"] and outcome["delivered"], flow.explain(relayed)
    results = _auth_results(outcome["headers"])
    assert re.search(r"\bdkim=pass\b.*header\.d=example\.test", results), flow.explain(relayed)
    assert re.search(r"\bdmarc=pass\b.*header\.from=example\.test", results), flow.explain(relayed)
    assert rotation["retire"]["rc"] == 0, rotation["retire"]
    served = rotation["served-after-retire"]
    assert served[f"{old}._domainkey.example.test"] == [], "the old record is still in the zone"
    assert served["s2._domainkey.example.test"] == staged["s2._domainkey.example.test"]
    assert _states(flow, "retired") == {"s2": ("active", True)}
    assert _signed_by(flow, "rotation-retired") == "s2", flow.explain("rotation-retired")


def test_ansible_playbook_sets_up_the_real_daemons(ansible_flow: Flow) -> None:
    """Issue 14: mailconf.mailconf.setup instead of `mailconf apply`, the daemons running after
    the playbook (it started them), the records published from the result."""
    report = ansible_flow.report
    first = report.get("playbook1")
    assert first is not None, ansible_flow.explain()
    assert first["rc"] == 0, first["output"]
    [recap] = first["recap"].values()
    assert recap["changed"] == 1 and recap["failed"] == 0, first["output"]
    assert all(report["pids_after_playbook1"].values()), report["pids_after_playbook1"]
    assert report.get("error") is None, ansible_flow.explain()
    assert report["published"]["served"] == _by_name(report["published"]["printed"])


@pytest.mark.parametrize("domain", sorted(SELECTORS))
def test_ansible_set_up_mail_is_signed_and_verifies(ansible_flow: Flow, domain: str) -> None:
    _signed_and_verifies(ansible_flow, domain)


def test_ansible_second_run_changes_nothing_and_the_doctor_passes(ansible_flow: Flow) -> None:
    second = ansible_flow.report.get("playbook2")
    assert second is not None, ansible_flow.explain()
    assert second["rc"] == 0, second["output"]
    [recap] = second["recap"].values()
    # Two tasks ran and passed: the setup (unchanged) and the doctor (skipped in the first run).
    assert recap == {"ok": 2, "changed": 0, "failed": 0}, second["output"]
    stopped = ansible_flow.report.get("stopped", {})
    assert set(stopped) == {"postfix", "opendkim", "opendmarc"}, stopped
    assert all(s["stopped"] for s in stopped.values()), stopped
    assert ansible_flow.etc_changes == [], "\n".join(ansible_flow.etc_changes[:50])
