"""The ``generic`` source: any incident list, described by options or a JSON/TOML mapping.

The common case needs no file::

    impactbook ingest generic incidents.csv --city Springfield --outcome shootings \\
        --date-column "Occurred On" --area-column Beat --area-prefix "Beat "

A mapping file holds the same settings (``MAPPING_KEYS``; options given on the command line
win over the file's). Example (JSON; the same keys work in TOML)::

    {"city": "Chicago", "outcome": "homicides", "date_column": "Date",
     "area_column": "District", "area_prefix": "District ",
     "filter_column": "Primary Type", "filter_value": "HOMICIDE"}
"""

from __future__ import annotations

import json
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10: JSON mappings only
    tomllib = None

from impactbook.choices import did_you_mean
from impactbook.errors import DataError, Problem
from impactbook.ingest.dates import DateFormatError, to_strftime
from impactbook.ingest.incident_query import KEYS, ROWS, SUM, IncidentSpec
from impactbook.workbook.periods import MONTHLY, QUARTERLY

# Every setting, what it means; the CLI help and the README list these (a test keeps them equal).
MAPPING_KEYS: dict[str, str] = {
    "city": "the city the rows belong to (required)",
    "outcome": "the outcome name the counts get, e.g. shootings (required)",
    "date_column": "the column holding each row's date (required)",
    "date_format": "DD/MM/YYYY-style words or strftime codes (%d/%m/%Y); a list tries each; "
                   "default: ISO, M/D/YYYY, M/D/YY, Excel serial numbers",
    "count": "rows (one per row, the default), incidents (unique key_column values) or "
             "'sum-of COLUMN' (the whole numbers in COLUMN)",
    "key_column": "the incident id column; with it outcome counts incidents",
    "rows_outcome": "with key_column: a second outcome counting rows (e.g. shooting victims)",
    "area_column": "the district/precinct/beat column; without it only citywide counts",
    "area_prefix": "text put before each area value (\"Precinct \" makes 77 Precinct 77)",
    "filter_column": "keep only rows whose value in this column ...",
    "filter_value": "... is this value (or any of a list)",
    "frequency": "monthly (default) or quarterly",
    "partial_tolerance_days": "how near the end of the last period the latest row must be "
                              "for that period to count as complete (default 3)",
    "strip_utc_offset": "true: drop a trailing +00/Z before an explicit date_format is applied",
    "year_column": "a year column checked against the dates (disagreements are noted)",
}
REQUIRED_KEYS = ("city", "outcome", "date_column")
_FREQUENCIES = {"monthly": MONTHLY, "m": MONTHLY, "quarterly": QUARTERLY, "q": QUARTERLY}
_SUM_OF = "sum-of"


def option_name(key: str) -> str:
    """The command-line option for a mapping key (``date_column`` -> ``--date-column``)."""
    return "--" + key.replace("_", "-")


def load_mapping(path: Path) -> dict:
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError(Problem(where, "mapping file not found"))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            if tomllib is None:
                raise DataError(Problem(where, "TOML mappings need Python 3.11+; use JSON"))
            return tomllib.loads(text)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(Problem(where, f"not valid JSON: {exc.msg}", row=exc.lineno)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise DataError(Problem(where, f"not valid TOML: {exc}")) from None


def _setting(key: str) -> str:
    return f"setting {key!r} ({option_name(key)})"


def _date_formats(value: object, where: str, problems: list[Problem]) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    texts = value if isinstance(value, list) else [value]
    formats = []
    for text in texts:
        try:
            formats.append(to_strftime(str(text)))
        except DateFormatError as exc:
            problems.append(Problem(where, f"{_setting('date_format')}: {exc}"))
    return tuple(formats)


def _count_kind(value: object, key: str | None, where: str,
                problems: list[Problem]) -> tuple[str, str | None]:
    """``(kind, sum_column)`` from the ``count`` setting."""
    text = " ".join(value) if isinstance(value, list) else str(value or "").strip()
    if not text:
        return (KEYS if key else ROWS), None
    word, _, column = text.partition(" ")
    if word == _SUM_OF and column.strip():
        return SUM, column.strip()
    if word == "rows" and not column:
        return ROWS, None
    if word == "incidents" and not column:
        if not key:
            problems.append(Problem(where, f"{_setting('count')} incidents needs "
                                           f"{_setting('key_column')}: the column whose "
                                           "unique values are incidents"))
        return KEYS, None
    problems.append(Problem(where, f"{_setting('count')}: got {text!r}, expected rows, "
                                   "incidents or sum-of COLUMN"))
    return ROWS, None


def spec_from_mapping(mapping: dict, where: str) -> IncidentSpec:
    """Check a mapping (every problem at once) and turn it into an :class:`IncidentSpec`."""
    if not isinstance(mapping, dict):
        raise DataError(Problem(where, "expected an object/table of settings"))
    problems = [Problem(where, f"missing {_setting(key)}; required: "
                               f"{', '.join(option_name(k) for k in REQUIRED_KEYS)}")
                for key in REQUIRED_KEYS if not mapping.get(key)]
    for key in mapping:
        if key not in MAPPING_KEYS:
            hint = did_you_mean(key, MAPPING_KEYS)
            problems.append(Problem(where, f"unknown setting {key!r}; "
                                           f"{hint + ' ' if hint else ''}expected one of "
                                           f"{', '.join(MAPPING_KEYS)}"))
    frequency = str(mapping.get("frequency", "monthly")).lower()
    if frequency not in _FREQUENCIES:
        problems.append(Problem(where, f"frequency {frequency!r}: expected monthly or quarterly"))
    if bool(mapping.get("filter_column")) != ("filter_value" in mapping):
        problems.append(Problem(where, "filter_column and filter_value go together"))
    key = mapping.get("key_column") or None
    if mapping.get("rows_outcome") and not key:
        problems.append(Problem(where, "rows_outcome needs key_column (otherwise outcome "
                                       "already counts rows)"))
    formats = _date_formats(mapping.get("date_format"), where, problems)
    kind, sum_column = _count_kind(mapping.get("count"), key, where, problems)
    if problems:
        raise DataError(problems)
    outcomes = {str(mapping["outcome"]): kind}
    if mapping.get("rows_outcome"):
        outcomes[str(mapping["rows_outcome"])] = ROWS
    filters = {}
    if mapping.get("filter_column"):
        value = mapping["filter_value"]
        values = value if isinstance(value, list) else [value]
        filters[str(mapping["filter_column"])] = tuple(str(v) for v in values)
    return IncidentSpec(
        source="generic", city=str(mapping["city"]), date_column=str(mapping["date_column"]),
        date_formats=formats, outcomes=outcomes, key_column=key, sum_column=sum_column,
        area_column=mapping.get("area_column") or None,
        area_prefix=str(mapping.get("area_prefix", "")), filters=filters,
        strip_utc_offset=bool(mapping.get("strip_utc_offset", False)),
        year_column=mapping.get("year_column") or None,
        frequency=_FREQUENCIES[frequency],
        tolerance_days=int(mapping.get("partial_tolerance_days", 3)))
