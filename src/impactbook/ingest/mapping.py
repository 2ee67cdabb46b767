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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from impactbook.choices import did_you_mean
from impactbook.errors import DataError, Problem
from impactbook.ingest.dates import DateFormatError, to_strftime
from impactbook.ingest.incident_query import KEYS, ROWS, SUM, IncidentSpec
from impactbook.workbook.cells import name_problem
from impactbook.workbook.periods import MONTHLY, QUARTERLY
from impactbook.workbook.problems import shorten

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
    "frequency": "monthly (default) or quarterly (--frequency month|quarter)",
    "partial_tolerance_days": "how near the end of the last period the latest row must be "
                              "for that period to count as complete (default 3)",
    "strip_utc_offset": "true: drop a trailing +00/Z before an explicit date_format is applied",
    "year_column": "a year column checked against the dates (disagreements are noted)",
}
REQUIRED_KEYS = ("city", "outcome", "date_column")
# The settings the ingest command also takes as options (the rest live in a mapping file only).
COMMAND_LINE_KEYS = ("city", "outcome", "date_column", "date_format", "count", "key_column",
                     "area_column", "area_prefix", "frequency")
_FREQUENCIES = {"monthly": MONTHLY, "month": MONTHLY, "m": MONTHLY,
                "quarterly": QUARTERLY, "quarter": QUARTERLY, "q": QUARTERLY}
_SUM_OF = "sum-of"
_NAME_KEYS = ("city", "outcome", "rows_outcome")
# What each setting holds, in the words an error uses (the rest hold a text).
_EXPECTED: dict[str, str] = {
    "date_format": "a text or a list of texts", "count": "a text or a list of texts",
    "filter_value": "a text or number, or a list of them", "frequency": "monthly or quarterly",
    "partial_tolerance_days": "a whole number of days from 0 to 366",
    "strip_utc_offset": "true or false (not in quotes)",
}


class MappingSettings(BaseModel):
    """The settings of a ``generic`` incident list, typed strictly: a value of the wrong type
    is refused, never coerced (``"false"`` is not false, ``{"a": 1}`` is not a city)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    city: str
    outcome: str
    date_column: str
    date_format: str | list[str] | None = None
    count: str | list[str] | None = None
    key_column: str | None = None
    rows_outcome: str | None = None
    area_column: str | None = None
    area_prefix: str = ""
    filter_column: str | None = None
    filter_value: str | int | list[str | int] | None = None
    frequency: str = MONTHLY
    partial_tolerance_days: int = Field(default=3, ge=0, le=366)
    strip_utc_offset: bool = False
    year_column: str | None = None

    @field_validator(*_NAME_KEYS)
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        # Spaces around a name are not part of it (the workbook loader strips them too), and
        # a name is held to the cell rules the loader applies, so ingest never writes a name
        # that validate would then refuse.
        if value is None:
            return None
        value = value.strip()
        reason = name_problem(value) if value else "is empty"
        if reason:
            raise ValueError(f"name {shorten(value)!r} {reason}")
        return value

    @field_validator("frequency")
    @classmethod
    def _check_frequency(cls, value: str) -> str:
        word = value.strip().lower()
        if word not in _FREQUENCIES:
            raise ValueError(f"expected monthly or quarterly, got {value!r}")
        return _FREQUENCIES[word]


def option_name(key: str) -> str:
    """The command-line option for a mapping key (``date_column`` -> ``--date-column``)."""
    return "--" + key.replace("_", "-")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a setting can hold")


def load_mapping(path: Path) -> dict:
    """The settings of a JSON or TOML mapping file, as an object (types checked later)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError(Problem(where, "mapping file not found"))
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(Problem(where, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                                       f"at offset {exc.start}); save the {kind} mapping as "
                                       "UTF-8")) from None
    try:
        if kind == "TOML":
            if tomllib is None:
                raise DataError(Problem(where, "TOML mappings need Python 3.11+; use JSON"))
            settings = tomllib.loads(text)
        else:
            settings = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataError(Problem(where, f"not valid JSON: {exc.msg}", row=exc.lineno)) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError; so is NaN in JSON
        raise DataError(Problem(where, f"not valid {kind}: {exc}")) from None
    if not isinstance(settings, dict):
        raise DataError(Problem(where, "expected an object of settings ({\"city\": ...}), "
                                       f"got a {_type_word(settings)}"))
    return settings


def _type_word(value: object) -> str:
    words = {list: "list", dict: "object", str: "text", bool: "true/false", int: "number",
             float: "number", type(None): "null"}
    return words.get(type(value), type(value).__name__)


def _settings_problems(error: ValidationError, given: dict, where: str) -> list[Problem]:
    """One problem per setting at fault, in the order of the settings."""
    problems: dict[str, Problem] = {}
    for err in error.errors():
        key = str(err["loc"][0]) if err["loc"] else ""
        if key in problems:
            continue  # a union reports each alternative; one line per setting is enough
        if err["type"] == "missing":
            message = (f"missing {_setting(key)}; required: "
                       f"{', '.join(option_name(k) for k in REQUIRED_KEYS)}")
        elif err["type"] == "extra_forbidden":
            hint = did_you_mean(key, MAPPING_KEYS)
            message = (f"unknown setting {key!r}; {hint + ' ' if hint else ''}expected one of "
                       f"{', '.join(MAPPING_KEYS)}")
        elif err["type"] == "value_error":
            message = f"{_setting(key)}: {str(err['msg']).removeprefix('Value error, ')}"
        else:
            value = given.get(key)
            shown = shorten(repr(value))
            expected = _EXPECTED.get(key, "a text")
            message = f"{_setting(key)}: got {shown} ({_type_word(value)}), expected {expected}"
        problems[key] = Problem(where, message)
    order = {key: i for i, key in enumerate(MAPPING_KEYS)}
    return [problems[k] for k in sorted(problems, key=lambda k: order.get(k, len(order)))]


def check_settings(mapping: dict, where: str) -> MappingSettings:
    """The typed settings, or a DataError naming every setting at fault (and ``where``)."""
    if not isinstance(mapping, dict):
        raise DataError(Problem(where, "expected an object of settings, got a "
                                       f"{_type_word(mapping)}"))
    # A blank required setting is as missing as an absent one.
    present = {k: v for k, v in mapping.items() if not (k in REQUIRED_KEYS and v in ("", None))}
    try:
        return MappingSettings.model_validate(present)
    except ValidationError as exc:
        raise DataError(_settings_problems(exc, mapping, where)) from None


def _setting(key: str) -> str:
    """A setting as a message names it, with its command-line option when there is one."""
    option = f" ({option_name(key)})" if key in COMMAND_LINE_KEYS else ""
    return f"setting {key!r}{option}"


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
    settings = check_settings(mapping, where)
    problems: list[Problem] = []
    if bool(settings.filter_column) != (settings.filter_value is not None):
        problems.append(Problem(where, "filter_column and filter_value go together"))
    key = settings.key_column or None
    if settings.rows_outcome and not key:
        problems.append(Problem(where, "rows_outcome needs key_column (otherwise outcome "
                                       "already counts rows)"))
    formats = _date_formats(settings.date_format, where, problems)
    kind, sum_column = _count_kind(settings.count, key, where, problems)
    if problems:
        raise DataError(problems)
    outcomes = {settings.outcome: kind}
    if settings.rows_outcome:
        outcomes[settings.rows_outcome] = ROWS
    filters = {}
    if settings.filter_column:
        value = settings.filter_value
        values = value if isinstance(value, list) else [value]
        filters[settings.filter_column] = tuple(str(v) for v in values)
    return IncidentSpec(
        source="generic", city=settings.city, date_column=settings.date_column,
        date_formats=formats, outcomes=outcomes, key_column=key, sum_column=sum_column,
        area_column=settings.area_column or None, area_prefix=settings.area_prefix,
        filters=filters, strip_utc_offset=settings.strip_utc_offset,
        year_column=settings.year_column or None, frequency=settings.frequency,
        tolerance_days=settings.partial_tolerance_days)
