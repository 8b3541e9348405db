"""A user's code type-checks against mailconf: the README's Python examples and the typed facade
pass ``mypy --strict`` as a user runs it, in a directory of their own, through the installed
package's ``py.typed`` (not the project's mypy configuration, which reads ``src/`` directly).

Removing ``py.typed`` fails this test (mypy then skips the package: ``import-untyped``), and so
does an example that calls a model's method on what ``load`` types as a plain ``Document``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: What a user writes beyond the README: each kind typed by its literal, the protocol on a file
#: whose kind is known only at run time, the CLI's options as the methods' keywords.
USER_CODE = """
import sys

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # Python 3.10 (Ubuntu 22.04): mypy knows typing_extensions without it being installed
    from typing_extensions import assert_type

import mailconf
from mailconf import Document, MainCf

main = mailconf.parse("biff = no\\n", kind="postfix-main")
assert_type(main, MainCf)
main.set("biff", True)
main.set("milter_protocol", 6)
main.add_restriction("smtpd_relay_restrictions", "reject_unauth_destination", last=True)
main.add_milter("opendkim", root="/srv/staging")
value: str = main["biff"]
present: bool = "biff" in main
assert_type(mailconf.parse("", kind="postfix-master"), mailconf.MasterCf)
assert_type(mailconf.parse("", kind="opendkim"), mailconf.OpenDkimConf)
assert_type(mailconf.parse("", kind="opendmarc"), mailconf.OpenDmarcConf)
assert_type(mailconf.parse("", kind="keytable"), mailconf.KeyTable)
assert_type(mailconf.parse("", kind="signingtable"), mailconf.SigningTable)
assert_type(mailconf.parse("", kind="hostlist"), mailconf.HostList)
assert_type(mailconf.parse("", kind="shellvars"), mailconf.ShellVars)
assert_type(mailconf.load("/etc/opendkim/key.table", kind="keytable"), mailconf.KeyTable)


def show(path: str, kind: str) -> str | None:
    doc = mailconf.load(path, kind=kind)
    assert_type(doc, Document)
    findings = doc.lint(root="/")
    return doc.get("myhostname") if not findings else findings[0].render()


plan: mailconf.Plan = mailconf.plan(mailconf.Setup(domains=["example.com"]), root="/tmp/root")
"""


def readme_examples() -> str:
    """The README's ```python blocks, one after the other, as one module."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    assert blocks, "the README has no Python example: the pattern is broken"
    return "\n".join(blocks)


@pytest.mark.parametrize("source", ["readme", "user"])
def test_user_code_passes_mypy_strict(source: str, tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed in this environment")
    code = readme_examples() if source == "readme" else USER_CODE
    (tmp_path / "example.py").write_text(code)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # the user's settings, not the project's
    result = subprocess.run(
        [mypy, "--strict", "--config-file", "mypy.ini", "example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
