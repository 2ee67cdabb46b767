"""The ``impactbook`` command: a thin wrapper over the library.

Each subcommand parses its options, calls one library function and prints what it returned.
Every :class:`ImpactbookError` becomes one line per problem on stderr and a non-zero exit; a
traceback is shown only with ``IMPACTBOOK_DEBUG=1``.

- :mod:`.parser` the argparse tree (every subcommand, its options and help).
- :mod:`.run` :func:`main`: parse, call the handler, turn errors into one line each.
- :mod:`.output` exit codes and the one way a line goes to stderr.
- :mod:`.workbook_commands` ``init``, ``validate``, ``ingest``, ``news import``.
- :mod:`.estimate_command` ``estimate``.
- :mod:`.render_commands` ``render``, ``summarize``, ``batch``, ``demo``.
- :mod:`.email_command` ``email``.

Every handler imports the library it calls inside its body, so ``impactbook --help`` and a
command that only reads the tables do not load the estimators, the renderer or the mailer.
"""

from impactbook.cli.parser import build_parser
from impactbook.cli.run import main

__all__ = ["build_parser", "main"]
