"""Raw incident lists and agency tables -> the workbook's ``outcomes.csv``.

``ingest_file(source, path)`` returns the period counts of one raw file plus notes saying what
was dropped or repaired and why; ``merge_outcomes`` folds them into an existing outcomes table
(new series replace old ones) and ``write_outcomes`` writes the table atomically. The CLI
``impactbook ingest SOURCE FILE`` is a thin caller of these three.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from impactbook.choices import unknown_choice
from impactbook.defaults import INGEST_SOURCES
from impactbook.errors import DataError, ParameterError, Problem
from impactbook.fsutil import atomic_path, safe_join
from impactbook.ingest.dates import DateFormatError, to_strftime
from impactbook.ingest.excel import is_excel, sheet_as_csv
from impactbook.ingest.incident_query import KEYS, ROWS, IncidentSpec
from impactbook.ingest.incidents import aggregate_incidents
from impactbook.ingest.mapping import load_mapping, option_name, spec_from_mapping
from impactbook.ingest.tables import ingest_rtci, ingest_seattle_dmi, seattle_dmi_blocks
from impactbook.locks import workbook_lock
from impactbook.workbook.cells import name_problem
from impactbook.workbook.outcomes import read_outcomes_table
from impactbook.workbook.periods import (
    MONTHLY,
    QUARTERLY,
    format_period,
    frequency_of,
    parse_period,
)
from impactbook.workbook.problems import shorten

OUTCOME_COLUMNS = ["city", "area", "outcome", "period", "count"]
SERIES_KEY = ["city", "area", "outcome"]
OUTCOMES_FILE = "outcomes.csv"
UNIT_OUTCOMES_FILE = "unit_outcomes.csv"
AREAS_FILE = "areas.csv"

INCIDENT_SPECS: dict[str, IncidentSpec] = {
    "chicago-homicides": IncidentSpec(
        source="chicago-homicides", city="Chicago", date_column="Date",
        outcomes={"homicides": ROWS}, area_column="District", area_prefix="District ",
        # The extract is IUCR 0110 (first degree murder, one row per victim), the code the
        # City's homicide victim counts use; a full "Crimes" export is cut to the same rows.
        filters={"IUCR": ("0110",)}),
    "nypd-shootings": IncidentSpec(
        source="nypd-shootings", city="New York", date_column="OCCUR_DATE",
        outcomes={"shootings": KEYS, "shooting victims": ROWS}, key_column="INCIDENT_KEY",
        area_column="PRECINCT", area_prefix="Precinct "),
    "philadelphia-shootings": IncidentSpec(
        source="philadelphia-shootings", city="Philadelphia", date_column="date_",
        outcomes={"shootings": KEYS, "shooting victims": ROWS}, key_column="dc_key",
        area_column="dist", area_prefix="District ", year_column="year"),
}
TABLE_SOURCES = ("rtci", "seattle-dmi")
# --frequency: how an incident list's events are counted (the workbook takes either).
FREQUENCIES = {"month": MONTHLY, "quarter": QUARTERLY}
GENERIC = "generic"
# The CLI lists these names without importing this module: defaults.INGEST_SOURCES is the list,
# and each name must have a reader here (tests check both ways).
SOURCES: tuple[str, ...] = INGEST_SOURCES


@dataclass(frozen=True)
class IngestResult:
    """Counts from one raw file (``outcomes``) and what was dropped or repaired (``notes``)."""

    outcomes: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def ingest_file(source: str, path: Path, *, mapping: Path | None = None,
                settings: dict | None = None, agencies: list[str] | None = None,
                sheet: str | None = None, date_format: str | None = None,
                frequency: str | None = None) -> IngestResult:
    """Turn one raw file into outcome rows (``city, area, outcome, period, count[, population]``).

    ``source`` is one of :data:`SOURCES`. ``generic`` is described by ``settings`` (the keys
    of :data:`~impactbook.ingest.mapping.MAPPING_KEYS`, as the command-line options give them)
    and/or a JSON or TOML ``mapping`` file (``settings`` win). ``agencies`` keeps only those
    RTCI agencies (by city name or ``agency_full``). ``path`` may be an ``.xlsx`` workbook
    (``sheet``, the first by default). ``date_format`` overrides an incident list's date
    forms. ``frequency`` (``month``, the default, or ``quarter``) is how an incident list's
    events are counted. Raises :class:`DataError` for bad input and :class:`ParameterError`
    for a bad source or option.
    """
    path = Path(path)
    if source not in SOURCES:
        raise unknown_choice("source", source, SOURCES)
    if source == GENERIC:
        settings = {**(settings or {}), **({"date_format": date_format} if date_format else {}),
                    **({"frequency": frequency} if frequency else {})}
        date_format = frequency = None
    elif mapping is not None:
        raise ParameterError("mapping", str(mapping), f"no --mapping for source {source} "
                                                      "(a mapping describes a generic file)")
    elif settings:
        key, value = next(iter(settings.items()))
        raise ParameterError(option_name(key)[2:], value, f"nothing for source {source}: "
                                                          "this option is for generic")
    if agencies and source != "rtci":
        raise ParameterError("agency", agencies, "an agency filter only with source rtci")
    if frequency is not None and frequency not in FREQUENCIES:
        raise ParameterError("frequency", frequency, " or ".join(FREQUENCIES))
    if frequency and FREQUENCIES[frequency] == QUARTERLY and source not in INCIDENT_SPECS:
        raise ParameterError("frequency", frequency, f"month for source {source}: only an "
                                                     "incident list is counted per quarter")
    if date_format and source not in (*INCIDENT_SPECS, "rtci"):
        raise ParameterError("date-format", date_format, f"nothing for source {source}: its "
                                                         "file has no dates")
    if not is_excel(path):
        if sheet is not None:
            raise ParameterError("sheet", sheet, f"no --sheet: {path.name} is not an .xlsx "
                                                 "workbook")
        return _ingest_text(source, path, mapping, settings, agencies, date_format, frequency)
    with sheet_as_csv(path, sheet) as sheet_csv:
        result = _ingest_text(source, sheet_csv.path, mapping, settings, agencies, date_format,
                              frequency)
    return replace(result, notes=[*sheet_csv.notes, *result.notes])


def _ingest_text(source: str, path: Path, mapping: Path | None, settings: dict | None,
                 agencies: list[str] | None, date_format: str | None,
                 frequency: str | None = None) -> IngestResult:
    formats = ()
    if date_format:
        try:
            formats = (to_strftime(date_format),)
        except DateFormatError as exc:
            raise ParameterError("date-format", date_format, str(exc)) from None
    if source in INCIDENT_SPECS:
        spec = INCIDENT_SPECS[source]
        if formats:
            spec = replace(spec, date_formats=formats)
        if frequency:
            spec = replace(spec, frequency=FREQUENCIES[frequency])
        frame, notes = aggregate_incidents(path, spec)
    elif source == GENERIC:
        combined = dict(load_mapping(mapping)) if mapping is not None else {}
        combined.update({k: v for k, v in (settings or {}).items() if v is not None})
        spec = spec_from_mapping(combined, str(mapping) if mapping is not None else "options")
        frame, notes = aggregate_incidents(path, spec)
    elif source == "rtci":
        frame, notes = ingest_rtci(path, agencies, formats)
    else:
        frame, notes = ingest_seattle_dmi(path)
    outcomes = finish_outcomes(frame)
    _refuse_bad_names(outcomes, path)
    return IngestResult(outcomes=outcomes, notes=notes)


def _refuse_bad_names(frame: pd.DataFrame, path: Path) -> None:
    """Every name goes through the workbook's cell rule on the way in, as it will on the way
    out: a name validate refuses would block every later ingest until fixed by hand."""
    problems = []
    for column in SERIES_KEY:
        for name in frame[column].unique():
            reason = name_problem(name) if name == name.strip() else "has spaces around it"
            if reason:
                problems.append(Problem(str(path), f"{column} name {shorten(name)!r} {reason}"))
    if problems:
        raise DataError(problems)


def finish_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order and types, period labels as text, deterministic order."""
    columns = list(OUTCOME_COLUMNS)
    if "population" in frame.columns and frame["population"].notna().any():
        columns.append("population")
    out = frame[columns].copy()
    out["period"] = [p if isinstance(p, str) else format_period(p) for p in out["period"]]
    for col in SERIES_KEY:
        out[col] = out[col].astype(str)
    out["count"] = out["count"].astype("int64")
    if "population" in out.columns:
        out["population"] = pd.to_numeric(out["population"]).astype("Float64")
    return sort_outcomes(out)


def _area_sort_key(area: str) -> tuple:
    """``citywide`` first, then names in natural order (Precinct 5 before Precinct 40)."""
    if area == "citywide":
        return (0, "", 0, "")
    match = re.match(r"^(.*?)(\d+)$", area)
    if match:
        return (1, match.group(1), int(match.group(2)), area)
    return (1, area, -1, area)


def sort_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame.reset_index(drop=True)
    areas = {a: i for i, a in enumerate(sorted(frame["area"].unique(), key=_area_sort_key))}
    order = frame.assign(_area=frame["area"].map(areas)).sort_values(
        ["city", "outcome", "_area", "period"], kind="mergesort")
    return order.drop(columns="_area").reset_index(drop=True)


def merge_outcomes(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """New rows replace every existing row of the same (city, area, outcome) series.

    A series is replaced whole (not period by period) so that a re-ingest that drops a partial
    month or shortens a range leaves no stale rows behind. Raises DataError if the result would
    mix monthly and quarterly periods in one city or repeat a (series, period).
    """
    new = finish_outcomes(new)
    if existing is None or existing.empty:
        merged = new
    else:
        existing = existing.copy()
        existing["period"] = existing["period"].astype(str)
        replaced = existing.set_index(SERIES_KEY).index.isin(new.set_index(SERIES_KEY).index)
        merged = pd.concat([existing[~replaced], new], ignore_index=True)
        merged = finish_outcomes(merged)
    _check_merged(merged)
    return merged


def _check_merged(frame: pd.DataFrame) -> None:
    problems = []
    dup = frame.duplicated([*SERIES_KEY, "period"])
    for _, row in frame[dup].head(5).iterrows():
        problems.append(Problem(OUTCOMES_FILE, f"{row['city']} / {row['area']} / "
                                               f"{row['outcome']} has {row['period']} twice"))
    freq = frame.drop_duplicates(["city", "period"]).assign(
        freq=lambda f: [frequency_of(parse_period(p)) for p in f["period"]])
    mixed = freq.groupby("city")["freq"].nunique()
    for city in mixed[mixed > 1].index:
        problems.append(Problem(OUTCOMES_FILE, f"{city} would mix monthly and quarterly "
                                               "periods; one frequency per city"))
    if problems:
        raise DataError(problems)


def format_outcomes_csv(frame: pd.DataFrame) -> str:
    """The exact text of ``outcomes.csv``: csv-module quoting, ``\\n`` line ends, integers
    without a decimal point, blank population where unknown."""

    frame = finish_outcomes(frame) if len(frame) else frame
    columns = list(frame.columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    population = frame["population"] if "population" in columns else None
    for i, row in enumerate(frame[OUTCOME_COLUMNS].itertuples(index=False, name=None)):
        values = [*row[:4], str(int(row[4]))]
        if population is not None:
            pop = population.iloc[i]
            values.append("" if pd.isna(pop) else _number_text(float(pop)))
        writer.writerow(values)
    return buffer.getvalue()


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def write_outcomes(data_dir: Path, frame: pd.DataFrame) -> Path:
    """Write ``data_dir/outcomes.csv`` atomically (readers never see half a file)."""
    target = safe_join(Path(data_dir), OUTCOMES_FILE)
    write_text_atomic(target, format_outcomes_csv(frame))
    return target


def write_text_atomic(target: Path, text: str) -> None:
    """Atomic UTF-8 write (modes as :func:`~impactbook.fsutil.atomic_path`)."""
    with atomic_path(Path(target)) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def read_outcomes(data_dir: Path) -> pd.DataFrame:
    """The existing ``outcomes.csv`` for merging (empty frame if there is none), read and
    checked by the workbook's own outcomes reader, so a merge starts from valid rows."""
    target = Path(data_dir) / OUTCOMES_FILE
    if not target.exists():
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    return read_outcomes_table(target)


@dataclass(frozen=True)
class IngestSummary:
    """What ``ingest_into_workbook`` did: the CLI prints ``notes`` and ``describe()``."""

    source: str
    file: Path
    target: Path
    notes: list[str]
    series: list[tuple[str, str, str]]
    rows_new: int
    rows_replaced: int
    rows_total: int
    written: bool

    def describe(self) -> str:
        cities = sorted({city for city, _, _ in self.series})
        outcomes = sorted({outcome for _, _, outcome in self.series})
        verb = "wrote" if self.written else "would write (dry run)"
        return (f"{self.source}: {len(self.series)} series ({', '.join(cities)}: "
                f"{', '.join(outcomes)}), {self.rows_new:,} rows replacing "
                f"{self.rows_replaced:,}; {verb} {self.target} ({self.rows_total:,} rows)")


def unit_tables_text(source: str, path: Path) -> dict[str, str] | None:
    """The unit_outcomes.csv and areas.csv texts a source also produces (Seattle's blocks)."""
    if source != "seattle-dmi":
        return None
    units, areas = seattle_dmi_blocks(Path(path))
    return {UNIT_OUTCOMES_FILE: format_outcomes_csv(units),
            AREAS_FILE: areas.to_csv(index=False, lineterminator="\n")}


def ingest_into_workbook(source: str, path: Path, data_dir: Path, *,
                         mapping: Path | None = None, settings: dict | None = None,
                         agencies: list[str] | None = None, sheet: str | None = None,
                         date_format: str | None = None, frequency: str | None = None,
                         dry_run: bool = False) -> IngestSummary:
    """Ingest one raw file and merge it into ``data_dir/outcomes.csv`` (the CLI's target).

    Nothing is written when ingest fails or ``dry_run`` is set. ``seattle-dmi`` also writes
    the blocks' series (unit_outcomes.csv) and attributes (areas.csv), replacing those files.
    """
    result = ingest_file(source, path, mapping=mapping, settings=settings, agencies=agencies,
                         sheet=sheet, date_format=date_format, frequency=frequency)
    unit_tables = unit_tables_text(source, path)
    if dry_run:
        return _merge_into(result, source, path, data_dir, dry_run=True)
    with workbook_lock(data_dir, f"ingest {source}"):  # read, merge and replace as one step
        for name, text in (unit_tables or {}).items():
            write_text_atomic(Path(data_dir) / name, text)
        return _merge_into(result, source, path, data_dir, dry_run=False)


def _merge_into(result: IngestResult, source: str, path: Path, data_dir: Path, *,
                dry_run: bool) -> IngestSummary:
    existing = read_outcomes(data_dir)
    merged = merge_outcomes(existing, result.outcomes)
    keys = result.outcomes[SERIES_KEY].drop_duplicates()
    series = [tuple(row) for row in keys.itertuples(index=False, name=None)]
    replaced = 0
    if len(existing):
        replaced = int(existing.set_index(SERIES_KEY).index.isin(
            result.outcomes.set_index(SERIES_KEY).index).sum())
    target = Path(data_dir) / OUTCOMES_FILE
    if not dry_run:
        write_outcomes(data_dir, merged)
    return IngestSummary(source=source, file=Path(path), target=target, notes=list(result.notes),
                         series=series, rows_new=len(result.outcomes), rows_replaced=replaced,
                         rows_total=len(merged), written=not dry_run)
