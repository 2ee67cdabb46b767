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

from impactbook.errors import DataError, ImpactbookError, ParameterError, Problem
from impactbook.fsutil import slugify
from impactbook.workbook.csvread import iter_csv_text, read_csv_text
from impactbook.workbook.periods import (
    MONTHLY,
    QUARTERLY,
    format_period,
    frequency_of,
    parse_date_or_month,
    parse_period,
    period_range,
)

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

# Names longer than this are pasted paragraphs, not names (report folders cut slugs at 60).
MAX_NAME_CHARS = 200
MAX_POPULATION = 2_000_000_000
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_URL_RE = re.compile(r"^https?://[^\s\"'<>\\]+$", re.IGNORECASE)
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
        """One problem per masked row, quoting the bad value (only the first few are built)."""
        total = int(mask.sum())
        if not total:
            return
        key = (file, column, message)
        seen = self._counts.get(key, 0)
        wanted = max(0, MAX_PROBLEMS_PER_CHECK - seen)
        shown = frame.loc[mask, ["line", column]].head(wanted)
        for line, value in shown.itertuples(index=False):
            self.items.append(Problem(file, message.format(value=_shorten(value)), int(line),
                                      column))
        self._counts[key] = seen + total

    def count_more(self, file: str, column: str | None, check: str, extra: int) -> None:
        """Count ``extra`` further occurrences of a check without listing them."""
        if extra > 0:
            key = (file, column, check)
            self._counts[key] = self._counts.get(key, 0) + extra

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


def _shorten(value: object) -> object:
    """Long values are cut in messages so one problem stays one readable line."""
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    return value


def _literal(text: str) -> str:
    """Protect data-derived text that goes into a ``str.format`` message template."""
    return text.replace("{", "{{").replace("}", "}}")


def _blank_mask(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column] == ""


def _strip(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Strip surrounding spaces (computed once per distinct value: columns repeat a lot)."""
    for column in columns:
        if column in frame:
            codes, uniques = pd.factorize(frame[column])
            stripped = np.array([str(u).strip() for u in uniques], dtype=object)
            frame[column] = pd.Series(stripped[codes] if len(codes) else stripped[:0],
                                      index=frame.index, dtype=object)
    return frame


def _numbers(text: pd.Series) -> pd.Series:
    """``pd.to_numeric`` of text, NaN where it is not a number (once per distinct value)."""
    codes, uniques = pd.factorize(text)
    numeric = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(
        dtype=float)
    return pd.Series(numeric[codes] if len(codes) else numeric[:0], index=text.index)


def _require_text(frame: pd.DataFrame, columns: Iterable[str], file: str,
                  problems: _Problems) -> pd.DataFrame:
    for column in columns:
        problems.add_rows(file, frame, _blank_mask(frame, column), column,
                          "empty value; expected text")
    return frame


def name_problem(name: str, *, allow_semicolon: bool = False) -> str | None:
    """Why ``name`` cannot name a city, area, outcome, programme or tag, or ``None``.

    Names end up in report folders, notebook parameters, email subjects and list
    cells, so they may not hold line breaks or other control characters (header
    injection, broken lines), nor ``;`` (it separates list items), and stay short.
    """
    if _CONTROL_RE.search(name):
        return "contains a line break or control character"
    if ";" in name and not allow_semicolon:
        return "contains ';', which separates list items"
    if len(name) > MAX_NAME_CHARS:
        return f"is {len(name)} characters long; names are at most {MAX_NAME_CHARS}"
    return None


def _check_names(frame: pd.DataFrame, columns: Iterable[str], file: str,
                 problems: _Problems, *, allow_semicolon: bool = False) -> pd.Series:
    """Report bad names (checked once per distinct value); return the mask of good rows."""
    good = pd.Series(True, index=frame.index)
    for column in columns:
        reasons = {v: name_problem(v, allow_semicolon=allow_semicolon)
                   for v in frame[column].unique()}
        bad_values = {v for v, reason in reasons.items() if reason}
        if not bad_values:
            continue
        bad = frame[column].isin(bad_values)
        good &= ~bad
        for value in sorted(bad_values):
            mask = frame[column] == value
            problems.add_rows(file, frame, mask, column,
                              "name {value!r} " + _literal(str(reasons[value])))
    return good


def _check_list_items(frame: pd.DataFrame, columns: Iterable[str], file: str,
                      problems: _Problems, warnings: list[str]) -> None:
    """Names inside ``;`` lists follow the name rules; empty items are ignored with a warning."""
    for column in columns:
        for line, value in frame[["line", column]].itertuples(index=False):
            if value == "":
                continue
            items = [item.strip() for item in value.split(";")]
            if "" in items:
                warnings.append(f"{file}, row {line}, column {column!r}: empty item in "
                                f"{value!r} (a doubled or stray ';'; ignored)")
            for item in filter(None, items):
                reason = name_problem(item, allow_semicolon=True)
                if reason:
                    problems.add(file, f"item {_shorten(item)!r} {reason}", int(line), column,
                                 check="bad list item")


def _parse_periods(frame: pd.DataFrame, column: str, file: str, problems: _Problems,
                   *, allow_blank: bool = False) -> pd.Series:
    """Parsed periods (``None`` where bad or blank), each bad label reported once per row."""
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
    """Counts as floats; NaN wherever the count is not a non-negative whole number."""
    text = frame["count"]
    numeric = _numbers(text)
    is_missing = text.isin(["", "NA", "N/A", "NaN", "nan", "null", "None", "-", "."])
    bad_text = numeric.isna() & ~is_missing
    finite = np.isfinite(numeric)
    problems.add_rows(file, frame, is_missing, "count",
                      "missing count {value!r}; leave the row out when the period is missing "
                      "(a missing row means missing, never zero)")
    problems.add_rows(file, frame, bad_text, "count",
                      "count {value!r} is not a number; expected a non-negative integer")
    negative = numeric < 0
    problems.add_rows(file, frame, negative, "count",
                      "negative count {value}; expected a non-negative integer")
    fractional = finite & ~negative & (numeric % 1 != 0)
    problems.add_rows(file, frame, fractional, "count",
                      "fractional count {value}; expected a whole number of events")
    huge = ~negative & (numeric > MAX_COUNT)
    problems.add_rows(file, frame, huge, "count",
                      f"count {{value}} is implausibly large (over {MAX_COUNT:,} in one period)")
    return numeric.where(~(negative | fractional | huge))


def _parse_population(frame: pd.DataFrame, file: str, problems: _Problems) -> pd.Series:
    if "population" not in frame:
        return pd.Series(np.nan, index=frame.index)
    text = frame["population"]
    population = _numbers(text)
    bad = (text != "") & ~(np.isfinite(population) & (population > 0)
                           & (population <= MAX_POPULATION))
    problems.add_rows(file, frame, bad, "population",
                      "population {value!r} is not a positive number (people living in the area)")
    return population.where(~bad)


# Period codes keep one int per row instead of a pandas Period object: a monthly period is
# year * 12 + month - 1, a quarterly one year * 4 + quarter - 1; the frequency rides beside.
_FREQ_BIT = {MONTHLY: 0, QUARTERLY: 1}


def _period_code(period: pd.Period) -> tuple[int, int]:
    if frequency_of(period) == QUARTERLY:
        return _FREQ_BIT[QUARTERLY], period.year * 4 + period.quarter - 1
    return _FREQ_BIT[MONTHLY], period.year * 12 + period.month - 1


def _period_from_code(freq_bit: int, code: int) -> pd.Period:
    if freq_bit == _FREQ_BIT[QUARTERLY]:
        return pd.Period(year=code // 4, quarter=code % 4 + 1, freq="Q-DEC")
    return pd.Period(year=code // 12, month=code % 12 + 1, freq=MONTHLY)


class _OutcomeScan:
    """Streams outcomes.csv chunks keeping compact state for the cross-row checks.

    Per row only an int64 key (series id, frequency, period code) and the line
    number are kept, so checking duplicates and frequencies in a file of
    millions of rows needs tens of bytes per row, not Python objects. The
    rows themselves are kept only when loading (``keep_rows``).
    """

    def __init__(self, keep_rows: bool) -> None:
        self.keep_rows = keep_rows
        self.series_ids: dict[tuple[str, str, str], int] = {}
        self.period_cache: dict[str, tuple[int, int] | str] = {}
        self.keys: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.rows: list[pd.DataFrame] = []
        # (series id, freq bit) -> [first code, last code, first line]
        self.stats: dict[tuple[int, int], list[int]] = {}

    def period_codes(self, labels: pd.Series, file: str, problems: _Problems,
                     lines: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Frequency bit and period code per row (-1 where the label is bad, reported)."""
        for label in labels.unique():
            if label not in self.period_cache:
                try:
                    self.period_cache[label] = _period_code(parse_period(label))
                except ValueError as exc:
                    self.period_cache[label] = str(exc)
        bad_labels = {k for k, v in self.period_cache.items() if isinstance(v, str)}
        is_bad = labels.isin(bad_labels).to_numpy()
        for line, label in zip(lines[is_bad].head(MAX_PROBLEMS_PER_CHECK),
                               labels[is_bad].head(MAX_PROBLEMS_PER_CHECK), strict=True):
            problems.add(file, str(self.period_cache[label]), int(line), "period",
                         check="bad period")
        problems.count_more(file, "period", "bad period",
                            int(is_bad.sum()) - min(int(is_bad.sum()), MAX_PROBLEMS_PER_CHECK))
        freq_of = {k: v[0] for k, v in self.period_cache.items() if not isinstance(v, str)}
        code_of = {k: v[1] for k, v in self.period_cache.items() if not isinstance(v, str)}
        freq = labels.map(freq_of).fillna(-1).to_numpy(dtype=np.int64)
        code = labels.map(code_of).fillna(-1).to_numpy(dtype=np.int64)
        return freq, code

    def add_chunk(self, chunk: pd.DataFrame, freq: np.ndarray, code: np.ndarray,
                  is_keyed: np.ndarray) -> None:
        """Remember the keys of rows with good names and period (``is_keyed``)."""
        keyed = chunk.loc[is_keyed, ["city", "area", "outcome"]]
        # Combine the three columns' codes into one integer per row, then map each distinct
        # (city, area, outcome) to its series id: no tuple per row.
        combined = np.zeros(len(keyed), dtype=np.int64)
        parts = []
        for column in ("city", "area", "outcome"):
            codes, uniques = pd.factorize(keyed[column])
            combined = combined * max(len(uniques), 1) + codes
            parts.append((codes, uniques))
        row_codes, distinct = pd.factorize(combined)
        first_row = np.zeros(len(distinct), dtype=np.int64)
        first_row[row_codes[::-1]] = np.arange(len(row_codes))[::-1]
        id_of = np.array([
            self.series_ids.setdefault(tuple(str(u[c[r]]) for c, u in parts),
                                       len(self.series_ids))
            for r in first_row], dtype=np.int64)
        ids = id_of[row_codes] if len(row_codes) else np.empty(0, dtype=np.int64)
        freq, code = freq[is_keyed], code[is_keyed]
        lines = chunk.loc[is_keyed, "line"].to_numpy(dtype=np.int64)
        self.keys.append((ids << 20) | (freq << 19) | code)
        self.lines.append(lines)
        stats = pd.DataFrame({"id": ids, "freq": freq, "code": code, "line": lines}).groupby(
            ["id", "freq"]).agg(first=("code", "min"), last=("code", "max"),
                                line=("line", "min"))
        for (sid, fbit), first, last, line in stats.itertuples(name=None):
            seen = self.stats.get((sid, fbit))
            if seen is None:
                self.stats[(sid, fbit)] = [first, last, line]
            else:
                seen[0], seen[1], seen[2] = min(seen[0], first), max(seen[1], last), min(
                    seen[2], line)

    def series_table(self) -> pd.DataFrame:
        """One row per (city, area, outcome, freq): first and last period, first line."""
        names = {sid: triple for triple, sid in self.series_ids.items()}
        records = [(*names[sid], MONTHLY if fbit == 0 else QUARTERLY,
                    _period_from_code(fbit, first), _period_from_code(fbit, last), line)
                   for (sid, fbit), (first, last, line) in self.stats.items()]
        return pd.DataFrame(records, columns=["city", "area", "outcome", "freq", "first",
                                              "last", "line"])

    def check_duplicates(self, file: str, problems: _Problems) -> None:
        if not self.keys:
            return
        keys = np.concatenate(self.keys)
        lines = np.concatenate(self.lines)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        is_dup = np.zeros(len(keys), dtype=bool)
        is_dup[1:] = sorted_keys[1:] == sorted_keys[:-1]
        if not is_dup.any():
            return
        # The first row of each run of equal keys is the one the duplicates repeat.
        run_start = np.maximum.accumulate(np.where(~is_dup, np.arange(len(keys)), 0))
        dup_pos = np.flatnonzero(is_dup)
        dup_lines = lines[order[dup_pos]]
        first_lines = lines[order[run_start[dup_pos]]]
        names = {sid: triple for triple, sid in self.series_ids.items()}
        by_line = np.argsort(dup_lines, kind="stable")
        for i in by_line:
            key = int(sorted_keys[dup_pos[i]])
            city, area, outcome = names[key >> 20]
            label = format_period(_period_from_code((key >> 19) & 1, key & ((1 << 19) - 1)))
            problems.add(file, f"duplicate row for {city} / {area} / {outcome} / {label} "
                         f"(first at row {first_lines[i]})", int(dup_lines[i]), "period",
                         check="duplicate period")


def _check_outcomes_chunk(chunk: pd.DataFrame, scan: _OutcomeScan, problems: _Problems,
                          ) -> None:
    file = OUTCOMES
    chunk = _strip(chunk, ["city", "area", "outcome", "period", "count", "population"])
    _require_text(chunk, ["city", "area", "outcome"], file, problems)
    has_names = ~(_blank_mask(chunk, "city") | _blank_mask(chunk, "area")
                  | _blank_mask(chunk, "outcome"))
    has_names &= _check_names(chunk, ["city", "area", "outcome"], file, problems)
    freq, code = scan.period_codes(chunk["period"], file, problems, chunk["line"])
    counts = _parse_counts(chunk, file, problems)
    population = _parse_population(chunk, file, problems)
    is_keyed = has_names.to_numpy() & (code >= 0)
    scan.add_chunk(chunk, freq, code, is_keyed)
    if scan.keep_rows:
        is_good = is_keyed & counts.notna().to_numpy()
        good = chunk.loc[is_good]
        scan.rows.append(pd.DataFrame({
            "city": good["city"], "area": good["area"], "outcome": good["outcome"],
            "period": [format_period(_period_from_code(f, c))
                       for f, c in zip(freq[is_good], code[is_good], strict=True)],
            "count": counts[is_good].astype("int64"), "population": population[is_good],
            "freq": np.where(freq[is_good] == 1, QUARTERLY, MONTHLY),
            "line": good["line"].astype("int64"),
        }))


def _check_outcomes_table(series: pd.DataFrame, problems: _Problems) -> None:
    """Cross-row checks on the series table: one frequency per city, report-safe city names."""
    file = OUTCOMES
    for city, group in series.groupby("city", sort=False):
        if group["freq"].nunique() > 1:
            first_q = group.loc[group["freq"] == QUARTERLY, "line"].min()
            first_m = group.loc[group["freq"] == MONTHLY, "line"].min()
            problems.add(file, f"city {city!r} mixes monthly (YYYY-MM) and quarterly (YYYY-Qn) "
                         "periods; use one frequency per city", int(max(first_q, first_m)),
                         "period")
    first_lines = series.groupby("city")["line"].min().sort_values()
    _check_slugs(first_lines, file, "city", "city", problems)


def _check_slugs(first_lines: pd.Series, file: str, column: str, what: str,
                 problems: _Problems, *, place: str = "report folder") -> None:
    """Names become report folder names; two must not share one, and each needs one."""
    by_slug: dict[str, str] = {}
    for name, line in first_lines.items():
        try:
            slug = slugify(name)
        except ImpactbookError:
            problems.add(file, f"{what} {_shorten(name)!r} has no letter or digit to name its "
                         f"{place}", int(line), column)
            continue
        if slug in by_slug:
            problems.add(file, f"{what} {_shorten(name)!r} and {_shorten(by_slug[slug])!r} would "
                         f"share the {place} {slug!r}; rename one", int(line), column)
        else:
            by_slug[slug] = name


def _empty_outcomes() -> pd.DataFrame:
    return pd.DataFrame({
        "city": pd.Series(dtype=object), "area": pd.Series(dtype=object),
        "outcome": pd.Series(dtype=object), "period": pd.Series(dtype=object),
        "count": pd.Series(dtype="int64"), "population": pd.Series(dtype=float),
        "freq": pd.Series(dtype=object), "line": pd.Series(dtype="int64")})


def _load_outcomes(path: Path, problems: _Problems, keep_rows: bool,
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The outcome rows (empty unless ``keep_rows``) and the per-series summary table."""
    scan = _OutcomeScan(keep_rows)
    saw_rows = False
    for chunk in iter_csv_text(path, REQUIRED[OUTCOMES], label=OUTCOMES):
        saw_rows = True
        _check_outcomes_chunk(chunk, scan, problems)
    if not saw_rows:
        problems.add(OUTCOMES, "no data rows; expected at least one outcome count", row=2)
    scan.check_duplicates(OUTCOMES, problems)
    series = scan.series_table()
    _check_outcomes_table(series, problems)
    rows = pd.concat(scan.rows, ignore_index=True) if scan.rows else _empty_outcomes()
    return _as_text(rows, ["city", "area", "outcome", "period", "freq"]), series


def _as_text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Loaded text columns use pandas' string dtype, as ``read_csv(dtype=str)`` gives."""
    for column in columns:
        frame[column] = frame[column].astype(str)
    return frame


def _load_tags(path: Path, problems: _Problems) -> pd.DataFrame:
    frame = _strip(read_csv_text(path, REQUIRED[TAGS], label=TAGS), ["tag", "kind"])
    _require_text(frame, ["tag"], TAGS, problems)
    _check_names(frame, ["tag"], TAGS, problems)
    problems.add_rows(TAGS, frame, ~frame["kind"].isin(TAG_KINDS), "kind",
                      "unknown kind {value!r}; expected one of " + ", ".join(TAG_KINDS))
    lowered = frame["tag"].str.lower()
    problems.add_rows(TAGS, frame, lowered.duplicated() & (lowered != ""), "tag",
                      "tag {value!r} is listed twice (tags are matched case-insensitively)")
    types = frame.loc[(frame["kind"] == "intervention") & (frame["tag"] != "")]
    _check_slugs(types.drop_duplicates("tag").set_index("tag")["line"], TAGS, "tag",
                 "intervention type", problems)
    return frame


def read_tags(path: Path | str) -> pd.DataFrame:
    """One ``tags.csv`` alone (for news imports), checked by the same rules as a workbook's."""
    problems = _Problems()
    frame = _load_tags(Path(path), problems)
    problems.raise_if_any()
    return frame[["tag", "kind"]].reset_index(drop=True)


def _intervention_types(tags: pd.DataFrame) -> set[str]:
    return set(tags.loc[tags["kind"] == "intervention", "tag"])


def _series_keys(series: pd.DataFrame) -> dict[str, dict[str, set[str]]]:
    """city -> {"areas": {...}, "outcomes": {...}} of what has data."""
    keys: dict[str, dict[str, set[str]]] = {}
    for city, group in series.groupby("city"):
        keys[str(city)] = {"areas": set(group["area"]), "outcomes": set(group["outcome"])}
    return keys


def _period_bounds(series: pd.DataFrame) -> dict[str, tuple[pd.Period, pd.Period]]:
    """city -> (first, last) period of its (dominant, first-seen) frequency."""
    bounds = {}
    for city, group in series.sort_values("line").groupby("city", sort=False):
        group = group[group["freq"] == group["freq"].iloc[0]]
        bounds[str(city)] = (min(group["first"]), max(group["last"]))
    return bounds


def _load_interventions(path: Path, series: pd.DataFrame | None, tags: pd.DataFrame | None,
                        problems: _Problems, warnings: list[str]) -> pd.DataFrame:
    """Check interventions.csv; references are checked only against tables that loaded."""
    file = INTERVENTIONS
    frame = read_csv_text(path, REQUIRED[INTERVENTIONS], label=file)
    for column in OPTIONAL[INTERVENTIONS]:
        if column not in frame:
            frame[column] = ""
    frame = _strip(frame, frame.columns.drop("line"))
    _require_text(frame, ["id", "city", "intervention", "programme", "area", "start", "outcomes"],
                  file, problems)
    _check_names(frame, ["city", "intervention"], file, problems)
    _check_names(frame, ["id", "programme"], file, problems, allow_semicolon=True)
    _check_list_items(frame, ["area", "outcomes", "comparison_areas"], file, problems, warnings)
    for column in ("area", "outcomes"):
        no_items = (frame[column] != "") & (frame[column].map(split_list).map(len) == 0)
        problems.add_rows(file, frame, no_items, column,
                          "{value!r} lists nothing; expected ';'-separated names")
    problems.add_rows(file, frame, frame["id"].duplicated() & (frame["id"] != ""), "id",
                      "id {value!r} is used by an earlier row; ids must be unique")
    if tags is not None:
        types = _intervention_types(tags)
        unknown_type = ~frame["intervention"].isin(types) & (frame["intervention"] != "")
        problems.add_rows(file, frame, unknown_type, "intervention",
                          "intervention type {value!r} is not a tag of kind 'intervention' in "
                          "tags.csv; expected one of " + _literal(", ".join(sorted(types))))
    bad_conf = ~frame["confidence"].isin(("", *CONFIDENCE_LEVELS))
    problems.add_rows(file, frame, bad_conf, "confidence",
                      "confidence {value!r}; expected V (verified), P (partly) or U (unverified)")
    starts = _parse_periods(frame, "start", file, problems, allow_blank=True)
    ends = _parse_periods(frame, "end", file, problems, allow_blank=True)
    if series is None:
        return frame
    keys = _series_keys(series)
    bounds = _period_bounds(series)
    for idx, line, city, start_label, end_label, *lists in frame[
            ["line", "city", "start", "end", "area", "comparison_areas", "outcomes"]
    ].itertuples(name=None):
        line = int(line)
        if city == "":
            continue
        if city not in keys:
            problems.add(file, f"city {_shorten(city)!r} has no rows in outcomes.csv", line,
                         "city")
            continue
        for column, value in zip(("area", "comparison_areas"), lists[:2], strict=True):
            for area in split_list(value):
                if area not in keys[city]["areas"]:
                    problems.add(file, f"area {_shorten(area)!r} has no data for {city} in "
                                 "outcomes.csv", line, column)
        for outcome in split_list(lists[2]):
            if outcome not in keys[city]["outcomes"]:
                problems.add(file, f"outcome {_shorten(outcome)!r} has no data for {city} in "
                             "outcomes.csv", line, "outcomes")
        start = starts[idx]
        if start is None:
            continue
        first, last = bounds[city]
        if frequency_of(start) != frequency_of(first):
            problems.add(file, f"start {start_label!r} is not of the city's period frequency "
                         f"(data run {format_period(first)} to {format_period(last)})",
                         line, "start")
        elif not first < start <= last:
            problems.add(file, f"start {start_label!r} is outside the data for {city} "
                         f"({format_period(first)} to {format_period(last)}); a programme "
                         "needs periods before and after its start", line, "start")
        end = ends[idx]
        if end is not None and frequency_of(end) == frequency_of(start) and end < start:
            problems.add(file, f"end {end_label!r} is before start {start_label!r}", line,
                         "end")
    return frame


def _load_news(path: Path, tags: pd.DataFrame | None, problems: _Problems,
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
    bad_url = (frame["url"] != "") & ~frame["url"].str.match(_URL_RE)
    problems.add_rows(file, frame, bad_url, "url",
                      "url {value!r} is not an http(s) address (no spaces, quotes or <>)")
    known = {t.lower() for t in tags["tag"]} if tags is not None else set()
    for line, value in frame[["line", "tags"]].itertuples(index=False):
        if tags is None:
            break
        unknown = [t for t in split_list(value) if t.lower() not in known]
        if unknown:
            warnings.append(f"{file}, row {line}, column 'tags': unknown tag(s) "
                            f"{', '.join(map(repr, unknown))} (kept; add them to tags.csv)")
    return frame


def _load_funders(path: Path, series: pd.DataFrame | None, tags: pd.DataFrame | None,
                  problems: _Problems, warnings: list[str]) -> pd.DataFrame:
    file = FUNDERS
    frame = _strip(read_csv_text(path, REQUIRED[FUNDERS], label=file),
                   ["funder", "email", "cities", "interventions"])
    _require_text(frame, ["funder", "email"], file, problems)
    problems.add_rows(file, frame, frame["funder"].str.contains(_CONTROL_RE.pattern, regex=True),
                      "funder", "funder name {value!r} contains a line break or control "
                      "character")
    named = frame.loc[(frame["funder"] != "")].drop_duplicates("funder")
    _check_slugs(named.set_index("funder")["line"], file, "funder", "funder", problems,
                 place="outbox file")
    bad_email = (frame["email"] != "") & ~frame["email"].map(lambda e: bool(_EMAIL_RE.match(e)))
    problems.add_rows(file, frame, bad_email, "email",
                      "email {value!r} is not a plain address like name@example.org")
    _check_list_items(frame, ["cities", "interventions"], file, problems, warnings)
    cities = set(series["city"]) if series is not None else None
    types = _intervention_types(tags) if tags is not None else None
    for line, listed_cities, listed_types in frame[["line", "cities", "interventions"]].itertuples(
            index=False):
        for city in split_list(listed_cities):
            if cities is not None and city != ALL and city not in cities:
                problems.add(file, f"city {_shorten(city)!r} is not in outcomes.csv", int(line),
                             "cities")
        for kind in split_list(listed_types):
            if types is not None and kind != ALL and kind not in types:
                problems.add(file, f"intervention {_shorten(kind)!r} is not an intervention tag",
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
    return _read_workbook(data_dir, require, keep_rows=True)


def validate_workbook(data_dir: Path | str) -> list[str]:
    """Validate all five tables; return warnings, raise :class:`DataError` on problems.

    outcomes.csv is streamed: only compact per-row keys are kept for the
    cross-row checks, so a file of hundreds of megabytes validates in bounded memory.
    """
    return list(_read_workbook(data_dir, tuple(REQUIRED), keep_rows=False).warnings)


def _read_workbook(data_dir: Path | str, require: Iterable[str], *, keep_rows: bool,
                   ) -> Workbook:
    root = Path(data_dir)
    if not root.is_dir():
        raise ParameterError("data", str(root), "an existing workbook folder")
    problems = _Problems()
    warnings: list[str] = []
    required = set(require)

    def table(name: str, loader, *args):
        """The loaded table, an empty one when optional and absent, None when unreadable."""
        path = root / name
        if not path.exists() and name not in required:
            return _optional_table(root, name)
        try:
            return loader(path, *args)
        except DataError as exc:
            problems.items.extend(exc.problems)
            return None

    # A table that cannot be read (None) is not used to check the others: one broken
    # file gives its own error, not a cascade of "no such city" lines.
    if not (root / OUTCOMES).exists() and OUTCOMES not in required:
        outcomes, series = _empty_outcomes(), None
    else:
        loaded = table(OUTCOMES, _load_outcomes, problems, keep_rows)
        outcomes, series = loaded if loaded is not None else (_empty_outcomes(), None)
    tags = table(TAGS, _load_tags, problems)
    interventions = table(INTERVENTIONS, _load_interventions, series, tags, problems, warnings)
    news = table(NEWS, _load_news, tags, problems, warnings)
    funders = table(FUNDERS, _load_funders, series, tags, problems, warnings)
    problems.raise_if_any()

    def finished(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(columns="line").reset_index(drop=True)
        return _as_text(frame, [c for c in frame.columns if frame[c].dtype == object])

    return Workbook(
        root=root,
        outcomes=outcomes.drop(columns="line").reset_index(drop=True),
        interventions=finished(interventions), news=finished(news), tags=finished(tags),
        funders=finished(funders), warnings=tuple(warnings),
    )


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
    "programmes_for_city", "select_series", "split_list", "summarise_series",
    "validate_workbook",
]


def summarise_series(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (city, area, outcome): first and last period, periods present, mean count."""
    grouped = outcomes.groupby(["city", "area", "outcome"], sort=True)
    return grouped.agg(first=("period", "min"), last=("period", "max"),
                       periods=("period", "size"), mean_count=("count", "mean"),
                       frequency=("freq", "first")).round({"mean_count": 1}).reset_index()
