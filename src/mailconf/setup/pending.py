"""Restarts an apply owes: ``/var/lib/mailconf/pending-restarts``, one ``NAME`` (or
``NAME:defaults``, when ``/etc/default/NAME`` changed first) a line.

An apply writes the list *before* its first change and empties it after the last restart, so an
apply killed in between leaves new files with old daemons and a record of it: the next plan adds
those restarts even when nothing else changed.  The planner reads the file, apply writes it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from mailconf import fileio
from mailconf.fileio import atomic_write
from mailconf.setup.plan import Step
from mailconf.system.root import SystemRoot

__all__ = ["PENDING_RESTARTS", "pending_entries", "pending_restarts", "write_pending"]

PENDING_RESTARTS = "/var/lib/mailconf/pending-restarts"


def pending_restarts(root: SystemRoot) -> set[str]:
    """Restarts a previous apply owed and did not do (it was stopped or killed)."""
    data = root.read_if_present(PENDING_RESTARTS)
    if not data:
        return set()
    return {line.strip() for line in fileio.decode(data).splitlines() if line.strip()}


def pending_entries(restarts: Sequence[Step]) -> list[str]:
    """The lines of the pending-restarts file for ``restarts`` (``NAME``, ``NAME:defaults``)."""
    lines = []
    for step in restarts:
        lines.append(step.target)
        if step.defaults:
            lines.append(f"{step.target}:defaults")
    return lines


def write_pending(root: SystemRoot, lines: Sequence[str]) -> None:
    """Record ``lines`` as owed (an empty list removes the file)."""
    host = root.resolve(PENDING_RESTARTS)
    if not lines:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(host)
        return
    host.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    atomic_write(host, "".join(f"{line}\n" for line in lines).encode(), mode=0o644)
