"""TEMPORARY: ``mailconf apply|plan|dns|check`` before the lead wires them into ``mailconf.cli``.

Used by the driver only when ``MAILCONF_E2E_SHIM=1``. ``apply``/``plan`` go through the real
``mailconf.setup.cli_setup`` handlers; ``dns`` builds the records with ``mailconf.dns.records``
from the spec and the keys on disk; ``check`` calls ``mailconf.checks.run_checks``. The real test
runs ``python -m mailconf ...`` only.
"""

from __future__ import annotations

import argparse
import json
import sys

from mailconf.checks import DomainCheck, run_checks
from mailconf.dns.records import dkim_record, dmarc_record, spf_record
from mailconf.findings import Severity
from mailconf.keys import load_private_key
from mailconf.setup import cli_setup
from mailconf.setup.spec import Setup
from mailconf.system.root import SystemRoot


def main(argv: list[str]) -> int:
    command = argv[0]
    if command in ("apply", "plan"):
        parser = argparse.ArgumentParser(prog="mailconf")
        commands = parser.add_subparsers(dest="command")
        cli_setup.register(commands)
        args = parser.parse_args(argv)
        return int(args.handler(args))
    config = argv[argv.index("--config") + 1]
    setup = Setup.from_toml(config)
    if command == "dns":
        records = []
        for domain in setup.domains:
            key = load_private_key(f"/etc/opendkim/keys/{domain.name}/{domain.selector}.private")
            for record, _ in (
                spf_record(domain.name, [str(ip) for ip in setup.ips]),
                dkim_record(domain.selector, domain.name, key),
                dmarc_record(domain.name, setup.dmarc_policy),
            ):
                records.append(record.to_json())
        print(json.dumps(records, indent=2))
        return 0
    if command == "check":
        findings = run_checks(
            SystemRoot.live(),
            [DomainCheck(d.name, d.selector) for d in setup.domains],
            ips=[str(ip) for ip in setup.ips],
            hostname=setup.hostname,
        )
        if "--json" in argv:
            print(json.dumps([f.to_json() for f in findings], indent=2))
        else:
            print("\n".join(f.render() for f in findings))
        return 1 if any(f.severity is Severity.ERROR for f in findings) else 0
    raise SystemExit(f"shim: unknown command {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
