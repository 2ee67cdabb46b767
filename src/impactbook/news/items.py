"""News items: parse them from CSV, JSON or NNSC-style pages, import, link and render.

Parsers are pure: they turn text into a frame of items (``date, title, outlet,
tags, url, summary`` plus the ``line`` each item starts on) and a list of
rejected items, each a :class:`~impactbook.errors.Problem` with its line.
:func:`import_news` is the only function here that writes a file.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from impactbook.errors import DataError, ParameterError, Problem
from impactbook.fsutil import atomic_path, safe_join
from impactbook.locks import workbook_lock
from impactbook.news.tags import normalise_space, read_tags_csv, split_tags, tag_key
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
_HTTP_URL_RE = re.compile(r"^https?://[^\s<>\"'`\x00-\x1f\x7f]+$", re.IGNORECASE)


class ParsedNews(NamedTuple):
    """What a parser found: accepted items, rejected items and warnings (both with lines)."""

    items: pd.DataFrame
    rejected: list[Problem]
    warnings: list[Problem]


@dataclass(frozen=True)
class ImportReport:
    """The outcome of :func:`import_news`."""

    path: Path
    new: int
    duplicates: int
    rejected: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    new_titles: tuple[str, ...] = ()
    duplicate_titles: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing in the input was rejected."""
        return not self.rejected

    def summary_lines(self) -> list[str]:
        """One headline, then one line per rejected item and per warning (each with its line)."""
        verb = "would be added to" if self.dry_run else "added to"
        lines = [f"{self.new} new item(s) {verb} {self.path}, {self.duplicates} duplicate(s) "
                 f"skipped, {len(self.rejected)} rejected, {len(self.warnings)} warning(s)"]
        lines += [f"rejected: {p}" for p in self.rejected]
        lines += [f"warning: {p}" for p in self.warnings]
        return lines


# --------------------------------------------------------------------------- dates and fields


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


def _clean_text(value: object) -> str:
    return normalise_space(value) if value is not None else ""


def _clean_summary(value: object) -> str:
    """Normalise spaces inside paragraphs but keep paragraph breaks (blank lines)."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (normalise_space(p) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def _build_item(fields: dict[str, object], source: str, line: int | None,
                rejected: list[Problem]) -> dict[str, object] | None:
    """Check one item's fields; return the cleaned item or record why it is rejected."""
    title = _clean_text(fields.get("title"))
    outlet = _clean_text(fields.get("outlet"))
    url = _clean_text(fields.get("url"))
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
    if url and not _HTTP_URL_RE.match(url):
        reasons.append(("url", f"url {url[:80]!r} is not an http:// or https:// address"))
    if reasons:
        column = reasons[0][0] if len(reasons) == 1 else None
        label = f"item {title[:60]!r}: " if title else ""
        rejected.append(Problem(source, label + "; ".join(r for _, r in reasons),
                                row=line, column=column))
        return None
    return {"date": date, "title": title, "outlet": outlet,
            "tags": _clean_tags(fields.get("tags")), "url": url,
            "summary": _clean_summary(fields.get("summary")), "line": line}


def _clean_tags(value: object) -> str:
    """Tags as one ``;``-joined string; lists are joined, text is kept for the splitter."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return TAG_SEPARATOR.join(_clean_text(v) for v in value if _clean_text(v))
    return str(value).strip()


def _items_frame(items: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(items, columns=[*NEWS_COLUMNS, "line"])
    return frame.astype({c: object for c in NEWS_COLUMNS})


def _apply_vocabulary(items: list[dict[str, object]], vocabulary: Iterable[str] | None,
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


def parse_news_csv(path: Path, vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """Parse a CSV of news items (``date, title, outlet, tags``, optional ``url, summary``).

    Rows that cannot be items are rejected with their line (quoted fields may
    span lines; the line is where the row starts). A file without the required
    header (say an HTML page saved as ``.csv``) raises :class:`DataError`.
    With a ``vocabulary`` tags are split and normalised; unknown ones are warnings.
    """
    path = Path(path)
    text = _read_text(path)
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
        item = _build_item(dict(zip(header, fields, strict=True)), source, line, rejected)
        if item is not None:
            items.append(item)
    warnings: list[Problem] = []
    _apply_vocabulary(items, vocabulary, source, warnings)
    return ParsedNews(_items_frame(items), rejected, warnings)


def parse_news_json(path: Path, vocabulary: Iterable[str] | None = None) -> ParsedNews:
    """Parse a JSON list of item objects, or an object with the list under ``"items"``.

    Item keys are ``date, title, outlet`` (required) and ``tags`` (text or a list),
    ``url``, ``summary``. Rejected items carry the line their object starts on.
    """
    path = Path(path)
    return parse_news_json_text(_read_text(path), source=str(path), vocabulary=vocabulary)


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
        item = _build_item(value, source, line, rejected)
        if item is not None:
            items.append(item)
    warnings: list[Problem] = []
    _apply_vocabulary(items, vocabulary, source, warnings)
    return ParsedNews(_items_frame(items), rejected, warnings)


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


_BULLET_RE = re.compile(r"^\s*[•·▪●◦‣]\s+")
_DATE_LINE_RE = re.compile(r"^\s*(?P<date>[^|]{0,40}?\d{4}[^|]{0,10}?)\s*\|\s*(?P<outlet>.*?)\s*$")
_TAGS_LINE_RE = re.compile(r"^\s*Tags\s*:\s*(?P<tags>.*?)\s*$", re.IGNORECASE)


def parse_nnsc_page(text: str, source: str = "<page>",
                    vocabulary: Iterable[str] | None = None, *,
                    start_marker: str = "News & Updates",
                    end_markers: Iterable[str] = ("NNSC Impact",)) -> ParsedNews:
    """Parse news items laid out as on the NNSC home page.

    Each item is a title line (optionally bulleted ``•``), a ``Month YYYY | Outlet``
    line, summary paragraph(s) and a ``Tags:`` line. Only the text between the
    ``start_marker`` heading (when present) and the first ``end_markers`` line is
    read, so the mission text above and the impact box below never become items.
    Text in that section that belongs to no well-formed item is rejected with its
    line; an item without a ``Tags:`` line is kept with a warning.
    """
    lines = _page_lines(text)
    section = _news_section(lines, start_marker, tuple(end_markers))
    rejected: list[Problem] = []
    warnings: list[Problem] = []
    items: list[dict[str, object]] = []
    for block in _item_blocks(section, rejected, source):
        item = _parse_item_block(block, source, rejected, warnings)
        if item is not None:
            items.append(item)
    if not items:
        # A page with no item at all is the wrong file (or an HTML page), not an empty import.
        raise DataError([Problem(source, "no news items found; expected a title line followed "
                                 "by a 'Month YYYY | Outlet' line, the summary and a 'Tags:' "
                                 "line"), *rejected])
    _apply_vocabulary(items, vocabulary, source, warnings)
    return ParsedNews(_items_frame(items), rejected, warnings)


def _page_lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines with no-break spaces as spaces and trailing space removed."""
    text = text.lstrip("\ufeff")
    return [(number, line.replace("\u00a0", " ").rstrip())
            for number, line in enumerate(text.splitlines(), start=1)]


def _news_section(lines: list[tuple[int, str]], start_marker: str,
                  end_markers: tuple[str, ...]) -> list[tuple[int, str]]:
    start_key = tag_key(start_marker)
    end_keys = {tag_key(m) for m in end_markers}
    begin = next((i + 1 for i, (_, s) in enumerate(lines) if tag_key(s) == start_key), 0)
    section = []
    for number, line in lines[begin:]:
        if tag_key(line) in end_keys:
            break
        section.append((number, line))
    return section


def _item_blocks(section: list[tuple[int, str]], rejected: list[Problem],
                 source: str) -> Iterator[list[tuple[int, str]]]:
    """Cut the section into per-item blocks of non-blank lines (blank lines kept as '').

    A block starts at a bulleted line when the page uses bullets, otherwise at the
    line right before each ``Month YYYY | Outlet`` line. Text before the first
    block belongs to no item and is rejected.
    """
    has_bullets = any(_BULLET_RE.match(s) for _, s in section)
    if has_bullets:
        starts = [i for i, (_, s) in enumerate(section) if _BULLET_RE.match(s)]
    else:
        starts = []
        for i, (_, s) in enumerate(section):
            if _DATE_LINE_RE.match(s) and not _TAGS_LINE_RE.match(s):
                j = i - 1
                while j >= 0 and not section[j][1].strip():
                    j -= 1
                if j >= 0 and (not starts or j > starts[-1]):
                    starts.append(j)
    first = starts[0] if starts else len(section)
    stray = [(n, s) for n, s in section[:first] if s.strip()]
    if stray:
        rejected.append(Problem(source, f"text {stray[0][1].strip()[:60]!r} is not part of a news "
                                "item (expected a title line followed by a 'Month YYYY | Outlet' "
                                "line)", row=stray[0][0]))
    for k, begin in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(section)
        yield section[begin:end]


def _parse_item_block(block: list[tuple[int, str]], source: str, rejected: list[Problem],
                      warnings: list[Problem]) -> dict[str, object] | None:
    title_line = block[0][0]
    date_at = next((i for i, (_, s) in enumerate(block)
                    if _DATE_LINE_RE.match(s) and not _TAGS_LINE_RE.match(s)), None)
    if date_at is None:
        title = _clean_text(_BULLET_RE.sub("", block[0][1]))
        rejected.append(Problem(source, f"item {title[:60]!r}: no 'Month YYYY | Outlet' line "
                                "after the title", row=title_line))
        return None
    title = _clean_text(" ".join(_BULLET_RE.sub("", s) if i == 0 else s
                                 for i, (_, s) in enumerate(block[:date_at]) if s.strip()))
    date_number, date_text = block[date_at]
    m = _DATE_LINE_RE.match(date_text)
    summary_lines: list[str] = []
    tags_text: str | None = None
    trailing: tuple[int, str] | None = None
    for number, line in block[date_at + 1:]:
        if tags_text is not None:
            if line.strip() and trailing is None:
                trailing = (number, line.strip())
            continue
        tm = _TAGS_LINE_RE.match(line)
        if tm:
            tags_text = tm.group("tags")
        else:
            summary_lines.append(line.strip())
    fields = {"title": title, "date": m.group("date"), "outlet": m.group("outlet"),
              "summary": "\n".join(summary_lines), "tags": tags_text or ""}
    before = len(rejected)
    item = _build_item(fields, source, title_line, rejected)
    if item is None and len(rejected) > before and "date" in rejected[-1].message:
        # Point at the line that holds the bad date rather than at the title.
        p = rejected[-1]
        rejected[-1] = Problem(p.file, p.message, row=date_number, column=p.column)
    if trailing is not None:
        rejected.append(Problem(source, f"text {trailing[1][:60]!r} after the 'Tags:' line is "
                                "not part of a news item (expected a title line followed by a "
                                "'Month YYYY | Outlet' line)", row=trailing[0]))
    if item is not None and tags_text is None:
        warnings.append(Problem(source, f"item {title[:60]!r} has no 'Tags:' line",
                                row=title_line))
    return item


# --------------------------------------------------------------------------- import


def guess_news_format(path: Path) -> str:
    """``csv``, ``json`` or ``nnsc-page`` from a file's extension (anything else: page)."""
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "json"}.get(suffix, "nnsc-page")


def duplicate_key(title: object, outlet: object, date: object) -> tuple[str, str, str]:
    """Items with the same title, outlet and month (case, space and quote style aside)."""
    def fold(text: object) -> str:
        text = unicodedata.normalize("NFKC", str(text))
        text = text.translate(str.maketrans("‘’‚“”„", "'''\"\"\""))
        return normalise_space(text).casefold()

    try:
        month = str(parse_date_or_month(normalise_news_date(date)))
    except ValueError:
        month = normalise_space(str(date))
    return fold(title), fold(outlet), month


def import_news(data_dir: Path, file: Path, fmt: str, *, dry_run: bool = False) -> ImportReport:
    """Append the new items in ``file`` to ``data_dir/news.csv``, atomically.

    Tags are split and normalised against ``data_dir/tags.csv``; unknown tags are
    kept as written and reported as warnings. Items already in ``news.csv`` (or
    earlier in the same file) with the same title, outlet and month are counted
    as duplicates and not added. ``news.csv`` is replaced in one rename, so an
    import that fails halfway leaves it exactly as it was. Raises
    :class:`DataError` when the input, ``tags.csv`` or ``news.csv`` cannot be read.
    """
    data_dir, file = Path(data_dir), Path(file)
    if fmt not in FORMATS:
        raise ParameterError("format", fmt, " | ".join(FORMATS))
    if dry_run:
        return _import_news(data_dir, file, fmt, dry_run=True)
    # Read, merge and replace news.csv under the workbook's lock: two imports at once must
    # not both read the old file and the second rename drop the first one's items.
    with workbook_lock(data_dir, "news import"):
        return _import_news(data_dir, file, fmt, dry_run=False)


def _import_news(data_dir: Path, file: Path, fmt: str, *, dry_run: bool) -> ImportReport:
    vocabulary = read_tags_csv(data_dir / "tags.csv")["tag"].tolist()
    text = _read_text(file)
    if fmt == "csv":
        parsed = parse_news_csv_text(text, str(file), vocabulary)
    elif fmt == "json":
        parsed = parse_news_json_text(text, str(file), vocabulary)
    else:
        parsed = parse_nnsc_page(text, str(file), vocabulary)

    news_path = safe_join(data_dir, "news.csv")
    header, existing_rows, existing_bytes = _read_existing_news(news_path)
    seen = {duplicate_key(r.get("title", ""), r.get("outlet", ""), r.get("date", ""))
            for r in existing_rows}
    new_rows: list[dict[str, str]] = []
    duplicate_titles: list[str] = []
    for item in parsed.items.to_dict("records"):
        key = duplicate_key(item["title"], item["outlet"], item["date"])
        if key in seen:
            duplicate_titles.append(str(item["title"]))
            continue
        seen.add(key)
        new_rows.append({c: str(item[c]) for c in NEWS_COLUMNS})

    if new_rows and not dry_run:
        write_news_rows(news_path, header, existing_rows, existing_bytes, new_rows)
    return ImportReport(path=news_path, new=len(new_rows), duplicates=len(duplicate_titles),
                        rejected=tuple(parsed.rejected), warnings=tuple(parsed.warnings),
                        new_titles=tuple(r["title"] for r in new_rows),
                        duplicate_titles=tuple(duplicate_titles), dry_run=dry_run)


def _read_text(path: Path) -> str:
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


def _read_existing_news(path: Path) -> tuple[list[str], list[dict[str, str]], bytes]:
    """Header, rows (as text) and raw bytes of an existing news.csv; empty if absent."""
    if not path.exists():
        return list(NEWS_COLUMNS), [], b""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(Problem(str(path), f"not UTF-8 text ({exc.reason})")) from None
    if not text.strip():
        return list(NEWS_COLUMNS), [], b""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(Problem(str(path), f"missing column(s) {', '.join(missing)}; refusing "
                                "to append to it", row=1))
    reader.fieldnames = header
    try:
        rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        raise DataError(Problem(str(path), f"not readable as CSV ({exc})",
                                row=reader.line_num)) from None
    return header, rows, raw


def write_news_rows(path: Path, header: list[str], existing_rows: list[dict[str, str]],
                    existing_bytes: bytes, new_rows: list[dict[str, str]]) -> None:
    """Write ``news.csv`` with ``new_rows`` appended, replacing the file in one rename.

    When the existing header already has every news column its bytes are copied
    unchanged (so an append never rewrites what was there); otherwise the file is
    rewritten with the missing optional columns added at the end.
    """
    missing = [c for c in NEWS_COLUMNS if c not in header]
    columns = header + missing
    newline = "\r\n" if b"\r\n" in existing_bytes else "\n"
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        if existing_bytes and not missing:
            fh.write(existing_bytes)
            if not existing_bytes.endswith(b"\n"):
                fh.write(newline.encode())
        else:
            fh.write(_format_row(dict(zip(columns, columns, strict=True)), columns, newline))
            for row in existing_rows:
                fh.write(_format_row(row, columns, newline))
        for row in new_rows:
            fh.write(_format_row(row, columns, newline))


def _format_row(row: dict[str, str], columns: list[str], newline: str) -> bytes:
    """One CSV record as UTF-8 bytes (quoted as needed, e.g. summaries with line breaks)."""
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- linking


def item_tags(tags: object) -> list[str]:
    """The tags of one item (its ``;``-separated ``tags`` field)."""
    if tags is None or (isinstance(tags, float) and pd.isna(tags)):
        return []
    return [t for t in (normalise_space(x) for x in str(tags).split(TAG_SEPARATOR)) if t]


def _has_any_tag(news: pd.DataFrame, wanted: Iterable[str]) -> pd.Series:
    if "tags" not in news.columns:
        return pd.Series(False, index=news.index)
    keys = {tag_key(t) for t in wanted if normalise_space(t)}
    return news["tags"].map(lambda v: any(tag_key(t) in keys for t in item_tags(v))
                            ).astype(bool)


def sort_news(items: pd.DataFrame, newest_first: bool = False) -> pd.DataFrame:
    """Items ordered by date (``YYYY-MM`` sorts before days of that month), then title."""
    if items.empty:
        return items.reset_index(drop=True)
    order = items.assign(_date=items["date"].astype(str), _title=items["title"].astype(str))
    order = order.sort_values(["_date", "_title"], ascending=[not newest_first, True],
                              kind="stable")
    return order.drop(columns=["_date", "_title"]).reset_index(drop=True)


def news_for_intervention(news: pd.DataFrame, intervention: str) -> pd.DataFrame:
    """Items tagged with the intervention type (case- and space-insensitively), by date."""
    return sort_news(news[_has_any_tag(news, [intervention])])


def news_for_city(news: pd.DataFrame, tags: pd.DataFrame, interventions: pd.DataFrame,
                  city: str) -> pd.DataFrame:
    """Items for a city's report, by date, with a ``matched_by`` column saying why.

    An item belongs to the city when it is tagged with the city, with an
    intervention type the city runs (``interventions.csv``), or with one of the
    city's programme names that the vocabulary (``tags``) knows as an initiative
    or intervention (``Oakland Ceasefire``).
    """
    city_key = tag_key(city)
    runs = interventions[interventions["city"].map(tag_key) == city_key]
    linked = [normalise_space(t) for t in runs["intervention"].dropna().astype(str)]
    if "programme" in runs.columns and not tags.empty:
        known = {tag_key(t): t for t, kind in zip(tags["tag"], tags["kind"], strict=True)
                 if str(kind) in ("initiative", "intervention")}
        linked += [known[tag_key(p)] for p in runs["programme"].dropna().astype(str)
                   if tag_key(p) in known]
    linked_keys = {tag_key(t): t for t in linked}

    def reason(value: object) -> str:
        keys = [tag_key(t) for t in item_tags(value)]
        found = (["city"] if city_key in keys else []) + [
            linked_keys[k] for k in dict.fromkeys(keys) if k in linked_keys]
        return "; ".join(found)

    if "tags" not in news.columns or news.empty:
        return sort_news(news.assign(matched_by=pd.Series(dtype=object)))
    matched = news.assign(matched_by=news["tags"].map(reason).astype(object))
    return sort_news(matched[matched["matched_by"] != ""])


def count_tags_by_period(news: pd.DataFrame, freq: str = "Y",
                         tags: Iterable[str] | None = None) -> pd.DataFrame:
    """Items per tag and period: rows are periods (``2017``, ``2017-Q4`` or ``2017-11``,
    every period from the first to the last item, zeros included), columns are tags.

    ``tags`` restricts (and orders) the columns; otherwise every tag that occurs.
    """
    freq = str(freq).upper()
    if freq not in ("Y", "Q", "M"):
        raise ParameterError("freq", freq, "Y (years), Q (quarters) or M (months)")
    pandas_freq = {"Y": "Y-DEC", "Q": "Q-DEC", "M": "M"}[freq]
    records = []
    for position, (date, value) in enumerate(zip(news["date"], news["tags"], strict=True)):
        try:
            month = parse_date_or_month(date)
        except ValueError as exc:
            raise DataError(Problem("news.csv", str(exc), row=position + 2,
                                    column="date")) from None
        period = month.asfreq(pandas_freq)
        records += [(period, t) for t in dict.fromkeys(item_tags(value))]
    wanted = [normalise_space(t) for t in tags] if tags is not None else None
    if wanted is not None:
        keys = {tag_key(t): t for t in wanted}
        records = [(p, keys[tag_key(t)]) for p, t in records if tag_key(t) in keys]
    columns = wanted if wanted is not None else sorted({t for _, t in records}, key=str.casefold)
    if not records:
        return pd.DataFrame(columns=columns, dtype="int64").rename_axis("period")
    long = pd.DataFrame(records, columns=["period", "tag"])
    table = pd.crosstab(long["period"], long["tag"])
    full = pd.period_range(long["period"].min(), long["period"].max(), freq=pandas_freq)
    table = table.reindex(index=full, columns=columns, fill_value=0).astype("int64")
    table.index = [_period_label(p, freq) for p in table.index]
    table.index.name = "period"
    table.columns.name = None
    return table


def _period_label(period: pd.Period, freq: str) -> str:
    if freq == "Y":
        return f"{period.year:04d}"
    if freq == "Q":
        return f"{period.year:04d}-Q{period.quarter}"
    return f"{period.year:04d}-{period.month:02d}"


# --------------------------------------------------------------------------- rendering


def safe_http_url(url: object) -> str | None:
    """The URL if it is a plain http(s) address, else None (never ``javascript:`` etc.)."""
    if url is None or (isinstance(url, float) and pd.isna(url)):
        return None
    text = str(url).strip()
    return text if _HTTP_URL_RE.match(text) else None


def render_news_html(items: pd.DataFrame, *, newest_first: bool = False,
                     empty_message: str = "No news items.") -> str:
    """An HTML list of news items by date: date, outlet, title (linked if http(s)), summary.

    Every piece of text is escaped, so a summary containing ``<script>`` shows as
    text; only ``http://`` and ``https://`` URLs become links.
    """
    esc = html.escape
    if items is None or items.empty:
        return f'<p class="impactbook-news-empty">{esc(empty_message)}</p>'
    parts = ['<ul class="impactbook-news">']
    for row in sort_news(items, newest_first=newest_first).to_dict("records"):
        title = esc(_text_or_empty(row.get("title")))
        url = safe_http_url(row.get("url"))
        if url is not None:
            title = (f'<a href="{esc(url, quote=True)}" target="_blank" '
                     f'rel="noopener noreferrer">{title}</a>')
        meta = " · ".join(esc(_text_or_empty(row.get(k))) for k in ("date", "outlet")
                          if _text_or_empty(row.get(k)))
        entry = [f'<li class="impactbook-news-item"><span class="news-meta">{meta}</span> '
                 f'<strong class="news-title">{title}</strong>']
        summary = _text_or_empty(row.get("summary"))
        for paragraph in (p for p in summary.split("\n\n") if p.strip()):
            entry.append(f'<p class="news-summary">{esc(paragraph)}</p>')
        tag_list = item_tags(row.get("tags"))
        if tag_list:
            entry.append('<p class="news-tags">Tags: '
                         f'{esc(", ".join(tag_list))}</p>')
        entry.append("</li>")
        parts.append("".join(entry))
    parts.append("</ul>")
    return "\n".join(parts)


def _text_or_empty(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)
