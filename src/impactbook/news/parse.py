"""Parse news items from CSV or JSON text (pure: text in, items and rejections out).

Each parser returns the accepted items (``date, title, outlet, tags, url, summary`` plus
the ``line`` each item starts on) and the rejected ones, each a
:class:`~impactbook.errors.Problem` with its line. NNSC-style pages are in
:mod:`.parse_page`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from impactbook.errors import DataError, Problem
from impactbook.news.fields import (
    REQUIRED_COLUMNS,
    ParsedNews,
    apply_vocabulary,
    build_item,
    items_frame,
    read_text,
)

FORMATS = ("csv", "json", "nnsc-page")


def parse_news_csv(path: Path, vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """Parse a CSV of news items (``date, title, outlet, tags``, optional ``url, summary``).

    Rows that cannot be items are rejected with their line (quoted fields may
    span lines; the line is where the row starts). A file without the required
    header (say an HTML page saved as ``.csv``) raises :class:`DataError`.
    With a ``vocabulary`` tags are split and normalised; unknown ones are warnings.
    """
    path = Path(path)
    text = read_text(path)
    return parse_news_csv_text(text, source=str(path), vocabulary=vocabulary)


def parse_news_csv_text(text: str, source: str = "<csv>",
                        vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """:func:`parse_news_csv` on text already read."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            rows.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(Problem(source, f"not readable as CSV ({exc})", row=start)) from None
    if not rows:
        raise DataError(Problem(source, "empty file; expected a header "
                                f"'{','.join(REQUIRED_COLUMNS)}'", row=1))
    header = [h.strip().lower() for h in rows[0][1]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hint = " (this looks like HTML, not CSV)" if "<" in ",".join(rows[0][1]) else ""
        raise DataError(Problem(source, f"missing column(s) {', '.join(missing)}{hint}; "
                                f"expected {', '.join(REQUIRED_COLUMNS)} and optionally "
                                "url, summary", row=1))
    rejected: list[Problem] = []
    items: list[dict[str, object]] = []
    for line, fields in rows[1:]:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            rejected.append(Problem(source, f"expected {len(header)} fields, got {len(fields)}",
                                    row=line))
            continue
        item = build_item(dict(zip(header, fields, strict=True)), source, line, rejected)
        if item is not None:
            items.append(item)
    warnings: list[Problem] = []
    apply_vocabulary(items, vocabulary, source, warnings)
    return ParsedNews(items_frame(items), rejected, warnings)


def parse_news_json(path: Path, vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """Parse a JSON list of item objects, or an object with the list under ``"items"``.

    Item keys are ``date, title, outlet`` (required) and ``tags`` (text or a list),
    ``url``, ``summary``. Rejected items carry the line their object starts on.
    """
    path = Path(path)
    return parse_news_json_text(read_text(path), source=str(path), vocabulary=vocabulary)


def parse_news_json_text(text: str, source: str = "<json>",
                         vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """:func:`parse_news_json` on text already read."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(Problem(source, f"not valid JSON: {exc.msg} (column {exc.colno})",
                                row=exc.lineno)) from None
    except RecursionError:  # a news item is a flat object; thousands of levels are not news
        raise DataError(Problem(source, "JSON nested too deeply (news items are a list of "
                                "flat objects)")) from None
    rejected: list[Problem] = []
    items: list[dict[str, object]] = []
    for line, value in _json_items_with_lines(text, source):
        if not isinstance(value, dict):
            rejected.append(Problem(source, f"expected an object with date, title, outlet; "
                                    f"got {type(value).__name__}", row=line))
            continue
        bad = [k for k in ("date", "title", "outlet", "url", "summary")
               if value.get(k) is not None and not isinstance(value[k], str)]
        tags = value.get("tags")
        if tags is not None and not (isinstance(tags, str) or (
                isinstance(tags, list) and all(isinstance(t, str) for t in tags))):
            bad.append("tags")
        if bad:
            rejected.append(Problem(source, f"field(s) {', '.join(bad)} must be text"
                                    + (" (tags: text or a list of text)" if "tags" in bad
                                       else ""), row=line))
            continue
        item = build_item(value, source, line, rejected)
        if item is not None:
            items.append(item)
    warnings: list[Problem] = []
    apply_vocabulary(items, vocabulary, source, warnings)
    return ParsedNews(items_frame(items), rejected, warnings)


def _json_items_with_lines(text: str, source: str) -> Iterator[tuple[int, object]]:
    """The item values of a valid JSON document with the line each one starts on.

    ``json`` does not report positions of values, so this walks the top-level
    list (or the ``items`` list of a top-level object) with ``raw_decode``.
    """
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")

    def skip(pos: int) -> int:
        return ws.match(text, pos).end()

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def walk_list(pos: int) -> Iterator[tuple[int, object]]:
        pos = skip(pos + 1)  # after '['
        if text[pos] == "]":
            return
        while True:
            value, end = decoder.raw_decode(text, pos)
            yield line_of(pos), value
            pos = skip(end)
            if text[pos] == "]":
                return
            pos = skip(pos + 1)  # after ','

    pos = skip(0)
    if text.startswith("\ufeff", pos):
        pos = skip(pos + 1)
    if text[pos] == "[":
        yield from walk_list(pos)
        return
    if text[pos] == "{":
        pos = skip(pos + 1)
        while text[pos] != "}":
            key, end = decoder.raw_decode(text, pos)
            pos = skip(skip(end) + 1)  # after ':'
            if key == "items":
                if text[pos] != "[":
                    raise DataError(Problem(source, '"items" must be a list of objects',
                                            row=line_of(pos)))
                yield from walk_list(pos)
                return
            _, end = decoder.raw_decode(text, pos)
            pos = skip(end)
            if text[pos] == ",":
                pos = skip(pos + 1)
        raise DataError(Problem(source, 'expected a list of items or an object with "items"',
                                row=1))
    raise DataError(Problem(source, 'expected a list of items or an object with "items"',
                            row=line_of(pos)))



def guess_news_format(path: Path) -> str:
    """``csv``, ``json`` or ``nnsc-page`` from a file's extension (anything else: page)."""
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "json"}.get(suffix, "nnsc-page")



def parse_news_text(text: str, fmt: str, source: str,
                    vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """Parse ``text`` in format ``fmt`` (one of :data:`FORMATS`)."""
    from impactbook.news.parse_page import parse_nnsc_page

    if fmt == "csv":
        return parse_news_csv_text(text, source, vocabulary)
    if fmt == "json":
        return parse_news_json_text(text, source, vocabulary)
    return parse_nnsc_page(text, source, vocabulary)
