"""The few edits the planner makes, as small functions over the lossless documents.

Each one prefers the file model's own method (``MainCf.set``, ``MainCf.add_milter``,
``MasterCf.add_service``, ``OpenDkimConf.set``, ``ShellVars.set``, ``KeyTable.add_entry``,
``HostList.add_host``...) and falls back to a minimal edit through the core ``Document`` API
(``replace``/``insert``) where a model does not offer it (yet). Every function is idempotent and
returns True when it changed the document.
"""

from __future__ import annotations

from typing import Any

from mailconf.postfix_lines import ISSPACE, split_braced
from mailconf.syntax.document import Document, Entry

LIST_SEPARATORS = ", \t\r\n"
RELAY_CONTROL = ("reject_unauth_destination", "defer_unauth_destination")


def _method(doc: Document, name: str) -> Any:
    return getattr(doc, name, None)


# ---------------------------------------------------------------------------------- lookups
def _named(doc: Document, name: str, *, fold: bool = False) -> list[Entry]:
    wanted = name.lower() if fold else name
    found = []
    for entry in doc.entries:
        entry_name = getattr(entry, "name", None)
        if entry_name is None:
            continue
        if (entry_name.lower() if fold else entry_name) == wanted:
            found.append(entry)
    return found


def get(doc: Document, name: str, *, fold: bool = False) -> str | None:
    """The effective value of ``name`` (the last occurrence wins in every kind we edit)."""
    entries = _named(doc, name, fold=fold)
    if not entries:
        return None
    value = getattr(entries[-1], "value", None)
    return None if value is None else str(value)


def list_items(value: str | None) -> list[str]:
    """A Postfix list split as Postfix splits it (``{ }`` groups kept whole)."""
    return split_braced(value or "", LIST_SEPARATORS)


# -------------------------------------------------------------------------------- set value
def set_value(doc: Document, name: str, value: str, *, fold: bool = False) -> bool:
    """``name = value`` (main.cf), ``Name value`` (milter conf) or ``NAME=value`` (shell)."""
    method = _method(doc, "set")
    if method is not None:
        return bool(method(name, value))
    if get(doc, name, fold=fold) == value:
        return False
    line = _line_for(doc, name, value)
    entries = _named(doc, name, fold=fold)
    if entries:
        doc.replace(entries[-1], line)
    else:
        doc.insert(len(doc.entries), doc.parse_entry(line))
    return True


def _line_for(doc: Document, name: str, value: str) -> str:
    kind = doc.kind
    if kind == "postfix-main":
        return f"{name} = {value}"
    if kind == "shellvars":
        safe = all(c.isalnum() or c in "/:._-@%+=," for c in value)
        return f"{name}={value}" if safe else f'{name}="{value}"'
    return f"{name}\t\t{value}"


# ---------------------------------------------------------------------------------- main.cf
def add_milter(doc: Document, spec: str, *, param: str = "smtpd_milters") -> bool:
    """Add a milter to a milter list (OpenDKIM before OpenDMARC)."""
    method = _method(doc, "add_milter")
    if method is not None:
        return bool(method(spec, param=param))
    items = list_items(get(doc, param))
    if spec in items:
        return False
    if "opendkim" in spec:
        position = next((i for i, item in enumerate(items) if "opendmarc" in item), len(items))
    else:
        position = len(items)
    items.insert(position, spec)
    return set_value(doc, param, ", ".join(items))


def has_restriction(items: list[str], item: str) -> bool:
    words = item.split()
    return any(items[i : i + len(words)] == words for i in range(len(items)))


def add_restriction(doc: Document, list_name: str, item: str) -> bool:
    """Add a restriction (``check_policy_service ...``) after the relay control of the list."""
    items = list_items(get(doc, list_name))
    if has_restriction(items, item):
        return False
    method = _method(doc, "add_restriction")
    if method is not None:
        return bool(method(list_name, item))
    words = item.split()
    position = len(items)
    for index, existing in enumerate(items):
        if existing in RELAY_CONTROL:
            position = index + 1
    if position == len(items) and items and items[-1] == "permit":
        position -= 1
    items[position:position] = words
    return set_value(doc, list_name, _join_restrictions(items))


def _join_restrictions(items: list[str]) -> str:
    """Join tokens back into ``a, b, check_x arg, c`` (a restriction's argument stays beside it)."""
    parts: list[str] = []
    for token in items:
        if parts and (parts[-1].split()[0].startswith("check_") and len(parts[-1].split()) == 1):
            parts[-1] += " " + token
        else:
            parts.append(token)
    return ", ".join(parts)


def milter_socket_for_postfix(
    daemon_socket: str, queue_directory: str = "/var/spool/postfix"
) -> str:
    """The milter's own Socket value in Postfix's terms.

    ``local:/var/spool/postfix/x/y.sock`` -> ``local:x/y.sock`` (smtpd runs chrooted in the
    queue directory); ``inet:8891@127.0.0.1`` -> ``inet:127.0.0.1:8891``.
    """
    try:
        from mailconf import maincf

        helper = getattr(maincf, "milter_socket_for_postfix", None)
    except ImportError:  # pragma: no cover
        helper = None
    if helper is not None:
        return str(helper(daemon_socket, queue_directory))
    kind, _, rest = daemon_socket.partition(":")
    if kind in ("local", "unix"):
        prefix = queue_directory.rstrip("/") + "/"
        return "local:" + (rest[len(prefix) :] if rest.startswith(prefix) else rest)
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        return f"{kind}:{host or '127.0.0.1'}:{port}"
    return daemon_socket


# -------------------------------------------------------------------------------- master.cf
def add_service(doc: Document, line: str) -> bool:
    """Add or update a master.cf service (``name/type`` is the key)."""
    method = _method(doc, "add_service")
    if method is not None:
        return bool(method(line))
    new = doc.parse_entry(line)
    key = getattr(new, "key", None)
    same = [e for e in doc.entries if getattr(e, "key", None) == key]
    if same:
        if getattr(same[-1], "fields", None) == getattr(new, "fields", None):
            return False
        doc.replace(same[-1], line)
        return True
    doc.insert(len(doc.entries), new)
    return True


# ------------------------------------------------------------------------------ data sets
def add_entry(doc: Document, key: str, value: str, *, unique_key: bool) -> bool:
    """Make ``key value`` a row of a KeyTable/SigningTable.

    ``unique_key``: the KeyTable has one row per key name, so a row with our key and another
    value is rewritten; a SigningTable may map one pattern to several keys (both are kept).
    """
    rows = [e for e in doc.entries if getattr(e, "key", None) == key]
    matching = [r for r in rows if " ".join(str(getattr(r, "value", "")).split()) == value]
    if unique_key and rows:
        if len(rows) == 1 and matching:
            return False
        doc.replace(rows[0], f"{key}\t{value}")
        for extra in rows[1:]:
            doc.remove(extra, keep_comments=True)
        return True
    if matching:
        return False
    method = _method(doc, "add_entry")
    if method is not None:
        return bool(method(key, value))
    doc.insert(len(doc.entries), doc.parse_entry(f"{key}\t{value}"))
    return True


def hosts(doc: Document) -> list[str]:
    return [str(getattr(e, "key", "")) for e in doc.entries if getattr(e, "key", "")]


def add_host(doc: Document, host: str) -> bool:
    method = _method(doc, "add_host")
    if method is not None:
        return bool(method(host))
    if host in hosts(doc):
        return False
    doc.insert(len(doc.entries), doc.parse_entry(host))
    return True


def replace_host(doc: Document, wrong: str, right: str) -> bool:
    """Turn a mistaken host line (``locahost``, ``*.DOMAIN``) into the intended one, in place."""
    rows = [
        e for e in doc.entries if getattr(e, "key", None) == wrong and not getattr(e, "value", "")
    ]
    if not rows:
        return False
    if right in hosts(doc):
        for row in rows:
            doc.remove(row, keep_comments=True)
        return True
    text = rows[0].text
    indent = text[: len(text) - len(text.lstrip(ISSPACE))]
    rest = text.lstrip(ISSPACE)[len(wrong) :].rstrip("\r\n")
    doc.replace(rows[0], indent + right + rest)
    for row in rows[1:]:
        doc.remove(row, keep_comments=True)
    return True
