"""Mail to a funder with more addresses than a server takes per message: batches, each address
once (across a crash mid-batches too), and short lines. A real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections import Counter

import pytest
from aiosmtpd.controller import Controller

from impactbook.mail.ledger import MailLedger
from impactbook.mail.run import run_email
from impactbook.mail.send import SendResult

from .test_mail import Handler, free_port, workbook  # noqa: F401 - fixture

ADDRESSES = [f"member{n:03d}@board.example.org" for n in range(500)]
MAX_LINE_CHARS = 400


class LimitedHandler(Handler):
    """A server that takes ``max_rcpts`` recipients per message and answers 452 past it, as
    RFC 5321 4.5.3.1.10 says; can hold the DATA of one transaction until released."""

    def __init__(self, max_rcpts: int):
        super().__init__()
        self.max_rcpts = max_rcpts
        self.hold_data_at = 0  # the n-th DATA (1-based) waits for `released` once received
        self.reached, self.released = threading.Event(), threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= self.max_rcpts:
            return "452 4.5.3 Too many recipients"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.received) == self.hold_data_at:
            self.reached.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        return answer


def limited_server(max_rcpts: int):
    handler = LimitedHandler(max_rcpts)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return handler, controller


@pytest.fixture
def board(workbook):  # noqa: F811
    """The workbook with one funder of 500 addresses."""
    run_dir, data_dir = workbook
    (data_dir / "funders.csv").write_text(
        "funder,email,cities,interventions\n"
        f"Big Board,{';'.join(ADDRESSES)},New York,\n", encoding="utf-8")
    return run_dir, data_dir


def delivered(handler) -> Counter:
    return Counter(address for _, rcpts, _ in handler.received for address in rcpts)


@pytest.mark.parametrize("server_limit, transactions", [(100, 5), (40, 13)])
def test_many_addresses_go_in_batches_the_server_takes_each_once(board, server_limit,
                                                                 transactions):
    run_dir, data_dir = board
    handler, controller = limited_server(server_limit)
    try:
        report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=controller.port,
                           env={}, backoff_s=0)
    finally:
        controller.stop()
    assert report.ok, report.summary_lines()
    assert delivered(handler) == Counter(ADDRESSES)  # everyone, once
    sizes = [len(rcpts) for _, rcpts, _ in handler.received]
    assert len(sizes) == transactions and max(sizes) <= server_limit
    assert all(len(line) <= MAX_LINE_CHARS for line in report.summary_lines())
    with MailLedger.for_run(run_dir) as ledger:
        (entry,) = ledger.entries()
        assert entry.state == "sent"
        assert set(ledger.recipient_states(entry.message_id, ADDRESSES).values()) == {"sent"}


def test_refused_addresses_make_a_short_error_line(board):
    run_dir, data_dir = board
    handler, controller = limited_server(1000)
    handler.refuse = set(ADDRESSES[100:])
    try:
        report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=controller.port,
                           env={}, backoff_s=0)
    finally:
        controller.stop()
    (result,) = report.send_report.results
    assert result.outcome == "failed"
    assert "recipient refused (100 address(es))" in result.error
    assert ADDRESSES[100] in result.error and ADDRESSES[150] not in result.error
    assert result.error.endswith("(in a transaction to 100 of its 500 addresses; 100 have it)")
    assert delivered(handler) == Counter(ADDRESSES[:100])  # the batch before, once
    assert all(len(line) <= MAX_LINE_CHARS for line in report.summary_lines())


def test_a_crash_mid_batches_sends_nobody_a_second_copy(board):
    """The sending process is killed while the server holds the data of its third batch:
    the rerun sends the batches never tried, holds back the one in flight (the server may
    have taken it: here it did) until --resend, and sends nobody anything twice."""
    run_dir, data_dir = board
    handler, controller = limited_server(100)
    handler.hold_data_at = 3
    script = ("import sys\n"
              "from impactbook.mail.run import run_email\n"
              "run_email(sys.argv[1], sys.argv[2], send=True, host='127.0.0.1', "
              "port=int(sys.argv[3]), env={})\n")
    try:
        process = subprocess.Popen([sys.executable, "-c", script, str(run_dir), str(data_dir),
                                    str(controller.port)])
        try:
            assert handler.reached.wait(timeout=120), "the third batch never arrived"
        finally:
            process.kill()
            process.wait()
            handler.released.set()
        assert delivered(handler) == Counter(ADDRESSES[:300])

        again = run_email(run_dir, data_dir, send=True, host="127.0.0.1",
                          port=controller.port, env={})
        (result,) = again.send_report.results
        assert result.outcome == "needs-resend"
        assert delivered(handler) == Counter(ADDRESSES)  # batches 4 and 5 went, nobody twice
        assert all(len(line) <= MAX_LINE_CHARS for line in again.summary_lines())
        assert result.line().startswith("partly sent to Big Board")
        assert f"earlier delivery to {ADDRESSES[200]}" in result.line()

        third = run_email(run_dir, data_dir, send=True, host="127.0.0.1",
                          port=controller.port, env={})
        assert third.send_report.results[0].outcome == "needs-resend"
        assert delivered(handler) == Counter(ADDRESSES)

        resent = run_email(run_dir, data_dir, send=True, host="127.0.0.1",
                           port=controller.port, env={}, resend=True)
    finally:
        controller.stop()
    assert resent.ok and resent.send_report.results[0].outcome == "sent"
    # Only the batch in flight at the crash went again, and only when asked.
    assert delivered(handler) == Counter(ADDRESSES) + Counter(ADDRESSES[200:300])


def test_an_address_listed_twice_gets_one_copy(board):
    run_dir, data_dir = board
    twice = [*ADDRESSES[:3], ADDRESSES[0]]
    (data_dir / "funders.csv").write_text("funder,email,cities,interventions\n"
                                          f"Big Board,{';'.join(twice)},New York,\n")
    handler, controller = limited_server(100)
    try:
        report = run_email(run_dir, data_dir, send=True, host="127.0.0.1", port=controller.port,
                           env={})
    finally:
        controller.stop()
    assert report.ok, report.summary_lines()
    assert delivered(handler) == Counter(ADDRESSES[:3])


def test_result_line_names_a_few_addresses_and_counts_the_rest():
    result = SendResult("<id@impactbook.invalid>", "Big Board", tuple(ADDRESSES), "failed",
                        error="server refused the message: 554 no")
    line = result.line()
    assert len(line) <= MAX_LINE_CHARS
    assert "member000@board.example.org" in line and "and 498 more" in line
