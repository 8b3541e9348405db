"""The Ansible tests' set-up: the collection built with ``ansible-galaxy collection build`` and
installed into a private collections path, an ansible.cfg of their own (nothing of the user's
~/.ansible is read or written), and ``ansible-playbook`` run with it on inventories of local hosts,
each managing a system tree of its own with this interpreter (which has mailconf).

Skipped only when ansible-core cannot be imported (the test extras install it).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dnsserver import DnsServer
from example_tree import EXAMPLE_TOML, REPO, copy_example, mailconf_cli

# ansible.release, not ansible: with tests/ on the path, this directory could pass for the package.
pytest.importorskip(
    "ansible.release", reason="ansible-core is not installed (pip install -e '.[test]')"
)

COLLECTION = REPO / "ansible"
HERE = Path(__file__).resolve().parent

#: ``HOST : ok=1 changed=1 unreachable=0 failed=0 ...`` of PLAY RECAP.
_RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Ansible:
    """The ansible commands of this interpreter, with the private configuration."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.collections = base / "collections"
        config = base / "ansible.cfg"
        config.write_text(
            "[defaults]\n"
            "forks = 5\n"
            f"collections_path = {self.collections}\n"
            f"local_tmp = {base / 'tmp-local'}\n"
            f"remote_tmp = {base / 'tmp-remote'}\n"
            "retry_files_enabled = false\n"
            "host_key_checking = false\n"
            "nocows = true\n"
            "stdout_callback = default\n"
            "[galaxy]\n"
            f"cache_dir = {base / 'galaxy-cache'}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        # ansible-core refuses to start in a locale that is not UTF-8 (CI may have none).
        env.update(
            LC_ALL="C.UTF-8",
            LANG="C.UTF-8",
            ANSIBLE_CONFIG=str(config),
            ANSIBLE_HOME=str(base / "home"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        self.env = env

    def run(self, command: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """``ansible-COMMAND ARGS`` (``python -m ansible COMMAND``), in ``base``."""
        return subprocess.run(
            [sys.executable, "-m", "ansible", command, *map(str, args)],
            capture_output=True, text=True, env=self.env, cwd=self.base, check=False,
        )  # fmt: skip

    def playbook(self, inventory: Path, playbook: Path, *args: str) -> Playbook:
        done = self.run("playbook", "-i", inventory, playbook, *args)
        return Playbook(done.returncode, done.stdout + done.stderr)


class Playbook:
    """An ``ansible-playbook`` run: its exit status, its output, and its recap per host."""

    def __init__(self, returncode: int, output: str) -> None:
        self.returncode = returncode
        self.output = output
        self.recap = {
            m[1]: {"ok": int(m[2]), "changed": int(m[3]), "failed": int(m[5])}
            for m in _RECAP.finditer(output)
        }
        assert self.recap, f"no PLAY RECAP in the output:\n{output}"

    def host(self, name: str) -> dict[str, int]:
        assert name in self.recap, f"{name} not in the recap:\n{self.output}"
        return self.recap[name]


def install_collection(base: Path) -> Ansible:
    """The collection as a user installs it: built into a tarball under ``base``, then installed
    from it into the private collections path (tests/e2e uses this too)."""
    tool = Ansible(base)
    built = tool.run("galaxy", "collection", "build", COLLECTION, "--output-path", base / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = (base / "dist").glob("mailconf-mailconf-*.tar.gz")
    installed = tool.run("galaxy", "collection", "install", tarball, "-p", tool.collections)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return tool


@pytest.fixture(scope="session")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return install_collection(tmp_path_factory.mktemp("ansible"))


def write_inventory(path: Path, hosts: dict[str, dict[str, object]]) -> Path:
    """A YAML inventory (JSON is YAML) of local hosts in group ``fleet``, run with this
    interpreter unless a host says otherwise."""
    group_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path.write_text(json.dumps({"fleet": {"hosts": hosts, "vars": group_vars}}, indent=2))
    return path


#: Different in two trees set up alike: the key material, and the backups' directory names (a
#: time stamp and a process id).
_KEYS = "etc/opendkim/keys/"
_BACKUP = re.compile(r"^(var/backups/mailconf/)[^/]+")


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything under ``root``: each path's type, mode, owner, group and (files) bytes, with
    ``root`` itself named ``$ROOT`` (a backup's manifest names it), or for key files only that
    there is one."""
    result: dict[str, tuple[object, ...]] = {}
    own_name = os.fsencode(root)
    for path in sorted(root.rglob("*")):
        relative = _BACKUP.sub(r"\1*", path.relative_to(root).as_posix())
        st = path.lstat()
        content: object = None
        if stat.S_ISREG(st.st_mode):
            content = (
                "key"
                if relative.startswith(_KEYS)
                else path.read_bytes().replace(own_name, b"$ROOT")
            )
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, content)
        result[relative] = entry
    return result


def added_lines(before: str, after: str) -> list[str]:
    """The lines of ``after`` that are not in ``before`` (what a diff shows with ``+``)."""
    old = set(before.splitlines())
    return [line for line in after.splitlines() if line not in old]


class Tools:
    """The helpers above, handed to the tests as the ``tools`` fixture (tests import no module)."""

    HERE = HERE
    EXAMPLE_TOML = EXAMPLE_TOML
    DnsServer = DnsServer
    write_inventory = staticmethod(write_inventory)
    copy_example = staticmethod(copy_example)
    mailconf_cli = staticmethod(mailconf_cli)
    tree = staticmethod(tree)
    added_lines = staticmethod(added_lines)


@pytest.fixture(scope="session")
def tools() -> type[Tools]:
    return Tools
