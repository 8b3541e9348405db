"""mailconf runs as root next to untrusted local users: it must never load code or data from a
directory they can write.

Lark's ``cache=True`` used to ``pickle.load`` ``$TMPDIR/.lark_cache_<user>_<hash>_<py>.tmp`` (a
predictable name in a world-writable directory): any local user could plant a pickle there that
ran as root the next time an admin ran mailconf.  These tests plant exactly that payload and
watch every file the CLI opens.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from example_tree import EXAMPLE_TOML, copy_example
from mailconf.syntax import grammar
from mailconf.syntax.kinds import KINDS
from mailconf.system.run import SYSTEM_PATH, run

NOBODY = 65534


class _Payload:
    """Unpickling this writes ``marker`` (what an attacker's ``os.system('id > ...')`` would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _lark_cache_files(tmpdir: Path) -> list[Path]:
    """Where Lark would keep its cache for every grammar we ship, found by letting Lark write it.

    Lark names the file from a hash of the grammar, the options, its own version and Python's, so
    the test asks the installed Lark instead of computing the name (a new Lark keeps working)."""
    script = textwrap.dedent(
        f"""
        import lark
        for path in {[str(grammar.grammar_path(kind)) for kind in KINDS]!r}:
            lark.Lark.open(path, parser="lalr", lexer="contextual", start=["start", "entry"],
                           cache=True, maybe_placeholders=False)
        """
    )
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    return sorted(tmpdir.glob(".lark_cache_*"))


def _plant(files: list[Path], marker: Path) -> None:
    for path in files:
        # Lark reads one line (a hash) and then unpickles whatever follows, before any check.
        path.write_bytes(b"0\n" + pickle.dumps(_Payload(marker)))
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)  # as a local attacker would leave it


@pytest.fixture
def attacker_tmpdir(tmp_path: Path) -> Path:
    """A world-writable, sticky directory like /tmp, used as TMPDIR by every child process."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    tmpdir.chmod(0o1777)
    return tmpdir


def test_planted_lark_cache_payload_is_never_run(tmp_path: Path, attacker_tmpdir: Path) -> None:
    planted = _lark_cache_files(attacker_tmpdir)
    assert planted, "Lark wrote no cache file: the planting step found nothing to replace"
    marker = tmp_path / "pwned"

    # The payload is real: a process that trusts the cache runs it.
    _plant(planted, marker)
    _lark_cache_files(attacker_tmpdir)
    assert marker.exists(), "the payload did not run under cache=True: the test proves nothing"
    marker.unlink()

    _plant(planted, marker)
    conf = tmp_path / "etc"
    conf.mkdir()
    inputs = {
        "main.cf": "myhostname = mail.example.test\n",
        "master.cf": "smtp inet n - y - - smtpd\n",
        "opendkim.conf": "Syslog yes\n",
        "opendmarc.conf": "Syslog true\n",
        "key.table": "k example.test:s:/etc/opendkim/keys/k.private\n",
        "signing.table": "*@example.test k\n",
        "trusted.hosts": "127.0.0.1\n",
        "opendkim": 'SOCKET="local:/run/opendkim/opendkim.sock"\n',
    }
    env = {**os.environ, "TMPDIR": str(attacker_tmpdir)}
    for name, text in inputs.items():
        path = conf / name
        path.write_text(text)
        for command in ("show", "lint"):
            subprocess.run(
                [sys.executable, "-m", "mailconf", command, str(path)],
                env=env,
                capture_output=True,
                check=False,
            )
            assert not marker.exists(), f"mailconf {command} {name} ran the planted cache"
    subprocess.run(
        [sys.executable, "-m", "mailconf", "get", str(conf / "main.cf"), "myhostname"],
        env=env,
        capture_output=True,
        check=False,
    )
    assert not marker.exists()


_AUDIT = textwrap.dedent(
    """
    import json, os, sys
    opened = []
    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes)):
            opened.append(os.fsdecode(args[0]))
        elif event in ("os.exec", "os.posix_spawn", "subprocess.Popen", "os.mkdir",
                       "tempfile.mkstemp", "tempfile.mkdtemp"):
            opened.append(os.fsdecode(args[0]))
    sys.addaudithook(hook)
    sys.argv = ["mailconf", *json.loads(sys.argv[1])]
    from mailconf.cli import main
    try:
        code = main()
    except SystemExit as stop:
        code = stop.code
    with open(os.environ["MAILCONF_AUDIT_OUT"], "w") as out:
        json.dump(opened, out)
    """
)


def _writable_by_others(directory: Path) -> bool:
    """Could a user other than us and root replace what is in ``directory``?"""
    try:
        info = directory.lstat()
    except OSError:
        return False
    if info.st_uid not in (0, os.geteuid()):
        return True
    if info.st_mode & stat.S_IWOTH:
        return True
    return bool(info.st_mode & stat.S_IWGRP) and info.st_gid not in (0, os.getegid())


def _unsafe(path: str) -> bool:
    """Opened in (or, for a directory such as an ``O_TMPFILE`` open, itself) a directory others
    can write."""
    place = Path(path)
    return _writable_by_others(place.parent) or (
        place.is_dir() and not place.is_symlink() and _writable_by_others(place)
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("get", "{conf}/main.cf", "myhostname"),
        ("show", "--json", "{conf}/main.cf"),
        ("lint", "{conf}/main.cf"),
        ("edit", "{conf}/main.cf", "--set", "myhostname=mx.example.test"),
        ("lint", "{conf}/opendkim.conf"),
        ("show", "{conf}/key.table"),
        ("plan", "--root", "{root}", "--config", str(EXAMPLE_TOML)),
    ],
)
def test_cli_opens_nothing_in_a_directory_others_can_write(
    tmp_path: Path, attacker_tmpdir: Path, argv: tuple[str, ...]
) -> None:
    """Every file the CLI opens, creates or runs (modules included: imports open through
    ``io.open_code``) sits in a directory only root or the caller can write.  With TMPDIR
    pointing at a world-writable directory, a cache, a temp file or a lock there would show up
    here; ``plan --root`` on a copy of examples/ also runs dpkg-query."""
    opened = _audit(tmp_path, attacker_tmpdir, argv)
    assert sorted({path for path in opened if _unsafe(path)}) == []
    assert list(attacker_tmpdir.iterdir()) == []


def test_apply_uses_nothing_under_tmpdir(tmp_path: Path, attacker_tmpdir: Path) -> None:
    """``apply --root`` runs the validators on rewritten copies of the milter confs and captures
    every command's output: none of it goes through TMPDIR.  (apply writes in directories the
    daemon accounts own, by design: the descriptor walk is what protects those writes.)"""
    argv = ("apply", "-q", "--yes", "--root", "{root}", "--config", str(EXAMPLE_TOML))
    opened = _audit(tmp_path, attacker_tmpdir, argv)
    inside = [
        path
        for path in opened
        if Path(path) == attacker_tmpdir or attacker_tmpdir in Path(path).parents
    ]
    assert inside == []
    assert list(attacker_tmpdir.iterdir()) == []


def _audit(tmp_path: Path, attacker_tmpdir: Path, argv: tuple[str, ...]) -> list[str]:
    """What ``mailconf ARGV`` opened, created and ran, with TMPDIR=attacker_tmpdir."""
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o755)
    (conf / "main.cf").write_text("myhostname = mail.example.test\n")
    (conf / "opendkim.conf").write_text("Syslog yes\n")
    (conf / "key.table").write_text("k example.test:s:/etc/opendkim/keys/k.private\n")
    root = tmp_path / "root"
    copy_example(root)
    out = tmp_path / "opened.json"
    env = {**os.environ, "TMPDIR": str(attacker_tmpdir), "MAILCONF_AUDIT_OUT": str(out)}
    arguments = [part.format(conf=conf, root=root) for part in argv]
    done = subprocess.run(
        [sys.executable, "-c", _AUDIT, json.dumps(arguments)],
        env=env,
        capture_output=True,
        check=False,
        text=True,
    )
    assert "internal error" not in done.stderr
    opened: list[str] = json.loads(out.read_text())
    assert opened, "the audit hook saw nothing"
    return opened


#: Every program mailconf may run, planted where a hostile PATH would find it first.
PROGRAMS = (
    "postconf", "postfix", "opendkim", "opendmarc", "opendkim-testkey", "systemctl", "service",
    "dpkg-query", "apt-get", "gpasswd", "groupadd", "kill",
)  # fmt: skip


def test_programs_are_never_found_through_the_callers_path(
    tmp_path: Path, attacker_tmpdir: Path
) -> None:
    """A PATH that starts with a world-writable directory (``su`` without ``-`` keeps the
    user's) must not decide which ``postconf`` root runs: ``apply --root`` runs the validators
    (postconf, opendkim, opendmarc) and dpkg-query, and none of the planted ones."""
    markers = tmp_path / "ran"
    markers.mkdir()
    for name in PROGRAMS:
        fake = attacker_tmpdir / name
        fake.write_text(f"#!/bin/sh\necho pwned > {markers / name}\nexit 0\n")
        fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{attacker_tmpdir}:{os.environ.get('PATH', '')}"}
    # The planted programs are real: a lookup through this PATH runs them.
    subprocess.run(["postconf", "-h", "mail_version"], env=env, check=True)
    assert (markers / "postconf").exists(), "the fake postconf did not run: the test proves nothing"
    (markers / "postconf").unlink()

    root = tmp_path / "root"
    copy_example(root)
    config = str(EXAMPLE_TOML)
    for command in ("plan", "apply"):
        done = subprocess.run(
            [sys.executable, "-m", "mailconf", command, "--root", str(root), "--config", config]
            + (["--yes"] if command == "apply" else []),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert sorted(p.name for p in markers.iterdir()) == [], done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    if shutil.which("postconf", path=SYSTEM_PATH):
        assert "validation postconf: ok" in done.stdout  # the real one ran


def test_commands_get_a_fixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HOME, TMPDIR, MAIL_CONFIG, LD_* ... of the caller do not reach root's commands."""
    for name in ("HOME", "TMPDIR", "MAIL_CONFIG", "LD_LIBRARY_PATH", "PYTHONPATH"):
        monkeypatch.setenv(name, str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("https_proxy", "http://proxy.example.test:3128")
    result = run(["env"], timeout=10)
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen == {
        "PATH": SYSTEM_PATH,
        "LC_ALL": "C",
        "LANG": "C",
        "https_proxy": "http://proxy.example.test:3128",
    }
