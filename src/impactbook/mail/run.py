"""Email a run's reports to funders: dry-run outbox by default, SMTP delivery on request.

The pieces live in :mod:`.funders` (who funds what, from the validated workbook),
:mod:`.manifest` (the run's reports), :mod:`.plan` (who gets which report), :mod:`.compose`
(the MIME message), :mod:`.ledger` (SQLite exactly-once ledger) and :mod:`.send` (SMTP).
This module adds the outbox writer and :func:`run_email`, the one call the CLI makes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from impactbook.errors import MailError
from impactbook.fsutil import atomic_write_bytes, safe_join, slugify
from impactbook.locks import run_lock
from impactbook.mail.compose import (
    MAX_MESSAGE_BYTES,
    SMTP_POLICY,
    compose_message,
    funder_of,
)
from impactbook.mail.funders import funders_from_workbook, load_funders
from impactbook.mail.ledger import LEDGER_NAME, LedgerEntry, MailLedger
from impactbook.mail.manifest import load_manifest
from impactbook.mail.plan import (
    FROM_ENV,
    PlannedMessage,
    plan_messages,
    unplanned_funders,
)
from impactbook.mail.send import (
    DEFAULT_MAX_RECIPIENTS,
    SendReport,
    credentials_from_env,
    send_messages,
)
from impactbook.mail.text import shown_addresses
from impactbook.workbook import Workbook

__all__ = ["EmailRunReport", "outbox_dir", "run_email", "write_outbox"]

OUTBOX_NAME = "outbox"


def outbox_dir(run_dir: Path) -> Path:
    """``RUN/outbox``; refused when it is a link out of the run folder."""
    return safe_join(Path(run_dir), OUTBOX_NAME)


def write_outbox(run_dir: Path, messages: Sequence[EmailMessage]) -> list[Path]:
    """Write one ``RUN_DIR/outbox/<funder-slug>.eml`` per message, atomically.

    ``.eml`` files left from an earlier dry run for funders no longer in ``messages`` are
    removed, so the outbox shows exactly what a send would deliver.
    """
    folder = outbox_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for msg in messages:
        funder = funder_of(msg)
        path = safe_join(folder, f"{slugify(funder)}.eml")
        if path in paths:
            raise MailError("two messages map to the same outbox file " + path.name,
                            funder=funder)
        atomic_write_bytes(path, msg.as_bytes(policy=SMTP_POLICY))
        paths.append(path)
    for stale in folder.glob("*.eml"):
        if stale not in paths:
            safe_join(folder, stale.name).unlink()  # a planted link is refused, not followed
    return paths


@dataclass
class EmailRunReport:
    """What ``impactbook email`` did; :meth:`summary_lines` is what the CLI prints."""

    run_dir: Path
    run: str
    sent: bool
    planned: list[PlannedMessage] = field(default_factory=list)
    outbox: list[Path] = field(default_factory=list)
    skipped_funders: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    send_report: SendReport | None = None
    unconfirmed: list[LedgerEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every message was composed and (with ``send``) delivered or already sent."""
        if self.errors or self.unconfirmed:
            return False
        return self.send_report is None or self.send_report.ok

    def summary_lines(self) -> list[str]:
        lines: list[str] = []
        for planned in self.planned:
            attached = ", ".join(f"{r.report.slug}.pdf" for r in planned.attached)
            line = (f"{planned.funder.name} <{shown_addresses(planned.recipients)}>: "
                    f"{len(planned.attached)} report(s) ({attached})")
            if planned.missing:
                line += "; missing: " + ", ".join(
                    f"{r.report.name} ({r.missing_reason})" for r in planned.missing)
            lines.append(line)
        lines.extend(f"{name}: no message ({reason})" for name, reason in self.skipped_funders)
        lines.extend(f"error: {e}" for e in self.errors)
        lines.extend(f"earlier message to {e.funder} <{shown_addresses(e.recipients)}> is "
                     f"unconfirmed "
                     f"({e.error}); its reports are held back until a rerun with --resend "
                     f"[{e.message_id}]" for e in self.unconfirmed)
        if self.send_report is not None:
            lines.extend(self.send_report.lines())
            report = self.send_report
            lines.append(f"sent {report.count('sent')}, already sent {report.count('already-sent')}"
                         f", failed {report.count('failed')}, unconfirmed "
                         f"{report.count('unknown') + report.count('needs-resend')}; ledger "
                         f"{Path(self.run_dir) / LEDGER_NAME}")
        if self.outbox:
            verb = "written" if self.sent else "written (dry run, nothing sent)"
            lines.append(f"{len(self.outbox)} message(s) {verb} to {outbox_dir(self.run_dir)}")
        elif not self.errors:
            lines.append("no messages to write: no funder matches a ready report")
        return lines


def _ledger_state(run_dir: Path, *, resend: bool
                  ) -> tuple[set[str], dict[str, set[str]], dict[str, list]]:
    """Message-IDs the ledger knows and the reports it has delivered per funder.

    Reports in an unconfirmed (``unknown``) message count as delivered unless ``resend``:
    they go again only when the sender asks.
    """
    path = safe_join(Path(run_dir), LEDGER_NAME)
    if not path.exists():  # a dry run must not create the ledger
        return set(), {}, {}
    with MailLedger(path) as ledger:
        return (ledger.message_ids(), ledger.delivered_reports(include_unknown=not resend),
                ledger.delivered_messages())


def _superseded_unconfirmed(run_dir: Path, current_ids: set[str]) -> list[LedgerEntry]:
    """Unconfirmed ledger messages that are not in this send and whose reports were not sent
    since in another message: they would otherwise drop out of view when the manifest changed.
    """
    path = safe_join(Path(run_dir), LEDGER_NAME)
    if not path.exists():
        return []
    with MailLedger(path) as ledger:
        sent = ledger.delivered_reports(include_unknown=False)
        return [e for e in ledger.entries()
                if e.state in ("unknown", "sending") and e.message_id not in current_ids
                and not set(e.reports) <= sent.get(e.funder, set())]


def run_email(run_dir: Path, data_dir: Path, *, send: bool = False, host: str = "localhost",
              port: int = 25, starttls: bool = False, resend: bool = False,
              sender: str | None = None, max_bytes: int = MAX_MESSAGE_BYTES,
              retries: int = 3, backoff_s: float = 2.0, ssl_context=None,
              env: Mapping[str, str] | None = None,
              workbook: Workbook | None = None,
              max_recipients: int = DEFAULT_MAX_RECIPIENTS) -> EmailRunReport:
    """Plan, compose and write the outbox for ``run_dir``; with ``send`` also deliver.

    ``workbook`` is the validated workbook of ``data_dir`` when the caller already loaded it
    (a demo or batch validates once); otherwise ``funders.csv`` is validated here by the
    workbook loader. Raises :class:`DataError` for a bad ``funders.csv`` or manifest. A
    message that cannot be composed (e.g. over ``max_bytes``) is an error line for that
    funder; the others go on. ``max_recipients``: addresses per SMTP transaction (see
    :func:`~impactbook.mail.send.send_messages`).
    """
    run_dir, data_dir = Path(run_dir), Path(data_dir)
    env = os.environ if env is None else env
    if send:
        credentials_from_env(env)  # fail on half-set credentials before anything is written
    with run_lock(run_dir, "email --send" if send else "email", create=False):
        return _run_email_locked(
            run_dir, data_dir, send=send, host=host, port=port, starttls=starttls,
            resend=resend, sender=sender, max_bytes=max_bytes, retries=retries,
            backoff_s=backoff_s, ssl_context=ssl_context, env=env, workbook=workbook,
            max_recipients=max_recipients)


def _run_email_locked(run_dir: Path, data_dir: Path, *, send: bool, host: str, port: int,
                      starttls: bool, resend: bool, sender: str | None, max_bytes: int,
                      retries: int, backoff_s: float, ssl_context, env: Mapping[str, str],
                      workbook: Workbook | None, max_recipients: int) -> EmailRunReport:
    funders = (funders_from_workbook(workbook) if workbook is not None
               else load_funders(data_dir))
    manifest = load_manifest(run_dir)
    known_ids, delivered, history = _ledger_state(run_dir, resend=resend)
    planned = plan_messages(run_dir, funders, manifest=manifest,
                            sender=sender or env.get(FROM_ENV) or None,
                            known_ids=known_ids, delivered=delivered, history=history)
    skipped = unplanned_funders(manifest, funders, known_ids=known_ids, delivered=delivered)
    report = EmailRunReport(run_dir=run_dir, run=manifest.run, sent=send,
                            skipped_funders=skipped)
    messages: list[EmailMessage] = []
    for item in planned:
        try:
            messages.append(compose_message(item, max_bytes=max_bytes))
            report.planned.append(item)
        except MailError as exc:
            report.errors.append(str(exc))
    report.outbox = write_outbox(run_dir, messages)
    if send:
        report.send_report = send_messages(run_dir, messages, host=host, port=port,
                                           starttls=starttls, resend=resend, retries=retries,
                                           backoff_s=backoff_s, ssl_context=ssl_context, env=env,
                                           max_recipients=max_recipients)
    report.unconfirmed = _superseded_unconfirmed(run_dir, {str(m["Message-ID"])
                                                           for m in messages})
    return report

