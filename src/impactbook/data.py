"""Load and validate a workbook folder (the five CSV tables of DESIGN.md).

Validation collects *every* problem in every table before failing, so a
person fixing a spreadsheet sees the whole list at once, each problem on one
line with file, row and column. Loading returns typed frames; nothing is
written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .csvread import iter_csv_text, read_csv_text
from .errors import DataError, ImpactbookError, ParameterError, Problem
from .periods import format_period, frequency_of, parse_date_or_month, parse_period, period_range

OUTCOMES = "outcomes.csv"
INTERVENTIONS = "interventions.csv"
NEWS = "news.csv"
TAGS = "tags.csv"
FUNDERS = "funders.csv"

REQUIRED = {
    OUTCOMES: ("city", "area", "outcome", "period", "count"),
    INTERVENTIONS: ("id", "city", "intervention", "programme", "area", "start", "outcomes"),
    NEWS: ("date", "title", "outlet", "tags"),
    TAGS: ("tag", "kind"),
    FUNDERS: ("funder", "email", "cities", "interventions"),
}
OPTIONAL = {
    OUTCOMES: ("population",),
    INTERVENTIONS: ("end", "comparison_areas", "confidence", "source", "notes"),
    NEWS: ("url", "summary"),
    TAGS: (),
    FUNDERS: (),
}
TAG_KINDS = ("city", "intervention", "initiative", "topic")
CONFIDENCE_LEVELS = ("V", "P", "U")
CITYWIDE = "citywide"
ALL = "*"
# A per-period count above this is a unit or typing error, not a city's violence.
MAX_COUNT = 10_000_000
# Stop listing one kind of problem after this many; a 200 MB file can hold millions.
MAX_PROBLEMS_PER_CHECK = 20

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def split_list(value: object) -> list[str]:
    """Split a ``;``-separated cell into its stripped, non-empty items."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [item.strip() for item in str(value).split(";") if item.strip()]


@dataclass(frozen=True)
class Workbook:
    """The validated tables of one workbook folder."""

    root: Path
    outcomes: pd.DataFrame
    interventions: pd.DataFrame
    news: pd.DataFrame
    tags: pd.DataFrame
    funders: pd.DataFrame
    warnings: tuple[str, ...] = field(default=())

    @property
    def cities(self) -> list[str]:
        return sorted(self.outcomes["city"].unique())

    @property
    def programme_cities(self) -> list[str]:
        """Cities that run at least one programme: the ones a report is written for."""
        return sorted(self.interventions["city"].unique())

    def frequency(self, city: str) -> str:
        freq = self.outcomes.loc[self.outcomes["city"] == city, "freq"]
        if freq.empty:
            raise unknown_value("city", city, self.cities)
        return str(freq.iloc[0])


def unknown_value(parameter: str, value: str, known: Iterable[str]) -> ParameterError:
    known = sorted(set(known))
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return ParameterError(parameter, value, f"one of: {shown}")


class _Problems:
    """Collects problems, capping each repeated check so huge files stay readable."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._counts: dict[tuple[str, str | None, str], int] = {}

    def add(self, file: str, message: str, row: int | None = None, column: str | None = None,
            *, check: str | None = None) -> None:
        key = (file, column, check or message)
        seen = self._counts.get(key, 0)
        self._counts[key] = seen + 1
        if seen < MAX_PROBLEMS_PER_CHECK:
            self.items.append(Problem(file, message, row, column))

    def add_rows(self, file: str, frame: pd.DataFrame, mask: pd.Series, column: str,
                 message: str) -> None:
        """One problem per masked row, quoting the bad value."""
        for line, value in frame.loc[mask, ["line", column]].itertuples(index=False):
            self.add(file, message.format(value=value), int(line), column, check=message)

    def summarise_overflow(self) -> None:
        for (file, column, check), count in self._counts.items():
            if count > MAX_PROBLEMS_PER_CHECK:
                extra = count - MAX_PROBLEMS_PER_CHECK
                self.items.append(Problem(
                    file, f"... and {extra} more row(s) with the same problem ({check})",
                    column=column))

    def raise_if_any(self) -> None:
        if self.items:
            self.summarise_overflow()
            raise DataError(self.items)


def _literal(text: str) -> str:
    """Protect data-derived text that goes into a ``str.format`` message template."""
    return text.replace("{", "{{").replace("}", "}}")


def _blank_mask(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].str.strip() == ""


def _strip(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = frame[column].str.strip()
    return frame


def _require_text(frame: pd.DataFrame, columns: Iterable[str], file: str,
                  problems: _Problems) -> pd.DataFrame:
    for column in columns:
        problems.add_rows(file, frame, _blank_mask(frame, column), column,
                          "empty value; expected text")
    return frame


def _parse_periods(frame: pd.DataFrame, column: str, file: str, problems: _Problems,
                   *, allow_blank: bool = False) -> pd.Series:
    """Parsed periods (``None`` where bad), each bad label reported once per row."""
    cache: dict[str, pd.Period | None | str] = {}
    parsed: list[pd.Period | None] = []
    for line, label in frame[["line", column]].itertuples(index=False):
        if label == "" and allow_blank:
            parsed.append(None)
            continue
        if label not in cache:
            try:
                cache[label] = parse_period(label)
            except ValueError as exc:
                cache[label] = str(exc)
        value = cache[label]
        if isinstance(value, str):
            problems.add(file, value, int(line), column, check="bad period")
            parsed.append(None)
        else:
            parsed.append(value)
    return pd.Series(parsed, index=frame.index, dtype=object)


def _parse_counts(frame: pd.DataFrame, file: str, problems: _Problems) -> pd.Series:
    text = frame["count"].str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    is_missing = text.isin(["", "NA", "N/A", "NaN", "nan", "null", "None", "-"])
    bad_text = numeric.isna() & ~is_missing
    problems.add_rows(file, frame, is_missing, "count",
                      "missing count {value!r}; leave the row out when the period is missing "
                      "(a missing row means missing, never zero)")
    problems.add_rows(file, frame, bad_text, "count",
                      "count {value!r} is not a number; expected a non-negative integer")
    problems.add_rows(file, frame, numeric < 0, "count",
                      "negative count {value}; expected a non-negative integer")
    problems.add_rows(file, frame, (numeric >= 0) & (numeric % 1 != 0), "count",
                      "fractional count {value}; expected a whole number of events")
    problems.add_rows(file, frame, numeric > MAX_COUNT, "count",
                      f"count {{value}} is implausibly large (over {MAX_COUNT:,} in one period)")
    return numeric


def _check_outcomes_chunk(chunk: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    file = OUTCOMES
    chunk = _strip(chunk, ["city", "area", "outcome", "period"])
    _require_text(chunk, ["city", "area", "outcome"], file, problems)
    periods = _parse_periods(chunk, "period", file, problems)
    counts = _parse_counts(chunk, file, problems)
    population = pd.Series(np.nan, index=chunk.index)
    if "population" in chunk:
        text = chunk["population"].str.strip()
        population = pd.to_numeric(text, errors="coerce")
        bad = (text != "") & (population.isna() | (population <= 0))
        problems.add_rows(file, chunk, bad, "population",
                          "population {value!r} is not a positive number")
    out = pd.DataFrame({
        "line": chunk["line"], "city": chunk["city"], "area": chunk["area"],
        "outcome": chunk["outcome"], "period_obj": periods, "count": counts,
        "population": population.astype(float),
    })
    return out[out["period_obj"].notna() & out["count"].notna()]


def _check_outcomes_table(frame: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    """Cross-row checks: one frequency per city, no duplicated or unordered periods."""
    file = OUTCOMES
    frame["freq"] = [frequency_of(p) for p in frame["period_obj"]]
    frame["period"] = [format_period(p) for p in frame["period_obj"]]
    freqs = frame.groupby("city")["freq"].agg(lambda s: sorted(set(s)))
    for city, seen in freqs.items():
        if len(seen) > 1:
            lines = frame.loc[(frame["city"] == city) & (frame["freq"] == "Q"), "line"]
            problems.add(file, f"city {city!r} mixes monthly (YYYY-MM) and quarterly (YYYY-Qn) "
                         "periods; use one frequency per city", int(lines.iloc[0]), "period")
    keys = ["city", "area", "outcome", "period"]
    dup = frame.duplicated(keys, keep="first")
    for row in frame.loc[dup].itertuples(index=False):
        first = frame.loc[(frame["city"] == row.city) & (frame["area"] == row.area)
                          & (frame["outcome"] == row.outcome) & (frame["period"] == row.period),
                          "line"].iloc[0]
        problems.add(file, f"duplicate row for {row.city} / {row.area} / {row.outcome} / "
                     f"{row.period} (first at row {first})", int(row.line), "period",
                     check="duplicate period")
    return frame


def _load_outcomes(path: Path, problems: _Problems) -> pd.DataFrame:
    parts = [_check_outcomes_chunk(chunk, problems)
             for chunk in iter_csv_text(path, REQUIRED[OUTCOMES], label=OUTCOMES)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["line", "city", "area", "outcome", "period_obj", "count", "population"])
    if frame.empty and not problems.items:
        problems.add(OUTCOMES, "no data rows; expected at least one outcome count")
        return frame
    frame = _check_outcomes_table(frame, problems)
    frame["count"] = frame["count"].astype("int64")
    return frame[["city", "area", "outcome", "period", "count", "population", "freq", "line"]]


def _load_tags(path: Path, problems: _Problems) -> pd.DataFrame:
    frame = _strip(read_csv_text(path, REQUIRED[TAGS], label=TAGS), ["tag", "kind"])
    _require_text(frame, ["tag"], TAGS, problems)
    problems.add_rows(TAGS, frame, ~frame["kind"].isin(TAG_KINDS), "kind",
                      "unknown kind {value!r}; expected one of " + ", ".join(TAG_KINDS))
    lowered = frame["tag"].str.lower()
    problems.add_rows(TAGS, frame, lowered.duplicated() & (lowered != ""), "tag",
                      "tag {value!r} is listed twice (tags are matched case-insensitively)")
    return frame


def _series_keys(outcomes: pd.DataFrame) -> dict[str, dict[str, set[str]]]:
    """city -> {"areas": {...}, "outcomes": {...}} of what has data."""
    keys: dict[str, dict[str, set[str]]] = {}
    for city, group in outcomes.groupby("city"):
        keys[str(city)] = {"areas": set(group["area"]), "outcomes": set(group["outcome"])}
    return keys


def _period_bounds(outcomes: pd.DataFrame) -> dict[str, tuple[pd.Period, pd.Period]]:
    bounds = {}
    for city, group in outcomes.groupby("city"):
        periods = group["period"].map(parse_period)
        bounds[str(city)] = (periods.min(), periods.max())
    return bounds


def _load_interventions(path: Path, outcomes: pd.DataFrame, tags: pd.DataFrame,
                        problems: _Problems) -> pd.DataFrame:
    file = INTERVENTIONS
    frame = read_csv_text(path, REQUIRED[INTERVENTIONS], label=file)
    for column in OPTIONAL[INTERVENTIONS]:
        if column not in frame:
            frame[column] = ""
    frame = _strip(frame, frame.columns.drop("line"))
    _require_text(frame, ["id", "city", "intervention", "programme", "area", "start", "outcomes"],
                  file, problems)
    problems.add_rows(file, frame, frame["id"].duplicated() & (frame["id"] != ""), "id",
                      "id {value!r} is used by an earlier row; ids must be unique")
    types = set(tags.loc[tags["kind"] == "intervention", "tag"]) if not tags.empty else set()
    unknown_type = ~frame["intervention"].isin(types) & (frame["intervention"] != "")
    problems.add_rows(file, frame, unknown_type, "intervention",
                      "intervention type {value!r} is not a tag of kind 'intervention' in "
                      "tags.csv; expected one of " + _literal(", ".join(sorted(types))))
    bad_conf = ~frame["confidence"].isin(("", *CONFIDENCE_LEVELS))
    problems.add_rows(file, frame, bad_conf, "confidence",
                      "confidence {value!r}; expected V (verified), P (partly) or U (unverified)")
    keys = _series_keys(outcomes)
    bounds = _period_bounds(outcomes)
    starts = _parse_periods(frame, "start", file, problems)
    ends = _parse_periods(frame, "end", file, problems, allow_blank=True)
    for idx, row in frame.iterrows():
        line, city = int(row["line"]), row["city"]
        if city == "":
            continue
        if city not in keys:
            problems.add(file, f"city {city!r} has no rows in outcomes.csv", line, "city")
            continue
        for column in ("area", "comparison_areas"):
            for area in split_list(row[column]):
                if area not in keys[city]["areas"]:
                    problems.add(file, f"area {area!r} has no data for {city} in outcomes.csv",
                                 line, column)
        for outcome in split_list(row["outcomes"]):
            if outcome not in keys[city]["outcomes"]:
                problems.add(file, f"outcome {outcome!r} has no data for {city} in outcomes.csv",
                             line, "outcomes")
        start = starts[idx]
        if start is None:
            continue
        first, last = bounds[city]
        if frequency_of(start) != frequency_of(first):
            problems.add(file, f"start {row['start']!r} is not of the city's period frequency "
                         f"(data run {format_period(first)} to {format_period(last)})",
                         line, "start")
        elif not first < start <= last:
            problems.add(file, f"start {row['start']!r} is outside the data for {city} "
                         f"({format_period(first)} to {format_period(last)}); a programme "
                         "needs periods before and after its start", line, "start")
        end = ends[idx]
        if end is not None and frequency_of(end) == frequency_of(start) and end < start:
            problems.add(file, f"end {row['end']!r} is before start {row['start']!r}", line, "end")
    return frame


def _load_news(path: Path, tags: pd.DataFrame, problems: _Problems,
               warnings: list[str]) -> pd.DataFrame:
    file = NEWS
    frame = read_csv_text(path, REQUIRED[NEWS], label=file)
    for column in OPTIONAL[NEWS]:
        if column not in frame:
            frame[column] = ""
    frame = _strip(frame, ["date", "title", "outlet", "tags", "url"])
    _require_text(frame, ["title"], file, problems)
    months = []
    for line, label in frame[["line", "date"]].itertuples(index=False):
        try:
            months.append(format_period(parse_date_or_month(label)))
        except ValueError as exc:
            problems.add(file, str(exc), int(line), "date", check="bad date")
            months.append("")
    frame["month"] = months
    bad_url = (frame["url"] != "") & ~frame["url"].str.match(r"^https?://", case=False)
    problems.add_rows(file, frame, bad_url, "url", "url {value!r} is not an http(s) address")
    known = {t.lower() for t in tags["tag"]} if not tags.empty else set()
    for line, value in frame[["line", "tags"]].itertuples(index=False):
        unknown = [t for t in split_list(value) if t.lower() not in known]
        if unknown:
            warnings.append(f"{file}, row {line}, column 'tags': unknown tag(s) "
                            f"{', '.join(map(repr, unknown))} (kept; add them to tags.csv)")
    return frame


def _load_funders(path: Path, outcomes: pd.DataFrame, tags: pd.DataFrame,
                  problems: _Problems) -> pd.DataFrame:
    file = FUNDERS
    frame = _strip(read_csv_text(path, REQUIRED[FUNDERS], label=file),
                   ["funder", "email", "cities", "interventions"])
    _require_text(frame, ["funder", "email"], file, problems)
    problems.add_rows(file, frame, frame["funder"].str.contains(r"[\r\n]", regex=True),
                      "funder", "funder name {value!r} contains a line break")
    bad_email = (frame["email"] != "") & ~frame["email"].map(lambda e: bool(_EMAIL_RE.match(e)))
    problems.add_rows(file, frame, bad_email, "email",
                      "email {value!r} is not a plain address like name@example.org")
    cities = set(outcomes["city"])
    types = set(tags.loc[tags["kind"] == "intervention", "tag"]) if not tags.empty else set()
    for line, listed_cities, listed_types in frame[["line", "cities", "interventions"]].itertuples(
            index=False):
        for city in split_list(listed_cities):
            if city != ALL and city not in cities:
                problems.add(file, f"city {city!r} is not in outcomes.csv", int(line), "cities")
        for kind in split_list(listed_types):
            if kind != ALL and kind not in types:
                problems.add(file, f"intervention {kind!r} is not an intervention tag",
                             int(line), "interventions")
    return frame


def _optional_table(root: Path, name: str) -> pd.DataFrame:
    columns = ["line", *REQUIRED[name], *OPTIONAL[name]]
    return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})


def load_workbook(data_dir: Path | str, *, require: Iterable[str] = (OUTCOMES,),
                  ) -> Workbook:
    """Load and validate every table of ``data_dir``; raise one :class:`DataError` listing all.

    ``require`` names the tables that must exist; the others are optional and
    load empty when absent (``estimate --start`` needs only outcomes.csv).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise ParameterError("data", str(root), "an existing workbook folder")
    problems = _Problems()
    warnings: list[str] = []
    required = set(require)

    def table(name: str, loader, *args):
        path = root / name
        if not path.exists() and name not in required:
            return _optional_table(root, name)
        try:
            return loader(path, *args)
        except DataError as exc:
            problems.items.extend(exc.problems)
            return _optional_table(root, name)

    outcomes = table(OUTCOMES, _load_outcomes, problems)
    if outcomes.empty and problems.items:
        outcomes = pd.DataFrame(columns=["city", "area", "outcome", "period", "count",
                                         "population", "freq", "line"])
    tags = table(TAGS, _load_tags, problems)
    interventions = table(INTERVENTIONS, _load_interventions, outcomes, tags, problems)
    news = table(NEWS, _load_news, tags, problems, warnings)
    funders = table(FUNDERS, _load_funders, outcomes, tags, problems)
    problems.raise_if_any()
    return Workbook(
        root=root,
        outcomes=outcomes.drop(columns="line").reset_index(drop=True),
        interventions=interventions.drop(columns="line").reset_index(drop=True),
        news=news.drop(columns="line").reset_index(drop=True),
        tags=tags.drop(columns="line").reset_index(drop=True),
        funders=funders.drop(columns="line").reset_index(drop=True),
        warnings=tuple(warnings),
    )


def validate_workbook(data_dir: Path | str) -> list[str]:
    """Validate all five tables; return warnings, raise :class:`DataError` on problems."""
    return list(load_workbook(data_dir, require=tuple(REQUIRED)).warnings)


def select_series(outcomes: pd.DataFrame, city: str, area: str, outcome: str) -> pd.DataFrame:
    """One place's outcome as a frame on a full PeriodIndex (gaps stay NaN, never zero)."""
    rows = outcomes[(outcomes["city"] == city) & (outcomes["area"] == area)
                    & (outcomes["outcome"] == outcome)]
    if rows.empty:
        city_rows = outcomes[outcomes["city"] == city]
        if city_rows.empty:
            raise unknown_value("city", city, outcomes["city"])
        if area not in set(city_rows["area"]):
            raise unknown_value("area", area, city_rows["area"])
        raise unknown_value("outcome", outcome,
                            city_rows.loc[city_rows["area"] == area, "outcome"])
    periods = [parse_period(p) for p in rows["period"]]
    index = pd.PeriodIndex(periods)
    frame = pd.DataFrame({"count": rows["count"].astype(float).to_numpy(),
                          "population": rows["population"].astype(float).to_numpy()},
                         index=index).sort_index()
    full = period_range(frame.index.min(), frame.index.max())
    frame = frame.reindex(full)
    frame.index.name = "period"
    return frame


def programmes_for_city(workbook: Workbook, city: str) -> pd.DataFrame:
    rows = workbook.interventions[workbook.interventions["city"] == city]
    if rows.empty:
        raise unknown_value("city", city, workbook.programme_cities or workbook.cities)
    return rows


__all__ = [
    "ALL", "CITYWIDE", "DataError", "ImpactbookError", "Workbook", "load_workbook",
    "programmes_for_city", "select_series", "split_list", "validate_workbook",
]
