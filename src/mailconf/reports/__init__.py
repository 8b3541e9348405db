"""DMARC aggregate reports: read them safely, sum them per source, and advise the next policy step.

``feedback`` parses one report's XML as it streams (no DTD, so no entity expansion and no external
entity); ``inputs`` finds the reports in files, archives and mailboxes under size caps;
``alignment`` applies DMARC's alignment rules; ``summary`` sums the reports per sending source;
``advice`` turns a summary into the next step (none, quarantine, reject) and names what to fix.
Beside :mod:`mailconf.dns` in the layers: it may use DNS (reverse names), the doctor and the CLI
use it.
"""

from __future__ import annotations
