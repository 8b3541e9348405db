"""The shared corpus: real opendkim.conf / opendmarc.conf files validate without errors (lint
reports only the data-set files they name and the corpus does not hold) and the rejected ones
are refused for the reason the daemon gives (SOURCES.tsv records it)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import mailconf
from mailconf.findings import Severity
from support import CORPUS, corpus_files, require_corpus

ACCEPTED = [p for kind in ("opendkim", "opendmarc") for p in corpus_files(kind)]
REJECTED = [p for kind in ("opendkim", "opendmarc") for p in corpus_files(f"rejected/{kind}")]


def daemon_reason(path: Path) -> str:
    """The daemon's complaint recorded in SOURCES.tsv, without the file name and line."""
    with open(CORPUS / "SOURCES.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["file"] == f"rejected/{path.parent.name}/{path.name}":
                plain = row["note"].split(" | ")[0]
                reason = plain.split(f"{path.name}: ", 1)[1]
                return (
                    reason.split(": ", 1)[1] if reason.startswith("configuration error") else reason
                )
    raise AssertionError(f"{path} is not in SOURCES.tsv")


def test_corpus_present() -> None:
    require_corpus()
    assert len(ACCEPTED) == 25 and len(REJECTED) == 4


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.name)
def test_accepted_files_validate(path: Path) -> None:
    doc = mailconf.load(path, kind=path.parent.name)
    assert [f.render() for f in doc.validate()] == []  # type: ignore[attr-defined]
    for finding in doc.lint(root="/nonexistent-root"):  # type: ignore[attr-defined]
        # The files these configurations name are not part of the corpus: their absence is
        # the one error lint may report (the daemon would refuse to start without them too).
        if finding.code != "milter.missing-file":
            assert finding.severity is not Severity.ERROR, finding.render()


@pytest.mark.parametrize("path", REJECTED, ids=lambda p: p.name)
def test_rejected_files_are_refused_for_the_daemons_reason(path: Path) -> None:
    reason = daemon_reason(path)
    try:
        doc = mailconf.load(path, kind=path.parent.name)
    except mailconf.ParseError as error:
        message = error.message
    else:
        errors = doc.validate()  # type: ignore[attr-defined]
        assert errors, "mailconf accepted a file the daemon refuses"
        message = errors[0].message
    assert reason in message
