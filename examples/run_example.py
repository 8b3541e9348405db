"""``./dev example``: plan the SPF + DKIM + DMARC setup of hogehoge.com on the example tree.

Only ``plan`` runs on the bundled tree (it changes nothing). To see an apply, copy the tree first:
``cp -a examples/ubuntu-22.04 /tmp/mail && mailconf apply --root /tmp/mail --config
examples/mailconf.toml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    from mailconf.cli import main as mailconf

    tree, config = str(HERE / "ubuntu-22.04"), str(HERE / "mailconf.toml")
    return mailconf(["plan", "--root", tree, "--config", config, *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
