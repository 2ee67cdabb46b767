"""Parse the news list of an NNSC-style web page saved as text.

A page lists items as a title line, a ``date | outlet`` line, an optional summary and a
``Tags:`` line whose separators scraping may have lost (see :mod:`.tags`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from impactbook.errors import DataError, Problem
from impactbook.news.fields import (
    ParsedNews,
    apply_vocabulary,
    build_item,
    clean_text,
    items_frame,
)
from impactbook.news.tags import tag_key

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
    apply_vocabulary(items, vocabulary, source, warnings)
    return ParsedNews(items_frame(items), rejected, warnings)


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
        title = clean_text(_BULLET_RE.sub("", block[0][1]))
        rejected.append(Problem(source, f"item {title[:60]!r}: no 'Month YYYY | Outlet' line "
                                "after the title", row=title_line))
        return None
    title = clean_text(" ".join(_BULLET_RE.sub("", s) if i == 0 else s
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
    item = build_item(fields, source, title_line, rejected)
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
