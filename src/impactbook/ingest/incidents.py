"""Incident lists (one row per victim or incident) -> counts per area and period, in DuckDB.

DuckDB reads the CSV (or .csv.gz) directly and returns only the aggregated counts, so a
10-million-row export is counted in bounded memory without loading rows into pandas (the
query is built in :mod:`.incident_query`). A small pandas post-pass then fills months without
events with zeros (an incident list is complete: no row means no event), and drops a first or
last period that the list covers only partly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from impactbook.errors import DataError, Problem
from impactbook.ingest.dates import (
    ambiguous_order_message,
    bad_date_message,
    describe_formats,
    sql_literal,
)
from impactbook.ingest.files import check_csv_file, require_columns
from impactbook.ingest.incident_query import (
    KEYS,
    ROWS,
    SLASH_DATE,
    SUM,
    IncidentSpec,
    build_key_spread_query,
    build_query,
    first_rows_where,
    run_duckdb,
)
from impactbook.ingest.stray_dates import set_aside_stray_dates
from impactbook.workbook.cells import name_problem
from impactbook.workbook.periods import MONTHLY, QUARTERLY, format_period
from impactbook.workbook.problems import shorten

__all__ = ["aggregate_incidents"]

_EXPECTED_IN_GAP = 5
_MIN_GAP_PERIODS = 12
_SPARSE_PER_MONTH = 1  # events a month under which quarterly counts are suggested
_MIN_EDGE_EVENTS = 20  # fewer events say too little about when an area existed
_MAX_NAMED = 5  # rows an error or a note names before it gives the total


def aggregate_incidents(path: Path, spec: IncidentSpec) -> tuple[pd.DataFrame, list[str]]:
    """Count an incident list per area and period; returns ``(outcomes frame, notes)``."""
    path = Path(path)
    header = check_csv_file(path)
    require_columns(path, header, spec.required_columns(), source=spec.source)
    agg = run_duckdb(build_query(spec, path), path)
    city_rows = agg[agg["is_city"] == 1]
    _raise_bad_dates(path, spec, city_rows)
    _raise_ambiguous_order(path, spec, city_rows)
    _raise_bad_values(path, spec, city_rows)
    agg, notes = set_aside_stray_dates(path, spec, agg)
    city_rows = agg[agg["is_city"] == 1]
    valid = city_rows[city_rows["p"].notna()]
    n_rows = int(city_rows["n_rows"].sum())
    if valid.empty:
        raise DataError(Problem(str(path), f"no rows with a date in column "
                                           f"{spec.date_column!r}", column=spec.date_column))
    n_filtered = int(city_rows["n_filtered"].sum())
    if n_filtered:
        kept = ", ".join(f"{c} in {{{', '.join(v)}}}" for c, v in spec.filters.items())
        notes.append(f"{spec.source}: {n_filtered:,} rows excluded by the filter {kept}.")
    n_blank_date = int(city_rows["n_blank_date"].sum())
    if n_blank_date:
        notes.append(f"{spec.source}: dropped {n_blank_date:,} of {n_rows:,} rows with a blank "
                     f"{spec.date_column!r}: they cannot be placed in a period.")
    first_date = pd.Timestamp(valid["first_date"].min())
    last_date = pd.Timestamp(valid["last_date"].max())
    notes.append(f"{spec.source}: {n_rows - n_blank_date:,} rows dated {first_date:%Y-%m-%d} "
                 f"to {last_date:%Y-%m-%d} for {spec.city}.")
    n_mismatch = int(city_rows["n_year_mismatch"].sum())
    if n_mismatch:
        notes.append(f"{spec.source}: {n_mismatch} rows have a {spec.year_column!r} that "
                     f"disagrees with the year of {spec.date_column!r}; the date was used.")
    if spec.key_column:
        n_nokey = int(city_rows["n_nokey"].sum())
        if n_nokey:
            notes.append(f"{spec.source}: {n_nokey:,} rows have a blank {spec.key_column!r}; "
                         "each was counted as its own incident.")
        notes += _key_spread_notes(path, spec)
    _raise_bad_area_names(path, spec, agg)
    frame = _to_outcomes(agg, spec)
    frame, trim_notes = _drop_partial_periods(frame, spec, first_date, last_date)
    notes += trim_notes
    frame, fill_notes = _fill_zeros(frame, spec)
    notes += fill_notes
    notes += _quarter_hints(frame, spec)
    if spec.area_column:
        area_rows = agg[(agg["is_city"] == 0) & agg["p"].notna()]
        n_blank_area = int(area_rows.loc[area_rows["area"].isna(), "n_rows"].sum())
        if n_blank_area:
            notes.append(f"{spec.source}: {n_blank_area:,} rows with a blank "
                         f"{spec.area_column!r} are counted citywide only.")
    return frame, notes


def _key_spread_notes(path: Path, spec: IncidentSpec) -> list[str]:
    """Say how many incidents have rows in two periods or two areas. Each is counted once in
    every period and area its rows give (each row's own date and place, nothing guessed), so
    a sum over periods or areas counts it more than once: the reader should know how many."""
    if KEYS not in spec.outcomes.values():
        return []
    spread = run_duckdb(build_key_spread_query(spec, path), path).iloc[0]
    n_period, n_area = int(spread["n_multi_period"]), int(spread["n_multi_area"])
    if not (n_period or n_area):
        return []
    unit = "quarter" if spec.frequency == QUARTERLY else "month"
    parts = [f"{n:,} in more than one {what}" for n, what in
             ((n_period, unit), (n_area, spec.area_label)) if n]
    examples = ", ".join(repr(str(k)) for k in spread["examples"])
    return [f"{spec.source}: incident keys ({spec.key_column!r}) with rows in different places "
            f"or times: {' and '.join(parts)} (e.g. {examples}); each is counted once in every "
            f"{unit} and {spec.area_label} it has rows in, so a sum over them counts it more "
            "than once."]


def _raise_bad_dates(path: Path, spec: IncidentSpec, city_rows: pd.DataFrame) -> None:
    n_bad = int(city_rows["n_bad_date"].sum())
    if not n_bad:
        return
    located = first_rows_where(path, spec, "keep AND d IS NULL AND date_raw <> ''", "date_raw")
    expected = describe_formats(spec.date_formats)
    problems = []
    for line, value in located:
        problems.append(Problem(str(path), bad_date_message(value, spec.date_formats),
                                row=line, column=spec.date_column))
    n_dated = int(city_rows["n_rows"].sum()) - int(city_rows["n_blank_date"].sum())
    if n_bad == n_dated:
        problems.append(Problem(str(path), f"none of the {n_bad:,} dates could be read; expected "
                                       f"{expected}", column=spec.date_column))
    elif n_bad > len(problems):
        problems.append(Problem(str(path), f"{n_bad:,} of {n_dated:,} rows in all have an "
                                       "unreadable date", column=spec.date_column))
    raise DataError(problems)


def _raise_ambiguous_order(path: Path, spec: IncidentSpec, city_rows: pd.DataFrame) -> None:
    """Slash dates read month first with no row proving that order: a day-first file whose
    days are all 12 or less would be read silently wrong, so the order must be given."""
    n_slash = int(city_rows["n_slash"].sum())
    if spec.date_formats or not n_slash or int(city_rows["n_month_first"].sum()):
        return
    located = first_rows_where(path, spec, f"keep AND {SLASH_DATE}", "date_raw", limit=1)
    line, example = located[0] if located else (None, "")
    raise DataError(Problem(str(path), ambiguous_order_message(n_slash, example), row=line,
                            column=spec.date_column))


def _raise_bad_values(path: Path, spec: IncidentSpec, city_rows: pd.DataFrame) -> None:
    if not spec.sum_column or not int(city_rows["n_bad_value"].sum()):
        return
    n_bad = int(city_rows["n_bad_value"].sum())
    located = first_rows_where(path, spec, "keep AND (v IS NULL OR v < 0)", "v_raw")
    problems = [Problem(str(path), f"{value!r} is not a non-negative whole number (the count "
                               "to sum)", row=line, column=spec.sum_column)
                for line, value in located]
    if n_bad > len(problems):
        problems.append(Problem(str(path), f"{n_bad:,} rows in all have no whole number to sum",
                                column=spec.sum_column))
    raise DataError(problems)


def _raise_bad_area_names(path: Path, spec: IncidentSpec, agg: pd.DataFrame) -> None:
    """Area names the workbook would refuse, each with the first row that gives it, before
    anything is written (the loader applies the same rule when it reads them back)."""
    areas = agg.loc[(agg["is_city"] == 0) & agg["area"].notna(), "area"].unique()
    bad = {str(a): reason for a in areas if (reason := name_problem(str(a)))}
    problems = []
    for area, reason in sorted(bad.items())[:_MAX_NAMED]:
        located = first_rows_where(path, spec, f"keep AND area = {sql_literal(area)}", "area",
                                   limit=1)
        problems.append(Problem(str(path), f"area name {shorten(area)!r} {reason}",
                                row=located[0][0] if located else None,
                                column=spec.area_column))
    if len(bad) > len(problems):
        problems.append(Problem(str(path), f"{len(bad):,} area names in all cannot be used",
                                column=spec.area_column))
    if problems:
        raise DataError(problems)


def _to_outcomes(agg: pd.DataFrame, spec: IncidentSpec) -> pd.DataFrame:
    agg = agg[agg["p"].notna()].copy()
    is_city = agg["is_city"] == 1
    agg["area"] = agg["area"].where(~is_city, "citywide")
    agg = agg[agg["area"].notna()]
    freq = "Q-DEC" if spec.frequency == QUARTERLY else MONTHLY
    agg["period"] = pd.PeriodIndex(pd.to_datetime(agg["p"]), freq=freq)
    parts = []
    for outcome, kind in spec.outcomes.items():
        if kind == SUM:
            counts = agg["n_sum"].fillna(0)
        else:
            counts = agg["n_rows"] if kind == ROWS else agg["n_keys"] + agg["n_nokey"]
        parts.append(pd.DataFrame({
            "city": spec.city, "area": agg["area"].astype(str), "outcome": outcome,
            "period": agg["period"], "count": counts.astype("int64")}))
    return pd.concat(parts, ignore_index=True)


def _drop_partial_periods(frame: pd.DataFrame, spec: IncidentSpec, first_date: pd.Timestamp,
                          last_date: pd.Timestamp) -> tuple[pd.DataFrame, list[str]]:
    """Drop a first or last period the list covers only in part: it would fake a drop."""
    notes = []
    tolerance = pd.Timedelta(days=spec.tolerance_days)
    first, last = frame["period"].min(), frame["period"].max()
    unit = "quarter" if spec.frequency == QUARTERLY else "month"
    if last_date.normalize() < last.end_time.normalize() - tolerance:
        frame = frame[frame["period"] != last]
        notes.append(f"dropped {format_period(last)} for {spec.city}: last incident "
                     f"{last_date:%Y-%m-%d}, {unit} incomplete.")
    if first_date.normalize() > first.start_time.normalize() + tolerance and first != last:
        frame = frame[frame["period"] != first]
        notes.append(f"dropped {format_period(first)} for {spec.city}: first incident "
                     f"{first_date:%Y-%m-%d}, {unit} incomplete.")
    if frame.empty:
        raise DataError(Problem(spec.source, f"no complete {unit} between {first_date:%Y-%m-%d} "
                                             f"and {last_date:%Y-%m-%d}"))
    return frame, notes


def _fill_zeros(frame: pd.DataFrame, spec: IncidentSpec) -> tuple[pd.DataFrame, list[str]]:
    """Every area gets every period of the list's range; periods without rows are zeros."""
    periods = pd.period_range(frame["period"].min(), frame["period"].max(),
                              freq=frame["period"].iloc[0].freq)
    areas = sorted(frame["area"].unique())
    full = pd.MultiIndex.from_product([list(spec.outcomes), areas, periods],
                                      names=["outcome", "area", "period"])
    filled = (frame.set_index(["outcome", "area", "period"])["count"]
              .reindex(full, fill_value=0).reset_index())
    filled.insert(0, "city", spec.city)
    n_zero_filled = len(filled) - len(frame)
    notes = [f"{spec.source}: incident list treated as complete over "
             f"{format_period(periods[0])}..{format_period(periods[-1])}: "
             f"{n_zero_filled:,} area-periods without a row are zeros "
             f"({len(areas)} areas incl. citywide)."]
    silent_notes, silent = _silent_edges(frame, spec, periods)
    notes += silent_notes
    for area, first, last in silent:
        # Zeros the area cannot have recorded (it likely did not exist) would fake a trend.
        filled = filled[~((filled["area"] == area) & (filled["period"] >= first)
                          & (filled["period"] <= last))]
    filled["count"] = filled["count"].astype("int64")
    return filled.reset_index(drop=True), notes


def _quarter_hints(frame: pd.DataFrame, spec: IncidentSpec) -> list[str]:
    """Monthly series averaging under about one event a month are mostly zeros: a model of
    them says little, and quarterly counts (``--frequency quarter``) are steadier."""
    if spec.frequency != MONTHLY:
        return []
    notes = []
    means = frame.groupby(["outcome", "area"])["count"].mean()
    for outcome in spec.outcomes:
        per_area = means.loc[outcome]
        sparse = per_area[per_area < _SPARSE_PER_MONTH].sort_values()
        if sparse.empty:
            continue
        shown = ", ".join(f"{area} ({mean:.2f})" for area, mean in sparse.head(3).items())
        notes.append(f"{spec.source}: {len(sparse)} of {len(per_area)} {outcome} series "
                     f"(citywide: {per_area.get('citywide', float('nan')):.1f} a month) average "
                     f"under {_SPARSE_PER_MONTH} event a month (e.g. {shown}): monthly counts "
                     "that small are mostly zeros; consider --frequency quarter.")
    return notes


def _silent_edges(frame: pd.DataFrame, spec: IncidentSpec, periods: pd.PeriodIndex,
                  ) -> tuple[list[str], list[tuple[str, pd.Period, pd.Period]]]:
    """Areas that likely did not exist at the start or end of the range (NYPD's 121st precinct
    opened in 2013-07), whose periods there are left missing rather than zero.

    Only where the evidence supports it: the area has at least :data:`_MIN_EDGE_EVENTS`
    events, its silence at the edge lasts at least :data:`_MIN_GAP_PERIODS` periods, at its
    own rate at least :data:`_EXPECTED_IN_GAP` events were expected in the silence, and the
    rest of the city recorded events in at least half of those periods (the list itself was
    not silent). A sparse area with a handful of events keeps its zeros: one event says
    nothing about when an area existed. Returns the notes and the (area, first, last) runs.
    """
    notes: list[str] = []
    runs: list[tuple[str, pd.Period, pd.Period]] = []
    unit = "quarters" if spec.frequency == QUARTERLY else "months"
    first_outcome = next(iter(spec.outcomes))
    rows = frame[(frame["count"] > 0) & (frame["outcome"] == first_outcome)]
    city = (rows[rows["area"] == "citywide"].set_index("period")["count"]
            .reindex(periods, fill_value=0))
    too_sparse: list[str] = []
    for area, group in rows[rows["area"] != "citywide"].groupby("area"):
        first, last = group["period"].min(), group["period"].max()
        n_events = int(group["count"].sum())
        rate = n_events / ((last - first).n + 1)
        own = group.set_index("period")["count"].reindex(periods, fill_value=0)
        edges = (("before", first, periods[0], first - 1), ("after", last, last + 1, periods[-1]))
        for side, bound, start, end in edges:
            n_silent = (end - start).n + 1
            if n_silent < _MIN_GAP_PERIODS or rate * n_silent < _EXPECTED_IN_GAP:
                continue
            if n_events < _MIN_EDGE_EVENTS:
                too_sparse.append(area)
                continue
            rest = city.loc[start:end] - own.loc[start:end]
            n_busy = int((rest > 0).sum())
            if 2 * n_busy < n_silent:
                continue
            runs.append((area, start, end))
            notes.append(f"{spec.source}: {area} has no events {side} {format_period(bound)} "
                         f"({n_silent} {unit}) while the rest of the city had events in "
                         f"{n_busy} of them; at its own rate ({n_events:,} events, about "
                         f"{rate:.1f} a {unit[:-1]}) about {rate * n_silent:.0f} were expected: "
                         "the "
                         "area may not have existed then, so those periods are left missing, "
                         "not zero.")
    if too_sparse:
        names = sorted(set(too_sparse))
        shown = ", ".join(names[:_MAX_NAMED]) + (", ..." if len(names) > _MAX_NAMED else "")
        notes.append(f"{spec.source}: {len(names)} area(s) silent for {_MIN_GAP_PERIODS} "
                     f"{unit} or more at an edge have fewer than {_MIN_EDGE_EVENTS} events "
                     f"({shown}): too little evidence that they did not exist, so those "
                     "periods stay zeros.")
    return notes, runs
