"""Dates as police and city exports write them: the one date reader every ingest source uses.

A date cell becomes a calendar date inside DuckDB (so a 10-million-row list is read at scan
speed), by one SQL expression built here. Without an explicit format these forms are read:

- ISO dates and timestamps, with or without a time zone (``2019-08-23``,
  ``2019-08-23T22:10:00``, ``2021-08-01 00:00:00+00``, ``...Z``). The calendar date is taken
  as written: the time zone is not converted, because a police record's local date is the
  date the event happened.
- ``M/D/YYYY`` and ``M/D/YY`` (one or two digits for month and day), optionally followed by a
  time (``01/05/2023 10:00:00 PM``). Slash dates are month first, as US exports and Excel's
  US locale write them; a file whose first number goes above 12 is day first and is refused
  with the rows that prove it (never guessed): give ``DD/MM/YYYY``. An incident list whose
  slash dates never prove the month-first order (no second number above 12) is refused too:
  a day-first file of days 1-12 would otherwise be read month first without a word.
- Two-digit years are pivoted as spreadsheets do (Excel, LibreOffice): ``00``-``29`` are
  2000-2029 and ``30``-``99`` are 1930-1999 (so ``8/27/06`` is 2006-08-27).
- Excel serial day numbers (``43700``, ``43700.5``: days since 1899-12-30), which appear when
  a date column loses its cell format.

An explicit ``date_format`` is written in plain words (``DD/MM/YYYY``, ``MM/DD/YY``,
``YYYY-MM-DD``, ``D.M.YYYY``, ``DD-MMM-YYYY`` for ``27-Aug-2006``) or in strftime codes
(``%d/%m/%Y``); ``%y`` follows the same spreadsheet pivot. ISO dates are read beside an
explicit day/month format (a real date cell of an ``.xlsx`` arrives as one). A format
without spaces is matched against the date part of the cell (anything after the first space
or ``T`` is a time and is ignored); a format with spaces is matched against the whole cell.

Dates outside 1900-2100 are unreadable (a four-digit-year format applied to ``8/27/06`` would
otherwise give year 6).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

AUTO_FORMS = ("YYYY-MM-DD (with or without a time and zone)", "M/D/YYYY", "M/D/YY",
              "an Excel serial day number")
# The spreadsheet pivot: two-digit years below this are 20xx, the rest 19xx.
TWO_DIGIT_YEAR_PIVOT = 30
MIN_YEAR, MAX_YEAR = 1900, 2100
_EXCEL_EPOCH = "1899-12-30"  # serial 1 is 1900-01-01 in Excel's (Lotus-compatible) count

_WORD_TOKENS = {"YYYY": "%Y", "YY": "%y", "MMM": "%b", "MM": "%m", "M": "%m", "DD": "%d",
                "D": "%d"}
_WORD_RE = re.compile(r"YYYY|YY|MMM|MM|M|DD|D|[/\-. ]")
_STRFTIME_CODES = set("YymdbBHIMSpfzZjaAe%")
_TIME_CODES = set("HIMSpfzZ")
_SLASH_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(\s|T|$)")


class DateFormatError(ValueError):
    """An explicit date format that is neither plain words nor valid strftime codes."""


def to_strftime(text: str) -> str:
    """``DD/MM/YYYY``-style words or strftime codes -> strftime codes (validated)."""
    text = str(text).strip()
    if not text:
        raise DateFormatError("an empty date format")
    if "%" in text:
        codes = re.findall(r"%(.)", text)
        unknown = sorted({c for c in codes if c not in _STRFTIME_CODES})
        if unknown:
            raise DateFormatError(f"unknown strftime code(s) {', '.join('%' + c for c in unknown)}")
        fmt = text
    else:
        words = text.upper()
        parts = _WORD_RE.findall(words)
        if "".join(parts) != words:
            raise DateFormatError(
                f"{text!r} is neither plain words (DD, MM, MMM, YYYY, YY with / - . or space "
                "between them, e.g. DD/MM/YYYY) nor strftime codes (e.g. %d/%m/%Y)")
        fmt = "".join(_WORD_TOKENS.get(p, p) for p in parts)
    codes = set(re.findall(r"%(.)", fmt))
    has_year = bool(codes & {"Y", "y"})
    has_day = "j" in codes or (bool(codes & {"m", "b", "B"}) and bool(codes & {"d", "e"}))
    if not (has_year and has_day):
        raise DateFormatError(f"{text!r} does not name a year, a month and a day")
    return fmt


def describe_formats(formats: Sequence[str] | None) -> str:
    """The forms a reader accepts, for error messages."""
    if not formats:
        return ", ".join(AUTO_FORMS)
    return " or ".join(_with_words(fmt) for fmt in formats)


def _with_words(fmt: str) -> str:
    """``%d/%m/%Y`` -> ``DD/MM/YYYY (%d/%m/%Y)``: both spellings a user may give."""
    words = {code: word for word, code in _WORD_TOKENS.items() if len(word) > 1}
    codes = re.findall(r"%(.)", fmt)
    if not codes or any(f"%{c}" not in words for c in codes):
        return fmt
    return f"{re.sub(r'%.', lambda m: words[m.group(0)], fmt)} ({fmt})"


def sql_ident(column: str) -> str:
    """A column name quoted for DuckDB SQL (the one quoting rule of the ingest queries)."""
    return '"' + column.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A text value quoted for DuckDB SQL."""
    return "'" + text.replace("'", "''") + "'"


def _excel_pivot(expr: str) -> str:
    """DuckDB's ``%y`` pivots at 69 (POSIX); move 2030-2068 back a century, as Excel does."""
    low, high = 2000 + TWO_DIGIT_YEAR_PIVOT, 2068
    return (f"CASE WHEN year({expr}) BETWEEN {low} AND {high} "
            f"THEN CAST({expr} - INTERVAL 100 YEAR AS DATE) ELSE CAST({expr} AS DATE) END")


def _auto_sql(token: str) -> str:
    slash_year = f"split_part({token}, '/', 3)"
    return f"""CASE
        WHEN contains({token}, '/') THEN
            CASE WHEN length({slash_year}) = 2
                 THEN {_excel_pivot(f"try_strptime({token}, '%m/%d/%y')")}
                 WHEN length({slash_year}) = 4
                 THEN CAST(try_strptime({token}, '%m/%d/%Y') AS DATE) END
        WHEN contains({token}, '-') THEN CAST(try_strptime({token}, '%Y-%m-%d') AS DATE)
        WHEN regexp_full_match({token}, '[0-9]{{5}}(\\.[0-9]*)?')
            THEN CAST(DATE '{_EXCEL_EPOCH}' + CAST(floor(CAST({token} AS DOUBLE)) AS INTEGER)
                      AS DATE)
        END"""


def _explicit_sql(text: str, token: str, fmt: str) -> str:
    target = text if (" " in fmt or "T" in fmt.replace("%T", "")) else token
    parsed = f"try_strptime({target}, {sql_literal(fmt)})"
    return _excel_pivot(parsed) if "%y" in fmt else f"CAST({parsed} AS DATE)"


def date_sql(raw: str, formats: Sequence[str] | None = None, *,
             strip_utc_offset: bool = False) -> str:
    """A DuckDB expression turning the text expression ``raw`` into a DATE (NULL: unreadable;
    wrap the result in :func:`in_range_sql`).

    ``formats`` are strftime codes (see :func:`to_strftime`), tried in order; ``None`` or empty
    reads the automatic forms of the module docstring.
    """
    text = f"trim({raw})"
    if strip_utc_offset:
        # '2021-08-01 00:00:00+00': an always-UTC suffix that strptime formats do not expect.
        text = f"regexp_replace({text}, '\\s*(Z|[+-]\\d{{2}}(:?\\d{{2}})?)$', '')"
    token = f"split_part(split_part({text}, ' ', 1), 'T', 1)"
    if formats:
        parts = [_explicit_sql(text, token, fmt) for fmt in formats]
        if not any(fmt.startswith("%Y") for fmt in formats):
            # An ISO date is unambiguous, and an .xlsx date cell arrives as one whatever the
            # text cells' format, so it is read beside an explicit day/month format.
            parts.append(f"CAST(try_strptime({token}, '%Y-%m-%d') AS DATE)")
        parsed = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    else:
        parsed = _auto_sql(token)
    return parsed


def in_range_sql(date: str) -> str:
    """NULL for a parsed date outside the workbook's years (``date`` is a column name: the
    parse is not repeated)."""
    return f"CASE WHEN year({date}) BETWEEN {MIN_YEAR} AND {MAX_YEAR} THEN {date} END"


def column_date_sql(column: str, formats: Sequence[str] | None = None, *,
                    strip_utc_offset: bool = False) -> str:
    return date_sql(sql_ident(column), formats, strip_utc_offset=strip_utc_offset)


def ambiguous_order_message(n_slash: int, example: str) -> str:
    """Why a file of slash dates that fit both orders is refused (it is never guessed)."""
    m = _SLASH_RE.match(example)
    two_digit = bool(m) and len(m.group(3)) == 2
    year = "YY" if two_digit else "YYYY"
    return (f"the {n_slash:,} slash dates (e.g. {example!r}) fit both orders: no first number "
            "above 12 shows the day comes first and no second number above 12 shows the month "
            f"does; give the order: --date-format MM/DD/{year} or DD/MM/{year} (date_format in "
            "a mapping)")


def is_day_first(value: str) -> bool:
    """A slash date whose first number cannot be a month (``13/01/2010``): day first."""
    m = _SLASH_RE.match(value)
    return bool(m) and int(m.group(1)) > 12 and 1 <= int(m.group(2)) <= 12


def is_month_first(value: str) -> bool:
    """A slash date whose second number cannot be a month (``01/13/2010``): month first."""
    m = _SLASH_RE.match(value)
    return bool(m) and int(m.group(2)) > 12 and 1 <= int(m.group(1)) <= 12


def order_hint(values: Sequence[str], formats: Sequence[str] | None) -> str | None:
    """Why these unreadable slash dates fail when the day/month order is the reason."""
    month_first_format = not formats or any(f.startswith("%m") for f in formats)
    day_first_format = bool(formats) and any(f.startswith("%d") for f in formats)
    if month_first_format:
        proof = next((v for v in values if is_day_first(v)), None)
        if proof is not None:
            two_digit = len(_SLASH_RE.match(proof).group(3)) == 2
            words = "DD/MM/YY" if two_digit else "DD/MM/YYYY"
            return ("the first number is above 12, so this file writes the day first; give "
                    f"the date format {words} (--date-format, or date_format in a mapping)")
    if day_first_format and any(is_month_first(v) for v in values):
        return ("the second number is above 12, so this value is month first, unlike the "
                "date format given")
    return None


def bad_date_message(value: str, formats: Sequence[str] | None) -> str:
    """What every source says about a date it cannot read."""
    hint = order_hint([value], formats)
    if hint:
        return f"cannot read date {value!r}: {hint}"
    return f"cannot read date {value!r}; expected {describe_formats(formats)}"


def read_dates(values: Sequence[str], formats: Sequence[str] | None = None) -> list:
    """The same reader for values already in memory (aggregate tables): a date or ``None``
    for each value, in order."""
    import duckdb
    import pandas as pd

    texts = [str(v) for v in values]
    frame = pd.DataFrame({"i": range(len(texts)), "v": texts})
    with duckdb.connect(":memory:") as con:
        con.register("frame", frame)
        query = (f"SELECT {in_range_sql('d')} FROM (SELECT i, {date_sql('v', formats)} AS d "  # noqa: S608
                 "FROM frame) ORDER BY i")
        return [row[0] for row in con.execute(query).fetchall()]
