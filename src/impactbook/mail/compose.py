"""The MIME message that carries a funder's reports.

Pure apart from reading the PDFs it attaches: nothing here writes or sends. The headers that
carry workbook text (``To``, ``Subject``) are written by :mod:`.headers`, which encodes any text
a reader could decode into header structure; addresses were checked by the one address rule of
the workbook; and the composed headers are parsed back and compared with what was meant before
the message is used, so no header can be injected.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime

from impactbook.errors import MailError
from impactbook.fsutil import sha256_bytes
from impactbook.mail.headers import mailbox_list_value, subject_value
from impactbook.mail.manifest import ReportEntry
from impactbook.mail.plan import PlannedMessage, PlannedReport, message_id_for, pdf_problem
from impactbook.mail.text import one_line, validate_address

MAX_MESSAGE_BYTES = 10 * 1000 * 1000
# SMTP policy: CRLF line ends, 78-column folding; used for every serialisation so the bytes
# measured against the size limit are the bytes written and sent. Headers set raw (see
# .headers) are written as they are: refolding one would parse it, decoding its encoded words.
SMTP_POLICY = email_policy.SMTP.clone(refold_source="none")
_SUBJECT_MAX_NAMES = 6
_MAX_HEADER_LINE_BYTES = 998  # RFC 5322, 2.1.1


def subject_for(planned: PlannedMessage) -> str:
    names = [r.report.name for r in planned.attached]
    shown = ", ".join(names[:_SUBJECT_MAX_NAMES])
    if len(names) > _SUBJECT_MAX_NAMES:
        shown += f" and {len(names) - _SUBJECT_MAX_NAMES} more"
    return one_line(f"Evaluation report{'s' if len(names) > 1 else ''}: {shown}")


def _title(item: PlannedReport) -> str:
    """``New York: Cure Violence and Group Violence Intervention (city report)``."""
    report = item.report
    if report.kind == "city":
        kinds = list(report.interventions)
        what = (f"{', '.join(kinds[:-1])} and {kinds[-1]}" if len(kinds) > 1
                else kinds[0] if kinds else "")
        return f"{report.name}: {what} (city report)" if what else f"{report.name} (city report)"
    if report.kind == "intervention":
        return f"{report.name} across its programmes (summary)"
    return report.label


def _programmes_phrase(programmes: tuple[tuple[str, str], ...]) -> str:
    cities = list(dict.fromkeys(city for city, _ in programmes if city))
    count = f"{len(programmes)} programme{'s' if len(programmes) != 1 else ''}"
    if not cities:
        return count
    places = cities[0] if len(cities) == 1 else f"{', '.join(cities[:-1])} and {cities[-1]}"
    return f"{count} in {places}"


def _lead(report: ReportEntry) -> str:
    """The report's one-line headline, as its findings gave it. A summary with nothing pooled
    is described by what it holds, never by what it lacks."""
    if report.headline:
        return report.headline
    if report.unpooled_outcomes and not report.pooled_outcomes:
        if not report.programmes:
            return "No programme of this type has an estimate yet; the report says why."
        if len(report.programmes) == 1:
            ((city, programme),) = report.programmes
            where = ", ".join(part for part in (programme, city) if part)
            return (f"The summary sets out the estimates of its one programme ({where}); with a "
                    "single programme there is nothing to pool.")
        return ("The summary sets out each programme's own estimate side by side "
                f"({_programmes_phrase(report.programmes)}); they are not pooled into one "
                "overall figure.")
    found = [f for f in report.key_findings if not f.startswith(_notes(report))]
    return found[0] if found else "No headline figure was recorded; the report has the details."


def _notes(report: ReportEntry) -> tuple[str, ...]:
    """How a summary's key findings begin that say why an outcome is not pooled."""
    return tuple(f"{outcome}: " for outcome in report.unpooled_outcomes)


def _more(report: ReportEntry) -> list[str]:
    """Short lines after the headline: value for money where a programme has costs, how many
    other key findings the report has (they are in the PDF; the message stays readable), and
    the outcomes a summary could not pool."""
    lead = _lead(report)
    others = [f for f in report.key_findings if f != lead and not f.startswith(_notes(report))]
    more = list(report.value_lines)  # the index card's value-for-money lines, word for word
    if report.unpooled_outcomes and report.pooled_outcomes:
        more.append("Shown programme by programme, without a pooled figure: "
                    + ", ".join(report.unpooled_outcomes) + ".")
    if others:
        more.append(f"The report has {len(others)} more key finding"
                    f"{'s' if len(others) > 1 else ''}.")
    return more


def _opening(planned: PlannedMessage) -> str:
    if len(planned.attached) > 1:
        return ("Attached are the evaluation reports on the programmes you fund, each with its "
                "headline finding below.")
    return ("Attached is the evaluation report on the programmes you fund, with its headline "
            "finding below.")


def _replaces_line(message_id: str, labels: tuple[str, ...]) -> str:
    return (f"This message replaces the earlier message {message_id}: {', '.join(labels)} "
            "changed since it was sent; please use the versions attached here.")


def _text_body(planned: PlannedMessage) -> str:
    lines = [f"Dear {planned.funder.name},", "", _opening(planned), ""]
    for message_id, labels in planned.replaces:
        lines += [_replaces_line(message_id, labels), ""]
    for item in planned.attached:
        lines.append(f"{_title(item)}, attached as {item.report.slug}.pdf")
        lines.append(f"  {_lead(item.report)}")
        lines.extend(f"  {line}" for line in _more(item.report))
        lines.append("")
    if planned.missing:
        lines.append("Missing from this message (not attached):")
        lines.extend(f"  - {item.report.label}: {item.missing_reason}"
                     for item in planned.missing)
        lines.append("")
    lines.append("This message was generated by impactbook.")
    return "\n".join(lines) + "\n"


def _html_body(planned: PlannedMessage) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"></head><body>",
             f"<p>Dear {e(planned.funder.name)},</p>", f"<p>{e(_opening(planned))}</p>"]
    parts.extend(f"<p><strong>{e(_replaces_line(message_id, labels))}</strong></p>"
                 for message_id, labels in planned.replaces)
    for item in planned.attached:
        parts.append(f"<h2>{e(_title(item))}</h2>")
        parts.append(f"<p><strong>{e(_lead(item.report))}</strong></p>")
        parts.extend(f"<p>{e(line)}</p>" for line in _more(item.report))
        parts.append(f"<p>Attached as <code>{e(item.report.slug)}.pdf</code>.</p>")
    if planned.missing:
        parts.append("<h2>Missing from this message (not attached)</h2><ul>")
        parts.extend(f"<li>{e(item.report.label)}: {e(item.missing_reason or '')}</li>"
                     for item in planned.missing)
        parts.append("</ul>")
    parts.append("<p>This message was generated by impactbook.</p></body></html>")
    return "\n".join(parts) + "\n"


def compose_message(planned: PlannedMessage, *, max_bytes: int = MAX_MESSAGE_BYTES,
                    date: datetime | None = None) -> EmailMessage:
    """Build the MIME message for ``planned``; raise :class:`MailError` if it is too big or
    its headers would not read back as the funder's name and addresses and the subject.

    ``multipart/mixed`` of a ``multipart/alternative`` (plain text + escaped HTML) and one
    ``application/pdf`` per attached report.
    """
    funder = planned.funder
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = Address(display_name="impactbook", addr_spec=validate_address(planned.sender))
    subject = subject_for(planned)
    msg.set_raw("To", mailbox_list_value(funder.name, funder.emails))
    msg.set_raw("Subject", subject_value(subject))
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = planned.message_id or message_id_for(planned.run, funder,
                                                             planned.reports)
    msg["Auto-Submitted"] = "auto-generated"
    if planned.replaces:  # threads with, and marks as superseded, the message it corrects
        earlier = " ".join(message_id for message_id, _ in planned.replaces)
        msg["In-Reply-To"] = planned.replaces[-1][0]
        msg["References"] = earlier
        msg["Supersedes"] = earlier
    # Which report versions this message carries, so the ledger can tell later sends.
    msg["X-Impactbook-Reports"] = " ".join(r.report.token for r in planned.attached)
    # Explicit quoted-printable keeps the message 7-bit clean for servers without 8BITMIME.
    msg.set_content(_text_body(planned), cte="quoted-printable")
    msg.add_alternative(_html_body(planned), subtype="html", cte="quoted-printable")
    for item in planned.attached:
        assert item.pdf_path is not None
        reason = pdf_problem(item.pdf_path)
        data = item.pdf_path.read_bytes() if reason is None else b""
        if reason is None and sha256_bytes(data) != item.report.pdf_sha256:
            reason = "its PDF changed since the message was planned"
        if reason:  # never attach a half-written report, or another one than planned
            raise MailError(f"{item.report.label}: {reason}", funder=funder.name)
        msg.add_attachment(data, maintype="application", subtype="pdf",
                           filename=f"{item.report.slug}.pdf")
    payload = msg.as_bytes(policy=SMTP_POLICY)
    _check_headers(payload, funder.name, funder.emails, subject)
    size = len(payload)
    if size > max_bytes:
        raise MailError(f"message is {size:,} bytes after encoding, over the limit of "
                        f"{max_bytes:,} bytes ({len(planned.attached)} PDFs attached)",
                        funder=funder.name)
    return msg


def _check_headers(payload: bytes, name: str, emails: tuple[str, ...], subject: str) -> None:
    """Read the headers back as a mail program would and refuse any that say something else
    than was meant: a last line of defence should a name still be decodable into structure."""
    parsed = BytesHeaderParser(policy=email_policy.default).parsebytes(payload)
    to = parsed["To"]
    addresses = [(a.display_name, a.addr_spec) for a in to.addresses] if to else []
    problems = []
    if addresses != [(one_line(name), address) for address in emails]:
        problems.append("the To header does not read back as the funder's addresses")
    if str(parsed["Subject"]) != subject:
        problems.append("the Subject header does not read back as written")
    extra = {key.lower() for key in parsed.keys()} & {"bcc", "cc", "reply-to", "sender"}
    if extra or len(parsed.get_all("To")) != 1 or len(parsed.get_all("Subject")) != 1:
        problems.append("the headers read back with recipients or fields never set")
    if any(len(line) > _MAX_HEADER_LINE_BYTES for line in payload.split(b"\r\n\r\n", 1)[0]
           .split(b"\r\n")):
        problems.append(f"a header line is longer than the {_MAX_HEADER_LINE_BYTES} bytes "
                        "mail allows (shorten the funder's name)")
    if problems:
        raise MailError("; ".join(problems) + " (a name holds text a mail program would read "
                        "as header structure)", funder=one_line(name))


def funder_of(msg: EmailMessage) -> str:
    """The funder name a composed message is addressed to (the To display name)."""
    addresses = msg["To"].addresses if msg["To"] is not None else ()
    return addresses[0].display_name if addresses else ""


def report_tokens_of(msg: EmailMessage) -> tuple[str, ...]:
    """The report tokens a composed message carries (its ``X-Impactbook-Reports``)."""
    return tuple(str(msg["X-Impactbook-Reports"] or "").split())


def recipients_of(msg: EmailMessage) -> tuple[str, ...]:
    return tuple(a.addr_spec for a in msg["To"].addresses) if msg["To"] is not None else ()
