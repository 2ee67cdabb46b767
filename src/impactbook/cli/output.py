"""Exit codes and the one way the command writes a line to stderr."""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def say(*lines: str) -> None:
    """Each line on stderr: notes, warnings and errors, so stdout stays the command's result."""
    for line in lines:
        print(line, file=sys.stderr)
