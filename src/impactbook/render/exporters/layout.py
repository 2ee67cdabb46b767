"""The finishing of a report page's HTML: wide tables marked to be set smaller, figures and
tables numbered, the contents filled in from the section headings."""

from __future__ import annotations

import re

_WIDE_TABLE_COLUMNS = 9

_TABLE_RE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)
_ROW_RE = re.compile(r"<tr\b.*?</tr>", re.IGNORECASE | re.DOTALL)
_CELL_RE = re.compile(r"<t[hd]\b[^>]*?(?:colspan=\"?(\d+)\"?)?[^>]*>", re.IGNORECASE)


def mark_wide_tables(html_text: str) -> str:
    """Wrap tables with many columns so print CSS sets them smaller, to fit the page width."""

    def columns(table: str) -> int:
        widest = 0
        for row in _ROW_RE.findall(table)[:3]:
            widest = max(widest, sum(int(m.group(1) or 1) for m in _CELL_RE.finditer(row)))
        return widest

    def wrap(match: re.Match) -> str:
        table = match.group(0)
        if columns(table) >= _WIDE_TABLE_COLUMNS:
            return f'<div class="ib-wide">{table}</div>'
        return table

    return _TABLE_RE.sub(wrap, html_text)


_CAPTION_RE = re.compile(r"<(figcaption|caption)(\s[^>]*)?>", re.IGNORECASE)
_TOC_SLOT_RE = re.compile(r"<div class=[\"']ib-toc[\"']>\s*</div>", re.IGNORECASE)
_H2_RE = re.compile(r"<h2\b([^>]*)>(.*?)</h2>", re.IGNORECASE | re.DOTALL)
_ID_RE = re.compile(r"\bid=[\"']([^\"']+)[\"']")


def number_captions(html_text: str) -> str:
    """Number figure and table captions in reading order: ``Figure 3.``, ``Table 2.``."""
    counts = {"figcaption": 0, "caption": 0}

    def number(match: re.Match) -> str:
        tag = match.group(1).lower()
        counts[tag] += 1
        label = "Figure" if tag == "figcaption" else "Table"
        return f'{match.group(0)}<span class="ib-number">{label} {counts[tag]}.</span> '

    return _CAPTION_RE.sub(number, html_text)


def fill_contents(html_text: str) -> str:
    """Fill the report's contents slot with a link to every section heading after it
    (printed with page numbers)."""
    slot = _TOC_SLOT_RE.search(html_text)
    if slot is None:
        return html_text
    entries = []
    for match in _H2_RE.finditer(html_text, slot.end()):
        found = _ID_RE.search(match.group(1))
        title = " ".join(re.sub(r"<[^>]+>", "", match.group(2)).replace("\u00b6", "").split())
        if found and title:
            entries.append(f'<li><a href="#{found.group(1)}">{title}</a></li>')
    if not entries:
        return html_text[:slot.start()] + html_text[slot.end():]
    contents = ('<div class="ib-toc"><h2 class="ib-toc-title">Contents</h2><ol>'
                + "".join(entries) + "</ol></div>")
    return html_text[:slot.start()] + contents + html_text[slot.end():]


def finish_report_html(html_text: str) -> str:
    """Every finishing step, in the order they depend on each other."""
    return fill_contents(number_captions(mark_wide_tables(html_text)))
