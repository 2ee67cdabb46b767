"""Check rollouts.csv: the units of a staggered rollout and when each started (optional table).

A programme that opens site by site (Cure Violence precinct by precinct, Group Violence
Intervention gang by gang) has one row in interventions.csv whose ``area`` is ``rollout``, and
one row here per unit: ``programme`` (that row's ``id``), ``unit`` (an area of outcomes.csv, or a
group code of unit_outcomes.csv whose counts a team brings itself), ``start`` (the unit's first
treated period), optional ``end``, ``announced``, ``source``, ``confidence`` and ``notes``.

A start after the last period of the unit's data is accepted on purpose: the unit is not
treated within the data and serves as a not-yet-treated control. A start at or before the
first period is refused, since such a unit has no period before its start to compare with.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from impactbook.workbook.cells import (
    check_names,
    parse_periods,
    require_text,
    split_list,
    strip_columns,
)
from impactbook.workbook.csvread import read_csv_text
from impactbook.workbook.periods import format_period, frequency_of
from impactbook.workbook.problems import Problems, shorten
from impactbook.workbook.schema import (
    CONFIDENCE_LEVELS,
    ROLLOUT_AREA,
    ROLLOUT_OPTIONAL,
    ROLLOUT_REQUIRED,
    ROLLOUTS,
)

ROLLOUT_COLUMNS = (*ROLLOUT_REQUIRED, *ROLLOUT_OPTIONAL)


def is_rollout(programme: dict) -> bool:
    """Whether an interventions.csv row is a rollout (its units in rollouts.csv)."""
    return ROLLOUT_AREA in split_list(programme.get("area", ""))


def empty_rollouts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in ("line", *ROLLOUT_COLUMNS)})


def _unit_spans(series: pd.DataFrame | None) -> dict[tuple[str, str], tuple[pd.Period, pd.Period]]:
    """(city, unit) -> (first, last) period with data for any outcome."""
    if series is None or series.empty:
        return {}
    grouped = series.groupby(["city", "area"], sort=False)
    return {(str(c), str(a)): (first, last) for (c, a), first, last in zip(
        grouped.groups, grouped["first"].min(), grouped["last"].max(), strict=True)}


def load_rollouts(path: Path, interventions: pd.DataFrame | None, series: pd.DataFrame | None,
                  unit_series: pd.DataFrame | None, problems: Problems,
                  has_unit_file: bool = False) -> pd.DataFrame:
    """rollouts.csv checked row by row and against the tables that loaded.

    ``series`` is the per-series table of outcomes.csv, ``unit_series`` that of
    unit_outcomes.csv when it was scanned; a unit found in neither is refused, unless
    unit_outcomes.csv exists unscanned (``has_unit_file``), when the estimate checks it.
    """
    file = ROLLOUTS
    frame = read_csv_text(path, ROLLOUT_REQUIRED, label=file)
    for column in ROLLOUT_OPTIONAL:
        if column not in frame:
            frame[column] = ""
    frame = strip_columns(frame, frame.columns.drop("line"))
    require_text(frame, list(ROLLOUT_REQUIRED), file, problems)
    check_names(frame, ["programme", "unit"], file, problems)
    bad_conf = ~frame["confidence"].isin(("", *CONFIDENCE_LEVELS))
    problems.add_rows(file, frame, bad_conf, "confidence",
                      "confidence {value!r}; expected V (verified), P (partly) or U (unverified)")
    twice = frame.duplicated(["programme", "unit"]) & (frame["unit"] != "")
    problems.add_rows(file, frame, twice, "unit",
                      "unit {value!r} is listed twice for its programme; expected one row per "
                      "unit (its first start)")
    starts = parse_periods(frame, "start", file, problems)
    ends = parse_periods(frame, "end", file, problems, allow_blank=True)
    announced = parse_periods(frame, "announced", file, problems, allow_blank=True)
    for idx, line, start_label, end_label in frame[["line", "start", "end"]].itertuples():
        start, end = starts[idx], ends[idx]
        if start is not None and end is not None and (
                frequency_of(end) != frequency_of(start) or end < start):
            problems.add(file, f"end {end_label!r} is before start {start_label!r} (or of "
                         "another period frequency)", int(line), "end")
        when = announced[idx]
        if start is not None and when is not None and frequency_of(when) != frequency_of(start):
            problems.add(file, f"announced {frame.at[idx, 'announced']!r} is not of the start's "
                         "period frequency", int(line), "announced")
    if interventions is not None:
        _check_references(frame, starts, interventions, series, unit_series, problems,
                          has_unit_file=has_unit_file)
    return frame


def _check_references(frame: pd.DataFrame, starts: pd.Series, interventions: pd.DataFrame,
                      series: pd.DataFrame | None, unit_series: pd.DataFrame | None,
                      problems: Problems, *, has_unit_file: bool) -> None:
    file = ROLLOUTS
    programmes = {row["id"]: row for row in interventions.to_dict("records")}
    spans = _unit_spans(series)
    unit_spans = _unit_spans(unit_series)
    for idx, line, programme, unit, start_label in frame[
            ["line", "programme", "unit", "start"]].itertuples():
        line = int(line)
        if programme == "":
            continue
        row = programmes.get(programme)
        if row is None:
            problems.add(file, f"programme {shorten(programme)!r} is not an id of "
                         "interventions.csv", line, "programme")
            continue
        if ROLLOUT_AREA not in split_list(row["area"]):
            problems.add(file, f"programme {shorten(programme)!r} has area {row['area']!r} in "
                         f"interventions.csv; a rollout's row there has area '{ROLLOUT_AREA}'",
                         line, "programme")
            continue
        if unit == "" or series is None:
            continue
        city = row["city"]
        span = spans.get((city, unit)) or unit_spans.get((city, unit))
        if span is None:
            if not has_unit_file or unit_series is not None:
                problems.add(file, f"unit {shorten(unit)!r} has no data for {city} in "
                             "outcomes.csv or unit_outcomes.csv", line, "unit")
            continue
        start = starts[idx]
        if start is None:
            continue
        first, last = span
        if frequency_of(start) != frequency_of(first):
            problems.add(file, f"start {start_label!r} is not of the data's period frequency "
                         f"({format_period(first)} to {format_period(last)})", line, "start")
        elif start <= first:
            problems.add(file, f"start {start_label!r} is at or before the first period of "
                         f"{shorten(unit)}'s data ({format_period(first)} to "
                         f"{format_period(last)}); a unit needs periods before its start (a "
                         "start after the data's end is accepted: not treated within the data)",
                         line, "start")
    listed = set(frame["programme"])
    for row in interventions.to_dict("records"):
        if ROLLOUT_AREA in split_list(row["area"]) and row["id"] not in listed:
            problems.add(file, f"programme {shorten(row['id'])!r} has area '{ROLLOUT_AREA}' in "
                         "interventions.csv but no units here; expected one row per unit")
