"""The one way the tests build a small workbook folder.

:func:`build_workbook` takes each table's rows (CSV text without the header line) and writes it
under its standard header (:data:`COLUMNS`, or ``columns={table: ...}`` for a table with other
optional columns); a table left as ``None`` is not written, ``""`` writes the header alone (an
empty table). :func:`write_workbook` writes tables given as whole text, for a test that needs a
header or a file of its own (a broken one on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: Each table's header as the tests write it: the required columns, then the optional ones a
#: test needs most often.
COLUMNS: dict[str, str] = {
    "outcomes": "city,area,outcome,period,count",
    "unit_outcomes": "city,area,outcome,period,count,population",
    "interventions": "id,city,intervention,programme,area,start,outcomes",
    "tags": "tag,kind",
    "news": "date,title,outlet,tags",
    "funders": "funder,email,cities,interventions",
    "rollouts": "programme,unit,start,end,announced,source,confidence,notes",
    "costs": "programme,start,end,amount,currency,price_year,source,confidence,notes",
    "unit_costs": "outcome,cost_per_event,currency,price_year,what,source,confidence",
    "areas": "city,area,population,within",
}

#: The tag vocabulary most test workbooks share (Springfield and two intervention types).
TAGS = ("tag,kind\nSpringfield,city\nGroup Violence Intervention,intervention\n"
        "Cure Violence,intervention\nSupport and Outreach,topic\n")
TAG_ROWS = TAGS.split("\n", 1)[1]


def monthly_rows(city: str, area: str, outcome: str, first_year: int, counts: list[int]) -> str:
    """``outcomes.csv`` rows of one monthly series starting in January of ``first_year``."""
    lines = []
    for i, count in enumerate(counts):
        year, month = first_year + i // 12, i % 12 + 1
        lines.append(f"{city},{area},{outcome},{year}-{month:02d},{count}")
    return "\n".join(lines) + "\n"


def write_workbook(folder: Path, **tables: str) -> Path:
    """Write tables given as whole CSV text: keyword = file stem, value = the file's text."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in tables.items():
        (folder / f"{stem}.csv").write_text(text, encoding="utf-8")
    return folder


def build_workbook(folder: Path, outcomes: str, programmes: str | None = None, *,
                   tags: str | None = TAG_ROWS, news: str | None = None,
                   funders: str | None = None, columns: Mapping[str, str] | None = None,
                   **tables: str | None) -> Path:
    """A workbook folder from each table's rows under its header: ``outcomes`` and
    ``programmes`` (``interventions.csv``), the tags (default :data:`TAGS`), and any other
    table by its file stem (``rollouts=``, ``costs=``, ``unit_outcomes=`` ...)."""
    headers = {**COLUMNS, **(columns or {})}
    rows = {"outcomes": outcomes, "interventions": programmes, "tags": tags, "news": news,
            "funders": funders, **tables}
    return write_workbook(folder, **{stem: f"{headers[stem]}\n{text}"
                                     for stem, text in rows.items() if text is not None})
