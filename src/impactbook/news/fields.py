"""One news item's fields: dates as pages print them, cleaned text, tags, the item check.

The rules an item must meet are the workbook's own (:mod:`impactbook.workbook.cells` for
URLs, :func:`~impactbook.workbook.periods.parse_date_or_month` for dates), so an item
accepted here is a row ``validate`` accepts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from impactbook.errors import DataError, Problem
from impactbook.news.tags import normalise_space, split_tags
from impactbook.workbook.cells import is_http_url
from impactbook.workbook.periods import parse_date_or_month

NEWS_COLUMNS = ("date", "title", "outlet", "tags", "url", "summary")
REQUIRED_COLUMNS = ("date", "title", "outlet", "tags")
FORMATS = ("csv", "json", "nnsc-page")
TAG_SEPARATOR = ";"

_MONTHS = {name.lower(): number for number, name in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"], start=1)}
_MONTHS.update({name[:3]: number for name, number in list(_MONTHS.items())})
_MONTHS["sept"] = 9

_ISO_DAY_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                         r"(?:Z|[+-]\d{2}:?\d{2})?)?$")
_MONTH_YEAR_RE = re.compile(r"^([A-Za-z]+)\.?\s+(\d{4})$")
_DAY_MONTH_YEAR_RE = re.compile(r"^([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")


class ParsedNews(NamedTuple):
    """What a parser found: accepted items, rejected items and warnings (both with lines)."""

    items: pd.DataFrame
    rejected: list[Problem]
    warnings: list[Problem]



def normalise_news_date(text: object) -> str:
    """A news date as ``YYYY-MM`` or ``YYYY-MM-DD``; raise ``ValueError`` if it is not one.

    Accepts the workbook forms, ISO timestamps (the day is kept) and the forms
    news pages print: ``November 2017``, ``Nov. 2017``, ``November 5, 2017``.
    """
    raw = normalise_space(str(text))
    m = _ISO_DAY_RE.match(raw)
    if m:
        raw = m.group(1)
    else:
        m = _MONTH_YEAR_RE.match(raw)
        if m:
            raw = f"{m.group(2)}-{_month_number(m.group(1), raw):02d}"
        else:
            m = _DAY_MONTH_YEAR_RE.match(raw)
            if m:
                raw = f"{m.group(3)}-{_month_number(m.group(1), raw):02d}-{int(m.group(2)):02d}"
    parse_date_or_month(raw)  # the single authority on what a valid news date is
    return raw


def _month_number(name: str, text: str) -> int:
    number = _MONTHS.get(name.lower())
    if number is None:
        raise ValueError(f"{name!r} in {text!r} is not a month name")
    return number


def clean_text(value: object) -> str:
    return normalise_space(value) if value is not None else ""


def clean_summary(value: object) -> str:
    """Normalise spaces inside paragraphs but keep paragraph breaks (blank lines)."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (normalise_space(p) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def build_item(fields: dict[str, object], source: str, line: int | None,
                rejected: list[Problem]) -> dict[str, object] | None:
    """Check one item's fields; return the cleaned item or record why it is rejected."""
    title = clean_text(fields.get("title"))
    outlet = clean_text(fields.get("outlet"))
    # Only stripped, not NFKC-normalised: the stored URL is the one checked and the one written.
    url = str(fields.get("url") or "").strip()
    reasons = []
    if not title:
        reasons.append(("title", "title is empty"))
    if not outlet:
        reasons.append(("outlet", "outlet is empty"))
    date = ""
    try:
        date = normalise_news_date(fields.get("date") or "")
    except ValueError as exc:
        reasons.append(("date", f"date: {exc}"))
    if url and not is_http_url(url):
        reasons.append(("url", f"url {url[:80]!r} is not an http:// or https:// address"))
    if reasons:
        column = reasons[0][0] if len(reasons) == 1 else None
        label = f"item {title[:60]!r}: " if title else ""
        rejected.append(Problem(source, label + "; ".join(r for _, r in reasons),
                                row=line, column=column))
        return None
    return {"date": date, "title": title, "outlet": outlet,
            "tags": clean_tags(fields.get("tags")), "url": url,
            "summary": clean_summary(fields.get("summary")), "line": line}


def clean_tags(value: object) -> str:
    """Tags as one ``;``-joined string; lists are joined, text is kept for the splitter."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return TAG_SEPARATOR.join(clean_text(v) for v in value if clean_text(v))
    return str(value).strip()


def items_frame(items: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(items, columns=[*NEWS_COLUMNS, "line"])
    return frame.astype({c: object for c in NEWS_COLUMNS})


def apply_vocabulary(items: list[dict[str, object]], vocabulary: Iterable[str] | None,
                      source: str, warnings: list[Problem]) -> None:
    """Split each item's tags (against the vocabulary if given) and warn on unknown ones."""
    known = list(vocabulary) if vocabulary is not None else []
    for item in items:
        split = split_tags(str(item["tags"]), known)
        item["tags"] = TAG_SEPARATOR.join(split.all_tags)
        if vocabulary is None:
            continue
        for unknown in split.unknown:
            warnings.append(Problem(source, f"unknown tag {unknown!r} on item "
                                    f"{str(item['title'])[:60]!r} (not in tags.csv); kept as "
                                    "written", row=item["line"], column="tags"))


# --------------------------------------------------------------------------- parsers



def read_text(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise DataError(Problem(str(path), "file not found")) from None
    except IsADirectoryError:
        raise DataError(Problem(str(path), "is a folder, expected a file")) from None
    except UnicodeDecodeError as exc:
        raise DataError(Problem(str(path), f"not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start})")) from None
