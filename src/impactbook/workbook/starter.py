"""``impactbook init DIR``: an empty, valid workbook for a team starting from nothing.

Five tables and costs.csv with their headers (``tags.csv`` already holds the intervention types
and topics the reports know) and a README saying what goes in each column and how to fill them.
Existing tables are never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from impactbook.errors import ParameterError
from impactbook.fsutil import atomic_write_text
from impactbook.workbook.schema import (
    CONFIDENCE_LEVELS,
    COSTS,
    EXTRA_OPTIONAL,
    EXTRA_REQUIRED,
    FUNDERS,
    INTERVENTIONS,
    NEWS,
    OPTIONAL,
    OUTCOMES,
    REQUIRED,
    TAG_KINDS,
    TAGS,
    UNIT_COSTS,
)

README = "README.md"
# The vocabulary every workbook starts with: the programme types and the shared topics.
STARTER_TAGS = (
    ("Cure Violence", "intervention"),
    ("Drug Market Intervention", "intervention"),
    ("Group Violence Intervention", "intervention"),
    ("Intimate Partner Violence Intervention", "intervention"),
    ("Project Safe Neighborhoods", "intervention"),
    ("National Initiative for Building Community Trust and Justice", "initiative"),
    ("Support and Outreach", "topic"),
)
COLUMN_MEANINGS: dict[str, dict[str, str]] = {
    OUTCOMES: {
        "city": "the city (also a tag of kind city in tags.csv)",
        "area": "citywide, or a district/precinct/beat name (e.g. Precinct 77)",
        "outcome": "what is counted: shootings, homicides, ...",
        "period": "YYYY-MM (monthly) or YYYY-Qn (quarterly); one frequency per city",
        "count": "a non-negative whole number; leave a missing period out (no row = missing)",
        "population": "optional residents of the area (rates, offsets)",
    },
    INTERVENTIONS: {
        "id": "a unique short id, e.g. spr-gvi",
        "city": "the city (as in outcomes.csv)",
        "intervention": "the programme type: a tag of kind intervention",
        "programme": "its name, e.g. Springfield Ceasefire",
        "area": "where it ran: citywide or areas of outcomes.csv, ';'-separated",
        "start": "first period of the programme (YYYY-MM or YYYY-Qn)",
        "outcomes": "the outcomes it should change, ';'-separated; the first is the primary",
        "end": "optional last period",
        "comparison_areas": "optional areas to compare with, ';'-separated",
        "confidence": "how sure the start and area are: "
                      + ", ".join(CONFIDENCE_LEVELS) + " (verified, partly, unverified)",
        "source": "where the programme facts come from (a publication or URL)",
        "notes": "anything else a reader should know",
        "target_area": "where the programme actually ran when the analysed area is larger "
                       "(text; it makes the dilution caveat show)",
    },
    NEWS: {
        "date": "YYYY-MM-DD or YYYY-MM",
        "title": "the headline",
        "outlet": "the newspaper, station or site",
        "tags": "';'-separated tags from tags.csv (city, programme type, topics)",
        "url": "optional http(s) address",
        "summary": "optional one-paragraph summary",
    },
    TAGS: {
        "tag": "a name news items and programmes are tagged with",
        "kind": " or ".join(TAG_KINDS),
    },
    FUNDERS: {
        "funder": "the funder's name",
        "email": "one address, name@domain",
        "cities": "';'-separated cities whose reports they receive (* for all)",
        "interventions": "';'-separated programme types (* for all)",
    },
    COSTS: {
        "programme": "the programme's id in interventions.csv",
        "start": "first month (YYYY-MM) or quarter the amount covers, e.g. 2014-07",
        "end": "last month or quarter it covers, e.g. 2015-06 (a city fiscal year)",
        "amount": "what was spent over the period: a plain number, e.g. 4187000",
        "currency": "an ISO 4217 code, e.g. USD (one per programme)",
        "price_year": "the year whose prices the amount is in (nominal: the year spent)",
        "source": "where the amount comes from (a budget document or URL)",
        "confidence": "V, P or U, as in interventions.csv",
        "notes": "what the amount pays for (outreach only, or a whole system)",
    },
    UNIT_COSTS: {
        "outcome": "an outcome of outcomes.csv, e.g. shootings",
        "cost_per_event": "the social cost of one event, a plain number",
        "currency": "an ISO 4217 code, e.g. USD",
        "price_year": "the year whose prices the cost is in",
        "what": "what the figure counts (e.g. an aggravated assault standing in for a shooting)",
        "source": "the publication it comes from",
        "confidence": "V, P or U",
    },
}
#: Tables init writes with their header; the others are only described in the README.
STARTER_TABLES = (OUTCOMES, INTERVENTIONS, NEWS, TAGS, FUNDERS, COSTS)


def _columns(table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) columns of a table, the five main ones or an optional extra."""
    if table in REQUIRED:
        return REQUIRED[table], OPTIONAL[table]
    return EXTRA_REQUIRED[table], EXTRA_OPTIONAL[table]


def _readme() -> str:
    lines = [
        "# Workbook",
        "",
        "A folder of plain UTF-8 CSV tables that `impactbook` validates, estimates from and",
        "renders reports for. Lists inside a cell are separated by `;`. Check it any time",
        "with `impactbook validate --data .`.",
        "",
        "To start: add your city as a tag (`YourCity,city` in tags.csv), ingest an incident",
        "list into outcomes.csv (`impactbook ingest generic FILE --data . --city YourCity",
        "--outcome shootings --date-column DATE_COLUMN [--area-column COL]`), then describe",
        "each programme in interventions.csv and render (`impactbook render --data . --city",
        "YourCity`).",
        "",
        "Optional: what each programme cost (costs.csv) gives its report a value-for-money",
        "part; unit_costs.csv (same folder, columns below) replaces the shipped social cost",
        "of one event for an outcome.",
    ]
    for table, meanings in COLUMN_MEANINGS.items():
        required = set(_columns(table)[0])
        lines += ["", f"## {table}", "", "| column | required | meaning |", "|---|---|---|"]
        for column in (*_columns(table)[0], *_columns(table)[1]):
            lines.append(f"| `{column}` | {'yes' if column in required else 'no'} | "
                         f"{meanings[column]} |")
    return "\n".join(lines) + "\n"


def starter_files() -> dict[str, str]:
    """File name -> text of an empty workbook."""
    files = {table: ",".join((*_columns(table)[0], *_columns(table)[1])) + "\n"
             for table in STARTER_TABLES}
    files[TAGS] += "".join(f"{tag},{kind}\n" for tag, kind in STARTER_TAGS)
    files[README] = _readme()
    return files


def init_workbook(folder: Path | str) -> list[Path]:
    """Write an empty workbook into ``folder`` (created if needed); refuses to overwrite."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ParameterError("DIR", str(folder), "a folder to create the workbook in")
    files = starter_files()
    existing = sorted(name for name in files if (folder / name).exists())
    if existing:
        raise ParameterError("DIR", str(folder), "a new or empty folder; it already has "
                             f"{', '.join(existing)} (nothing was written)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        atomic_write_text(folder / name, text)
        written.append(folder / name)
    return written
