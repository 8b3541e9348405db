"""Declarative setup: one spec becomes a plan of the whole SPF + DKIM + DMARC setup, applied
safely (lock, atomic writes, backups, validation with the real tools, rollback).

>>> from mailconf.setup import Setup, make_plan, apply_plan      # doctest: +SKIP
>>> plan = make_plan(Setup(domains=["hogehoge.com"], ips=["192.0.2.10"]), SystemRoot("/tmp/x"))
"""

from __future__ import annotations

from mailconf.setup.apply import ApplyError, ApplyResult, apply, apply_plan
from mailconf.setup.plan import Plan, Step
from mailconf.setup.planner import make_plan
from mailconf.setup.spec import Domain, KeySpec, Setup

__all__ = [
    "ApplyError",
    "ApplyResult",
    "Domain",
    "KeySpec",
    "Plan",
    "Setup",
    "Step",
    "apply",
    "apply_plan",
    "make_plan",
]
