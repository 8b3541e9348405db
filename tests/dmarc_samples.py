"""DMARC aggregate reports shaped like the big receivers' (for the tests of ``mailconf dmarc``).

What each reporter really sends, as far as the shape matters to a reader:

* Google: no namespace, ``<?xml version="1.0" encoding="UTF-8" ?>``, ``extra_contact_info``,
  ``policy_published`` with ``pct`` and ``np``, a ``<selector>`` per DKIM result, an SPF result
  without ``<scope>``; mailed as a ``.zip`` (``application/zip``).
* Microsoft ("Enterprise Outlook"): ``xmlns:xsd``/``xmlns:xsi`` on the root, a ``<version>``,
  ``<fo>`` in the policy, ``<envelope_to>`` and ``<envelope_from>`` in the identifiers, SPF with
  ``<scope>mfrom</scope>``; mailed as ``.xml.gz`` (``application/gzip``).
* Yahoo: no namespace, ``<version>``-less, a numeric ``report_id`` with a dot, SPF with
  ``<scope>``, DKIM with ``<selector>``; mailed gzipped.
* A DMARCbis reporter: the ``urn:ietf:params:xml:ns:dmarc-2.0`` namespace, ``<version>1.0``,
  ``<generator>``, ``<testing>`` and ``<discovery_method>`` in the policy, the ``pass``
  disposition, an ``<extension>``; plain XML.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import NamedTuple


class Row(NamedTuple):
    ip: str
    count: int
    dkim: Sequence[tuple[str, str]] = ()
    spf: Sequence[tuple[str, str]] = ()
    header_from: str = "example.com"
    disposition: str = "none"


DAY = 86_400
START = 1_764_547_200  # 2025-12-01T00:00:00Z


def _rows(style: str, rows: Sequence[Row]) -> str:
    out = []
    for row in rows:
        verdict_dkim = "pass" if any(r == "pass" for _, r in row.dkim) else "fail"
        verdict_spf = "pass" if any(r == "pass" for _, r in row.spf) else "fail"
        identifiers = f"<header_from>{row.header_from}</header_from>"
        if style == "microsoft":
            identifiers = (
                "<envelope_to>example.net</envelope_to>"
                f"<envelope_from>{row.spf[0][0] if row.spf else ''}</envelope_from>" + identifiers
            )
        dkim = "".join(
            f"<dkim><domain>{d}</domain><selector>s1</selector><result>{r}</result></dkim>"
            if style != "microsoft"
            else f"<dkim><domain>{d}</domain><selector>s1</selector><result>{r}</result>"
            "<human_result></human_result></dkim>"
            for d, r in row.dkim
        )
        scope = "" if style == "google" else "<scope>mfrom</scope>"
        spf = "".join(
            f"<spf><domain>{d}</domain>{scope}<result>{r}</result></spf>" for d, r in row.spf
        )
        out.append(
            f"""
  <record>
    <row>
      <source_ip>{row.ip}</source_ip>
      <count>{row.count}</count>
      <policy_evaluated>
        <disposition>{row.disposition}</disposition>
        <dkim>{verdict_dkim}</dkim>
        <spf>{verdict_spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>{identifiers}</identifiers>
    <auth_results>{dkim}{spf}</auth_results>
  </record>"""
        )
    return "".join(out)


def report_xml(
    style: str,
    report_id: str,
    day: int,
    rows: Sequence[Row],
    *,
    domain: str = "example.com",
    policy: str = "none",
    adkim: str = "r",
    aspf: str = "r",
) -> bytes:
    """One day's report (``day`` days after :data:`START`) in the reporter's ``style``."""
    begin, end = START + day * DAY, START + (day + 1) * DAY - 1
    records = _rows(style, rows)
    if style == "google":
        text = f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>
    <report_id>{report_id}</report_id>
    <date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>{adkim}</adkim><aspf>{aspf}</aspf><p>{policy}</p>
    <sp>{policy}</sp><pct>100</pct><np>{policy}</np>
  </policy_published>{records}
</feedback>
"""
    elif style == "microsoft":
        text = f"""<?xml version="1.0"?>
<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <version>1.0</version>
  <report_metadata>
    <org_name>Enterprise Outlook</org_name>
    <email>dmarcreport@microsoft.com</email>
    <report_id>{report_id}</report_id>
    <date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>{adkim}</adkim><aspf>{aspf}</aspf><p>{policy}</p>
    <sp>{policy}</sp><pct>100</pct><fo>0</fo>
  </policy_published>{records}
</feedback>"""
    elif style == "yahoo":
        text = f"""<?xml version="1.0"?>
<feedback>
  <report_metadata>
    <org_name>Yahoo</org_name>
    <email>dmarchelp@yahooinc.com</email>
    <report_id>{report_id}</report_id>
    <date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>{adkim}</adkim><aspf>{aspf}</aspf><p>{policy}</p>
    <pct>100</pct>
  </policy_published>{records}
</feedback>
"""
    elif style == "dmarcbis":
        records = records.replace(
            "<disposition>none</disposition>", "<disposition>pass</disposition>"
        )
        text = f"""<?xml version="1.0" encoding="UTF-8"?>
<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0" xmlns:ext="urn:example:ext">
  <version>1.0</version>
  <report_metadata>
    <org_name>Sample Reporter</org_name>
    <email>report_sender@example-reporter.com</email>
    <generator>Dmarcify 2000</generator>
    <report_id>{report_id}</report_id>
    <date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>{adkim}</adkim><aspf>{aspf}</aspf><p>{policy}</p>
    <sp>{policy}</sp><testing>n</testing><discovery_method>treewalk</discovery_method>
  </policy_published>
  <extension><ext:arc-override>never</ext:arc-override></extension>{records}
</feedback>
"""
    else:
        raise ValueError(style)
    return text.encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def mail(reporter: str, filename: str, attachment: bytes, content_type: str) -> bytes:
    """A report mail as receivers send it: a text part and the attachment, base64."""
    message = EmailMessage()
    message["From"] = f"noreply-dmarc@{reporter}"
    message["To"] = "dmarc-reports@example.com"
    message["Subject"] = f"Report domain: example.com Submitter: {reporter} Report-ID: <x>"
    message.set_content("This is an aggregate report from " + reporter + ".\n")
    maintype, subtype = content_type.split("/")
    message.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


def mbox(messages: Sequence[bytes]) -> bytes:
    """An mbox file (mboxrd: ``From`` lines in bodies quoted) of ``messages``."""
    out = []
    for message in messages:
        body = message.replace(b"\r\n", b"\n")
        lines = [
            b">" + line if line.lstrip(b">").startswith(b"From ") else line
            for line in body.split(b"\n")
        ]
        out.append(b"From MAILER-DAEMON Mon Dec  1 00:00:00 2025\n" + b"\n".join(lines) + b"\n")
    return b"".join(out)


def maildir(path: Path, messages: Sequence[bytes]) -> Path:
    for folder in ("cur", "new", "tmp"):
        (path / folder).mkdir(parents=True, exist_ok=True)
    for number, message in enumerate(messages):
        folder = "cur" if number % 2 else "new"
        suffix = ":2,S" if folder == "cur" else ""
        (path / folder / f"17645{number:05d}.M1P1.mail{suffix}").write_bytes(message)
    return path
