"""News items: parse (CSV, JSON, NNSC pages), import into a workbook, link to reports, render.

- :mod:`.tags` the tag vocabulary's splitter (tag lines scraped from pages lose separators).
- :mod:`.fields` one item's fields: dates as pages print them, cleaned text, the item check.
- :mod:`.parse` CSV and JSON parsers; :mod:`.parse_page` NNSC-style pages.
- :mod:`.store` the atomic import into ``news.csv`` (checked by the workbook's news rules).
- :mod:`.link` which items belong to which report; tag counts over time.
- :mod:`.html_list` the escaped HTML list of items.
"""

from impactbook.news.html_list import render_news_html
from impactbook.news.link import news_for_city, news_for_intervention
from impactbook.news.parse import guess_news_format
from impactbook.news.store import ImportReport, import_news

__all__ = [
    "ImportReport",
    "guess_news_format",
    "import_news",
    "news_for_city",
    "news_for_intervention",
    "render_news_html",
]
