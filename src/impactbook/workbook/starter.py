"""``impactbook init DIR``: an empty, valid workbook for a team starting from nothing.

Five tables and costs.csv with their headers (``tags.csv`` already holds the intervention types
and topics the reports know) and a README saying what goes in each column and how to fill them.
Existing tables are never overwritten.
"""

from __future__ import annotations

import os
import secrets
import shutil
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
    ROLLOUTS,
    TAG_KINDS,
    TAGS,
    UNIT_COSTS,
)

README = "README.md"
# How many of the files already in a folder a refusal names.
_MAX_NAMED = 12
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
#: Tables init writes with their header; the others are only described in the README.
STARTER_TABLES = (OUTCOMES, INTERVENTIONS, NEWS, TAGS, FUNDERS, COSTS, ROLLOUTS)


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


def _refusal(folder: Path) -> str | None:
    """Why ``init`` cannot write into ``folder``, or ``None`` when it can."""
    if folder.is_symlink() and not folder.exists():
        return (f"a folder to create the workbook in; it is a symbolic link to "
                f"{os.readlink(folder)}, which does not exist (links are not followed)")
    if folder.exists() and not folder.is_dir():
        return "a folder to create the workbook in"
    if not folder.is_dir():
        return None
    # Any file already there is refused, not only the starter tables: a stale table of any
    # name (areas.csv from an old export) would make the new workbook invalid.
    present = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
    if not present:
        return None
    shown = ", ".join(present[:_MAX_NAMED]) + (
        f", ... ({len(present)} in all)" if len(present) > _MAX_NAMED else "")
    return f"a new or empty folder; it already has {shown} (nothing was written)"


def init_workbook(folder: Path | str) -> list[Path]:
    """Write an empty workbook into ``folder`` (created if needed); refuses a folder that holds
    anything already, and a dangling link.

    All or nothing: the files are written into a hidden folder beside ``folder`` (inside it,
    when it exists and is empty) and moved in only when every one is complete, so a full disk
    leaves no half workbook (that a second ``init`` would refuse).
    """
    folder = Path(folder)
    why = _refusal(folder)
    if why:
        raise ParameterError("DIR", str(folder), why)
    files = starter_files()
    is_new = not folder.is_dir()
    if is_new:  # staged beside it, then renamed: the folder appears complete or not at all
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(f".{folder.name}.{_staging_name()}")
    else:  # staged inside it (same file system, writable), then the files are moved up
        staging = folder / f".{_staging_name()}"
    os.mkdir(staging)  # mode 0o777 less the umask, as a folder made by mkdir gets
    try:
        for name, text in files.items():
            atomic_write_text(staging / name, text)
        if is_new:
            os.rename(staging, folder)
        else:
            _move_up(staging, folder, list(files))
    except OSError as exc:
        raise OSError(exc.errno, f"{exc.strerror or exc}; nothing was written",
                      str(folder)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in files]


def _staging_name() -> str:
    return f"impactbook-init-{os.getpid()}-{secrets.token_hex(4)}"


def _move_up(staging: Path, folder: Path, names: list[str]) -> None:
    """Move the staged files into ``folder``; on failure remove those already moved."""
    moved: list[Path] = []
    try:
        for name in names:
            os.replace(staging / name, folder / name)
            moved.append(folder / name)
    except OSError:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
