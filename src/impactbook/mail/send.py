"""Deliver composed messages over SMTP, each at most once, recorded in the run's ledger.

One SMTP connection per transaction keeps the failure of one message from touching another.
A message goes to at most ``max_recipients`` addresses per transaction (100 by default, the
number RFC 5321 4.5.3.1.8 obliges every server to accept); a server that takes fewer answers
``452`` past its limit (RFC 5321 4.5.3.1.10), and the addresses it accepted get the message
while the rest go in further transactions of that size. Each transaction is claimed and
recorded in the ledger address by address, so each address gets the message once.
The transaction is driven step by step (MAIL, every RCPT, DATA) instead of ``sendmail`` so
the outcome is classified exactly:

* failure before the server's ``354`` to DATA (connect, TLS, MAIL, RCPT): nothing can have
  been accepted, so the attempt is retried with exponential backoff (4xx replies too);
* a refused recipient (any RCPT answer other than 250/251, or a 452 before any address was
  accepted): the transaction is reset, so nobody in it gets a partial copy, and the message
  fails naming the refused addresses (the first few, and how many);
* connection lost after ``354``: the server may have accepted the data, so the message is
  ``unknown`` and goes again only with ``resend=True``;
* a 5xx answer anywhere, failed authentication or certificate: permanent failure.

Credentials come only from ``IMPACTBOOK_SMTP_USER`` / ``IMPACTBOOK_SMTP_PASSWORD`` and are only
sent after STARTTLS. The password is redacted from every error line before it is logged,
stored in the ledger or raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from impactbook.errors import MailError, ParameterError
from impactbook.locks import run_lock
from impactbook.mail.compose import SMTP_POLICY, funder_of, recipients_of, report_tokens_of
from impactbook.mail.ledger import MailLedger
from impactbook.mail.text import shorten_line, shown_addresses

log = logging.getLogger(__name__)

#: Recipients per SMTP transaction unless the server's 452 says fewer: RFC 5321 4.5.3.1.8
#: obliges a server to accept at least 100.
DEFAULT_MAX_RECIPIENTS = 100
_ERROR_CHARS = 250  # an error names a few addresses and counts the rest

USER_ENV = "IMPACTBOOK_SMTP_USER"
PASSWORD_ENV = "IMPACTBOOK_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a secret


@dataclass(frozen=True)
class SmtpCredentials:
    user: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"SmtpCredentials(user={self.user!r}, password='***')"

    def redact(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


def credentials_from_env(env: Mapping[str, str] | None = None) -> SmtpCredentials | None:
    """User and password from the environment; both or neither must be set."""
    env = os.environ if env is None else env
    user, password = env.get(USER_ENV, ""), env.get(PASSWORD_ENV, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = USER_ENV if not user else PASSWORD_ENV
        raise MailError(f"{missing} is not set; set both {USER_ENV} and {PASSWORD_ENV} or "
                        "neither")
    return SmtpCredentials(user, password)


@dataclass(frozen=True)
class SendResult:
    """What happened to one message in this send.

    ``outcome``: ``sent``; ``already-sent`` (ledger says sent, nothing done); ``unknown``
    (connection lost after the data, not confirmed); ``needs-resend`` (unknown from an earlier
    run, skipped without ``resend``); ``failed``.
    """

    message_id: str
    funder: str
    recipients: tuple[str, ...]
    outcome: str
    attempts: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("sent", "already-sent")

    def line(self) -> str:
        to = shown_addresses(self.recipients, first=2)
        text = {
            "sent": f"sent to {self.funder} <{to}>",
            "already-sent": f"already sent to {self.funder} <{to}> (ledger); not sent again",
            "unknown": f"delivery to {self.funder} <{to}> UNKNOWN: {self.error}; check with the "
                       "recipient, then rerun with --resend if it did not arrive",
            "needs-resend": f"partly sent to {self.funder} <{to}>: {self.error}; rerun with "
                            "--resend to send to them again" if self.attempts and self.error
                            else f"not sent to {self.funder} <{to}>: an earlier delivery is "
                            "unconfirmed; rerun with --resend to send again",
            "failed": f"FAILED for {self.funder} <{to}>: {self.error}",
        }[self.outcome]
        return f"{text} [{self.message_id}]"


@dataclass(frozen=True)
class SendReport:
    results: tuple[SendResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.results)

    def lines(self) -> list[str]:
        return [r.line() for r in self.results]


class _Retry(Exception):
    """Not delivered, and safe to try again."""


class _Permanent(Exception):
    """Not delivered; trying again will not help."""


class _Unknown(Exception):
    """The data went out and the answer was lost: the server may have accepted it."""


class _TrackingSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that notes when the server has invited the message data (354)."""

    data_started = False

    def getreply(self):  # noqa: ANN201 - same signature as the base class
        code, message = super().getreply()
        if code == 354:
            self.data_started = True
        return code, message


def _reply_text(code: int, message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {' '.join(str(message).split())}"


def _raise_for_reply(step: str, code: int, message: bytes | str) -> None:
    text = f"server refused {step}: {_reply_text(code, message)}"
    raise (_Retry if 400 <= code < 500 else _Permanent)(text)


def _refused_detail(refused: dict[str, tuple[int, bytes | str]]) -> str:
    """``recipient refused (97 address(es)): a, b and 95 more (first answer: 550 ...)``."""
    code, message = next(iter(refused.values()))
    return (f"recipient refused ({len(refused)} address(es)): "
            f"{shown_addresses(list(refused), first=2)} "
            f"(first answer: {_reply_text(code, message)[:100]})")


def _deliver_once(sender: str, recipients: Sequence[str], payload: bytes, *, host: str,
                  port: int, starttls: bool, credentials: SmtpCredentials | None,
                  ssl_context: ssl.SSLContext | None, timeout_s: float) -> list[str]:
    """One transaction to ``recipients``; returns the addresses the server took the message
    for on a 250 to the data (the first ones, when it answered 452 to the others: its limit),
    otherwise raises _Retry/_Permanent/_Unknown."""
    try:
        smtp = _TrackingSMTP(host, port, timeout=timeout_s)
    except OSError as exc:
        raise _Retry(f"cannot connect to {host}:{port}: {exc}") from None
    delivered = False
    try:
        try:
            smtp.ehlo()
            if starttls:
                if not smtp.has_extn("starttls"):
                    raise _Permanent(f"{host}:{port} does not offer STARTTLS")
                smtp.starttls(context=ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if credentials is not None:
                if not starttls:
                    raise _Permanent("SMTP credentials are set but STARTTLS is off; refusing "
                                     "to send the password unencrypted (use --starttls)")
                smtp.login(credentials.user, credentials.password)
            options = [f"SIZE={len(payload)}"] if smtp.has_extn("size") else []
            code, reply = smtp.mail(sender, options)
            if code != 250:
                _raise_for_reply("the sender", code, reply)
            accepted: list[str] = []
            refused: dict[str, tuple[int, bytes | str]] = {}
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code in (250, 251):
                    accepted.append(rcpt)
                elif code == 452 and accepted and not refused:
                    break  # the server's recipient limit: the rest go in the next transaction
                else:
                    refused[rcpt] = (code, reply)
            if refused:
                # Reset rather than deliver to the accepted ones, so a funder whose address
                # is wrong hears of it before anyone in this transaction gets a copy.
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.rset()
                transient = all(400 <= c < 500 for c, _ in refused.values())
                raise (_Retry if transient else _Permanent)(_refused_detail(refused))
            code, reply = smtp.data(payload)
            if code != 250:
                _raise_for_reply("the message", code, reply)
            delivered = True
        except smtplib.SMTPAuthenticationError as exc:
            raise _Permanent(f"authentication failed: {_reply_text(exc.smtp_code, exc.smtp_error)}"
                             ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise _Permanent(f"server does not support this: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            if smtp.data_started and not isinstance(exc, smtplib.SMTPDataError):
                raise _Unknown(f"error after the data was sent: {exc}") from None
            _raise_for_reply("the message" if smtp.data_started else "a command",
                             exc.smtp_code, exc.smtp_error)
        except ssl.SSLCertVerificationError as exc:
            raise _Permanent(f"TLS certificate of {host} not trusted: {exc.verify_message}") \
                from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            if smtp.data_started:
                raise _Unknown(f"connection lost after the data was sent ({reason}); the server "
                               "may have accepted it") from None
            raise _Retry(f"connection failed before the data was sent ({reason})") from None
    finally:
        if delivered:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
        smtp.close()
    return accepted


def send_messages(run_dir: Path, messages: Sequence[EmailMessage], *, host: str = "localhost",
                  port: int = 25, starttls: bool = False, resend: bool = False,
                  retries: int = 3, backoff_s: float = 2.0, timeout_s: float = 60.0,
                  ssl_context: ssl.SSLContext | None = None,
                  env: Mapping[str, str] | None = None,
                  sleep: Callable[[float], None] = time.sleep,
                  max_recipients: int = DEFAULT_MAX_RECIPIENTS) -> SendReport:
    """Send each message not yet ``sent`` according to ``RUN_DIR/mail-ledger.sqlite``.

    ``retries`` is the number of further attempts after the first for failures before the
    data was sent; the wait before retry *n* is ``backoff_s * 2**(n-1)``. ``env`` replaces
    ``os.environ`` for the credentials (tests). ``ssl_context`` verifies the server for
    STARTTLS (default: the system's trusted CAs). ``max_recipients`` caps the addresses of
    one transaction; a lower limit the server states (452) holds for the rest of the send.
    """
    if max_recipients < 1:
        raise ParameterError("max_recipients", max_recipients, "a whole number of at least 1")
    credentials = credentials_from_env(env)
    redact = credentials.redact if credentials else (lambda text: text)
    run_dir = Path(run_dir)
    results: list[SendResult] = []
    limit = [max_recipients]  # shared by the messages of this send: one server
    # The run folder's lock: two ``--send`` processes on one run cannot both send a message,
    # and no batch rewrites the reports while they are being sent.
    with run_lock(run_dir, "email --send", create=False), MailLedger.for_run(run_dir) as ledger:
        for message_id in ledger.recover_interrupted():
            log.warning("message %s was interrupted while sending; marked unknown", message_id)
        for msg in messages:
            results.append(_send_one(ledger, msg, host=host, port=port, starttls=starttls,
                                     resend=resend, retries=retries, backoff_s=backoff_s,
                                     timeout_s=timeout_s, ssl_context=ssl_context,
                                     credentials=credentials, redact=redact, sleep=sleep,
                                     limit=limit))
    return SendReport(tuple(results))


def _send_one(ledger: MailLedger, msg: EmailMessage, *, host: str, port: int, starttls: bool,
              resend: bool, retries: int, backoff_s: float, timeout_s: float,
              ssl_context: ssl.SSLContext | None, credentials: SmtpCredentials | None,
              redact: Callable[[str], str], sleep: Callable[[float], None],
              limit: list[int]) -> SendResult:
    message_id = str(msg["Message-ID"] or "")
    funder, recipients = funder_of(msg), recipients_of(msg)
    if not message_id or not recipients:
        return SendResult(message_id, funder, recipients, "failed",
                          error="message has no Message-ID or no recipients")

    def result(outcome: str, attempts: int = 0, error: str | None = None) -> SendResult:
        return SendResult(message_id, funder, recipients, outcome, attempts,
                          error if error is None else shorten_line(error, _ERROR_CHARS))

    entry = ledger.get(message_id)
    if entry is not None and entry.state == "sent":
        log.info("%s already sent to %s; skipped", message_id, funder)
        return result("already-sent")
    from_states = ("failed", "unknown") if resend else ("failed",)
    states = ledger.recipient_states(message_id, recipients)
    # An address listed twice is one mailbox: it gets one copy.
    todo = list(dict.fromkeys(a for a in recipients
                              if states[a] is None or states[a] in from_states))
    held = list(dict.fromkeys(a for a in recipients if states[a] in ("unknown", "sending")
                              and a not in set(todo)))
    if not todo:
        log.warning("%s to %s: delivery unconfirmed; needs --resend", message_id, funder)
        return result("needs-resend", error=entry.error if entry else None)
    sender = msg["From"].addresses[0].addr_spec
    payload = msg.as_bytes(policy=SMTP_POLICY)
    reports = report_tokens_of(msg)
    attempts = failures = 0
    while todo:
        batch = todo[:limit[0]]
        if not ledger.claim(message_id, funder, recipients, from_states=from_states,
                            reports=reports, batch=batch):
            state = ledger.get(message_id)
            return result("already-sent" if state and state.state == "sent" else "needs-resend")
        attempts += 1
        try:
            accepted = _deliver_once(sender, batch, payload, host=host, port=port,
                                     starttls=starttls, credentials=credentials,
                                     ssl_context=ssl_context, timeout_s=timeout_s)
        except _Unknown as exc:
            error = redact(str(exc))
            ledger.record(message_id, "unknown", error, batch=batch)
            log.error("%s to %s: %s", message_id, funder, error)
            return result("unknown", attempts, _of(error, batch, recipients, ledger, message_id))
        except _Permanent as exc:
            error = redact(str(exc))
            ledger.record(message_id, "failed", error, batch=batch)
            log.error("%s to %s failed: %s", message_id, funder, error)
            return result("failed", attempts, _of(error, batch, recipients, ledger, message_id))
        except _Retry as exc:
            error = redact(str(exc))
            ledger.record(message_id, "failed", error, batch=batch)
            failures += 1
            if failures > retries:
                log.error("%s to %s failed after %d attempts: %s", message_id, funder,
                          failures, error)
                return result("failed", attempts,
                              _of(f"{error} (after {failures} attempts)", batch, recipients,
                                  ledger, message_id))
            wait_s = backoff_s * 2 ** (failures - 1)
            log.warning("%s to %s: attempt %d failed (%s); retrying in %.1f s", message_id,
                        funder, failures, error, wait_s)
            sleep(wait_s)
            continue
        failures = 0
        deferred = batch[len(accepted):]
        ledger.record(message_id, "sent", batch=accepted, deferred=deferred)
        if deferred:
            limit[0] = len(accepted)
            log.info("%s: the server takes %d recipients per message; sending the rest in "
                     "batches of that size", message_id, len(accepted))
        todo = deferred + todo[len(batch):]
    if held:
        log.warning("%s to %s: sent to the others; %d unconfirmed, needs --resend", message_id,
                    funder, len(held))
        return result("needs-resend", attempts,
                      f"sent now to the others; an earlier delivery to "
                      f"{shown_addresses(held)} is unconfirmed")
    log.info("%s sent to %s", message_id, funder)
    return result("sent", attempts)


def _of(error: str, batch: Sequence[str], recipients: Sequence[str],
        ledger: MailLedger, message_id: str) -> str:
    """``error``, saying which part of a message in several transactions it concerns and how
    many of its addresses have the message."""
    if len(batch) == len(recipients):
        return error
    states = ledger.recipient_states(message_id, recipients).values()
    sent = sum(state == "sent" for state in states)
    return (f"{error} (in a transaction to {len(batch)} of its {len(recipients)} addresses; "
            f"{sent} have it)")
