"""What Postfix makes of a parameter value: list items, restrictions, milters, ``$name`` references.

Facts (Postfix 3.7 sources, checked against ``postconf``):

* Lists split on runs of ``, \\t\\r\\n`` (``CHARS_COMMA_SP``); in restriction and milter lists a
  balanced ``{ ... }`` group is one item (``mystrtokq``).  We always honour braces: a brace in a
  plain list (``mynetworks``) is not something Postfix accepts there anyway.
* A restriction is a name plus, for some names, one argument (``check_policy_service
  unix:private/policyd-spf`` is two list tokens but one restriction).  :func:`group_restrictions`
  puts them back together so edits move a restriction whole.
* ``$name``, ``${name}``, ``$(name)`` and the ``${name?text}`` / ``${name:text}`` forms refer to
  another parameter; a name is letters, digits and ``_`` (``mac_parse.c``); ``$$`` is a literal
  ``$``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

import attrs

from mailconf.errors import EditError
from mailconf.postfix.lines import split_braced, split_braced_spans, strip_braces

LIST_SEPARATORS = ", \t\r\n"  # CHARS_COMMA_SP

# Restrictions that take exactly one argument (smtpd_check.c).  ``check_*_access`` and the
# ``check_*_{a,mx,ns}_access`` families are matched by pattern below.
_ONE_ARGUMENT = frozenset(
    {
        "check_policy_service",
        "reject_rbl_client",
        "reject_rhsbl_client",
        "reject_rhsbl_reverse_client",
        "reject_rhsbl_sender",
        "reject_rhsbl_recipient",
        "reject_rhsbl_helo",
        "permit_dnswl_client",
        "permit_rhswl_client",
        "sleep",
    }
)
_ACCESS_RESTRICTION = re.compile(r"check_[a-z_]+_access\Z")

# Unconditional decisions: whatever comes after one of these in the same list is never evaluated.
UNCONDITIONAL = frozenset({"permit", "reject", "defer"})
UNAUTH_DESTINATION = frozenset({"reject_unauth_destination", "defer_unauth_destination"})
# Restrictions that make a list "do relay control" (the set Postfix requires in
# smtpd_relay_restrictions or smtpd_recipient_restrictions before it starts).
RELAY_CONTROL = frozenset(
    {
        "reject_unauth_destination",
        "defer_unauth_destination",
        "reject",
        "defer",
        "defer_if_permit",
        "check_relay_domains",
    }
)

_REFERENCE = re.compile(r"\$(?:([A-Za-z0-9_]+)|\{([A-Za-z0-9_]+)|\(([A-Za-z0-9_]+))")


@attrs.frozen
class Item:
    """One list item and where it is in the logical value (``start``/``end`` offsets)."""

    text: str
    start: int
    end: int

    @property
    def normalized(self) -> str:
        return normalize_item(self.text)


def normalize_item(text: str) -> str:
    """An item compared the way Postfix reads it: blanks collapsed, blanks next to braces and
    commas inside a group ignored (``{ a, b }`` equals ``{a,b}``)."""
    words = split_braced(text.strip(LIST_SEPARATORS), LIST_SEPARATORS)
    out = []
    for word in words:
        if word.startswith("{"):
            inner = split_braced(strip_braces(word), LIST_SEPARATORS)
            out.append("{" + ", ".join(inner) + "}")
        else:
            out.append(word)
    return " ".join(out)


def restriction_key(normalized: str) -> str:
    """What a restriction checks, without its per-use options (Postfix 3.0+ braced form):
    ``check_policy_service {unix:private/x, timeout=10s}`` is the check
    ``check_policy_service unix:private/x``, so adding the plain form again would duplicate it."""
    name, _, argument = normalized.partition(" ")
    if argument.startswith("{"):
        inner = split_braced(strip_braces(argument), LIST_SEPARATORS)
        if inner:
            return f"{name} {inner[0]}"
    return normalized


def list_tokens(value: str) -> list[Item]:
    """Split a value into list tokens with their offsets (``mystrtokq`` with ``{ }``)."""
    return [
        Item(value[start:end], start, end)
        for start, end in split_braced_spans(value, LIST_SEPARATORS)
    ]


def takes_argument(restriction: str) -> bool:
    return restriction in _ONE_ARGUMENT or bool(_ACCESS_RESTRICTION.match(restriction))


def group_restrictions(tokens: list[Item]) -> list[Item]:
    """Join each restriction with its argument (``check_policy_service`` + ``unix:...``).

    The item's text is the raw span, so it may hold the separator Postfix skips (``a,\\n b``);
    compare with :attr:`Item.normalized`.
    """
    grouped: list[Item] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if takes_argument(token.text) and index + 1 < len(tokens):
            following = tokens[index + 1]
            grouped.append(Item(f"{token.text} {following.text}", token.start, following.end))
            index += 2
        else:
            grouped.append(token)
            index += 1
    return grouped


def is_restriction_list(name: str, restriction_classes: frozenset[str] = frozenset()) -> bool:
    return name.endswith("_restrictions") or name in restriction_classes


def references(value: str) -> list[str]:
    """Parameter names ``value`` refers to, in order, without duplicates (``$$`` is literal)."""
    names: list[str] = []
    index = 0
    while True:
        index = value.find("$", index)
        if index < 0 or index + 1 >= len(value):
            return names
        if value[index + 1] == "$":
            index += 2
            continue
        match = _REFERENCE.match(value, index)
        if match:
            name = next(group for group in match.groups() if group)
            if name not in names:
                names.append(name)
            index = match.end()
        else:
            index += 1


_MACRO_NAME = re.compile(r"[A-Za-z0-9_]+")


def macro_problem(value: str) -> str | None:
    """Why Postfix's ``mac_parse()`` rejects ``value`` ("macro processing error", fatal for a
    built-in parameter), or None.  Only the outer level is checked: the text inside
    ``${name?text}`` is parsed when it is used, and may be fine (Postfix is as lazy).

    * ``$`` must be followed by ``$``, a name, ``{`` or ``(`` ("empty macro name");
    * ``${`` / ``$(`` need their closing bracket, nesting counted ("truncated macro reference");
    * inside, a name, optionally followed by ``?`` or ``:`` and text, or a ``{...}``
      expression ("attribute name syntax error").
    """
    index = 0
    while True:
        index = value.find("$", index)
        if index < 0:
            return None
        opener = value[index + 1 : index + 2]
        if opener == "$":
            index += 2
            continue
        if opener not in ("{", "("):
            name = _MACRO_NAME.match(value, index + 1)
            if name is None:
                return f"empty macro name at {value[index : index + 10]!r}"
            index = name.end()
            continue
        closer = "}" if opener == "{" else ")"
        level, end = 1, index + 2
        while end < len(value):
            if value[end] == opener:
                level += 1
            elif value[end] == closer:
                level -= 1
                if level == 0:
                    break
            end += 1
        else:
            return f"truncated macro reference {value[index:]!r} (no closing {closer!r})"
        inner = value[index + 2 : end]
        if not inner:
            return f"empty macro name in {value[index : end + 1]!r}"
        if not inner.startswith("{"):
            name = _MACRO_NAME.match(inner)
            if name is None or (name.end() < len(inner) and inner[name.end()] not in "?:"):
                return f"bad parameter name in {value[index : end + 1]!r}"
        index = end + 1


def pure_reference(item: str) -> str | None:
    """``$name`` / ``${name}`` / ``$(name)`` as a whole item: the name, else None."""
    match = re.fullmatch(r"\$(?:([A-Za-z0-9_]+)|\{([A-Za-z0-9_]+)\}|\(([A-Za-z0-9_]+)\))", item)
    return next(group for group in match.groups() if group) if match else None


# ------------------------------------------------------------------------------------- milters
def milter_socket(item: str) -> str:
    """The socket of a milter list item: ``{ inet:h:p, connect_timeout=10s }`` -> ``inet:h:p``."""
    if item.startswith("{"):
        inner = split_braced(strip_braces(item), LIST_SEPARATORS)
        return inner[0] if inner else ""
    return item


def milter_kind(item: str) -> str | None:
    """``"dkim"``, ``"dmarc"`` or None: which filter a milter item talks to.

    Recognised by the socket text: ``opendmarc``/``dmarc`` in it means OpenDMARC, ``opendkim``/
    ``dkim`` means OpenDKIM (Debian's and the walkthrough's socket paths are
    ``.../opendkim/opendkim.sock`` and ``.../opendmarc/opendmarc.sock``); otherwise the
    conventional TCP ports, 8891 for OpenDKIM and 8893 for OpenDMARC.  DMARC is tested first
    because a path like ``/run/dkim-dmarc/opendmarc.sock`` names both.
    """
    socket = milter_socket(item).lower()
    if "dmarc" in socket:
        return "dmarc"
    if "dkim" in socket:
        return "dkim"
    port = re.search(r":(\d+)\Z", socket)
    if port and port.group(1) == "8891":
        return "dkim"
    if port and port.group(1) == "8893":
        return "dmarc"
    return None


def milter_socket_for_postfix(
    daemon_socket: str,
    queue_directory: str = "/var/spool/postfix",
    *,
    chrooted_by: Sequence[str] = ("smtpd",),
) -> str:
    """An OpenDKIM/OpenDMARC ``Socket`` value in the form ``smtpd_milters`` needs.

    * ``local:/var/spool/postfix/opendkim/opendkim.sock`` -> ``local:opendkim/opendkim.sock``:
      every Postfix daemon works in the queue directory and a chrooted one cannot see outside
      it, so a path below it is written relative to it, which reads the same either way.
    * A path outside the queue directory: as it is when no service that connects runs chrooted
      (``chrooted_by`` empty, see :func:`mailconf.postfix.milters.chrooted_services`), else
      refused with :class:`EditError` naming those services (the default: smtpd, chrooted as
      Debian's master.cf has it).
    * ``inet:8891@127.0.0.1`` -> ``inet:127.0.0.1:8891``; ``inet:8891`` (all addresses) ->
      ``inet:127.0.0.1:8891``; ``inet6:8891@[::1]`` -> ``inet:[::1]:8891``.
    * A value already in Postfix's form (``inet:host:port``, a relative ``local:`` path) is
      returned unchanged.
    """
    # Imported here: only a milter edit needs the milters' socket syntax, and a main.cf-only
    # command (``mailconf get``) then loads nothing of the milter package.
    from mailconf.milter.sockets import SocketError, parse_socket

    spec = daemon_socket.strip()
    try:
        socket = parse_socket(spec)
    except SocketError:
        raise EditError(
            f"cannot turn milter socket {spec!r} into a Postfix milter address"
        ) from None
    if socket.is_unix:
        scheme = socket.scheme or "local"
        if not socket.path.startswith("/"):
            return f"{scheme}:{socket.path}"
        path = posixpath.normpath(socket.path)
        queue = posixpath.normpath(queue_directory)
        if path != queue and path.startswith(queue.rstrip("/") + "/"):
            return f"{scheme}:{posixpath.relpath(path, queue)}"
        if not chrooted_by:
            return f"{scheme}:{path}"
        # The hint names the socket's own daemon: /run/opendmarc/opendmarc.sock and
        # /run/opendmarc.sock both suggest QUEUE/opendmarc/opendmarc.sock.
        name = posixpath.basename(path)
        tail = f"{name.split('.', 1)[0]}/{name}"
        services = ", ".join(chrooted_by)
        raise EditError(
            f"milter socket {spec!r} is outside Postfix's queue directory {queue}: "
            f"{services} run(s) chrooted there and look(s) {scheme}: paths up inside it, so it "
            f"could never connect. Put the socket under {queue} (e.g. {scheme}:{queue}/{tail}), "
            "use inet:PORT@127.0.0.1, or set the chroot column of those services to n in "
            "master.cf"
        )
    host = socket.host or ("::1" if socket.scheme == "inet6" else "127.0.0.1")
    return f"inet:[{host}]:{socket.port}" if ":" in host else f"inet:{host}:{socket.port}"
