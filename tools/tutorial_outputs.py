"""Make every command output the tutorial and the how-to guides show (docs/tutorial/_outputs).

Run ``.venv/bin/python tools/tutorial_outputs.py`` after a change to what a command prints, and
commit the files it rewrites; ``tests/docs/test_tutorial.py`` runs :func:`generate` into a
temporary directory and fails when a committed output differs, so the pages cannot drift from
the program.  The English and Japanese pages include the same files.

Each command runs in this process (``mailconf.cli.main``), as the admin types it, on a scratch
copy of the bundled example tree ``examples/ubuntu-22.04`` (Ubuntu 22.04 with Postfix, OpenDKIM and
OpenDMARC installed and not yet configured) with the spec ``examples/mailconf.toml``.  What the
pages show differs from the run in these ways only, each needed for the same bytes on every run:

* every command runs with ``--root`` on the scratch tree (the pages show the command without it;
  the scratch tree's path is printed as :data:`SHOWN_ROOT`), and the commands that read DNS with
  ``--nameserver`` pointing at a local test server (``tests/dnsserver.py``) that serves what the
  step says is published;
* DKIM keys are not random: :func:`mailconf.keys.generate_key` hands out the fixed keys of
  ``docs/tutorial/_keys/`` in order (documentation keys, published here: never sign with them);
* the clock of the DKIM key life (:func:`mailconf.setup.keymarks.now_utc`) reads the fixed dates
  of :data:`CLOCK`, so rotation, activation and retirement happen on known days;
* the name of a backup directory (UTC time and process id) is printed as :data:`SHOWN_BACKUP`;
* ``dns --update`` sends to a real primary server, Knot DNS (``tests/authserver.py``) on a free
  local port, printed as :data:`SHOWN_PRIMARY` (those outputs are made only where ``knotd`` is
  installed), and ``edit FILE`` names the scratch tree's file, printed as the system path.

The how-to guides' servers start from the test suite's builders (``tests/setup/test_adopt.py``: an
OpenDKIM on inet:8891 with selector ``mail``, ``tempfail`` and rspamd).

The DMARC aggregate reports the DMARC pages read are made by ``tests/dmarc_samples.py`` (the shapes
Google, Microsoft and Yahoo send).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import io
import os
import re
import runpy
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = REPO / "docs" / "tutorial" / "_outputs"
KEYS = REPO / "docs" / "tutorial" / "_keys"
EXAMPLE_TREE = REPO / "examples" / "ubuntu-22.04"
EXAMPLE_SPEC = REPO / "examples" / "mailconf.toml"

SHOWN_ROOT = "/tmp/rehearsal"
SHOWN_BACKUP = "YYYYMMDDTHHMMSSZ-PID"
BACKUP_NAME = re.compile(r"(/var/backups/mailconf/)\d{8}T\d{6}Z-\d+(\.\d+)?")

UTC = dt.timezone.utc
#: The day of each part of the story.
CLOCK = {
    "setup": dt.datetime(2025, 11, 28, 9, 0, tzinfo=UTC),
    "rotate": dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    "activate": dt.datetime(2026, 1, 7, 9, 0, tzinfo=UTC),
    "retire-early": dt.datetime(2026, 1, 9, 9, 0, tzinfo=UTC),
    "retire": dt.datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
}

DOMAIN = "hogehoge.com"
HOSTNAME = "mail.hogehoge.com"
SERVER_V4, SERVER_V6 = "192.0.2.10", "2001:db8::10"
#: A sending service the domain uses for its newsletter, and a spoofer.
SERVICE_IP, SERVICE_PTR = "198.51.100.25", "o1.ptr4242.sendgrid.net"
SPOOFER_IP = "203.0.113.66"


def _ensure_paths() -> None:
    for path in (REPO / "src", REPO / "tests"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


class Session:
    """One scratch server, its working directory (where ``mailconf.toml`` lies), a DNS server,
    and the output files written so far."""

    def __init__(self, work: Path, out: Path, dns: Any) -> None:
        self.root = work / "server"
        self.cwd = work / "admin"
        self.out = out
        self.dns = dns
        self.now = CLOCK["setup"]
        self.written: list[str] = []
        shutil.copytree(EXAMPLE_TREE, self.root, symlinks=True)
        self.cwd.mkdir()
        shutil.copyfile(EXAMPLE_SPEC, self.cwd / "mailconf.toml")

    def run(
        self,
        name: str | None,
        command: str,
        *,
        root: bool = True,
        nameserver: bool = False,
        append: bool = False,
        actual: dict[str, str] | None = None,
    ) -> str:
        """Run ``command`` (a mailconf command line as shown) and store ``$ command``, its
        output and, when not 0, its exit status under ``name``."""
        from mailconf.cli import main

        argv = [(actual or {}).get(word, word) for word in shlex.split(command)]
        assert argv[0] == "mailconf", command
        hidden = []
        if root:
            hidden += ["--root", str(self.root)]
        if nameserver:
            hidden += ["--nameserver", self.dns.address]
        captured = io.StringIO()
        with (
            _chdir(self.cwd),
            contextlib.redirect_stdout(captured),
            contextlib.redirect_stderr(captured),
            mock.patch("mailconf.setup.keymarks.now_utc", lambda: self.now),
            mock.patch("mailconf.setup.milterplan.now_utc", lambda: self.now),
            mock.patch("mailconf.setup.lifecycle.now_utc", lambda: self.now),
        ):
            status = main(_with_hidden(argv[1:], hidden))
        text = captured.getvalue()
        for shown, real in (actual or {}).items():
            text = text.replace(real, shown)
        text = self._shown(text)
        transcript = f"$ {command}\n{text}"
        if status:
            transcript += f"$ echo $?\n{status}\n"
        if name is not None:
            path = self.out / f"{name}.txt"
            if append:
                transcript = path.read_text() + transcript
            else:
                self.written.append(path.name)
            path.write_text(transcript)
        return captured.getvalue()

    def _shown(self, text: str) -> str:
        text = text.replace(str(self.root), SHOWN_ROOT)
        return BACKUP_NAME.sub(rf"\g<1>{SHOWN_BACKUP}", text)

    def publish(self) -> None:
        """Serve what ``mailconf dns`` prints now, as the zone's server would after publishing."""
        import json

        from mailconf.cli import main

        printed = io.StringIO()
        with (
            _chdir(self.cwd),
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            assert main(["dns", "--root", str(self.root), "--format", "json"]) == 0
        records = json.loads(printed.getvalue())
        for name in {r["name"] for r in records}:
            self.dns.set_txt(name)
        for record in records:
            self.dns.add_txt(record["name"], *_chunks(record["value"]))

    def edit_spec(self, old: str, new: str) -> None:
        spec = self.cwd / "mailconf.toml"
        text = spec.read_text()
        assert old in text, old
        spec.write_text(text.replace(old, new, 1))


def _with_hidden(argv: Sequence[str], hidden: Sequence[str]) -> list[str]:
    """``argv`` with ``hidden`` inserted after the command words (``dkim rotate``)."""
    words = 2 if argv[0] in ("dkim", "dmarc") else 1
    return [*argv[:words], *hidden, *argv[words:]]


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    """contextlib.chdir, which Python 3.10 lacks."""
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _chunks(value: str) -> list[str]:
    return [value[i : i + 255] for i in range(0, len(value), 255)]


@contextlib.contextmanager
def _fixed_keys() -> Iterator[None]:
    """Hand out the documentation keys in order instead of generating random ones."""
    from mailconf import keys

    pems = sorted(KEYS.glob("*.pem"))
    handed: list[Path] = []

    def generate_key(
        algorithm: keys.KeyAlgorithm = "rsa", bits: int = keys.DEFAULT_RSA_BITS
    ) -> tuple[keys.DkimKey, list[object]]:
        assert algorithm == "rsa" and bits == 2048, "the documentation keys are 2048-bit RSA"
        path = pems[len(handed)]
        handed.append(path)
        return keys.load_private_key(path), []

    with mock.patch("mailconf.keys.generate_key", generate_key):
        yield


def _reports(folder: Path, first_day: int, days: int, *, service_signs: bool) -> None:
    """A Maildir of aggregate reports for ``days`` days from ``first_day`` (after 2025-12-01)."""
    import dmarc_samples as samples

    mails = []
    for day in range(first_day, first_day + days):
        own = samples.Row(
            SERVER_V4,
            38 + day % 5,
            dkim=[(DOMAIN, "pass")],
            spf=[(DOMAIN, "pass")],
            header_from=DOMAIN,
        )
        service_dkim = [("sendgrid.net", "pass")]
        if service_signs:
            service_dkim.insert(0, (DOMAIN, "pass"))
        service = samples.Row(
            SERVICE_IP, 6, dkim=service_dkim, spf=[("sendgrid.net", "pass")], header_from=DOMAIN
        )
        rows = [own, service]
        if day % 3 == 0:
            rows.append(samples.Row(SPOOFER_IP, 4, spf=[(DOMAIN, "fail")], header_from=DOMAIN))
        google = samples.report_xml("google", f"g{day}", day, rows, domain=DOMAIN)
        mails.append(
            samples.mail(
                "google.com",
                f"google.com!{DOMAIN}!{day}.zip",
                samples.zipped(f"google.com!{DOMAIN}!{day}.xml", google),
                "application/zip",
            )
        )
        outlook = samples.report_xml("microsoft", f"m{day}", day, [own], domain=DOMAIN)
        mails.append(
            samples.mail(
                "outlook.com",
                f"outlook.com!{DOMAIN}!{day}.xml.gz",
                samples.gz(outlook),
                "application/gzip",
            )
        )
    samples.maildir(folder, mails)


def _dns_server() -> Any:
    import dnsserver

    return dnsserver.DnsServer(
        a={HOSTNAME: [SERVER_V4]},
        aaaa={HOSTNAME: [SERVER_V6]},
        mx={DOMAIN: [(10, HOSTNAME)]},
        ptr={SERVER_V4: [HOSTNAME], SERVER_V6: [HOSTNAME], SERVICE_IP: [SERVICE_PTR]},
        zone=DOMAIN,
    )


def _story(s: Session) -> None:
    """The tutorial, in its order (the file names are the pages' includes)."""
    # 1. The plan, on a server where nothing is configured yet.
    s.run("plan", "mailconf plan")
    # 2. Apply, and apply again.
    s.run("apply", "mailconf apply --yes")
    s.run("apply-again", "mailconf apply --yes")
    s.run("plan-again", "mailconf plan --detailed-exitcode")
    # 3. The records to publish.
    s.run("dns-zone", "mailconf dns")
    s.run("dns-line", "mailconf dns --format line")
    # 4. The doctor, before and after the records are published.
    s.run("check-unpublished", "mailconf check", nameserver=True)
    s.publish()
    s.run("check", "mailconf check", nameserver=True)
    # 5. Key rotation.
    s.run("dkim-status", "mailconf dkim status", nameserver=True)
    s.now = CLOCK["rotate"]
    s.run("dkim-rotate", "mailconf dkim rotate --domain hogehoge.com")
    s.run("dkim-status-staged", "mailconf dkim status", nameserver=True)
    s.run("dkim-activate-early", "mailconf dkim activate --domain hogehoge.com", nameserver=True)
    s.run("dns-rotated", "mailconf dns --format line")
    s.publish()
    s.now = CLOCK["activate"]
    s.run("dkim-activate", "mailconf dkim activate --domain hogehoge.com", nameserver=True)
    s.now = CLOCK["retire-early"]
    s.run(
        "dkim-retire-early",
        "mailconf dkim retire --domain hogehoge.com --selector default",
    )
    s.now = CLOCK["retire"]
    s.run("dkim-retire", "mailconf dkim retire --domain hogehoge.com --selector default")
    s.run("dkim-status-retired", "mailconf dkim status", nameserver=True)
    # The spec still names the old selector: plan refuses until it names the new one.
    s.run("plan-stale-selector", "mailconf plan")
    s.edit_spec('selector = "default"', 'selector = "s202601"')
    s.run("plan-after-rotation", "mailconf plan")
    # 6. DMARC reports: three weeks with an unaligned newsletter service, then two more weeks
    # after it signs with the domain's own key.
    _reports(s.cwd / "Maildir" / ".dmarc", 0, 21, service_signs=False)
    s.run("dmarc-report", "mailconf dmarc report Maildir/.dmarc", root=False, nameserver=True)
    s.run(
        "dmarc-advise",
        "mailconf dmarc advise --config mailconf.toml --domain hogehoge.com Maildir/.dmarc",
        root=False,
        nameserver=True,
    )
    _reports(s.cwd / "Maildir" / ".dmarc-2", 21, 15, service_signs=True)
    s.run(
        "dmarc-advise-fixed",
        "mailconf dmarc advise --config mailconf.toml --domain hogehoge.com"
        " --since 2025-12-22 Maildir/.dmarc Maildir/.dmarc-2",
        root=False,
        nameserver=True,
    )
    s.edit_spec('policy = "none"', 'policy = "quarantine"')
    s.run("plan-quarantine", "mailconf plan")
    s.run("dns-quarantine", "mailconf dns --format line")


#: The server the RFC 2136 page updates (a documentation address; really knotd on a free port).
SHOWN_PRIMARY = "192.0.2.53"
#: The outputs that need Knot DNS (``knotd``); without it they are not made.
KNOT_OUTPUTS = ("dns-update-dry-run.txt", "dns-update.txt", "dns-update-again.txt")


def _update_story(s: Session) -> None:
    """``dns --update`` against a real primary server (Knot DNS) that accepts TSIG-signed updates,
    serving the zone with an SOA, an NS and a site-verification TXT record."""
    import authserver

    assert s.run(None, "mailconf apply --yes --quiet").startswith("mailconf: using the spec")
    zone = f'{DOMAIN}. 3600 IN TXT "google-site-verification=4Xc9Qm0Lz2"'
    with authserver.AuthServer({DOMAIN: zone}, key_name="mail-update") as primary:
        key = primary.key_file(s.cwd / "tsig.key")
        actual = {SHOWN_PRIMARY: primary.address, "tsig.key": str(key)}
        update = f"mailconf dns --update {SHOWN_PRIMARY} --tsig-key tsig.key"
        s.run("dns-update-dry-run", update + " --dry-run", actual=actual)
        s.run("dns-update", update, actual=actual)
        s.run("dns-update-again", update, actual=actual)


def _test_module(relative: str) -> ModuleType:
    """A module of the test suite that builds a system the guides start from (one builder for
    the tests and the pages)."""
    path = REPO / "tests" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ADOPT_SPEC = f"""\
# mailconf.toml on a server that already signs with OpenDKIM: no selector, so the configured
# one is adopted.
ips = ["{SERVER_V4}", "{SERVER_V6}"]
hostname = "{HOSTNAME}"

[[domain]]
name = "{DOMAIN}"
"""


def _adopt_story(s: Session) -> None:
    """The how-to "adopt an existing OpenDKIM setup": OpenDKIM on inet:8891 with selector
    ``mail``, ``milter_default_action = tempfail`` and rspamd (the test suite's server)."""
    _test_module("setup/test_adopt.py").build_adopt_tree(s.root)
    (s.cwd / "mailconf.toml").write_text(ADOPT_SPEC)
    s.run("howto-adopt-plan", "mailconf plan")
    s.edit_spec(f'name = "{DOMAIN}"\n', f'name = "{DOMAIN}"\nselector = "default"\n')
    s.run("howto-adopt-conflict", "mailconf plan")
    s.edit_spec('selector = "default"\n', "")
    s.run("howto-adopt-apply", "mailconf apply --yes --quiet")
    s.run("howto-adopt-dns", "mailconf dns --format line")


def _sockets_story(s: Session) -> None:
    """The how-to "move sockets into the chroot": a server set up by hand whose milters listen
    under /run, where the chrooted smtpd cannot reach them."""
    _test_module("setup/test_adopt.py").build_adopt_tree(s.root)
    conf = s.root / "etc/opendkim.conf"
    conf.write_text(
        conf.read_text().replace(
            "Socket\t\t\tinet:8891@localhost", "Socket\t\t\tlocal:/run/opendkim/opendkim.sock", 1
        )
    )
    main = s.root / "etc/postfix/main.cf"
    main.write_text(
        main.read_text()
        .replace("inet:localhost:8891, ", "local:/run/opendkim/opendkim.sock, ")
        .replace("non_smtpd_milters = inet:localhost:8891", "non_smtpd_milters = $smtpd_milters")
    )
    (s.cwd / "mailconf.toml").write_text(ADOPT_SPEC)
    s.run("howto-sockets-check", "mailconf check --no-dns")
    s.run("howto-sockets-plan", "mailconf plan")
    # The same, by hand, one file at a time.
    files = ("/etc/opendkim.conf", "/etc/default/opendkim", "/etc/postfix/main.cf")
    actual = {path: str(s.root) + path for path in files}
    socket = "local:/var/spool/postfix/opendkim/opendkim.sock"
    edits = [
        f"mailconf edit /etc/opendkim.conf --set Socket={socket} --diff",
        f"mailconf edit /etc/opendkim.conf --set Socket={socket}",
        f"mailconf edit /etc/default/opendkim --set SOCKET={socket}",
        "mailconf edit /etc/postfix/main.cf"
        " --remove-milter local:/run/opendkim/opendkim.sock --add-milter opendkim --diff",
    ]
    for number, command in enumerate(edits):
        s.run("howto-sockets-edit", command, actual=actual, append=number > 0)


def _add_domain_story(s: Session) -> None:
    """The how-to "add a domain": the tutorial's server, then a second domain in the spec."""
    s.run(None, "mailconf apply --yes --quiet")
    spec = s.cwd / "mailconf.toml"
    spec.write_text(spec.read_text() + ADD_DOMAIN)
    s.run("howto-add-domain-plan", "mailconf plan")
    s.run("howto-add-domain-apply", "mailconf apply --yes --quiet")
    s.run("howto-add-domain-dns", "mailconf dns --format line")


ADD_DOMAIN = """
[[domain]]
name = "example.net"
selector = "default"
"""


def _backup_story(s: Session) -> None:
    """The how-to "recover with backups": the tutorial's apply, its backup, a restore with the
    script the page shows, and the plan afterwards."""
    s.run(None, "mailconf apply --yes --quiet")
    (backup,) = (s.root / "var/backups/mailconf").iterdir()
    manifest = (backup / "manifest.json").read_text()
    (s.out / "howto-backup-manifest.json").write_text(s._shown(manifest))
    s.written.append("howto-backup-manifest.json")
    shown_dir = f"/var/backups/mailconf/{SHOWN_BACKUP}"
    captured = io.StringIO()
    argv = [str(RESTORE_SCRIPT), "--root", str(s.root), f"/var/backups/mailconf/{backup.name}"]
    with contextlib.redirect_stdout(captured), mock.patch.object(sys, "argv", argv):
        runpy.run_path(str(RESTORE_SCRIPT), run_name="__main__")
    text = f"$ python restore-backup.py {shown_dir}\n" + s._shown(captured.getvalue())
    (s.out / "howto-backup-restore.txt").write_text(text)
    s.written.append("howto-backup-restore.txt")
    s.run("howto-backup-plan", "mailconf plan --detailed-exitcode", append=False)


RESTORE_SCRIPT = REPO / "docs" / "howto" / "restore-backup.py"


def _stories() -> list[Callable[[Session], None]]:
    stories: list[Callable[[Session], None]] = [
        _story,
        _adopt_story,
        _sockets_story,
        _add_domain_story,
        _backup_story,
    ]
    if shutil.which("knotd") or Path("/usr/sbin/knotd").exists():
        stories.append(_update_story)
    return stories


def generate(out: Path) -> list[str]:
    """Write every output file into ``out``; returns their names."""
    _ensure_paths()
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    server = _dns_server()
    with (
        tempfile.TemporaryDirectory(prefix="mailconf-tutorial-") as tmp,
        server,
    ):
        for number, story in enumerate(_stories()):
            work = Path(tmp) / str(number)
            work.mkdir()
            session = Session(work, out, server)
            with _fixed_keys():  # each story's server gets the same keys
                story(session)
            written += session.written
    return written


def main(argv: Sequence[str]) -> int:
    out = Path(argv[0]) if argv else OUTPUTS
    for stale in out.glob("*"):
        stale.unlink()
    names = generate(out)
    print(f"wrote {len(names)} outputs into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
