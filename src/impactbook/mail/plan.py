"""Who gets which report: one :class:`PlannedMessage` per funder with something to send.

Only reports with status ``ok`` whose PDF exists inside the run folder and looks complete
(``%PDF-`` header, ``%%EOF`` trailer) are attached; every other matched report is named in
the body as missing. The Message-ID is derived from run, funder, recipients and report
hashes, so planning the same run twice gives the same ID (that is what the send ledger keys on).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from impactbook.errors import ParameterError
from impactbook.fsutil import safe_join, sha256_file
from impactbook.mail.funders import Funder
from impactbook.mail.manifest import ReportEntry, RunManifest, load_manifest, report_key
from impactbook.mail.text import norm_name, validate_address

DEFAULT_FROM = "impactbook@localhost"
FROM_ENV = "IMPACTBOOK_MAIL_FROM"
MESSAGE_ID_DOMAIN = "impactbook.invalid"
_PDF_TAIL_BYTES = 2048


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
        return PlannedReport(report, missing_reason="it could not be completed this time"
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
        "funder": norm_name(funder.name),
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
    delivered, oldest first) names, for a report whose content changed since it was sent,
    the earlier message this one replaces.
    """
    run_dir = Path(run_dir)
    manifest = manifest or load_manifest(run_dir)
    from_address = sender_address(sender)
    planned = []
    for funder in funders:
        message = _plan_one(manifest, funder, from_address, known_ids, delivered or {})
        if message is not None:
            planned.append(_with_replaces(message, history or {}))
    return planned


def _with_replaces(message: PlannedMessage,
                   history: Mapping[str, Sequence[tuple[str, Collection[str]]]]
                   ) -> PlannedMessage:
    """``message`` naming the earlier messages that carried older versions of its reports."""
    sent = [(message_id, tokens) for name, messages in history.items()
            if norm_name(name) == norm_name(message.funder.name)
            for message_id, tokens in messages]
    latest = {token.split(".", 1)[0]: message_id for message_id, tokens in sent
              for token in tokens}  # report key -> the last message that carried a version
    sent_tokens = {token for _, tokens in sent for token in tokens}
    corrected: dict[str, list[str]] = {}
    for item in message.attached:
        earlier = latest.get(report_key(item.report.id))
        if earlier and earlier != message.message_id and item.report.token not in sent_tokens:
            corrected.setdefault(earlier, []).append(item.report.label)
    replaces = tuple((message_id, tuple(labels)) for message_id, labels in corrected.items())
    return dataclasses.replace(message, replaces=replaces)


def _plan_one(manifest: RunManifest, funder: Funder, sender: str, known_ids: Collection[str],
              delivered: Mapping[str, Collection[str]]) -> PlannedMessage | None:
    reports = tuple(_plan_report(manifest.run_dir, r) for r in manifest.reports
                    if funder.wants(r))
    message_id = message_id_for(manifest.run, funder, reports)
    if message_id not in known_ids:
        done = {t for name, tokens in delivered.items() if norm_name(name) == norm_name(funder.name)
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
