"""One digest of a workbook: the figure every report, the index and the manifest show.

It covers the five tables of :data:`~impactbook.workbook.schema.REQUIRED` and, when present,
areas.csv and unit_outcomes.csv (names and bytes,
in a fixed order, an absent table marked as absent), so two folders with the same tables
have the same digest whatever else they hold, and any change to a table changes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from impactbook.fsutil import sha256_file
from impactbook.workbook.schema import EXTRA_TABLES, REQUIRED

# Readers see the first characters only, as with git commits; the manifest keeps all 64.
SHOWN_CHARS = 12


def workbook_digest(root: Path | str) -> str:
    """SHA-256 (hex) over the workbook's tables."""
    h = hashlib.sha256()
    for name in REQUIRED:
        path = Path(root) / name
        h.update(name.encode() + b"\0")
        h.update(sha256_file(path).encode() if path.is_file() else b"absent")
        h.update(b"\n")
    for name in EXTRA_TABLES:  # optional extras count only when present (older digests hold)
        path = Path(root) / name
        if path.is_file():
            h.update(name.encode() + b"\0" + sha256_file(path).encode() + b"\n")
    return h.hexdigest()


def shown_digest(digest: str) -> str:
    """The digest as a report or the index prints it."""
    return digest[:SHOWN_CHARS]
