"""Naming a wrong choice the same way everywhere: the choices listed, the closest suggested.

Every command that refuses a city, area, outcome, intervention type, column or setting name
says it with :func:`unknown_choice` (or :func:`did_you_mean` inside a data problem), so a
mistyped ``--city chicago`` or ``--outcome shooting`` gets "did you mean 'Chicago'?" and
the same short list of what exists.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from impactbook.errors import ParameterError

MAX_LISTED = 12
_CUTOFF = 0.6


def close_matches(value: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``value``, ignoring case (exact case-insensitive first)."""
    names = sorted({str(k) for k in known})
    wanted = str(value).strip().lower()
    exact = [k for k in names if k.lower() == wanted]
    if exact:  # only the case differs: that is the one meant
        return exact[:n]
    by_lower: dict[str, str] = {}
    for k in names:
        by_lower.setdefault(k.lower(), k)
    close = difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=_CUTOFF)
    prefix = [k for k in names if wanted and k.lower().startswith(wanted)]
    out = list(dict.fromkeys([*(by_lower[c] for c in close), *prefix]))
    return out[:n]


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """``"did you mean 'Chicago'?"`` (or two or three names), or ``""`` when nothing is close."""
    matches = close_matches(value, known)
    if not matches:
        return ""
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"


def natural_key(name: str) -> tuple:
    """Sort ``Precinct 9`` before ``Precinct 10`` (numbers compared as numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", name) if part)


def list_choices(known: Iterable[str], limit: int = MAX_LISTED) -> str:
    """``"A, B, C"`` or ``"A, B, ... (40 in all)"``: one style of listing everywhere."""
    names = sorted({str(k) for k in known}, key=natural_key)
    if not names:
        return "(none)"
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names)} in all)"


def unknown_choice(parameter: str, value: str, known: Iterable[str], *,
                   what: str = "one of") -> ParameterError:
    """The error for a name that does not exist: the choices, then the closest suggested."""
    known = list(known)
    hint = did_you_mean(value, known)
    expected = f"{what}: {list_choices(known)}"
    return ParameterError(parameter, value, f"{expected}; {hint}" if hint else expected)
