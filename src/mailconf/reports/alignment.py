"""DMARC identifier alignment (RFC 7489 3.1, DMARCbis 4.4) between an authenticated domain (a DKIM
``d=`` or the SPF MAIL FROM domain) and the RFC 5322 From domain.

Strict mode (``adkim=s``/``aspf=s``) wants the same name.  Relaxed mode (the default) wants the
same *Organizational Domain*.  mailconf has no Organizational Domain code elsewhere (the DMARC
record check in :mod:`mailconf.dns.dmarc` compares names as parent or child), and a report must
be read without DNS, so DMARCbis's DNS tree walk is not an option here.  What is used instead is
the Public Suffix List algorithm over a small bundled subset of the list: the multi-label public
suffixes under which most mail domains are registered (``co.uk``, ``com.au``, ``co.jp``...), and
every top-level domain as a public suffix (the list's ``*`` rule).  A name under a multi-label
suffix missing from the subset gets its Organizational Domain one label too high, which can only
make two sibling registrations under that suffix (``a.com.xx`` and ``b.com.xx``) look aligned in
relaxed mode; it never makes a really aligned pair look unaligned.
"""

from __future__ import annotations

from typing import Final

__all__ = ["aligned", "organizational_domain"]

# Multi-label public suffixes (ICANN section of the Public Suffix List, the common ones).
_SUFFIX_LIST: Final = """
    ac.uk co.uk gov.uk ltd.uk me.uk net.uk nhs.uk org.uk plc.uk sch.uk
    asn.au com.au edu.au gov.au id.au net.au org.au
    ac.nz co.nz geek.nz gen.nz govt.nz net.nz org.nz school.nz
    ac.jp ad.jp co.jp ed.jp go.jp gr.jp lg.jp ne.jp or.jp
    ac.kr co.kr go.kr ne.kr or.kr re.kr
    com.cn edu.cn gov.cn net.cn org.cn
    com.hk edu.hk gov.hk net.hk org.hk
    com.tw edu.tw gov.tw net.tw org.tw
    com.sg edu.sg gov.sg net.sg org.sg
    com.my edu.my gov.my net.my org.my
    ac.id co.id go.id or.id web.id
    ac.th co.th go.th in.th or.th
    com.vn edu.vn gov.vn net.vn org.vn
    ac.in co.in edu.in firm.in gen.in gov.in ind.in net.in org.in
    com.pk edu.pk gov.pk net.pk org.pk
    ac.il co.il gov.il net.il org.il
    com.tr edu.tr gov.tr net.tr org.tr
    com.sa edu.sa gov.sa net.sa org.sa
    ac.ae co.ae gov.ae net.ae org.ae
    com.eg edu.eg gov.eg org.eg
    ac.za co.za gov.za net.za org.za web.za
    co.ke or.ke com.ng gov.ng org.ng
    com.br gov.br net.br org.br
    com.ar gob.ar net.ar org.ar
    com.mx gob.mx net.mx org.mx
    com.co gov.co net.co org.co
    com.pe gob.pe org.pe
    co.ve com.ve
    com.ua gov.ua net.ua org.ua
    com.pl net.pl org.pl
    co.at or.at gv.at
    com.es nom.es org.es gob.es
    com.pt gov.pt org.pt
    com.gr gov.gr org.gr
    com.ru net.ru org.ru
"""
PUBLIC_SUFFIXES: Final = frozenset(_SUFFIX_LIST.split())


def organizational_domain(name: str) -> str:
    """The registered domain of ``name``: its public suffix plus one label (``mail.example.co.uk``
    gives ``example.co.uk``); a public suffix itself is its own answer."""
    labels = name.lower().rstrip(".").split(".")
    for start in range(len(labels) - 2):
        if ".".join(labels[start + 1 :]) in PUBLIC_SUFFIXES:
            return ".".join(labels[start:])
    return ".".join(labels[-2:])


def aligned(authenticated: str, header_from: str, mode: str) -> bool:
    """Whether ``authenticated`` is aligned with ``header_from`` in ``mode`` (``r`` or ``s``)."""
    a = authenticated.lower().rstrip(".")
    f = header_from.lower().rstrip(".")
    if not a or not f:
        return False
    if a == f:
        return True
    return mode != "s" and organizational_domain(a) == organizational_domain(f)
