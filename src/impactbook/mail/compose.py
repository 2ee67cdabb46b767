"""Who gets which report, and the message that carries them.

Reads the funders table and a run's ``manifest.json``, plans one message per funder
(:func:`plan_messages`) and composes it (:func:`compose_message`). Pure apart from reading
input files: nothing here writes or sends.

Safety rules enforced here:

* only reports with status ``ok`` whose PDF exists inside the run folder and looks complete
  (``%PDF-`` header, ``%%EOF`` trailer) are attached; every other matched report is named in
  the body as missing;
* addresses are validated against a strict ASCII ``local@domain`` form, and names and subjects
  go through :mod:`email.headerregistry` after control characters are refused or replaced,
  so no header can be injected;
* the Message-ID is derived from run, funder, recipients and report hashes, so composing the
  same run twice gives the same ID (that is what the send ledger keys on).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import json
import os
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from impactbook.errors import DataError, MailError, ParameterError, Problem
from impactbook.fsutil import safe_join, sha256_bytes, sha256_file, slugify
from impactbook.workbook.cells import has_control_chars  # the names rule of the workbook

MAX_MESSAGE_BYTES = 10 * 1000 * 1000
DEFAULT_FROM = "impactbook@localhost"
FROM_ENV = "IMPACTBOOK_MAIL_FROM"
MESSAGE_ID_DOMAIN = "impactbook.invalid"
FUNDER_COLUMNS = ("funder", "email", "cities", "interventions")
# SMTP policy: CRLF line ends, 78-column folding; used for every serialisation so the bytes
# measured against the size limit are the bytes written and sent.
SMTP_POLICY = email_policy.SMTP
_SUBJECT_MAX_NAMES = 6
_PDF_TAIL_BYTES = 2048

# Deliberately stricter than RFC 5322: plain ASCII dot-atom local part and an LDH domain.
# Anything exotic (quoted local parts, comments, IP literals) is refused rather than parsed.
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


# --------------------------------------------------------------------------- validation


def address_problem(address: str) -> str | None:
    """Why ``address`` is not an acceptable mailbox, or ``None`` when it is."""
    if not address:
        return "empty address"
    if len(address) > 254:
        return "address longer than 254 characters"
    if address.count("@") != 1:
        return "expected exactly one '@' as in name@example.org"
    local, domain = address.split("@")
    if len(local) > 64 or not _LOCAL_RE.match(local):
        return "invalid part before '@' (letters, digits and .!#$%&'*+/=?^_`{|}~- only)"
    labels = domain.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        return "invalid domain after '@'"
    return None


def validate_address(address: str, *, what: str = "address") -> str:
    """Return ``address`` stripped if it is a plain ``local@domain`` mailbox, else raise."""
    text = str(address).strip()
    reason = address_problem(text)
    if reason:
        raise ParameterError(what, address, f"an email address ({reason})")
    return text


def one_line(text: object) -> str:
    """``text`` with control characters replaced by spaces and whitespace collapsed."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in str(text)
    )
    return " ".join(cleaned.split())


def _norm(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in str(value or "").split(";") if item.strip())


# --------------------------------------------------------------------------- funders


@dataclass(frozen=True)
class Funder:
    """One row of ``funders.csv``: a name, one or more addresses and what they fund."""

    name: str
    emails: tuple[str, ...]
    cities: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked here as well as in the reader so a Funder built in code cannot smuggle a
        # header line through its display name or an address.
        if not self.name.strip() or has_control_chars(self.name):
            raise MailError("funder name must be one non-empty line without control characters",
                            funder=one_line(self.name))
        if not self.emails:
            raise MailError("no email address", funder=self.name)
        for address in self.emails:
            reason = address_problem(address)
            if reason:
                raise MailError(f"bad email address {address!r}: {reason}", funder=self.name)

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def _lists(self, items: tuple[str, ...], report: ReportEntry) -> bool:
        wanted = {_norm(i) for i in items}
        if "*" in wanted:
            return True
        return _norm(report.name) in wanted or report.slug in {_slug_or_empty(i) for i in items}

    def wants(self, report: ReportEntry) -> bool:
        """Does this funder receive ``report``? (``*`` means all.)"""
        if report.kind == "city":
            # Both lists select, and an empty list does not restrict: ("New York", "") is
            # New York's report; ("", "Cure Violence") every city running Cure Violence;
            # ("*", "Cure Violence") the same; a funder of one programme type does not receive
            # reports on cities that run only other types.
            wanted = {_norm(i) for i in self.interventions}
            if not self.cities and not wanted:
                return False
            city_ok = not self.cities or self._lists(self.cities, report)
            type_ok = (not wanted or "*" in wanted or not report.interventions
                       or any(_norm(i) in wanted for i in report.interventions))
            return city_ok and type_ok
        if report.kind == "intervention":
            return self._lists(self.interventions, report)
        return False


def _slug_or_empty(name: str) -> str:
    try:
        return slugify(name)
    except ParameterError:
        return ""


def read_funders(path: Path) -> list[Funder]:
    """Read and validate ``funders.csv``; every problem is reported with its row and column."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(Problem(shown, "file not found (expected columns "
                                       + ", ".join(FUNDER_COLUMNS) + ")")) from None
    except UnicodeDecodeError as exc:
        raise DataError(Problem(shown, f"not UTF-8 text ({exc.reason} at byte {exc.start})")) \
            from None
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in FUNDER_COLUMNS if c not in header]
    if missing:
        raise DataError(Problem(shown, f"missing required column(s) {', '.join(missing)}; "
                                       f"found {', '.join(header) or 'no header'}", row=1))
    reader.fieldnames = header
    problems: list[Problem] = []
    funders: list[Funder] = []
    seen: dict[str, int] = {}
    seen_slugs: dict[str, int] = {}
    next_row = 2
    for record in reader:
        # The line a record starts on (a quoted field may span lines; line_num is its end).
        row, next_row = next_row, reader.line_num + 1
        if None in record:
            problems.append(Problem(shown, "more fields than header columns", row=row))
            continue
        values = {c: (record.get(c) or "") for c in FUNDER_COLUMNS}
        if not any(v.strip() for v in values.values()):
            continue
        name = values["funder"].strip()
        row_problems: list[Problem] = []
        if not name:
            row_problems.append(Problem(shown, "empty funder name", row=row, column="funder"))
        elif has_control_chars(name):
            row_problems.append(Problem(shown, f"funder name {name!r} contains a line break or "
                                               "control character", row=row, column="funder"))
        elif not _slug_or_empty(name):
            row_problems.append(Problem(shown, f"funder name {name!r} needs a letter or digit",
                                        row=row, column="funder"))
        emails = _split_list(values["email"])
        if not emails:
            row_problems.append(Problem(shown, "no email address", row=row, column="email"))
        for address in emails:
            reason = address_problem(address)
            if reason:
                row_problems.append(Problem(shown, f"bad email address {address!r}: {reason}",
                                            row=row, column="email"))
        for column in ("cities", "interventions"):
            if has_control_chars(values[column].replace("\n", " ")):
                row_problems.append(Problem(shown, "control character in list", row=row,
                                            column=column))
        if not row_problems and name:
            key, slug = _norm(name), slugify(name)
            if key in seen:
                row_problems.append(Problem(shown, f"funder {name!r} already listed on row "
                                                   f"{seen[key]}", row=row, column="funder"))
            elif slug in seen_slugs:
                row_problems.append(Problem(shown, f"funder {name!r} gives the same outbox file "
                                                   f"name as row {seen_slugs[slug]}", row=row,
                                            column="funder"))
            seen.setdefault(key, row)
            seen_slugs.setdefault(slug, row)
        if row_problems:
            problems.extend(row_problems)
            continue
        funders.append(Funder(name=name, emails=emails, cities=_split_list(values["cities"]),
                              interventions=_split_list(values["interventions"])))
    if problems:
        raise DataError(problems)
    return funders


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class ReportEntry:
    """The part of one manifest entry that mail needs."""

    id: str
    kind: str
    name: str
    slug: str
    status: str
    input_hash: str = ""
    interventions: tuple[str, ...] = ()
    key_findings: tuple[str, ...] = ()
    pdf: str | None = None
    pdf_sha256: str = ""  # as the run recorded it; planning fills in the file's own

    @property
    def token(self) -> str:
        """Short stable key of this report version for the ledger: ``<report>.<version>``.

        The version covers the input data, the findings and the PDF's bytes, so a re-rendered
        report whose content changed is a new version (a funder gets it again, as a
        replacement), while an unchanged one keeps its token and is never sent twice.
        """
        version = json.dumps([self.id, self.input_hash, self.pdf_sha256,
                              list(self.key_findings)])
        return f"{report_key(self.id)}.{hashlib.sha256(version.encode()).hexdigest()[:16]}"

    @property
    def label(self) -> str:
        what = {"city": "city report", "intervention": "intervention summary"}.get(
            self.kind, f"{self.kind} report")
        return f"{self.name} ({what})"


def report_key(report_id: str) -> str:
    """The first part of every version token of one report (see :attr:`ReportEntry.token`)."""
    return hashlib.sha256(report_id.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class RunManifest:
    run: str
    run_dir: Path
    reports: tuple[ReportEntry, ...]


def load_manifest(run_dir: Path) -> RunManifest:
    """Read ``RUN_DIR/manifest.json`` into :class:`RunManifest`, refusing malformed entries."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    shown = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(Problem(shown, "no manifest.json in the run folder (run batch first)")) \
            from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(Problem(shown, f"not valid JSON: {exc}")) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("reports"), list):
        raise DataError(Problem(shown, "expected an object with a 'reports' list"))
    run = one_line(raw.get("run") or run_dir.name)
    problems: list[Problem] = []
    reports: list[ReportEntry] = []
    for index, item in enumerate(raw["reports"]):
        where = f"reports[{index}]"
        if not isinstance(item, dict):
            problems.append(Problem(shown, f"{where}: expected an object"))
            continue
        missing = [k for k in ("id", "kind", "name", "status") if not item.get(k)]
        if missing:
            problems.append(Problem(shown, f"{where}: missing {', '.join(missing)}"))
            continue
        files = item.get("files") or {}
        hashes = item.get("sha256") or {}
        findings = item.get("key_findings") or []
        interventions = item.get("interventions") or []
        if not isinstance(files, dict) or not isinstance(findings, list) \
                or not isinstance(interventions, list) or not isinstance(hashes, dict):
            problems.append(Problem(shown, f"{where}: files must be an object, key_findings and "
                                           "interventions lists"))
            continue
        name = one_line(item["name"])
        reports.append(ReportEntry(
            id=one_line(item["id"]), kind=one_line(item["kind"]), name=name,
            slug=_slug_or_empty(item.get("slug") or name) or "report",
            status=one_line(item["status"]), input_hash=one_line(item.get("input_hash") or ""),
            interventions=tuple(one_line(i) for i in interventions),
            key_findings=tuple(one_line(f) for f in findings if one_line(f)),
            pdf=str(files["pdf"]) if files.get("pdf") else None,
            pdf_sha256=one_line(hashes.get("pdf") or ""),
        ))
    if problems:
        raise DataError(problems)
    return RunManifest(run=run, run_dir=run_dir, reports=tuple(reports))


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedReport:
    """A report matched to a funder: attached (``pdf_path``) or missing (``missing_reason``)."""

    report: ReportEntry
    pdf_path: Path | None = None
    missing_reason: str | None = None

    @property
    def is_attached(self) -> bool:
        return self.pdf_path is not None


@dataclass(frozen=True)
class PlannedMessage:
    """Everything needed to compose one funder's message for one run."""

    run: str
    funder: Funder
    sender: str
    reports: tuple[PlannedReport, ...]
    message_id: str = field(default="")
    # Earlier messages to this funder that carried another version of an attached report:
    # (Message-ID, labels of the reports this message corrects).
    replaces: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def attached(self) -> tuple[PlannedReport, ...]:
        return tuple(r for r in self.reports if r.is_attached)

    @property
    def missing(self) -> tuple[PlannedReport, ...]:
        return tuple(r for r in self.reports if not r.is_attached)

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.funder.emails


def pdf_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete PDF file, or ``None`` when it looks whole."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(5)
            fh.seek(max(0, size - _PDF_TAIL_BYTES))
            tail = fh.read()
    except FileNotFoundError:
        return "its PDF file is missing"
    except OSError as exc:
        return f"its PDF file cannot be read ({exc.strerror})"
    if head != b"%PDF-":
        return "its PDF file is not a PDF"
    if b"%%EOF" not in tail:
        return "its PDF file is incomplete (no end-of-file marker)"
    return None


def _plan_report(run_dir: Path, report: ReportEntry) -> PlannedReport:
    if report.status != "ok":
        return PlannedReport(report, missing_reason=f"it {report.status} in this run"
                             if report.status == "failed" else f"its status is {report.status!r}")
    if not report.pdf:
        return PlannedReport(report, missing_reason="no PDF was produced")
    try:
        path = safe_join(run_dir, report.pdf)
    except ParameterError:
        return PlannedReport(report, missing_reason="its PDF path points outside the run folder")
    reason = pdf_problem(path)
    if reason:
        return PlannedReport(report, missing_reason=reason)
    actual = sha256_file(path)
    if report.pdf_sha256 and actual != report.pdf_sha256:
        return PlannedReport(report, missing_reason="its PDF is not the file the run recorded "
                                                    "(changed since; rerun the batch)")
    return PlannedReport(dataclasses.replace(report, pdf_sha256=actual), pdf_path=path)


def message_id_for(run: str, funder: Funder, reports: Sequence[PlannedReport]) -> str:
    """Deterministic ``<hex@impactbook.invalid>`` from run, funder, recipients and reports."""
    key = {
        "run": run,
        "funder": _norm(funder.name),
        "recipients": sorted(e.lower() for e in funder.emails),
        "reports": sorted([p.report.id, p.report.token, p.is_attached] for p in reports),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()
    return f"<{digest[:32]}@{MESSAGE_ID_DOMAIN}>"


def sender_address(sender: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The From address: the argument, else ``$IMPACTBOOK_MAIL_FROM``, else the default."""
    env = os.environ if env is None else env
    value = sender or env.get(FROM_ENV) or DEFAULT_FROM
    return validate_address(value, what=f"sender address (option or ${FROM_ENV})")


def plan_messages(run_dir: Path, funders: Sequence[Funder], *, sender: str | None = None,
                  manifest: RunManifest | None = None,
                  known_ids: Collection[str] = (),
                  delivered: Mapping[str, Collection[str]] | None = None,
                  history: Mapping[str, Sequence[tuple[str, Collection[str]]]] | None = None
                  ) -> list[PlannedMessage]:
    """One :class:`PlannedMessage` per funder with at least one attachable report.

    Funders whose matched reports are all missing, or who match nothing, get no message;
    :func:`unplanned_funders` says who they are and why.

    ``known_ids`` (Message-IDs already in the ledger) and ``delivered`` (funder name ->
    :attr:`ReportEntry.token` of reports already sent to them in this run) keep a funder from
    getting a report twice when the manifest changed between sends, e.g. a failed report was
    re-rendered: a message whose ID the ledger knows is kept as it is (the ledger decides),
    otherwise reports already delivered are left out and only the rest go as a follow-up.

    ``history`` (funder name -> ``(Message-ID, report tokens)`` of messages already
    delivered) names, for a report whose content changed since it was sent, the earlier
    message this one replaces.
    """
    run_dir = Path(run_dir)
    manifest = manifest or load_manifest(run_dir)
    from_address = sender_address(sender)
    planned = []
    for funder in funders:
        message = _plan_one(manifest, funder, from_address, known_ids, delivered or {})
        if message is not None:
            planned.append(_with_replaces(message, (history or {})))
    return planned


def _with_replaces(message: PlannedMessage,
                   history: Mapping[str, Sequence[tuple[str, Collection[str]]]]
                   ) -> PlannedMessage:
    """``message`` naming the earlier messages that carried older versions of its reports."""
    latest: dict[str, str] = {}  # report key -> the last message that carried a version
    for name, sent in history.items():
        if _norm(name) != _norm(message.funder.name):
            continue
        for message_id, tokens in sent:  # oldest first
            for token in tokens:
                latest[token.split(".", 1)[0]] = message_id
    sent_tokens = {t for name, sent in history.items()
                   if _norm(name) == _norm(message.funder.name) for _, tokens in sent
                   for t in tokens}
    corrected: dict[str, list[str]] = {}
    for item in message.attached:
        earlier = latest.get(report_key(item.report.id))
        if earlier and earlier != message.message_id and item.report.token not in sent_tokens:
            corrected.setdefault(earlier, []).append(item.report.label)
    replaces = [(message_id, tuple(labels)) for message_id, labels in corrected.items()]
    return dataclasses.replace(message, replaces=tuple(replaces))


def _plan_one(manifest: RunManifest, funder: Funder, sender: str, known_ids: Collection[str],
              delivered: Mapping[str, Collection[str]]) -> PlannedMessage | None:
    reports = tuple(_plan_report(manifest.run_dir, r) for r in manifest.reports
                    if funder.wants(r))
    message_id = message_id_for(manifest.run, funder, reports)
    if message_id not in known_ids:
        done = {t for name, tokens in delivered.items() if _norm(name) == _norm(funder.name)
                for t in tokens}
        reports = tuple(r for r in reports if r.report.token not in done)
        message_id = message_id_for(manifest.run, funder, reports)
    if not any(r.is_attached for r in reports):
        return None
    return PlannedMessage(run=manifest.run, funder=funder, sender=sender, reports=reports,
                          message_id=message_id)


def unplanned_funders(manifest: RunManifest, funders: Sequence[Funder], *,
                      known_ids: Collection[str] = (),
                      delivered: Mapping[str, Collection[str]] | None = None
                      ) -> list[tuple[str, str]]:
    """``(funder, reason)`` for each funder that :func:`plan_messages` gives no message."""
    result = []
    for funder in funders:
        matched = [r for r in manifest.reports if funder.wants(r)]
        ready = [r for r in matched if _plan_report(manifest.run_dir, r).is_attached]
        if ready and _plan_one(manifest, funder, DEFAULT_FROM, known_ids,
                               delivered or {}) is None:
            result.append((funder.name, "every ready report was already sent to them in this "
                                        "run (ledger)"))
        elif not matched:
            result.append((funder.name, "no report in this run matches their cities or "
                                        "interventions"))
        elif not ready:
            names = ", ".join(r.name for r in matched)
            result.append((funder.name, f"none of their reports is ready ({names})"))
    return result


# --------------------------------------------------------------------------- composing


def subject_for(planned: PlannedMessage) -> str:
    names = [r.report.name for r in planned.attached]
    shown = ", ".join(names[:_SUBJECT_MAX_NAMES])
    if len(names) > _SUBJECT_MAX_NAMES:
        shown += f" and {len(names) - _SUBJECT_MAX_NAMES} more"
    return one_line(f"impactbook reports {planned.run}: {shown}")


def _text_body(planned: PlannedMessage) -> str:
    lines = [f"Dear {planned.funder.name},", "",
             f"Attached are the impactbook reports for run {planned.run}.", ""]
    for message_id, labels in planned.replaces:
        lines += [f"This message replaces the earlier message {message_id}: "
                  f"{', '.join(labels)} changed since it was sent; please use these versions.",
                  ""]
    for item in planned.attached:
        lines.append(f"{item.report.label} - attached as {item.report.slug}.pdf")
        lines.extend(f"  - {finding}" for finding in item.report.key_findings)
        if not item.report.key_findings:
            lines.append("  (no key findings recorded)")
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
             f"<p>Dear {e(planned.funder.name)},</p>",
             f"<p>Attached are the impactbook reports for run {e(planned.run)}.</p>"]
    parts.extend(f"<p><strong>This message replaces the earlier message {e(message_id)}:</strong>"
                 f" {e(', '.join(labels))} changed since it was sent; please use these "
                 "versions.</p>" for message_id, labels in planned.replaces)
    for item in planned.attached:
        parts.append(f"<h2>{e(item.report.label)}</h2>")
        parts.append(f"<p>Attached as <code>{e(item.report.slug)}.pdf</code>.</p>")
        if item.report.key_findings:
            parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in item.report.key_findings)
                         + "</ul>")
        else:
            parts.append("<p>(no key findings recorded)</p>")
    if planned.missing:
        parts.append("<h2>Missing from this message (not attached)</h2><ul>")
        parts.extend(f"<li>{e(item.report.label)}: {e(item.missing_reason or '')}</li>"
                     for item in planned.missing)
        parts.append("</ul>")
    parts.append("<p>This message was generated by impactbook.</p></body></html>")
    return "\n".join(parts) + "\n"


def compose_message(planned: PlannedMessage, *, max_bytes: int = MAX_MESSAGE_BYTES,
                    date: datetime | None = None) -> EmailMessage:
    """Build the MIME message for ``planned``; raise :class:`MailError` if it is too big.

    ``multipart/mixed`` of a ``multipart/alternative`` (plain text + escaped HTML) and one
    ``application/pdf`` per attached report.
    """
    funder = planned.funder
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = Address(display_name="impactbook", addr_spec=validate_address(planned.sender))
    msg["To"] = tuple(Address(display_name=funder.name, addr_spec=a) for a in funder.emails)
    msg["Subject"] = subject_for(planned)
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
    size = len(msg.as_bytes(policy=SMTP_POLICY))
    if size > max_bytes:
        raise MailError(f"message is {size:,} bytes after encoding, over the limit of "
                        f"{max_bytes:,} bytes ({len(planned.attached)} PDFs attached)",
                        funder=funder.name)
    return msg


def funder_of(msg: EmailMessage) -> str:
    """The funder name a composed message is addressed to (the To display name)."""
    addresses = msg["To"].addresses if msg["To"] is not None else ()
    return addresses[0].display_name if addresses else ""


def report_tokens_of(msg: EmailMessage) -> tuple[str, ...]:
    """The report tokens a composed message carries (its ``X-Impactbook-Reports``)."""
    return tuple(str(msg["X-Impactbook-Reports"] or "").split())


def recipients_of(msg: EmailMessage) -> tuple[str, ...]:
    return tuple(a.addr_spec for a in msg["To"].addresses) if msg["To"] is not None else ()
