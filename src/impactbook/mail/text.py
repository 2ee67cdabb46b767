"""Text that goes into a mail header, a file name or a line of output: one line, a checked
address, a slug, a short address list."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from impactbook.errors import ParameterError
from impactbook.fsutil import slugify
from impactbook.workbook.cells import address_problem


def validate_address(address: str, *, what: str = "address") -> str:
    """Return ``address`` stripped if it is a plain ``local@domain`` mailbox, else raise."""
    text = str(address).strip()
    reason = address_problem(text)
    if reason:
        raise ParameterError(what, address, f"an email address ({reason})")
    return text



def one_line(text: object) -> str:
    """``text`` with control characters replaced by spaces and whitespace collapsed."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in str(text)
    )
    return " ".join(cleaned.split())


def shown_addresses(addresses: Sequence[str], *, first: int = 3) -> str:
    """``a, b, c and 497 more``: an address list short enough for one line of output."""
    shown = ", ".join(addresses[:first])
    more = len(addresses) - first
    return f"{shown} and {more} more" if more > 0 else shown


def shorten_line(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` (with ``...``): no output line grows with a list."""
    return text if len(text) <= max_chars else text[:max_chars - 3] + "..."


def norm_name(name: str) -> str:
    return " ".join(str(name).split()).casefold()



def slug_or_empty(name: str) -> str:
    try:
        return slugify(name)
    except ParameterError:
        return ""
