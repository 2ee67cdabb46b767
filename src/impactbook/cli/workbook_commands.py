"""The subcommands that make, check and fill a workbook: ``init``, ``validate``, ``ingest`` and
``news import``."""

from __future__ import annotations

import argparse
from pathlib import Path

from impactbook.cli.output import EXIT_FAILED, EXIT_OK, say
from impactbook.errors import ParameterError

GENERIC_OPTIONS = ("city", "outcome", "date_column", "area_column", "area_prefix", "count",
                   "key_column")


def cmd_init(args: argparse.Namespace) -> int:
    from impactbook.workbook.starter import init_workbook

    for path in init_workbook(Path(args.dir)):
        print(path)
    print(f"{args.dir}: an empty workbook; next: impactbook ingest generic FILE --data "
          f"{args.dir} --city CITY --outcome OUTCOME --date-column COL")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from impactbook.workbook import validate_workbook

    warnings = validate_workbook(args.data)
    for warning in warnings:
        say(f"warning: {warning}")
    print(f"{args.data}: workbook is valid ({len(warnings)} warning(s))")
    return EXIT_OK


def target_workbook(args: argparse.Namespace, command: str) -> Path:
    """The workbook a writing command changes: always named, so the embedded demo workbook
    (the ``./data`` that reading commands default to) is never changed by accident."""
    if args.data is None:
        raise ParameterError("data", None, f"the workbook folder {command} writes into, named "
                                           "explicitly (--data DIR): it has no default")
    return Path(args.data)


def cmd_ingest(args: argparse.Namespace) -> int:
    from impactbook.ingest.sources import ingest_into_workbook

    data = target_workbook(args, "ingest")
    settings = {key: getattr(args, key) for key in GENERIC_OPTIONS
                if getattr(args, key) is not None}
    summary = ingest_into_workbook(args.source, Path(args.file), data,
                                   mapping=args.mapping, settings=settings,
                                   agencies=args.agency, sheet=args.sheet,
                                   date_format=args.date_format,
                                   frequency=args.frequency, dry_run=args.dry_run)
    for note in summary.notes:
        say(f"note: {note}")
    print(summary.describe())
    return EXIT_OK


def cmd_news_import(args: argparse.Namespace) -> int:
    from impactbook.news.parse import guess_news_format
    from impactbook.news.store import import_news

    data = target_workbook(args, "news import")
    fmt = args.format or guess_news_format(Path(args.file))
    report = import_news(data, Path(args.file), fmt)
    for line in report.summary_lines():
        print(line)
    return EXIT_OK if not report.rejected else EXIT_FAILED
