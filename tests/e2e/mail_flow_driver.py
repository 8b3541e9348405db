"""The end-to-end mail scenario, run inside ``unshare --mount --net --pid --uts --fork``.

Not a test module: ``test_mail_flow.py`` starts it as a separate program with two arguments, a
scratch directory (a tmpfs is mounted there; the overlays' upper directories live on it and vanish
with the namespace) and an output directory (seen from outside: ``report.json``, the syslog
lines, the delivered messages). It records what happened; the test decides what is right.

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
import namespace  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

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


class Driver:
    def __init__(self, scratch: Path, out: Path) -> None:
        self.scratch = scratch
        self.out = out
        self.report: dict[str, Any] = {"timings": {}, "steps": []}
        self.started_pids: dict[str, int] = {}
        self.t0 = time.monotonic()
        self.dns = DnsServer(zone="test", port=53)
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
        self.dns.start()

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
        """The zone: exactly ``mailconf dns --format json`` for each domain, plus the test's own."""
        result = self.mailconf("dns", "--config", str(self.config_file()), "--format", "json")
        self.report["dns_cli"] = result
        if result["rc"] != 0:
            raise RuntimeError(f"mailconf dns failed: {result['stderr']}{result['stdout']}")
        published: list[dict[str, Any]] = json.loads(result["stdout"])
        for record in published:
            if record["type"] != "TXT":
                raise RuntimeError(f"unexpected record type: {record}")
            self.dns.add_txt(record["name"], *record["strings"])
        self.report["published"] = published
        # The server's own forward and reverse names (the provider's zones).
        self.dns.a[HOSTNAME] = [SERVER_IP]
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
        """dkimpy's DNS hook, reading the test zone directly (not through any resolver)."""
        records = self.dns.txt.get(name.decode().rstrip(".").lower())
        if not records:
            return None
        strings = records[0]
        return b"".join(s.encode() if isinstance(s, str) else s for s in strings)

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

    def scenario(self) -> None:
        self.report["mail"] = {}
        record = self.record

        # 1. Outbound: submitted from 127.0.0.1 for each domain, signed by OpenDKIM.
        for domain in DOMAINS:
            raw, token = self.message(f"alice@{domain}", f"outbound {domain}", "Hello from us.")
            outcome = self.send(
                f"outbound-{domain}", raw, f"alice@{domain}", source=None, helo="localhost"
            )
            record(f"outbound-{domain}", outcome, token)

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
        DNS does not serve it, publish what ``mailconf dns`` prints, activate (OpenDKIM
        restarts), retire the old selector (``--force``: no week to wait here); outbound mail
        is sent and verified after each step and ``dkim status --json`` kept at each state.
        The records go into the test's zone directly: publishing by RFC 2136 is not part of this
        test yet."""
        domain, new = "example.test", "s2"
        rotation: dict[str, Any] = {}
        self.report["rotation"] = rotation

        def status(label: str) -> None:
            rotation[f"status-{label}"] = self.mailconf("dkim", "status", "--json")

        def outbound(label: str) -> None:
            raw, token = self.message(f"alice@{domain}", label, "Hello after a rotation step.")
            self.record(
                label,
                self.send(label, raw, f"alice@{domain}", source=None, helo="localhost"),
                token,
            )

        status("before")
        rotation["rotate"] = self.mailconf("dkim", "rotate", "--domain", domain, "--selector", new)
        status("staged")
        outbound("rotation-staged")
        rotation["activate-unpublished"] = self.mailconf("dkim", "activate", "--domain", domain)
        dns = self.mailconf("dns", "--config", str(self.config_file()), "--format", "json")
        rotation["dns"] = dns
        for record in json.loads(dns["stdout"]):
            if record["name"].rstrip(".").lower() not in self.dns.txt:
                self.dns.add_txt(record["name"], *record["strings"])
        status("published")
        rotation["activate"] = self.mailconf("dkim", "activate", "--domain", domain)
        status("active")
        outbound("rotation-active")
        rotation["retire"] = self.mailconf(
            "dkim", "retire", "--domain", domain, "--selector", DOMAINS[domain], "--force"
        )
        status("retired")
        outbound("rotation-retired")
        self.mark("rotation")

    def stop_all(self) -> None:
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

    def run(self) -> None:
        try:
            self.enter()
            self.prepare_system()
            self.start_dns()
            self.apply("apply1")
            if self.report["apply1"]["rc"] != 0:
                raise RuntimeError("the first mailconf apply failed")
            self.publish_dns()
            self.start_services()
            self.scenario()
            self.check()
            self.second_apply()
            self.rotation()
        except BaseException as exc:
            self.report["error"] = "".join(traceback.format_exception(exc))
        finally:
            try:
                self.stop_all()
            except BaseException as exc:
                self.report["stop_error"] = "".join(traceback.format_exception(exc))
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
    out.mkdir(parents=True, exist_ok=True)
    Driver(scratch, out).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
