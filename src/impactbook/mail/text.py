"""Text that goes into a mail header or a file name: one line, a checked address, a slug."""

from __future__ import annotations

import unicodedata

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


def norm_name(name: str) -> str:
    return " ".join(str(name).split()).casefold()



def slug_or_empty(name: str) -> str:
    try:
        return slugify(name)
    except ParameterError:
        return ""
