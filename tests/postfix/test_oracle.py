"""Agreement with ``postconf``: what mailconf reads from main.cf / master.cf is what Postfix reads.

Also the helpers the other Postfix test modules import (``from test_postfix_oracle import ...``):
running postconf on a scratch configuration directory and parsing its output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailconf
from mailconf.postfix.lines import split_braced, strip_braces
from mailconf.postfix.lint import lint_main
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
SYSTEM_MAIN = Path("/etc/postfix/main.cf")
SYSTEM_MASTER = Path("/etc/postfix/master.cf")
DEBIAN_MAIN = Path("/usr/share/postfix/main.cf.debian")
DEBIAN_MASTER = Path("/usr/share/postfix/master.cf.dist")


# ----------------------------------------------------------------------------------- helpers
def postconf_path() -> str:
    found = shutil.which("postconf") or (
        "/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists() else None
    )
    if found is None:
        pytest.skip("postconf is not installed (apt-get install postfix): it is the oracle here")
    return found


def corpus(kind: str) -> list[Path]:
    folder = CORPUS / kind
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def need_corpus(kind: str) -> list[Path]:
    files = corpus(kind)
    if not files:
        pytest.skip(f"the shared corpus is not at {CORPUS / kind} (it lives beside the repository)")
    return files


def config_dir(
    tmp: Path, main: str | bytes | None = None, master: str | bytes | None = None
) -> Path:
    """A postconf configuration directory: the given files, else a minimal main.cf and the
    system master.cf (postconf needs both to exist)."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name, content, fallback in (("main.cf", main, None), ("master.cf", master, SYSTEM_MASTER)):
        target = tmp / name
        if content is None:
            if fallback is not None and fallback.exists():
                shutil.copyfile(fallback, target)
            else:
                target.write_text("")
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode("utf-8", "surrogateescape"))
    age_files(tmp)
    return tmp


def age_files(directory: Path) -> None:
    """Date the files 10 s back: postconf sleeps ~2 s when a file it loads changed in the current
    second (dict_load_file() guards against reading a file while it is being written)."""
    past = time.time() - 10
    for name in ("main.cf", "master.cf"):
        if (directory / name).exists():
            os.utime(directory / name, (past, past))


def postconf(directory: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    age_files(directory)
    result = subprocess.run(
        [postconf_path(), "-c", str(directory), *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
    )
    if check and result.returncode != 0:
        raise AssertionError(f"postconf {' '.join(args)} failed: {result.stderr}")
    return result


def normalise(value: str) -> str:
    """postconf prints values with whitespace runs as single spaces."""
    return " ".join(value.split())


def parse_postconf(output: str) -> dict[str, str]:
    values = {}
    for line in output.split("\n"):  # not splitlines(): a value may hold \v or \f
        if not line:
            continue
        name, _, value = line.partition(" =")
        values[name] = normalise(value)
    return values


def postconf_n(directory: Path) -> dict[str, str]:
    values = parse_postconf(postconf(directory, "-n").stdout)
    values.pop("config_directory", None)
    return values


def unused_warnings(stderr: str) -> set[str]:
    return set(re.findall(r"unused parameter: ([^=\s]+)=", stderr))


def mailconf_effective(doc: MainCf) -> dict[str, str]:
    """What postconf -n would print for ``doc``: values normalised, unused names left out."""
    return {name: normalise(value) for name, value in doc.parameters.items()}


def master_via_postconf(
    directory: Path,
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """``postconf -F`` fields and ``postconf -P`` overrides, by ``name/type``."""
    fields: dict[str, dict[str, str]] = {}
    for line in postconf(directory, "-F").stdout.splitlines():
        key, _, value = line.partition(" =")
        name, type_, field = key.rsplit("/", 2)
        fields.setdefault(f"{name}/{type_}", {})[field] = normalise(value)
    overrides: dict[str, dict[str, str]] = {}
    for line in postconf(directory, "-P").stdout.splitlines():
        key, _, value = line.partition(" =")
        name, type_, param = key.rsplit("/", 2)
        overrides.setdefault(f"{name}/{type_}", {})[param] = normalise(value)
    return fields, overrides


def master_via_mailconf(
    doc: MasterCf,
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    fields: dict[str, dict[str, str]] = {}
    overrides: dict[str, dict[str, str]] = {}
    for service in doc.services:
        data = service.to_json()
        words = [service.command]
        for arg in data["args"]:  # type: ignore[attr-defined]
            words.extend(arg.split())
        for override in service.overrides_list:
            words.extend(["-o", *f"{override.name}={override.value}".split()])
        fields[service.key] = {
            "service": service.name,
            "type": service.type,
            "private": service.private,
            "unprivileged": service.unpriv,
            "chroot": service.chroot,
            "wakeup": service.wakeup,
            "process_limit": service.maxproc,
            "command": " ".join(sorted(words)),
        }
        if service.overrides:
            overrides[service.key] = {k: normalise(v) for k, v in service.overrides.items()}
    return fields, overrides


def comparable_postconf_fields(fields: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """postconf's command line as a sorted word list (braces dropped), to compare with ours."""
    out = {}
    for key, values in fields.items():
        values = dict(values)
        words = []
        for token in split_braced(values["command"], " "):
            words.extend(strip_braces(token).split())
        values["command"] = " ".join(sorted(words))
        out[key] = values
    return out


def assert_master_agrees(doc: MasterCf, directory: Path) -> None:
    pc_fields, pc_overrides = master_via_postconf(directory)
    mine_fields, mine_overrides = master_via_mailconf(doc)
    assert mine_fields == comparable_postconf_fields(pc_fields)
    assert mine_overrides == pc_overrides


# ------------------------------------------------------------------------------- corpus tests
@pytest.mark.parametrize(
    "path", corpus("postfix-main") or [None], ids=lambda p: p.name if p else "none"
)
def test_corpus_main_values_agree_with_postconf(path: Path | None, tmp_path: Path) -> None:
    if path is None:
        need_corpus("postfix-main")
        return
    data = path.read_bytes()
    doc = mailconf.parse(data.decode("utf-8", "surrogateescape"), "postfix-main")
    assert isinstance(doc, MainCf)
    directory = config_dir(tmp_path, main=data)
    result = postconf(directory, "-n")
    printed = parse_postconf(result.stdout)
    printed.pop("config_directory", None)
    mine = mailconf_effective(doc)
    for name, value in printed.items():
        assert mine.get(name) == value, name
    # what postconf leaves out is exactly what it calls unused or read-only
    left_out = set(mine) - set(printed) - {"config_directory"}
    unused = unused_warnings(result.stderr)
    findings = lint_main(doc, mailconf.parse(SYSTEM_MASTER.read_text(), "postfix-master"))
    flagged = {f.message.split()[2] for f in findings if f.code == "postfix.unknown-parameter"}
    read_only = {f.message.split()[0] for f in findings if f.code == "postfix.read-only"}
    assert left_out == unused | read_only
    assert flagged == unused
    # -h agrees for every name, including ones set twice
    names = sorted(printed)
    if names:
        values = postconf(directory, "-h", *names).stdout.splitlines()
        assert [normalise(v) for v in values] == [mine[n] for n in names]


@pytest.mark.parametrize(
    "path", corpus("postfix-master") or [None], ids=lambda p: p.name if p else "none"
)
def test_corpus_master_agrees_with_postconf(path: Path | None, tmp_path: Path) -> None:
    if path is None:
        need_corpus("postfix-master")
        return
    data = path.read_bytes()
    doc = mailconf.parse(data.decode("utf-8", "surrogateescape"), "postfix-master")
    assert isinstance(doc, MasterCf)
    directory = config_dir(
        tmp_path, main=SYSTEM_MAIN.read_bytes() if SYSTEM_MAIN.exists() else "", master=data
    )
    assert_master_agrees(doc, directory)


def test_debian_master_agrees_with_postconf(tmp_path: Path) -> None:
    if not DEBIAN_MASTER.exists():
        pytest.skip("Debian's postfix package is not installed")
    text = DEBIAN_MASTER.read_text()
    doc = mailconf.parse(text, "postfix-master")
    assert isinstance(doc, MasterCf)
    assert_master_agrees(doc, config_dir(tmp_path, main="", master=text))


# ------------------------------------------------------------------------- hypothesis main.cf
NAMES = [
    "myhostname",
    "mydomain",
    "myorigin",
    "mydestination",
    "relayhost",
    "mynetworks",
    "smtpd_banner",
    "alias_maps",
    "smtpd_milters",
    "non_smtpd_milters",
    "milter_protocol",
    "smtpd_recipient_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_helo_restrictions",
    "recipient_delimiter",
    "home_mailbox",
    "virtual_alias_maps",
    "header_checks",
]
WORD = st.text(alphabet="abcxyz019.,:/{}#-_=[]", min_size=1, max_size=8)
BLANK = st.sampled_from([" ", "\t", "  ", " \t", "\v", "\f "])  # C isspace()


@st.composite
def main_cf(draw: st.DrawFn) -> str:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(draw(BLANK) + "orphan continuation")
    for _ in range(draw(st.integers(0, 8))):
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(st.sampled_from(["", "# comment", "  # indented comment", " \t"])))
        name = draw(st.sampled_from(NAMES))
        words = draw(st.lists(WORD, max_size=4))
        equals = draw(st.sampled_from(["=", " = ", " =", "= ", "\t=\t"]))
        first, rest = (words[0], words[1:]) if words and draw(st.booleans()) else ("", words)
        if first.startswith("#") or first.startswith("="):
            first = "v" + first
        line = name + equals + first + draw(st.sampled_from(["", " ", "\t"]))
        lines.append(line)
        for word in rest:
            if draw(st.booleans()):
                lines.append(draw(st.sampled_from(["# inner comment", "", "   "])))
            if word.startswith("#"):
                word = "w" + word
            lines.append(draw(BLANK) + word)
    text = newline.join(lines)
    if draw(st.booleans()):
        text += newline
    return text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=main_cf())
def test_generated_main_cf_agrees_with_postconf(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    postconf_path()
    doc = mailconf.parse(text, "postfix-main")
    assert doc.dump() == text
    assert isinstance(doc, MainCf)
    directory = config_dir(tmp_path_factory.mktemp("gen"), main=text)
    printed = postconf_n(directory)
    mine = mailconf_effective(doc)
    assert printed == {name: value for name, value in mine.items() if name in printed}
    assert set(printed) == set(mine)  # every generated name is a known, used one


def test_counter_helper_is_order_free() -> None:
    """The master.cf command comparison sorts words: make sure it still tells lists apart."""
    assert Counter(["a", "b"]) != Counter(["a", "c"])
