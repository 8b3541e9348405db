"""OpenDKIM ``Include``: the options of an included file are read in place, so ``get``, ``show``,
the doctor and the planner see what ``opendkim -e`` sees (issue 13, "Known differences").

``opendkim -x FILE -e NAME`` prints every value the daemon read for NAME, the one it uses first;
each case compares that first value with :meth:`MilterConf.typed` (booleans as ``True``/``False``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from mailconf.milter.conf import OpenDkimConf
from support import require_binary

NAMES = ("Mode", "Canonicalization", "SubDomains", "Syslog", "MinimumKeyBits", "UMask")

LAYOUTS = {
    "include in the middle": (
        "Mode sv\nCanonicalization simple\nInclude {d}/a.conf\nSubDomains no\nSyslog yes\n",
        {"a.conf": "Canonicalization relaxed/relaxed\nSubDomains yes\nSyslog no\nUMask 022\n"},
    ),
    "include first": (
        "Include {d}/a.conf\nMode v\nMinimumKeyBits 1024\n",
        {"a.conf": "Mode sv\nMinimumKeyBits 2048\nSyslog no\n"},
    ),
    "nested, the deeper one read in place": (
        "Syslog yes\nInclude {d}/a.conf\nUMask 007\n",
        {
            "a.conf": "Syslog no\nInclude {d}/b.conf\nMode s\n",
            "b.conf": "Mode v\nUMask 022\nSubDomains yes\n",
        },
    ),
    "the same file twice": (
        "Include {d}/a.conf\nMode v\nInclude {d}/a.conf\n",
        {"a.conf": "Mode sv\n"},
    ),
}


def opendkim_value(opendkim: str, conf: Path, name: str) -> str | None:
    result = subprocess.run(
        [opendkim, "-x", str(conf), "-e", name], capture_output=True, text=True, timeout=30
    )
    lines = result.stdout.splitlines()
    return lines[0] if lines else None


def shown(value: bool | int | str | None) -> str | None:
    """A typed value as opendkim -e prints it (booleans as True/False)."""
    return None if value is None else str(value)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_values_are_what_opendkim_e_prints(tmp_path: Path, layout: str) -> None:
    opendkim = require_binary("opendkim")
    main, included = LAYOUTS[layout]
    for name, text in included.items():
        (tmp_path / name).write_text(text.format(d=tmp_path))
    conf_path = tmp_path / "opendkim.conf"
    conf_path.write_text(main.format(d=tmp_path))
    conf = attrs.evolve(OpenDkimConf.load(conf_path), include_root="/")
    for name in NAMES:
        expected = opendkim_value(opendkim, conf_path, name)
        assert shown(conf.typed(name)) == expected, name


def test_an_edit_changes_only_the_file_itself(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("Mode v\n")
    conf = OpenDkimConf.parse(f"Include {tmp_path}/a.conf\n", str(tmp_path / "opendkim.conf"))
    conf.include_root = "/"
    assert conf.get("Mode") == "v"
    assert conf.set("Mode", "sv")
    assert conf.get("Mode") == "sv"  # after the Include: the file's own line wins
    assert conf.dump() == f"Include {tmp_path}/a.conf\nMode sv\n"
    assert not conf.occurrences("Canonicalization")


def test_includes_are_read_only_under_a_root_the_caller_names(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/a.conf").write_text("Mode v\n")
    main = tmp_path / "etc/main.conf"
    main.write_text("Include /etc/a.conf\n")
    alone = OpenDkimConf.load(main)
    assert alone.get("Mode") is None  # which system's /etc? the caller must say
    assert attrs.evolve(alone, include_root=str(tmp_path)).get("Mode") == "v"
    command = ["get", "--kind", "opendkim", "--root", str(tmp_path), str(main), "Mode"]
    result = subprocess.run(
        [sys.executable, "-m", "mailconf", *command], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "v\n"), result.stderr


@pytest.mark.parametrize(
    ("main", "included"),
    [
        ("KeyTable file:{d}/key.table\nInclude {d}/a.conf\n", "SigningTable refile:{d}/signing\n"),
        ("SigningTable refile:{d}/signing\nInclude {d}/a.conf\n", "KeyTable file:{d}/key.table\n"),
        ("SigningTable refile:{d}/signing\nInclude {d}/a.conf\n", "Canonicalization simple\n"),
    ],
)
def test_a_configuration_split_over_includes_is_linted_as_a_whole(
    tmp_path: Path, main: str, included: str
) -> None:
    """SigningTable needs a KeyTable somewhere in what the daemon reads, not in the same file."""
    opendkim = require_binary("opendkim")
    (tmp_path / "key.table").write_text("sel._domainkey.example.com example.com:sel:/dev/null\n")
    (tmp_path / "signing").write_text("*@example.com sel._domainkey.example.com\n")
    (tmp_path / "a.conf").write_text(included.format(d=tmp_path))
    conf = tmp_path / "opendkim.conf"
    conf.write_text("Mode v\n" + main.format(d=tmp_path))
    daemon = subprocess.run([opendkim, "-n", "-x", str(conf)], capture_output=True, timeout=30)
    ours = subprocess.run(
        [sys.executable, "-m", "mailconf", "lint", "--kind", "opendkim", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ours.returncode == 1) == (daemon.returncode != 0), (daemon.stderr, ours.stdout)


def test_set_of_a_value_an_include_already_gives_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("KeyTable /etc/opendkim/KeyTable\n")
    text = f"Mode sv\nInclude {tmp_path}/a.conf\n"
    conf = OpenDkimConf.parse(text)
    conf.include_root = "/"
    assert conf.set("KeyTable", "/etc/opendkim/KeyTable") is False
    assert conf.dump() == text
    assert conf.set("KeyTable", "/etc/opendkim/key.table") is True  # a new value: a line of its own
    assert conf.get("KeyTable") == "/etc/opendkim/key.table"
    unread = OpenDkimConf.parse(text)  # without include_root the Include is not read
    assert unread.set("KeyTable", "/etc/opendkim/KeyTable") is True
