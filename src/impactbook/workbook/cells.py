"""Rules for one cell: names, ``;`` lists, periods, slugs, numbers; vectorised over columns.

Each check reports to a :class:`~impactbook.workbook.problems.Problems` collector and
works once per distinct value, because workbook columns repeat a few names many times.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd

from impactbook.errors import ImpactbookError
from impactbook.fsutil import slugify
from impactbook.workbook.periods import parse_period
from impactbook.workbook.problems import Problems, literal, shorten
from impactbook.workbook.schema import MAX_NAME_CHARS

# The one URL rule (news.csv, news import, links in reports): a plain http(s) address with no
# space, quote, backtick, angle bracket, backslash or control character, so it can sit in an
# HTML attribute and a CSV cell as it is.
URL_RE = re.compile(r"^https?://[^\s\"'`<>\\\x00-\x1f\x7f-\x9f]+$", re.IGNORECASE)
# The one address rule (funders.csv, the From address): deliberately stricter than RFC 5322,
# a plain ASCII dot-atom local part and an LDH domain, the form that is safe in a mail header
# as it is. Anything exotic (quoted local parts, comments, IP literals) is refused, not parsed.
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def is_http_url(text: str) -> bool:
    """Whether ``text`` is a URL that news.csv accepts and a report may link to."""
    return bool(URL_RE.match(text))


def address_problem(address: str) -> str | None:
    """Why ``address`` is not an acceptable mailbox, or ``None`` when it is."""
    if not address:
        return "empty address"
    if len(address) > 254:
        return "address longer than 254 characters"
    if address.count("@") != 1:
        return "expected exactly one '@' as in name@example.org"
    local, domain = address.split("@")
    if len(local) > 64 or not _LOCAL_RE.match(local):
        return ("invalid part before '@' (letters, digits and .!#$%&'*+/=?^_`{|}~- only, "
                "no leading, trailing or doubled '.')")
    if not all(_LABEL_RE.match(label) for label in domain.split(".")):
        return "invalid domain after '@'"
    return None


# Control characters and line breaks (Cc, Zl, Zp), and the invisible format characters (Cf)
# that change how the text around them displays: bidi embeddings, overrides and isolates,
# direction marks, zero-width joiners. A name must read on screen, in a report and in a mail
# header as what it is: one rule for every name, funders included.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
CONTROL_PROBLEM = ("contains a line break, a control character or an invisible character that "
                   "changes how text displays (such as a right-to-left override)")


def has_control_chars(text: str) -> bool:
    """True when ``text`` holds a line break, a control or an invisible format character."""
    return any(unicodedata.category(ch) in _HIDDEN_CATEGORIES for ch in text)


# RFC 2047 encoded-word syntax ("=?charset?q?...?="): mail programs decode it in a display name
# or a subject, so a name written that way could turn into a line break or an address inside a
# mail header where the raw text shows neither. No name needs it: the mailer encodes names
# itself. Any "=?" later closed by "?=" is refused, not only well-formed words, because
# readers differ in how strictly they parse them.
_ENCODED_WORD_RE = re.compile(r"=\?.*\?=", re.DOTALL)
ENCODED_WORD_PROBLEM = ("is written as a MIME encoded word ('=?...?='), which mail programs "
                        "decode into other text (it could hide a line break or an address in "
                        "an email header); write the name as plain text")


def has_encoded_word(text: str) -> bool:
    """True when ``text`` holds RFC 2047 encoded-word syntax (``=?...?=``)."""
    return bool(_ENCODED_WORD_RE.search(text))


def split_list(value: object) -> list[str]:
    """Split a ``;``-separated cell into its stripped, non-empty items."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [item.strip() for item in str(value).split(";") if item.strip()]



def blank_mask(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column] == ""


def strip_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Strip surrounding spaces (computed once per distinct value: columns repeat a lot)."""
    for column in columns:
        if column in frame:
            codes, uniques = pd.factorize(frame[column])
            stripped = np.array([str(u).strip() for u in uniques], dtype=object)
            frame[column] = pd.Series(stripped[codes] if len(codes) else stripped[:0],
                                      index=frame.index, dtype=object)
    return frame


def numbers_of(text: pd.Series) -> pd.Series:
    """``pd.to_numeric`` of text, NaN where it is not a number (once per distinct value)."""
    codes, uniques = pd.factorize(text)
    numeric = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(
        dtype=float)
    return pd.Series(numeric[codes] if len(codes) else numeric[:0], index=text.index)


def require_text(frame: pd.DataFrame, columns: Iterable[str], file: str,
                  problems: Problems) -> pd.DataFrame:
    for column in columns:
        problems.add_rows(file, frame, blank_mask(frame, column), column,
                          "empty value; expected text")
    return frame


def name_problem(name: str, *, allow_semicolon: bool = False) -> str | None:
    """Why ``name`` cannot name a city, area, outcome, programme or tag, or ``None``.

    Names end up in report folders, notebook parameters, email subjects and list
    cells, so they may not hold line breaks or other control characters (header
    injection, broken lines), nor encoded words that a mail reader would decode into
    them, nor ``;`` (it separates list items), and stay short.
    """
    if has_control_chars(name):
        return CONTROL_PROBLEM
    if has_encoded_word(name):
        return ENCODED_WORD_PROBLEM
    if ";" in name and not allow_semicolon:
        return "contains ';', which separates list items"
    if len(name) > MAX_NAME_CHARS:
        return f"is {len(name)} characters long; names are at most {MAX_NAME_CHARS}"
    return None


def check_names(frame: pd.DataFrame, columns: Iterable[str], file: str,
                 problems: Problems, *, allow_semicolon: bool = False) -> pd.Series:
    """Report bad names (checked once per distinct value); return the mask of good rows."""
    good = pd.Series(True, index=frame.index)
    for column in columns:
        reasons = {v: name_problem(v, allow_semicolon=allow_semicolon)
                   for v in frame[column].unique()}
        bad_values = {v for v, reason in reasons.items() if reason}
        if not bad_values:
            continue
        bad = frame[column].isin(bad_values)
        good &= ~bad
        for value in sorted(bad_values):
            mask = frame[column] == value
            problems.add_rows(file, frame, mask, column,
                              "name {value!r} " + literal(str(reasons[value])))
    return good


def check_list_items(frame: pd.DataFrame, columns: Iterable[str], file: str,
                      problems: Problems, warnings: list[str]) -> None:
    """Names inside ``;`` lists follow the name rules; empty items are ignored with a warning."""
    for column in columns:
        for line, value in frame[["line", column]].itertuples(index=False):
            if value == "":
                continue
            items = [item.strip() for item in value.split(";")]
            if "" in items:
                warnings.append(f"{file}, row {line}, column {column!r}: empty item in "
                                f"{value!r} (a doubled or stray ';'; ignored)")
            for item in filter(None, items):
                reason = name_problem(item, allow_semicolon=True)
                if reason:
                    problems.add(file, f"item {shorten(item)!r} {reason}", int(line), column,
                                 check="bad list item")


def parse_periods(frame: pd.DataFrame, column: str, file: str, problems: Problems,
                   *, allow_blank: bool = False) -> pd.Series:
    """Parsed periods (``None`` where bad or blank), each bad label reported once per row."""
    cache: dict[str, pd.Period | None | str] = {}
    parsed: list[pd.Period | None] = []
    for line, label in frame[["line", column]].itertuples(index=False):
        if label == "" and allow_blank:
            parsed.append(None)
            continue
        if label not in cache:
            try:
                cache[label] = parse_period(label)
            except ValueError as exc:
                cache[label] = str(exc)
        value = cache[label]
        if isinstance(value, str):
            problems.add(file, value, int(line), column, check="bad period")
            parsed.append(None)
        else:
            parsed.append(value)
    return pd.Series(parsed, index=frame.index, dtype=object)



def check_slugs(first_lines: pd.Series, file: str, column: str, what: str,
                 problems: Problems, *, place: str = "report folder") -> None:
    """Names become report folder names; two must not share one, and each needs one."""
    by_slug: dict[str, str] = {}
    for name, line in first_lines.items():
        try:
            slug = slugify(name)
        except ImpactbookError:
            problems.add(file, f"{what} {shorten(name)!r} has no letter or digit to name its "
                         f"{place}", int(line), column)
            continue
        if slug in by_slug:
            problems.add(file, f"{what} {shorten(name)!r} and {shorten(by_slug[slug])!r} would "
                         f"share the {place} {slug!r}; rename one", int(line), column)
        else:
            by_slug[slug] = name



def as_text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Loaded text columns use pandas' string dtype, as ``read_csv(dtype=str)`` gives."""
    for column in columns:
        frame[column] = frame[column].astype(str)
    return frame
