"""``impactbook init DIR``: an empty, valid workbook for a team starting from nothing.

Five tables with their headers (``tags.csv`` already holds the intervention types and topics
the reports know) and a README saying what goes in each column and how to fill them. Existing
tables are never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from impactbook.errors import ParameterError
from impactbook.fsutil import atomic_write_text
from impactbook.workbook.schema import (
    CONFIDENCE_LEVELS,
    FUNDERS,
    INTERVENTIONS,
    NEWS,
    OPTIONAL,
    OUTCOMES,
    REQUIRED,
    ROLLOUT_OPTIONAL,
    ROLLOUT_REQUIRED,
    ROLLOUTS,
    TAG_KINDS,
    TAGS,
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
    ROLLOUTS: {
        "programme": "the id of a programme in interventions.csv whose area is 'rollout'",
        "unit": "an area of outcomes.csv, or a group code (gang, faction, crew) whose series "
                "are in unit_outcomes.csv (its population column is the exposure, e.g. roster "
                "size, used as an offset)",
        "start": "the unit's first treated period; a start after the data's end means not "
                 "treated within the data",
        "end": "optional last period (the estimate keeps the unit as treated after it: "
               "intention to treat)",
        "announced": "optional period the start was announced",
        "source": "where the start comes from",
        "confidence": "V, P or U, as in interventions.csv",
        "notes": "anything else a reader should know",
    },
}
# Tables beyond the five whose header `init` writes (optional ones: no rows is valid).
_COLUMNS = {**{t: (*REQUIRED[t], *OPTIONAL[t]) for t in REQUIRED},
            ROLLOUTS: (*ROLLOUT_REQUIRED, *ROLLOUT_OPTIONAL)}


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
    ]
    for table, meanings in COLUMN_MEANINGS.items():
        required = set(REQUIRED.get(table, ROLLOUT_REQUIRED))
        lines += ["", f"## {table}", "", "| column | required | meaning |", "|---|---|---|"]
        for column in _COLUMNS[table]:
            lines.append(f"| `{column}` | {'yes' if column in required else 'no'} | "
                         f"{meanings[column]} |")
    return "\n".join(lines) + "\n"


def starter_files() -> dict[str, str]:
    """File name -> text of an empty workbook."""
    files = {table: ",".join(_COLUMNS[table]) + "\n" for table in COLUMN_MEANINGS}
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
