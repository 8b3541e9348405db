"""The end-to-end mail scenario, run inside ``unshare --mount --net --pid --uts --fork``.

Not a test module: ``test_mail_flow.py`` starts it as a separate program with two arguments, a
scratch directory (a tmpfs is mounted there; the overlays' upper directories live on it and vanish
with the namespace) and an output directory (seen from outside: ``report.json``, the syslog
lines, the delivered messages). It records what happened; the test decides what is right.

A third argument, a directory where tests/ansible/conftest.py installed the collection, runs the
Ansible scenario instead of the mail flow: ``ansible-playbook`` with ``mailconf.mailconf.setup``
sets the system up (no ``mailconf apply``), then outbound mail and ``mailconf.mailconf.check``.

DNS: ``knotd`` (tests/authserver.py) is the authoritative server of the two mail domains' zones,
on 127.0.0.1 and a free port, and gets their records by RFC 2136 (``mailconf dns --update`` with a
TSIG key); the in-process server on 127.0.0.1:53 (tests/dnsserver.py), which ``/etc/resolv.conf``
and OpenDKIM's unbound.conf name, answers the rest (partner, forger, reverse names) and passes
every question under those two zones on to Knot, as a resolver with a forward zone would.

Inside the namespace, on the real paths: overlays over ``/etc``, ``/var`` (which holds
``/var/spool/postfix``, ``/var/mail``, ``/var/lib`` and wherever mailconf keeps backups),
``/run`` and ``/dev`` (no syslogd on these machines: the test binds ``/dev/log`` itself, and an
overlay keeps that socket off the real ``/dev``). This process is the namespace's PID 1: any
process it forgets dies with it, but it stops everything it started by PID and reports what
was still alive.
"""

from __future__ import annotations

import base64
import json
import os
import re
import smtplib
import subprocess
import sys
import threading
import time
import traceback
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import dkim  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import namespace  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from authserver import AuthServer  # noqa: E402
from dnsserver import DnsServer  # noqa: E402
from mailconf.system.root import SystemRoot  # noqa: E402
from mailconf.system.services import ServiceManager, pid_alive, stop_pid  # noqa: E402

# The scenario's names and addresses (TEST-NET-1, RFC 5737).
HOSTNAME = "mail.example.test"
SERVER_IP = "192.0.2.1"
PARTNER_IP = "192.0.2.2"
DOMAINS = {"example.test": "mail2024", "second.test": "s1"}
PARTNER = "partner.test"
PARTNER_SELECTOR = "p2024"
PARTNER_HELO = "mail.partner.test"
FORGER = "forger.test"  # SPF does not cover PARTNER_IP
MAILBOX_USER = "mailtest"
RECIPIENT = f"{MAILBOX_USER}@localhost"
UNBOUND_CONF = "/etc/opendkim-resolver.conf"

WAIT_DELIVERY = 30.0
SMTP_TIMEOUT = 30.0
MAILCONF_TIMEOUT = 120.0
FORWARD_TIMEOUT = 5.0
#: What local delivery and this host's milters added to a message (a header and its folded lines).
DELIVERY_HEADERS = re.compile(
    rb"^(?:Return-Path|X-Original-To|Delivered-To|Authentication-Results):.*\n(?:[ \t].*\n)*",
    re.M | re.I,
)
#: The Ansible run's playbook (mailconf.mailconf.setup, then mailconf.mailconf.check).
PLAYBOOK = HERE / "setup_playbook.yml"


class ForwardingDns(DnsServer):
    """The test's DNS server, passing every question under ``knot``'s zones on to ``knot``.

    One address serves everything, so ``/etc/resolv.conf`` and OpenDKIM's unbound.conf name just
    127.0.0.1, and whatever resolves the mail domains (mailconf's doctor and ``dkim`` commands,
    the daemons) gets Knot's answers to them.
    """

    def __init__(self, knot: AuthServer) -> None:
        super().__init__(zone="test", port=53)
        self.knot = knot
        self.forwarded = [dns.name.from_text(apex) for apex in knot.zones]

    def respond(self, wire: bytes, *, max_size: int | None) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if len(query.question) != 1 or not any(
            query.question[0].name.is_subdomain(apex) for apex in self.forwarded
        ):
            return super().respond(wire, max_size=max_size)
        question = query.question[0]
        self.queries.append((f"{question.name} (Knot)", dns.rdatatype.to_text(question.rdtype)))
        ask = dns.query.udp if max_size is not None else dns.query.tcp
        try:
            answer = ask(query, self.knot.host, port=self.knot.port, timeout=FORWARD_TIMEOUT)
        except (OSError, dns.exception.DNSException):
            answer = dns.message.make_response(query)
            answer.set_rcode(dns.rcode.SERVFAIL)
        return answer.to_wire()


class Driver:
    def __init__(self, scratch: Path, out: Path, ansible_base: Path | None = None) -> None:
        self.scratch = scratch
        self.out = out
        self.ansible_base = ansible_base
        self.report: dict[str, Any] = {"timings": {}, "steps": []}
        self.started_pids: dict[str, int] = {}
        self.t0 = time.monotonic()
        # The mail domains' zones; mail.example.test's address is the provider's, in its zone.
        zones = {domain: "" for domain in DOMAINS}
        zones[HOSTNAME.split(".", 1)[1]] = f"{HOSTNAME}. 300 IN A {SERVER_IP}"
        # Its files on the namespace's tmpfs: they vanish with it, even when the run is killed.
        self.knot = AuthServer(zones, parent=scratch)
        self.dns = ForwardingDns(self.knot)
        self.tsig_key = scratch / "tsig.key"
        self.syslog: namespace.SyslogListener | None = None

    # -- small tools --------------------------------------------------------------------------

    def mark(self, name: str) -> None:
        self.report["timings"][name] = round(time.monotonic() - self.t0, 2)
        self.report["steps"].append(name)
        self.save()

    def save(self) -> None:
        (self.out / "report.json").write_text(json.dumps(self.report, indent=2, default=str))

    def mailconf(self, *args: str, timeout: float = MAILCONF_TIMEOUT) -> dict[str, Any]:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "mailconf", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return {
            "argv": ["mailconf", *args],
            "rc": proc.returncode,
            "stdout": proc.stdout,
            "stderr": proc.stderr,
            "seconds": round(time.monotonic() - started, 2),
        }

    # -- the namespace ------------------------------------------------------------------------

    def enter(self) -> None:
        namespace.private_mounts(self.scratch)
        for target in ("/etc", "/var", "/run", "/dev"):
            namespace.overlay(self.scratch, target)
        namespace.sh("hostname", HOSTNAME)
        self.report["interface"] = namespace.network(SERVER_IP, [PARTNER_IP])
        self.syslog = namespace.SyslogListener(
            ["/dev/log", "/var/spool/postfix/dev/log"], self.out / "syslog.log"
        ).start()
        self.mark("namespace")

    def prepare_system(self) -> None:
        """What the machine has before mailconf runs: a mailbox user, DNS, an unbound.conf.

        The unbound.conf is the test's; mailconf's spec names it (``[opendkim]
        resolver_configuration``), see the test module's docstring.
        """
        namespace.sh("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", MAILBOX_USER)
        resolv = Path("/etc/resolv.conf")
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
        Path(UNBOUND_CONF).write_text(namespace.unbound_conf())
        self.mark("prepared")

    def start_dns(self) -> None:
        self.knot.start()
        self.knot.key_file(self.tsig_key)
        self.report["knot"] = {"address": self.knot.address, "started_in": self.knot.started_in}
        self.dns.start()
        self.mark("dns-servers")

    def update_args(self) -> list[str]:
        """The options that send an RFC 2136 update to Knot, signed with its TSIG key."""
        return ["--update", self.knot.address, "--tsig-key", str(self.tsig_key)]

    def served(self, name: str) -> list[list[str]]:
        """The TXT records Knot serves at ``name``, each as its character-strings, sorted."""
        return [[s.decode() for s in strings] for strings in self.knot.txt_strings(name)]

    def printed_and_served(self) -> dict[str, Any]:
        """What ``mailconf dns --format json`` prints, and what Knot serves at each of its names."""
        printed = self.mailconf("dns", "--config", str(self.config_file()), "--format", "json")
        if printed["rc"] != 0:
            raise RuntimeError(f"mailconf dns failed: {printed['stderr']}{printed['stdout']}")
        records: list[dict[str, Any]] = json.loads(printed["stdout"])
        return {
            "printed": records,
            "served": {r["name"]: self.served(r["name"]) for r in records},
        }

    # -- setup --------------------------------------------------------------------------------

    def config_file(self) -> Path:
        path = self.out / "mailconf.toml"
        lines = [f'hostname = "{HOSTNAME}"', f'ips = ["{SERVER_IP}"]', ""]
        for domain, selector in DOMAINS.items():
            lines += ["[[domain]]", f'name = "{domain}"', f'selector = "{selector}"', ""]
        lines += ["[opendkim]", f'resolver_configuration = "{UNBOUND_CONF}"', ""]
        path.write_text("\n".join(lines))
        return path

    def apply(self, label: str) -> dict[str, Any]:
        result = self.mailconf("apply", "--yes", "--config", str(self.config_file()))
        self.report[label] = result
        self.mark(label)
        return result

    def publish_dns(self) -> None:
        """The mail domains' records sent to Knot by ``mailconf dns --update``; the test's own
        records (the reverse name, partner, forger) into the in-process server."""
        result = self.mailconf("dns", "--config", str(self.config_file()), *self.update_args())
        self.report["dns_update"] = result
        if result["rc"] != 0:
            raise RuntimeError(
                f"mailconf dns --update failed: {result['stderr']}{result['stdout']}"
            )
        self.report["published"] = self.printed_and_served()
        self.dns.ptr[SERVER_IP] = [HOSTNAME]
        self.partner_records()
        self.mark("dns")

    def partner_records(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.partner_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        public = base64.b64encode(
            key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()
        value = f"v=DKIM1; k=rsa; p={public}"
        self.dns.add_txt(
            f"{PARTNER_SELECTOR}._domainkey.{PARTNER}",
            *[value[i : i + 255] for i in range(0, len(value), 255)],
        )
        self.dns.add_txt(PARTNER, f"v=spf1 ip4:{PARTNER_IP} -all")
        self.dns.add_txt(f"_dmarc.{PARTNER}", "v=DMARC1; p=reject")
        self.dns.a[PARTNER_HELO] = [PARTNER_IP]
        self.dns.ptr[PARTNER_IP] = [PARTNER_HELO]
        self.dns.add_txt(FORGER, "v=spf1 ip4:198.51.100.7 -all")
        self.dns.add_txt(f"_dmarc.{FORGER}", "v=DMARC1; p=reject")

    def start_services(self) -> None:
        manager = ServiceManager(SystemRoot.live())
        services: dict[str, Any] = {}
        for name in ("opendkim", "opendmarc", "postfix"):
            # apply restarted what it changed; start only what does not run. (Asked to start
            # a running service, the init method runs the init script, which exits 1.)
            pid = manager.running_pid(name)
            if pid is None:
                result = manager.start(name)
                pid = manager.running_pid(name)
                services[name] = {
                    "method": result.method,
                    "message": result.message,
                    "commands": [list(c) for c in result.commands],
                    "pid": pid,
                }
            else:
                services[name] = {"message": "already running (started by mailconf apply)"}
            services[name]["pid"] = pid
            if pid is not None:
                self.started_pids[name] = pid
        self.report["services"] = services
        self.mark("services")

    def service_pids(self) -> dict[str, int | None]:
        manager = ServiceManager(SystemRoot.live())
        return {name: manager.running_pid(name) for name in ("opendkim", "opendmarc", "postfix")}

    # -- mail ---------------------------------------------------------------------------------

    def message(self, sender: str, subject: str, body: str) -> tuple[bytes, str]:
        token = uuid.uuid4().hex[:12]
        domain = sender.rsplit("@", 1)[1]
        text = (
            f"From: Sender <{sender}>\r\n"
            f"To: Test <{RECIPIENT}>\r\n"
            f"Subject: {subject} {token}\r\n"
            f"Date: {formatdate(localtime=False)}\r\n"
            f"Message-ID: <{token}@{domain}>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
            f"{body}\r\n"
        )
        return text.encode("ascii"), token

    def send(
        self, label: str, raw: bytes, envelope_from: str, *, source: str | None, helo: str
    ) -> dict[str, Any]:
        outcome: dict[str, Any] = {"envelope_from": envelope_from, "source": source}
        try:
            kwargs: dict[str, Any] = {"timeout": SMTP_TIMEOUT, "local_hostname": helo}
            if source:
                kwargs["source_address"] = (source, 0)
            with smtplib.SMTP("127.0.0.1" if not source else SERVER_IP, 25, **kwargs) as smtp:
                refused = smtp.sendmail(envelope_from, [RECIPIENT], raw)
                outcome["accepted"] = True
                outcome["refused"] = {k: list(v) for k, v in refused.items()}
        except smtplib.SMTPRecipientsRefused as exc:
            outcome["accepted"] = False
            outcome["stage"] = "RCPT"
            outcome["response"] = {
                k: [v[0], v[1].decode(errors="replace")] for k, v in exc.recipients.items()
            }
        except smtplib.SMTPDataError as exc:
            outcome["accepted"] = False
            outcome["stage"] = "DATA"
            outcome["response"] = [exc.smtp_code, exc.smtp_error.decode(errors="replace")]
        except smtplib.SMTPSenderRefused as exc:
            outcome["accepted"] = False
            outcome["stage"] = "MAIL"
            outcome["response"] = [exc.smtp_code, exc.smtp_error.decode(errors="replace")]
        except (smtplib.SMTPException, OSError) as exc:
            outcome["accepted"] = False
            outcome["stage"] = "connection"
            outcome["response"] = f"{type(exc).__name__}: {exc}"
        (self.out / f"sent-{label}.eml").write_bytes(raw)
        return outcome

    def delivered(self, token: str, timeout: float = WAIT_DELIVERY) -> bytes | None:
        mbox = Path("/var/mail") / MAILBOX_USER
        deadline = time.monotonic() + timeout
        while True:
            for message in namespace.read_mbox(mbox):
                if token.encode() in message.split(b"\n\n", 1)[0]:
                    return message
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def dnsfunc(self, name: bytes, timeout: int = 5) -> bytes | None:
        """dkimpy's DNS hook: Knot's answer for the mail domains, the test's zone for the
        partner (no resolver in between)."""
        text = name.decode().rstrip(".").lower()
        if any(text == apex or text.endswith("." + apex) for apex in self.knot.zones):
            records = self.knot.txt_strings(text)
        else:
            records = [
                tuple(s.encode() if isinstance(s, str) else s for s in strings)
                for strings in self.dns.txt.get(text, [])
            ]
        return b"".join(records[0]) if records else None

    def record(self, label: str, outcome: dict[str, Any], token: str) -> bytes | None:
        """Wait for ``token``'s delivery and keep what happened under ``report["mail"][label]``."""
        outcome["token"] = token
        # A refused message cannot arrive; an accepted one that should have been refused
        # gets the full wait, so the report shows what was delivered.
        message = self.delivered(token, WAIT_DELIVERY if outcome.get("accepted") else 0.0)
        outcome["delivered"] = message is not None
        if message is not None:
            (self.out / f"delivered-{label}.eml").write_bytes(message)
            outcome["headers"] = message.split(b"\n\n", 1)[0].decode(errors="replace")
            outcome["dkimpy_verify"] = (
                bool(dkim.verify(message.replace(b"\n", b"\r\n"), dnsfunc=self.dnsfunc))
                if b"DKIM-Signature" in message
                else None
            )
        self.report.setdefault("mail", {})[label] = outcome
        self.mark(f"mail:{label}")
        return message

    def outbound(self, label: str, domain: str) -> None:
        """Submitted from 127.0.0.1 for ``domain``: OpenDKIM signs it."""
        raw, token = self.message(f"alice@{domain}", label, "Hello from us.")
        outcome = self.send(label, raw, f"alice@{domain}", source=None, helo="localhost")
        self.record(label, outcome, token)

    def relay_back(self, label: str, source: str) -> None:
        """The message delivered as ``source``, as a receiver elsewhere gets it, sent in again
        from the partner's address: OpenDKIM verifies our signature (asking its unbound.conf's
        forwarder, hence Knot) and OpenDMARC judges it. The null envelope sender leaves only
        DKIM to pass DMARC. Local delivery's own headers go; a new one carries a fresh token."""
        head, body = (self.out / f"delivered-{source}.eml").read_bytes().split(b"\n\n", 1)
        head = DELIVERY_HEADERS.sub(b"", head + b"\n")
        token = uuid.uuid4().hex[:12]
        raw = b"X-Relay-Token: " + token.encode() + b"\n" + head + b"\n" + body
        outcome = self.send(label, raw, "", source=PARTNER_IP, helo=PARTNER_HELO)
        self.record(label, outcome, token)

    def scenario(self) -> None:
        self.report.setdefault("mail", {})
        record = self.record

        # 1. Outbound: submitted from 127.0.0.1 for each domain, signed by OpenDKIM.
        for domain in DOMAINS:
            self.outbound(f"outbound-{domain}", domain)

        # 2. Inbound from the partner, signed with dkimpy.
        raw, token = self.message(
            f"bob@{PARTNER}", "inbound signed", "A signed message from a partner."
        )
        signed = self.sign(raw)
        outcome = self.send(
            "inbound", signed, f"bob@{PARTNER}", source=PARTNER_IP, helo=PARTNER_HELO
        )
        record("inbound", outcome, token)

        # 3. The same, one body byte changed after signing: dkim=fail, dmarc=pass through SPF.
        raw, token = self.message(
            f"bob@{PARTNER}", "inbound tampered", "A signed message from a partner."
        )
        tampered = self.tamper(self.sign(raw))
        outcome = self.send(
            "tampered", tampered, f"bob@{PARTNER}", source=PARTNER_IP, helo=PARTNER_HELO
        )
        record("tampered", outcome, token)

        # 4. Signed, untouched, null envelope sender: DMARC can only pass through aligned DKIM,
        #    so this proves OpenDKIM's verdict reaches OpenDMARC (TrustedAuthservIDs).
        raw, token = self.message(
            f"bob@{PARTNER}", "inbound signed null sender", "A signed message."
        )
        outcome = self.send(
            "signed-null", self.sign(raw), "", source=PARTNER_IP, helo="client.partner.test"
        )
        record("signed-null", outcome, token)

        # 5. Tampered with a null envelope sender: no aligned SPF, p=reject -> OpenDMARC rejects.
        raw, token = self.message(
            f"bob@{PARTNER}", "inbound tampered null sender", "A signed message."
        )
        tampered = self.tamper(self.sign(raw))
        outcome = self.send(
            "tampered-null", tampered, "", source=PARTNER_IP, helo="client.partner.test"
        )
        record("tampered-null", outcome, token)

        # 6. A domain whose SPF does not cover the sending address: policyd-spf says Fail.
        raw, token = self.message(f"eve@{FORGER}", "forged", "Not from where it says.")
        outcome = self.send("forged", raw, f"eve@{FORGER}", source=PARTNER_IP, helo=PARTNER_HELO)
        record("forged", outcome, token)

    def sign(self, raw: bytes) -> bytes:
        signature = dkim.sign(
            raw,
            PARTNER_SELECTOR.encode(),
            PARTNER.encode(),
            self.partner_key,
            canonicalize=(b"relaxed", b"simple"),
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        return signature + raw

    @staticmethod
    def tamper(message: bytes) -> bytes:
        head, body = message.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n" + body.replace(b"A signed", b"a signed", 1)

    # -- after the mail -----------------------------------------------------------------------

    def check(self) -> None:
        args = ["check", "--config", str(self.config_file())]
        self.report["check"] = self.mailconf(*args)
        self.report["check_json"] = self.mailconf(*args, "--json")
        self.mark("check")

    def second_apply(self) -> None:
        watched = ["/etc", "/var/spool/postfix/opendkim", "/var/spool/postfix/opendmarc"]
        before = {top: namespace.tree_digest(top) for top in watched}
        pids_before = self.service_pids()
        self.report["plan_after"] = self.mailconf(
            "plan", "--config", str(self.config_file()), "--json"
        )
        self.apply("apply2")
        after = {top: namespace.tree_digest(top) for top in watched}
        self.report["apply2_changes"] = [
            f"{top}: {change}"
            for top in watched
            for change in namespace.digest_changes(before[top], after[top])
        ]
        self.report["pids_before_apply2"] = pids_before
        self.report["pids_after_apply2"] = self.service_pids()
        self.mark("apply2-compared")

    def rotation(self) -> None:
        """A key's life for example.test (issue 12): stage a new key, activation refused while
        DNS does not serve it, publish by RFC 2136 (``mailconf dns --update``, which sends the
        staged record), activate (OpenDKIM restarts), retire the old selector (``--force``: no
        week to wait here) deleting its record by RFC 2136 too; outbound mail is sent and
        verified against Knot after each step, and ``dkim status --json`` kept at each state."""
        domain, new = "example.test", "s2"
        old_name, new_name = (f"{s}._domainkey.{domain}" for s in (DOMAINS[domain], new))
        rotation: dict[str, Any] = {}
        self.report["rotation"] = rotation

        def status(label: str) -> None:
            rotation[f"status-{label}"] = self.mailconf("dkim", "status", "--json")

        status("before")
        rotation["rotate"] = self.mailconf("dkim", "rotate", "--domain", domain, "--selector", new)
        status("staged")
        self.outbound("rotation-staged", domain)
        rotation["activate-unpublished"] = self.mailconf("dkim", "activate", "--domain", domain)
        rotation["publish"] = self.mailconf(
            "dns", "--config", str(self.config_file()), *self.update_args()
        )
        rotation["published"] = self.printed_and_served()
        status("published")
        rotation["activate"] = self.mailconf("dkim", "activate", "--domain", domain)
        status("active")
        self.outbound("rotation-active", domain)
        self.relay_back("rotation-active-relayed", "rotation-active")
        rotation["retire"] = self.mailconf(
            "dkim", "retire", "--domain", domain, "--selector", DOMAINS[domain], "--force",
            *self.update_args(),
        )  # fmt: skip
        rotation["served-after-retire"] = {n: self.served(n) for n in (old_name, new_name)}
        status("retired")
        self.outbound("rotation-retired", domain)
        self.mark("rotation")

    # -- the Ansible run ----------------------------------------------------------------------

    def playbook(self, label: str, *args: str) -> dict[str, Any]:
        """``ansible-playbook`` of :data:`PLAYBOOK` on this host, with the collection and the
        configuration tests/ansible/conftest.py installed under the Ansible base directory."""
        assert self.ansible_base is not None
        helpers = namespace.load_by_path(
            "mailconf_ansible_helpers", HERE.parent / "ansible" / "conftest.py"
        )
        host = {
            "mailconf_domains": [{"name": d, "selector": s} for d, s in DOMAINS.items()],
            "mailconf_ips": [SERVER_IP],
            "mailconf_hostname": HOSTNAME,
            "mailconf_resolver_configuration": UNBOUND_CONF,
        }
        inventory = helpers.write_inventory(self.out / "inventory.yml", {HOSTNAME: host})
        started = time.monotonic()
        done = helpers.Ansible(self.ansible_base).playbook(inventory, PLAYBOOK, *args)
        result = {
            "rc": done.returncode,
            "output": done.output,
            "recap": done.recap,
            "seconds": round(time.monotonic() - started, 2),
        }
        self.report[label] = result
        self.mark(label)
        return result

    def ansible_flow(self) -> None:
        """The setup by ``mailconf.mailconf.setup`` (the doctor's task skipped: nothing is
        published yet), the records published, mail signed, then the playbook again with the
        doctor: nothing changes and ``mailconf.mailconf.check`` passes."""
        if self.playbook("playbook1", "-e", "doctor=false")["rc"] != 0:
            raise RuntimeError("the first ansible-playbook run failed")
        self.report["pids_after_playbook1"] = self.service_pids()
        self.publish_dns()
        self.report["mail"] = {}
        for domain in DOMAINS:
            self.outbound(f"outbound-{domain}", domain)
        self.playbook("playbook2")

    def stop_all(self) -> None:
        self.knot.stop()
        current = self.service_pids()
        pids = {**self.started_pids, **{k: v for k, v in current.items() if v}}
        stopped: dict[str, Any] = {}

        def stop(name: str, pid: int) -> None:
            stopped[name] = {"pid": pid, "stopped": stop_pid(pid, timeout=15)}

        # In parallel: each milter takes ~5 s to exit after SIGTERM.
        threads = [
            threading.Thread(target=stop, args=(name, pid)) for name, pid in pids.items() if pid
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.report["stopped"] = stopped
        # Anything else still alive in this pid namespace (postfix children exit with the master).
        deadline = time.monotonic() + 10
        while True:
            leftover = self.other_processes()
            if not leftover or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        self.report["leftover"] = leftover
        self.mark("stopped")

    @staticmethod
    def other_processes() -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in (1, os.getpid()):
                continue
            pid = int(entry)
            if not pid_alive(pid):
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found.append(f"{pid} {cmdline.strip()}")
        return found

    # -- all ----------------------------------------------------------------------------------

    def mail_flow(self) -> None:
        self.apply("apply1")
        if self.report["apply1"]["rc"] != 0:
            raise RuntimeError("the first mailconf apply failed")
        self.publish_dns()
        self.start_services()
        self.scenario()
        self.check()
        self.second_apply()
        self.rotation()

    def run(self) -> None:
        try:
            self.enter()
            self.prepare_system()
            self.start_dns()
            if self.ansible_base is not None:
                self.ansible_flow()
            else:
                self.mail_flow()
        except BaseException as exc:
            self.report["error"] = "".join(traceback.format_exception(exc))
        finally:
            try:
                self.stop_all()
            except BaseException as exc:
                self.report["stop_error"] = "".join(traceback.format_exception(exc))
            self.knot.stop()  # a second time: nothing to do unless stop_all failed early
            self.dns.stop()
            self.report["dns_queries"] = [list(q) for q in self.dns.queries]
            if self.syslog is not None:
                self.syslog.stop()
            self.collect_files()
            self.mark("end")

    def collect_files(self) -> None:
        """Copy what a failure needs to be understood into the output directory."""
        copies = self.out / "files"
        for path in (
            "/etc/postfix/main.cf",
            "/etc/postfix/master.cf",
            "/etc/opendkim.conf",
            "/etc/opendmarc.conf",
            "/etc/default/opendkim",
            "/etc/default/opendmarc",
            "/etc/opendkim/key.table",
            "/etc/opendkim/signing.table",
            "/etc/opendkim/trusted.hosts",
            "/etc/opendmarc/ignore.hosts",
            f"/var/mail/{MAILBOX_USER}",
        ):
            source = Path(path)
            if source.is_file():
                target = copies / path.strip("/").replace("/", "_")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())


def main() -> int:
    scratch, out = Path(sys.argv[1]), Path(sys.argv[2])
    ansible_base = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    out.mkdir(parents=True, exist_ok=True)
    Driver(scratch, out, ansible_base).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
