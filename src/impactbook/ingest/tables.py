"""Aggregate tables -> outcomes: RTCI agency-months and the Seattle DMI block-quarters.

Unlike incident lists, an aggregate table with no row (or an unusable value) for a period says
nothing about that period: it stays *missing*, never zero.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from impactbook.choices import did_you_mean
from impactbook.errors import DataError, Problem
from impactbook.ingest.dates import bad_date_message, read_dates
from impactbook.ingest.files import check_csv_file, find_malformed_row, open_text, require_columns
from impactbook.workbook.periods import format_period

RTCI_CITY_KEY = "agency_full"
RTCI_OUTCOMES = {"murder": "murders", "aggravated_assault": "aggravated assaults"}
RTCI_COLUMNS = ["date", "agency_name", "state_name", "agency_full", *RTCI_OUTCOMES]
RTCI_NATIONAL_STATE = "Nationwide"

SEATTLE_OUTCOMES = {"i_drugs": "drug offenses", "i_felony": "felony offenses",
                    "i_misdemea": "misdemeanor offenses", "any_crime": "any crime"}
SEATTLE_COVARIATES = ("TotalPop", "BLACK", "HISPANIC", "Males_1521", "HOUSEHOLDS", "FAMILYHOUS",
                      "FEMALE_HOU", "RENTER_HOU", "VACANT_HOU")
SEATTLE_COLUMNS = ["ID", "time", "Intervention", *SEATTLE_OUTCOMES, *SEATTLE_COVARIATES]
# Assumption (not in the data): time 13 is the first intervention quarter, 2013-Q1, so
# time 1..16 is 2010-Q1..2013-Q4. The DMI started in 2013; the quarter is not verified.
SEATTLE_FIRST_QUARTER = pd.Period("2010Q1", freq="Q-DEC")
SEATTLE_TREATED_AREA = "DMI blocks"
SEATTLE_REST_AREA = "Rest of Seattle"
#: Each census block is also an area of its own (micro-synthetic control matches blocks).
SEATTLE_BLOCK_PREFIX = "Block "

_INT_RE = re.compile(r"^-?\d+(\.0+)?$")


def _read_strings(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        with open_text(path) as fh:
            # No usecols: with it pandas silently accepts rows with surplus fields.
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False)[columns]
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        located = find_malformed_row(path)
        raise DataError(located or Problem(str(path), f"could not read as CSV: {exc}")) from None
    return frame.apply(lambda col: col.str.strip())


def rtci_city_names(table: pd.DataFrame) -> pd.Series:
    """``agency_name``, or ``agency_full`` when two agencies share a name (Newark NJ / OH)."""
    n_full = table.groupby("agency_name")["agency_full"].transform("nunique")
    return table["agency_name"].where(n_full == 1, table["agency_full"])


def ingest_rtci(path: Path, agencies: list[str] | None = None,
                date_formats: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    path = Path(path)
    header = check_csv_file(path)
    require_columns(path, header, RTCI_COLUMNS, source="rtci")
    table = _read_strings(path, RTCI_COLUMNS)
    table["line"] = np.arange(2, len(table) + 2)  # quoted fields carry no newlines here
    notes: list[str] = []
    national = table["state_name"] == RTCI_NATIONAL_STATE
    if national.any():
        names = sorted(table.loc[national, "agency_name"].unique())
        notes.append(f"rtci: excluded {len(names)} national aggregate series "
                     f"({', '.join(names)}): they are sums over agencies, not cities.")
    table = table[~national].copy()
    table["city"] = rtci_city_names(table)
    table["period"] = _rtci_periods(path, table, date_formats)
    file_last = table["period"].max()
    if agencies:
        table = _filter_agencies(path, table, agencies)
    _check_duplicates(path, table)
    frames = []
    for column, outcome in RTCI_OUTCOMES.items():
        frame, col_notes = _rtci_counts(path, table, column, outcome)
        frames.append(frame)
        notes += col_notes
    last_by_city = table.groupby("city")["period"].max()
    for city, last in last_by_city[last_by_city < file_last].items():
        notes.append(f"rtci: {city} has rows only up to {last} while the file runs to "
                     f"{file_last}; the later months are missing, not zero.")
    out = pd.concat(frames, ignore_index=True)
    out["area"] = "citywide"
    return out[["city", "area", "outcome", "period", "count"]], notes


def _rtci_periods(path: Path, table: pd.DataFrame, formats: tuple[str, ...]) -> pd.Series:
    """Each row's month, read by the one date reader (so a re-saved ``1/1/18`` works too)."""
    dates = pd.Series(read_dates(table["date"], formats), index=table.index, dtype=object)
    bad = dates.isna()
    if bad.any():
        rows = table[bad].head(5)
        raise DataError([Problem(str(path), bad_date_message(value, formats), row=int(line),
                                 column="date")
                         for value, line in zip(rows["date"], rows["line"], strict=True)])
    return pd.Series([f"{d.year:04d}-{d.month:02d}" for d in dates], index=table.index)


def _filter_agencies(path: Path, table: pd.DataFrame, agencies: list[str]) -> pd.DataFrame:
    wanted = {a.strip() for a in agencies}
    known = set(table["city"]) | set(table["agency_full"])
    unknown = sorted(wanted - known)
    if unknown:
        problems = []
        for name in unknown:
            hint = did_you_mean(name, known)
            problems.append(Problem(str(path), f"agency {name!r} not in the file"
                                               f"{'; ' + hint if hint else ''}",
                                    column="agency_name"))
        raise DataError(problems)
    return table[table["city"].isin(wanted) | table["agency_full"].isin(wanted)].copy()


def _check_duplicates(path: Path, table: pd.DataFrame) -> None:
    dup = table.duplicated(["city", "period"], keep="first")
    if dup.any():
        rows = table[dup].head(5)
        raise DataError([Problem(str(path), f"second row for {city} {period}",
                                 row=int(line), column="date")
                         for city, period, line in zip(rows["city"], rows["period"],
                                                       rows["line"], strict=True)])


def _rtci_counts(path: Path, table: pd.DataFrame, column: str, outcome: str
                 ) -> tuple[pd.DataFrame, list[str]]:
    values = table[column]
    is_na = values.str.upper().isin(["NA", "", "NAN", "NULL"])
    is_int = values.str.match(_INT_RE)
    garbage = ~is_na & ~is_int
    if garbage.any():
        rows = table[garbage].head(5)
        raise DataError([Problem(str(path), f"count {value!r} is not a whole number",
                                 row=int(line), column=column)
                         for value, line in zip(rows[column], rows["line"], strict=True)])
    counts = pd.to_numeric(values.where(is_int), errors="coerce")
    negative = counts < 0
    notes = []
    if negative.any():
        for city, period, value in zip(table.loc[negative, "city"], table.loc[negative, "period"],
                                       counts[negative], strict=True):
            notes.append(f"rtci: {outcome} for {city} in {period} is {int(value)} (negative: "
                         "unfounded reports netted out); DATA PROBLEM, left missing.")
        notes.insert(0, f"rtci: {int(negative.sum())} negative {outcome} counts reported as "
                        "missing (no row).")
    if is_na.any():
        by_city = table[is_na].groupby("city")["period"].apply(list)
        notes.append(f"rtci: {int(is_na.sum())} {outcome} counts are NA (not reported); "
                     "reported as missing (no row).")
        for city, periods in by_city.items():
            notes.append(f"rtci: {outcome} for {city} is NA in {', '.join(periods)}; "
                         "DATA PROBLEM, left missing.")
    keep = is_int & ~negative
    frame = pd.DataFrame({"city": table.loc[keep, "city"], "outcome": outcome,
                          "period": table.loc[keep, "period"],
                          "count": counts[keep].astype("int64")})
    return frame, notes


def ingest_seattle_dmi(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Outcomes of the DMI blocks, the rest of Seattle and the city (blocks: see below)."""
    table, notes = _read_seattle_blocks(Path(path))
    by_area = table.groupby(["area", "time"])[[*SEATTLE_OUTCOMES, "TotalPop"]].sum()
    citywide = table.groupby("time")[[*SEATTLE_OUTCOMES, "TotalPop"]].sum()
    citywide.index = pd.MultiIndex.from_product([["citywide"], citywide.index],
                                                names=["area", "time"])
    both = pd.concat([by_area, citywide]).reset_index()
    quarters = [SEATTLE_FIRST_QUARTER + int(t) - 1 for t in both["time"]]
    parts = []
    for column, outcome in SEATTLE_OUTCOMES.items():
        parts.append(pd.DataFrame({
            "city": "Seattle", "area": both["area"], "outcome": outcome, "period": quarters,
            "count": both[column].astype("int64"), "population": both["TotalPop"].astype("int64")}))
    times = sorted(table["time"].unique())
    missing_times = sorted(set(range(1, times[-1] + 1)) - set(times))
    if missing_times:
        notes.append(f"seattle-dmi: no rows for time {missing_times}; those quarters are missing.")
    return pd.concat(parts, ignore_index=True), notes


def seattle_dmi_blocks(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(unit_outcomes.csv rows, areas.csv rows): every block's series, and each block with the
    area it lies in and its 2010 census covariates (block populations, some 0, live there)."""
    table, _ = _read_seattle_blocks(Path(path))
    labels = {t: format_period(SEATTLE_FIRST_QUARTER + int(t) - 1) for t in table["time"].unique()}
    names = SEATTLE_BLOCK_PREFIX + table["ID"]
    series = pd.concat([pd.DataFrame({
        "city": "Seattle", "area": names, "outcome": outcome, "period": table["time"].map(labels),
        "count": table[column].astype("int64")}) for column, outcome in SEATTLE_OUTCOMES.items()],
        ignore_index=True)
    blocks = table.drop_duplicates("ID").sort_values("ID", kind="mergesort")
    varying = table.groupby("ID")[list(SEATTLE_COVARIATES)].nunique()
    if (varying > 1).any().any():
        block = varying[(varying > 1).any(axis=1)].index[0]
        raise DataError(Problem(str(path), f"block {block} has covariates that change over "
                                "time; expected one census value per block"))
    frame = pd.DataFrame({"city": "Seattle", "area": SEATTLE_BLOCK_PREFIX + blocks["ID"],
                          "population": blocks["TotalPop"], "within": blocks["area"]})
    for column in SEATTLE_COVARIATES[1:]:
        frame[column] = blocks[column].to_numpy()
    return series, frame.reset_index(drop=True)


def _read_seattle_blocks(path: Path) -> tuple[pd.DataFrame, list[str]]:
    header = check_csv_file(path)
    require_columns(path, header, SEATTLE_COLUMNS, source="seattle-dmi")
    raw = _read_strings(path, SEATTLE_COLUMNS)
    table = pd.DataFrame({"ID": raw["ID"]})
    for column in SEATTLE_COLUMNS[1:]:
        numbers = pd.to_numeric(raw[column], errors="coerce")
        bad = numbers.isna() | (numbers < 0) | (numbers != numbers.round())
        if bad.any():
            lines = np.flatnonzero(bad.to_numpy())[:5] + 2
            raise DataError([Problem(str(path), f"{raw[column].iloc[i - 2]!r} is not a "
                                                "non-negative whole number",
                                     row=int(i), column=column) for i in lines])
        table[column] = numbers.astype("int64")
    times = sorted(table["time"].unique())
    if times[0] < 1:
        raise DataError(Problem(str(path), f"time {times[0]} is below 1", column="time"))
    treated_ids = table.loc[table["Intervention"] == 1, "ID"].unique()
    is_treated = table["ID"].isin(treated_ids)
    first_treated = table.loc[table["Intervention"] == 1, "time"].min()
    table["area"] = np.where(is_treated, SEATTLE_TREATED_AREA, SEATTLE_REST_AREA)
    table = table.sort_values(["ID", "time"], kind="mergesort").reset_index(drop=True)
    notes = [
        f"seattle-dmi: {table['ID'].nunique():,} census blocks, {len(treated_ids)} treated "
        f"('{SEATTLE_TREATED_AREA}': Intervention ever 1); first treated time {first_treated}.",
        f"seattle-dmi: ASSUMPTION: time 1..{times[-1]} mapped to calendar quarters with time 13 "
        f"= 2013-Q1 (time 1 = {SEATTLE_FIRST_QUARTER.year}-Q1); the data carry no dates.",
        "seattle-dmi: population = sum of block TotalPop (2010 census, constant over time).",
        f"seattle-dmi: each block's series is in unit_outcomes.csv as area "
        f"'{SEATTLE_BLOCK_PREFIX}<ID>'; its population, covariates and area in areas.csv.",
    ]
    return table, notes
