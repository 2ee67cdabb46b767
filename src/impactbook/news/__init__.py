"""News items: parse (CSV, JSON, NNSC pages), import into a workbook, link to reports, render.

- :mod:`.tags` the tag vocabulary's splitter (tag lines scraped from pages lose separators).
- :mod:`.items` parsers, the atomic import into ``news.csv``, linking items to reports and the
  escaped HTML list.
"""

from impactbook.news.items import (
    ImportReport,
    guess_news_format,
    import_news,
    news_for_city,
    news_for_intervention,
    render_news_html,
)

__all__ = [
    "ImportReport",
    "guess_news_format",
    "import_news",
    "news_for_city",
    "news_for_intervention",
    "render_news_html",
]
