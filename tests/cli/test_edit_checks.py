"""Edits refuse what lint calls an error (exit 1, nothing written, the lint message said),
print what it warns about and go ahead, and write anyway with --force: one case per row, each
through the command line and through the model's method the command calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mailconf
from mailconf.errors import EditError

FILES = {
    "main.cf": "myhostname = mail.example.com\n",
    "key.table": "default._domainkey.example.com example.com:default:/k/default.private\n",
    "trusted.hosts": "127.0.0.1\nlocalhost\n",
    "opendkim.conf": "Mode sv\nSocket inet:8891@127.0.0.1\n",
}

#: file, edit options, exit status, what stderr must say; status 1 rows are also run with --force.
CASES = [
    ("main.cf", ["--set", "smtpd_milter=inet:127.0.0.1:8891"], 0, "did you mean smtpd_milters?"),
    ("main.cf", ["--set", "bogus_param_xyz=1"], 0, "[postfix.unknown-parameter]"),
    ("key.table", ["--add-entry", "onlykey"], 1, "[milter.keytable-value]"),
    ("trusted.hosts", ["--add-host", "*.example.org"], 1, "write '.example.org'"),
    ("trusted.hosts", ["--add-host", "999.1.1.1"], 1, "[milter.host-invalid]"),
    ("opendkim.conf", ["--set", "Mode=xyz"], 1, 'unknown mode "x"'),
]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailconf", *argv], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("name", "edit", "status", "said"), CASES)
def test_edit_refuses_errors_and_warns(
    tmp_path: Path, name: str, edit: list[str], status: int, said: str
) -> None:
    path = tmp_path / name
    path.write_text(FILES[name])
    result = run("edit", str(path), *edit)
    assert result.returncode == status, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert (path.read_text() == FILES[name]) is (status == 1)
    if status == 1:
        forced = run("edit", str(path), *edit, "--force")
        assert forced.returncode == 0, forced.stderr
        assert said in forced.stderr
        assert path.read_text() != FILES[name]


#: The same rows as the model methods the command calls (``--add-entry K`` is
#: ``add_entry(K, "")``): an error is an EditError with lint's message, ``force=True`` writes.
API = [
    ("key.table", "add_entry", ("onlykey", ""), "domain:selector:keypath"),
    ("trusted.hosts", "add_host", ("*.example.org",), "never matches"),
    ("trusted.hosts", "add_host", ("999.1.1.1",), "not a valid host name"),
    ("opendkim.conf", "set", ("Mode", "xyz"), 'unknown mode "x"'),
]


@pytest.mark.parametrize(("name", "method", "arguments", "said"), API)
def test_the_methods_refuse_the_same(
    tmp_path: Path, name: str, method: str, arguments: tuple[str, ...], said: str
) -> None:
    path = tmp_path / name
    path.write_text(FILES[name])
    doc = mailconf.load(path)
    with pytest.raises(EditError, match=said.replace("*", r"\*")):
        getattr(doc, method)(*arguments)
    assert doc.dump() == FILES[name]
    assert getattr(doc, method)(*arguments, force=True) is True


def test_unknown_main_cf_names_are_allowed_by_the_method(tmp_path: Path) -> None:
    doc = mailconf.parse("myhostname = a.example\n", "postfix-main")
    assert doc.set("smtpd_milter", "inet:127.0.0.1:8891") is True  # postconf warns, not more
