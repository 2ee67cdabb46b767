"""The ``generic`` source: a small JSON or TOML mapping describing an incident list.

Example (JSON; the same keys work in TOML)::

    {"city": "Chicago", "outcome": "homicides", "date_column": "Date",
     "date_format": "%m/%d/%Y %I:%M:%S %p", "key_column": null,
     "area_column": "District", "area_prefix": "District ",
     "filter_column": "Primary Type", "filter_value": "HOMICIDE"}

``key_column`` set: ``outcome`` counts unique keys (incidents) and the optional
``rows_outcome`` counts rows (victims). ``frequency`` is ``monthly`` (default) or
``quarterly``; ``partial_tolerance_days`` (default 3) is how close to the end of the last period
the latest event must be for that period to count as complete.
"""

from __future__ import annotations

import json
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10: JSON mappings only
    tomllib = None

from impactbook.errors import DataError, Problem
from impactbook.ingest.incidents import KEYS, ROWS, IncidentSpec
from impactbook.workbook.periods import MONTHLY, QUARTERLY

_REQUIRED = ("city", "outcome", "date_column", "date_format")
_OPTIONAL = ("key_column", "rows_outcome", "area_column", "area_prefix", "filter_column",
             "filter_value", "frequency", "partial_tolerance_days", "strip_utc_offset",
             "year_column")
_FREQUENCIES = {"monthly": MONTHLY, "m": MONTHLY, "quarterly": QUARTERLY, "q": QUARTERLY}


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


def spec_from_mapping(mapping: dict, where: str) -> IncidentSpec:
    if not isinstance(mapping, dict):
        raise DataError(Problem(where, "expected an object/table of settings"))
    problems = [Problem(where, f"missing setting {key!r}; required: {', '.join(_REQUIRED)}")
                for key in _REQUIRED if not mapping.get(key)]
    problems += [Problem(where, f"unknown setting {key!r}; expected one of "
                                f"{', '.join(_REQUIRED + _OPTIONAL)}")
                 for key in mapping if key not in _REQUIRED + _OPTIONAL]
    frequency = str(mapping.get("frequency", "monthly")).lower()
    if frequency not in _FREQUENCIES:
        problems.append(Problem(where, f"frequency {frequency!r}: expected monthly or quarterly"))
    if bool(mapping.get("filter_column")) != ("filter_value" in mapping):
        problems.append(Problem(where, "filter_column and filter_value go together"))
    if mapping.get("rows_outcome") and not mapping.get("key_column"):
        problems.append(Problem(where, "rows_outcome needs key_column (otherwise outcome "
                                       "already counts rows)"))
    if problems:
        raise DataError(problems)
    formats = mapping["date_format"]
    formats = tuple(formats) if isinstance(formats, list) else (str(formats),)
    key = mapping.get("key_column") or None
    outcomes = {str(mapping["outcome"]): KEYS if key else ROWS}
    if mapping.get("rows_outcome"):
        outcomes[str(mapping["rows_outcome"])] = ROWS
    filters = {}
    if mapping.get("filter_column"):
        value = mapping["filter_value"]
        values = value if isinstance(value, list) else [value]
        filters[str(mapping["filter_column"])] = tuple(str(v) for v in values)
    return IncidentSpec(
        source="generic", city=str(mapping["city"]), date_column=str(mapping["date_column"]),
        date_formats=formats, outcomes=outcomes, key_column=key,
        area_column=mapping.get("area_column") or None,
        area_prefix=str(mapping.get("area_prefix", "")), filters=filters,
        strip_utc_offset=bool(mapping.get("strip_utc_offset", False)),
        year_column=mapping.get("year_column") or None,
        frequency=_FREQUENCIES[frequency],
        tolerance_days=int(mapping.get("partial_tolerance_days", 3)))
