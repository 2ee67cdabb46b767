"""``main``: parse the arguments, call the subcommand's handler, and turn every error into one
line per problem on stderr and a non-zero exit (a traceback only with ``IMPACTBOOK_DEBUG=1``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from impactbook.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, say
from impactbook.cli.parser import build_parser
from impactbook.errors import DataError, ImpactbookError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except DataError as exc:
        say(*(f"impactbook: error: {line}" for line in exc.lines))
        return EXIT_FAILED
    except ImpactbookError as exc:
        say(*(f"impactbook: error: {line}" for line in str(exc).splitlines()))
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_FAILED
    except OSError as exc:
        # A full disk or a permission problem: say which file, keep the message one line.
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"impactbook: error: {where}{exc.strerror or exc}")
        return EXIT_FAILED
    except KeyboardInterrupt as exc:  # a batch says what it kept; nothing else is half-written
        say(f"impactbook: interrupted{': ' + str(exc) if str(exc) else ''}")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("IMPACTBOOK_DEBUG"):
            raise
        say(f"impactbook: internal error: {type(exc).__name__}: {exc} "
            "(set IMPACTBOOK_DEBUG=1 for the traceback)")
        return EXIT_FAILED
