"""``impactbook email``: one message per funder, written (dry run) or sent over SMTP."""

from __future__ import annotations

import argparse
from pathlib import Path

from impactbook.cli.output import EXIT_FAILED, EXIT_OK


def cmd_email(args: argparse.Namespace) -> int:
    from impactbook.mail.run import run_email

    report = run_email(Path(args.run), Path(args.data), send=args.send, host=args.smtp_host,
                       port=args.smtp_port, starttls=args.starttls, resend=args.resend)
    for line in report.summary_lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILED
