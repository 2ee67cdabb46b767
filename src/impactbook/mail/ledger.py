"""The send ledger: one SQLite row per Message-ID, so each message leaves at most once.

States and transitions::

    (new) --claim--> sending --> sent      delivered: the server answered 250 to the data
                             --> failed    definitely not delivered (refused, or failed before
                                           the data was sent); may be claimed again
                             --> unknown   the connection was lost after the data went out:
                                           the server may have accepted; claimed again only
                                           with ``resend=True``

A message to many addresses goes in several SMTP transactions (a server takes a limited
number of recipients per message), so each address of a message has its own row in
``recipients`` with the same states: a batch of addresses is claimed (``sending``, committed
before any byte of it goes) and recorded together, and an address already ``sent`` is never
claimed again. The message's own state sums up its addresses: ``sent`` when every one is,
``unknown`` when any may have been delivered unconfirmed, else ``failed`` (not yet delivered
to all; the rest may be claimed again).

A row still ``sending`` when a send starts belongs to an interrupted process; it is turned
into ``unknown`` (the data may have left) before anything else happens, for a message and
for its addresses. Every transition is also appended to ``events`` as an audit trail. The
ledger stores no credentials: only IDs, funder names, recipient addresses, states and error
lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from impactbook.fsutil import safe_join

LEDGER_NAME = "mail-ledger.sqlite"
STATES = ("sending", "sent", "unknown", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    funder     TEXT NOT NULL,
    recipients TEXT NOT NULL,
    reports    TEXT NOT NULL DEFAULT '[]',
    state      TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'unknown', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (
    message_id TEXT NOT NULL,
    address    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'unknown', 'failed')),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (message_id, address)
);
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    at         TEXT NOT NULL,
    detail     TEXT
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LedgerEntry:
    message_id: str
    funder: str
    recipients: tuple[str, ...]
    reports: tuple[str, ...]
    state: str
    attempts: int
    error: str | None
    updated_at: str


class MailLedger:
    """SQLite ledger at ``path``; use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Private on purpose, whatever the umask: the ledger lists every funder's addresses
        # and what was sent to them. Created owner-only before SQLite opens it (SQLite gives
        # its journal files the database file's mode).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE so a claim
        # (read state, then write) cannot interleave with another process's claim.
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    @classmethod
    def for_run(cls, run_dir: Path) -> MailLedger:
        return cls(safe_join(Path(run_dir), LEDGER_NAME))  # never a ledger outside the run

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> MailLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MailLedger({str(self.path)!r})"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get(self, message_id: str) -> LedgerEntry | None:
        row = self._conn.execute(
            "SELECT message_id, funder, recipients, reports, state, attempts, error, updated_at "
            "FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        return _entry(row) if row else None

    def entries(self) -> list[LedgerEntry]:
        rows = self._conn.execute(
            "SELECT message_id, funder, recipients, reports, state, attempts, error, updated_at "
            "FROM messages ORDER BY funder, message_id").fetchall()
        return [_entry(r) for r in rows]

    def events(self, message_id: str) -> list[tuple[str, str | None]]:
        """``(state, detail)`` transitions of one message, oldest first."""
        return [(s, d) for s, d in self._conn.execute(
            "SELECT state, detail FROM events WHERE message_id = ? ORDER BY id", (message_id,))]

    def recover_interrupted(self) -> list[str]:
        """Turn rows left ``sending`` by an interrupted process into ``unknown``."""
        with self._transaction() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT message_id FROM messages WHERE state = 'sending'")]
            conn.execute("UPDATE recipients SET state = 'unknown', updated_at = ? "
                         "WHERE state = 'sending'", (_now(),))
            for message_id in ids:
                self._set(conn, message_id, "unknown",
                          "interrupted while sending; delivery not confirmed")
        return ids

    def recipient_states(self, message_id: str, addresses: Sequence[str]
                         ) -> dict[str, str | None]:
        """Each address's state in ``message_id`` (``None``: not yet tried)."""
        return self._recipient_states(self._conn, message_id, addresses)

    @staticmethod
    def _recipient_states(conn: sqlite3.Connection, message_id: str,
                          addresses: Sequence[str]) -> dict[str, str | None]:
        rows = dict(conn.execute("SELECT address, state FROM recipients WHERE message_id = ?",
                                 (message_id,)).fetchall())
        if not rows:
            # A message claimed whole (or by a version that kept no address rows): its state
            # is every address's.
            row = conn.execute("SELECT state FROM messages WHERE message_id = ?",
                               (message_id,)).fetchone()
            return {address: row[0] if row else None for address in addresses}
        return {address: rows.get(address) for address in addresses}

    def delivered_reports(self, *, include_unknown: bool = True) -> dict[str, set[str]]:
        """Funder name -> report tokens in messages that are (or, if asked, may be) delivered."""
        states = ("sent", "unknown", "sending") if include_unknown else ("sent",)
        result: dict[str, set[str]] = {}
        for funder, reports in self._conn.execute(
                f"SELECT funder, reports FROM messages WHERE state IN "  # noqa: S608 - constants
                f"({', '.join('?' * len(states))})", states):
            result.setdefault(funder, set()).update(json.loads(reports))
        return result

    def delivered_messages(self, *, include_unknown: bool = True
                           ) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
        """Funder name -> ``(Message-ID, report tokens)`` of messages that are (or, if asked,
        may be) delivered, oldest first."""
        states = ("sent", "unknown", "sending") if include_unknown else ("sent",)
        result: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for message_id, funder, reports in self._conn.execute(
                f"SELECT message_id, funder, reports FROM messages WHERE state IN "  # noqa: S608
                f"({', '.join('?' * len(states))}) ORDER BY created_at, rowid", states):
            result.setdefault(funder, []).append((message_id, tuple(json.loads(reports))))
        return result

    def message_ids(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT message_id FROM messages")}

    def claim(self, message_id: str, funder: str, recipients: Sequence[str], *,
              from_states: Sequence[str] = ("failed",), reports: Sequence[str] = (),
              batch: Sequence[str] | None = None) -> bool:
        """Mark ``message_id`` and the addresses of ``batch`` (default: all of ``recipients``)
        as ``sending`` if each address is new or in one of ``from_states``.

        Returns False (and changes nothing) when the message is ``sent`` or ``sending``, or
        an address of the batch is in any other state, e.g. already ``sent``. The rows are
        committed before any byte goes to the server, so a crash mid-send leaves ``sending``
        behind, which :meth:`recover_interrupted` reads as unknown.
        """
        batch = list(recipients if batch is None else batch)
        with self._transaction() as conn:
            row = conn.execute("SELECT state FROM messages WHERE message_id = ?",
                               (message_id,)).fetchone()
            now = _now()
            if row is None:
                conn.execute(
                    "INSERT INTO messages (message_id, funder, recipients, reports, state, "
                    "attempts, created_at, updated_at) VALUES (?, ?, ?, ?, 'sending', 1, ?, ?)",
                    (message_id, funder, json.dumps(list(recipients)), json.dumps(list(reports)),
                     now, now))
            elif row[0] in ("sent", "sending") or any(
                    state is not None and state not in from_states
                    for state in self._recipient_states(conn, message_id, batch).values()):
                return False
            else:
                conn.execute(
                    "UPDATE messages SET state = 'sending', attempts = attempts + 1, "
                    "error = NULL, updated_at = ? WHERE message_id = ?", (now, message_id))
            conn.executemany(
                "INSERT INTO recipients (message_id, address, state, updated_at) "
                "VALUES (?, ?, 'sending', ?) ON CONFLICT (message_id, address) "
                "DO UPDATE SET state = 'sending', updated_at = excluded.updated_at",
                [(message_id, address, now) for address in batch])
            detail = (None if len(batch) == len(recipients)
                      else f"{len(batch)} of {len(recipients)} recipients")
            conn.execute("INSERT INTO events (message_id, state, at, detail) VALUES (?, ?, ?, ?)",
                         (message_id, "sending", now, detail))
        return True

    def record(self, message_id: str, state: str, error: str | None = None, *,
               batch: Sequence[str] | None = None, deferred: Sequence[str] = ()) -> str:
        """Record the outcome of an attempt (``sent``, ``failed`` or ``unknown``) for the
        addresses of ``batch`` (default: every address being sent) and ``failed`` for
        ``deferred`` ones (claimed, but left for another transaction); return the message's
        state, which sums up its addresses."""
        if state not in STATES or state == "sending":
            raise ValueError(f"not an outcome state: {state!r}")
        with self._transaction() as conn:
            now = _now()
            if batch is None:
                conn.execute("UPDATE recipients SET state = ?, updated_at = ? "
                             "WHERE message_id = ? AND state = 'sending'",
                             (state, now, message_id))
            for addresses, outcome in ((batch or (), state), (deferred, "failed")):
                conn.executemany("UPDATE recipients SET state = ?, updated_at = ? "
                                 "WHERE message_id = ? AND address = ?",
                                 [(outcome, now, message_id, a) for a in addresses])
            overall = self._overall_state(conn, message_id) or state
            self._set(conn, message_id, overall, error)
        return overall

    @staticmethod
    def _overall_state(conn: sqlite3.Connection, message_id: str) -> str | None:
        """The message's state from its addresses' (``None`` when it has no address rows)."""
        row = conn.execute("SELECT recipients FROM messages WHERE message_id = ?",
                           (message_id,)).fetchone()
        states = dict(conn.execute("SELECT address, state FROM recipients WHERE message_id = ?",
                                   (message_id,)).fetchall())
        if row is None or not states:
            return None
        every = [states.get(address) for address in json.loads(row[0])]
        if all(state == "sent" for state in every):
            return "sent"
        for state in ("sending", "unknown"):
            if state in every:
                return state
        return "failed"  # not delivered to some yet; they may be claimed again

    @staticmethod
    def _set(conn: sqlite3.Connection, message_id: str, state: str, error: str | None) -> None:
        now = _now()
        conn.execute("UPDATE messages SET state = ?, error = ?, updated_at = ? "
                     "WHERE message_id = ?", (state, error, now, message_id))
        conn.execute("INSERT INTO events (message_id, state, at, detail) VALUES (?, ?, ?, ?)",
                     (message_id, state, now, error))


def _entry(row: tuple) -> LedgerEntry:
    message_id, funder, recipients, reports, state, attempts, error, updated_at = row
    return LedgerEntry(message_id, funder, tuple(json.loads(recipients)),
                       tuple(json.loads(reports)), state, attempts, error, updated_at)
