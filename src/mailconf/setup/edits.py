"""The two table edits the planner needs beyond the file models' own methods.

Everything else the planner changes goes through the models (``MainCf.set``/``add_milter``/
``add_restriction``, ``MasterCf.add_service``, ``MilterConf.set``, ``ShellVars.set``,
``HostList.add_host``). What the models do not say:

* a KeyTable has one row per key name (the first match wins, so extra rows are stale) while a
  SigningTable may map one pattern to several keys (``MultipleSignatures``: RSA *and* ed25519),
  which ``DataSet.add_entry`` would collapse by replacing the pattern's row;
* the walkthrough's mistaken host lines (``locahost``, ``*.DOMAIN``) are fixed in place.

Every function is idempotent and returns True when it changed the document.
"""

from __future__ import annotations

from mailconf.postfix_lines import ISSPACE
from mailconf.tables import HostList, KeyTable, SigningTable

__all__ = ["add_signing_row", "replace_host", "set_key_row"]


def set_key_row(table: KeyTable, key: str, value: str) -> bool:
    """Make ``key value`` the only KeyTable row for ``key``."""
    changed = table.add_entry(key, value)
    extras = [row for row in table.rows if row.key == key][1:]
    table.remove_each(extras, keep_comments=True)
    return changed or bool(extras)


def add_signing_row(table: SigningTable, pattern: str, keyname: str) -> bool:
    """Add ``pattern keyname`` after the pattern's existing rows, keeping them."""
    rows = [row for row in table.rows if row.key == pattern]
    if any(row.value == keyname for row in rows):
        return False
    if not rows:
        return table.add_entry(pattern, keyname)
    last = rows[-1]
    text = last.text.rstrip("\r\n")
    after_key = text.index(pattern) + len(pattern)
    separator = text[after_key : len(text) - len(text[after_key:].lstrip(" \t"))] or " "
    line = text[:after_key] + separator + keyname
    table.insert(table.entries.index(last) + 1, table.parse_entry(line))
    return True


def replace_host(table: HostList, wrong: str, right: str) -> bool:
    """Turn a mistaken host line (``locahost``, ``*.DOMAIN``) into the intended one, in place."""
    rows = [row for row in table.rows if row.key == wrong and not row.value]
    if not rows:
        return False
    if right in table.hosts:
        for row in rows:
            table.remove(row, keep_comments=True)
        return True
    text = rows[0].text
    indent = text[: len(text) - len(text.lstrip(ISSPACE))]
    rest = text.lstrip(ISSPACE)[len(wrong) :].rstrip("\r\n")
    table.replace(rows[0], indent + right + rest)
    for row in rows[1:]:
        table.remove(row, keep_comments=True)
    return True
