"""News items as an escaped HTML list (the report's news section)."""

from __future__ import annotations

import html

import pandas as pd

from impactbook.news.link import item_tags, sort_news
from impactbook.workbook.cells import is_http_url


def safe_http_url(url: object) -> str | None:
    """The URL if it is a plain http(s) address, else None (never ``javascript:`` etc.)."""
    if url is None or (isinstance(url, float) and pd.isna(url)):
        return None
    text = str(url).strip()
    return text if is_http_url(text) else None


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
