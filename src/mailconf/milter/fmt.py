"""``mailconf fmt`` for the files read as ``name value`` lines (opendkim.conf, opendmarc.conf,
KeyTable, SigningTable): every value in one column, padded the way most of the file pads it.

Only the blanks between a name and its value change: the daemons skip them (the conf parsers
and OpenDKIM's data sets split at the first run of blanks), so the file means the same; the
indentation, the comments and everything after the value stay as written.  Host lists are
never touched: to OpenDMARC an indented IgnoreHosts line is another line.  The result is
checked by reading it back: a layout that changed what the daemon reads is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailconf.errors import MailconfError
from mailconf.milter.conf import MilterConf, Option
from mailconf.milter.tables import DataSet, HostList, Row
from mailconf.syntax.document import Document
from mailconf.syntax.layout import TAB_WIDTH, align_like, visual_width


def formatted(doc: Document) -> str:
    """``doc``'s text with its values aligned; the text itself for the kinds fmt leaves alone
    (main.cf, master.cf, host lists, /etc/default files)."""
    if isinstance(doc, MilterConf):
        entries: Sequence[Option | Row] = doc._options
        names = [entry.name for entry in doc._options]
    elif isinstance(doc, DataSet) and not isinstance(doc, HostList):
        rows = [row for row in doc.rows if row.value]
        entries, names = rows, [row.key for row in rows]
    else:
        return doc.dump()
    if not entries:
        return doc.dump()
    indents = [entry.part("indent") for entry in entries]
    tabs = sum("\t" in entry.part("sep") for entry in entries) * 2 >= len(entries)
    column = max(visual_width(i + n) for i, n in zip(indents, names, strict=True)) + 1
    if tabs:
        column = -(-column // TAB_WIDTH) * TAB_WIDTH
    separator = "\t" if tabs else "  "
    changes = []
    for entry, indent, name in zip(entries, indents, names, strict=True):
        start = entry.parts.start("value")
        line = align_like(indent, name, "", separator, column) + entry.text[start:]
        if line != entry.text:
            changes.append((entry, line))
    before = doc.to_json()
    copy = type(doc).parse(doc.dump(), doc.path)
    positions = doc.positions()
    copy.replace_each([(copy.entries[positions[e]], text) for e, text in changes])
    text = copy.dump()
    if type(doc).parse(text, doc.path).to_json() != before:  # pragma: no cover - a safety net
        raise MailconfError(f"{doc.path}: aligning the values would change what they mean")
    return text
