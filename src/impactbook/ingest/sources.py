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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from impactbook.defaults import INGEST_SOURCES
from impactbook.errors import DataError, ParameterError, Problem
from impactbook.fsutil import atomic_path
from impactbook.ingest.incidents import KEYS, ROWS, IncidentSpec, aggregate_incidents
from impactbook.ingest.mapping import load_mapping, spec_from_mapping
from impactbook.ingest.tables import ingest_rtci, ingest_seattle_dmi, seattle_dmi_blocks
from impactbook.workbook.outcomes import read_outcomes_table
from impactbook.workbook.periods import format_period, frequency_of, parse_period

OUTCOME_COLUMNS = ["city", "area", "outcome", "period", "count"]
SERIES_KEY = ["city", "area", "outcome"]
OUTCOMES_FILE = "outcomes.csv"
UNIT_OUTCOMES_FILE = "unit_outcomes.csv"
AREAS_FILE = "areas.csv"

INCIDENT_SPECS: dict[str, IncidentSpec] = {
    "chicago-homicides": IncidentSpec(
        source="chicago-homicides", city="Chicago", date_column="Date",
        date_formats=("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y"),
        outcomes={"homicides": ROWS}, area_column="District", area_prefix="District ",
        # The extract is IUCR 0110 (first degree murder, one row per victim), the code the
        # City's homicide victim counts use; a full "Crimes" export is cut to the same rows.
        filters={"IUCR": ("0110",)}),
    "nypd-shootings": IncidentSpec(
        source="nypd-shootings", city="New York", date_column="OCCUR_DATE",
        date_formats=("%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S.%g"),
        outcomes={"shootings": KEYS, "shooting victims": ROWS}, key_column="INCIDENT_KEY",
        area_column="PRECINCT", area_prefix="Precinct "),
    "philadelphia-shootings": IncidentSpec(
        source="philadelphia-shootings", city="Philadelphia", date_column="date_",
        date_formats=("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
        outcomes={"shootings": KEYS, "shooting victims": ROWS}, key_column="dc_key",
        area_column="dist", area_prefix="District ", strip_utc_offset=True, year_column="year"),
}
TABLE_SOURCES = ("rtci", "seattle-dmi")
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
                agencies: list[str] | None = None) -> IngestResult:
    """Turn one raw file into outcome rows (``city, area, outcome, period, count[, population]``).

    ``source`` is one of :data:`SOURCES`; ``mapping`` (JSON or TOML) is required for
    ``generic``; ``agencies`` keeps only those RTCI agencies (by city name or ``agency_full``).
    Raises :class:`DataError` for bad input and :class:`ParameterError` for a bad source.
    """
    path = Path(path)
    if source not in SOURCES:
        raise ParameterError("source", source, f"one of {', '.join(SOURCES)}")
    if source == GENERIC and mapping is None:
        raise ParameterError("mapping", None, "a JSON or TOML mapping file for source generic")
    if source != GENERIC and mapping is not None:
        raise ParameterError("mapping", str(mapping), f"no mapping for source {source}")
    if agencies and source != "rtci":
        raise ParameterError("agencies", agencies, "an agency filter only with source rtci")
    if source in INCIDENT_SPECS:
        frame, notes = aggregate_incidents(path, INCIDENT_SPECS[source])
    elif source == GENERIC:
        spec = spec_from_mapping(load_mapping(mapping), str(mapping))
        frame, notes = aggregate_incidents(path, spec)
    elif source == "rtci":
        frame, notes = ingest_rtci(path, agencies)
    else:
        frame, notes = ingest_seattle_dmi(path)
    return IngestResult(outcomes=finish_outcomes(frame), notes=notes)


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
    target = Path(data_dir) / OUTCOMES_FILE
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
                         mapping: Path | None = None, agencies: list[str] | None = None,
                         dry_run: bool = False) -> IngestSummary:
    """Ingest one raw file and merge it into ``data_dir/outcomes.csv`` (the CLI's target).

    Nothing is written when ingest fails or ``dry_run`` is set. ``seattle-dmi`` also writes
    the blocks' series (unit_outcomes.csv) and attributes (areas.csv), replacing those files.
    """
    result = ingest_file(source, path, mapping=mapping, agencies=agencies)
    unit_tables = unit_tables_text(source, path)
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
        for name, text in (unit_tables or {}).items():
            write_text_atomic(Path(data_dir) / name, text)
        write_outcomes(data_dir, merged)
    return IngestSummary(source=source, file=Path(path), target=target, notes=list(result.notes),
                         series=series, rows_new=len(result.outcomes), rows_replaced=replaced,
                         rows_total=len(merged), written=not dry_run)
