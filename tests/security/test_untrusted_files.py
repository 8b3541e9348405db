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
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mailconf.syntax import grammar
from mailconf.syntax.kinds import KINDS

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
        elif event in ("os.exec", "os.posix_spawn", "subprocess.Popen"):
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
        info = directory.stat()
    except OSError:
        return False
    if info.st_uid not in (0, os.geteuid()):
        return True
    if info.st_mode & stat.S_IWOTH:
        return True
    return bool(info.st_mode & stat.S_IWGRP) and info.st_gid not in (0, os.getegid())


@pytest.mark.parametrize(
    "argv",
    [
        ("get", "{conf}/main.cf", "myhostname"),
        ("show", "--json", "{conf}/main.cf"),
        ("lint", "{conf}/main.cf"),
        ("edit", "{conf}/main.cf", "--set", "myhostname=mx.example.test"),
        ("lint", "{conf}/opendkim.conf"),
        ("show", "{conf}/key.table"),
    ],
)
def test_cli_opens_nothing_in_a_directory_others_can_write(
    tmp_path: Path, attacker_tmpdir: Path, argv: tuple[str, ...]
) -> None:
    """Every file the CLI opens or runs (modules included: imports open through ``io.open_code``)
    sits in a directory only root or the caller can write.  With TMPDIR pointing at a
    world-writable directory, a cache, a temp file or a lock there would show up here."""
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o755)
    (conf / "main.cf").write_text("myhostname = mail.example.test\n")
    (conf / "opendkim.conf").write_text("Syslog yes\n")
    (conf / "key.table").write_text("k example.test:s:/etc/opendkim/keys/k.private\n")
    out = tmp_path / "opened.json"
    env = {**os.environ, "TMPDIR": str(attacker_tmpdir), "MAILCONF_AUDIT_OUT": str(out)}
    arguments = [part.format(conf=conf) for part in argv]
    subprocess.run(
        [sys.executable, "-c", _AUDIT, json.dumps(arguments)],
        env=env,
        capture_output=True,
        check=False,
    )
    opened = json.loads(out.read_text())
    assert opened, "the audit hook saw nothing"
    unsafe = sorted({path for path in opened if _writable_by_others(Path(path).parent)})
    assert unsafe == []
