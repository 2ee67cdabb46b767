"""Stream ``outcomes.csv`` in chunks, checking every row and the cross-row rules.

Large files validate in bounded memory: per row only a compact integer key is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from impactbook.workbook.cells import (
    as_text,
    blank_mask,
    check_names,
    check_slugs,
    numbers_of,
    require_text,
    strip_columns,
)
from impactbook.workbook.csvread import iter_csv_text
from impactbook.workbook.periods import (
    MONTHLY,
    QUARTERLY,
    WEEKLY,
    format_period,
    frequency_of,
    parse_period,
)
from impactbook.workbook.problems import Problems
from impactbook.workbook.schema import (
    MAX_COUNT,
    MAX_POPULATION,
    MAX_PROBLEMS_PER_CHECK,
    OUTCOMES,
    REQUIRED,
)


def parse_counts(frame: pd.DataFrame, file: str, problems: Problems) -> pd.Series:
    """Counts as floats; NaN wherever the count is not a non-negative whole number."""
    text = frame["count"]
    numeric = numbers_of(text)
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
    huge = ~negative & (numeric >= MAX_COUNT)
    problems.add_rows(file, frame, huge, "count",
                      f"count {{value}} is implausibly large ({MAX_COUNT:,} or more in one "
                      "period; expected under that)")
    return numeric.where(~(negative | fractional | huge))


def parse_population(frame: pd.DataFrame, file: str, problems: Problems) -> pd.Series:
    if "population" not in frame:
        return pd.Series(np.nan, index=frame.index)
    text = frame["population"]
    population = numbers_of(text)
    bad = (text != "") & ~(np.isfinite(population) & (population > 0)
                           & (population <= MAX_POPULATION))
    problems.add_rows(file, frame, bad, "population",
                      "population {value!r} is not a positive number (people living in the area)")
    return population.where(~bad)


# Period codes keep one int per row instead of a pandas Period object: a monthly period is
# year * 12 + month - 1, a quarterly one year * 4 + quarter - 1, an ISO week
# year * 53 + week - 1 (ordered, not consecutive); the frequency rides beside (two bits).
_FREQ_BIT = {MONTHLY: 0, QUARTERLY: 1, WEEKLY: 2}
_FREQ_OF_BIT = {bit: freq for freq, bit in _FREQ_BIT.items()}
_FREQ_WORDS = {MONTHLY: "monthly (YYYY-MM)", QUARTERLY: "quarterly (YYYY-Qn)",
               WEEKLY: "weekly (YYYY-Www)"}
_CODE_BITS = 19  # codes of years up to 2100 fit: 2100 * 53 < 2 ** 19


def _period_code(period: pd.Period) -> tuple[int, int]:
    freq = frequency_of(period)
    if freq == QUARTERLY:
        return _FREQ_BIT[QUARTERLY], period.year * 4 + period.quarter - 1
    if freq == WEEKLY:
        year, week, _ = period.start_time.isocalendar()
        return _FREQ_BIT[WEEKLY], year * 53 + week - 1
    return _FREQ_BIT[MONTHLY], period.year * 12 + period.month - 1


def _period_from_code(freq_bit: int, code: int) -> pd.Period:
    if freq_bit == _FREQ_BIT[QUARTERLY]:
        return pd.Period(year=code // 4, quarter=code % 4 + 1, freq="Q-DEC")
    if freq_bit == _FREQ_BIT[WEEKLY]:
        return parse_period(f"{code // 53:04d}-W{code % 53 + 1:02d}")
    return pd.Period(year=code // 12, month=code % 12 + 1, freq=MONTHLY)


def _period_labels(freq: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Workbook labels of coded periods, each distinct period formatted once (a chunk of
    100,000 rows holds a few hundred periods at most)."""
    distinct, where = np.unique(np.asarray(freq, np.int64) * (1 << 32) + code, return_inverse=True)
    labels = np.array([format_period(_period_from_code(int(k >> 32), int(k & 0xFFFFFFFF)))
                       for k in distinct], dtype=object)
    return labels[where]


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

    def period_codes(self, labels: pd.Series, file: str, problems: Problems,
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
        self.keys.append((ids << (_CODE_BITS + 2)) | (freq << _CODE_BITS) | code)
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
        records = [(*names[sid], _FREQ_OF_BIT[fbit],
                    _period_from_code(fbit, first), _period_from_code(fbit, last), line)
                   for (sid, fbit), (first, last, line) in self.stats.items()]
        return pd.DataFrame(records, columns=["city", "area", "outcome", "freq", "first",
                                              "last", "line"])

    def check_duplicates(self, file: str, problems: Problems) -> None:
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
            city, area, outcome = names[key >> (_CODE_BITS + 2)]
            label = format_period(_period_from_code((key >> _CODE_BITS) & 3,
                                                    key & ((1 << _CODE_BITS) - 1)))
            problems.add(file, f"duplicate row for {city} / {area} / {outcome} / {label} "
                         f"(first at row {first_lines[i]})", int(dup_lines[i]), "period",
                         check="duplicate period")


def _check_outcomes_chunk(chunk: pd.DataFrame, scan: _OutcomeScan, problems: Problems,
                          file: str = OUTCOMES) -> None:
    chunk = strip_columns(chunk, ["city", "area", "outcome", "period", "count", "population"])
    require_text(chunk, ["city", "area", "outcome"], file, problems)
    has_names = ~(blank_mask(chunk, "city") | blank_mask(chunk, "area")
                  | blank_mask(chunk, "outcome"))
    has_names &= check_names(chunk, ["city", "area", "outcome"], file, problems)
    freq, code = scan.period_codes(chunk["period"], file, problems, chunk["line"])
    counts = parse_counts(chunk, file, problems)
    population = parse_population(chunk, file, problems)
    is_keyed = has_names.to_numpy() & (code >= 0)
    scan.add_chunk(chunk, freq, code, is_keyed)
    if scan.keep_rows:
        is_good = is_keyed & counts.notna().to_numpy()
        good = chunk.loc[is_good]
        scan.rows.append(pd.DataFrame({
            "city": good["city"], "area": good["area"], "outcome": good["outcome"],
            "period": _period_labels(freq[is_good], code[is_good]),
            "count": counts[is_good].astype("int64"), "population": population[is_good],
            "freq": pd.Series(freq[is_good]).map(_FREQ_OF_BIT).to_numpy(dtype=object),
            "line": good["line"].astype("int64"),
        }))


def _check_outcomes_table(series: pd.DataFrame, problems: Problems,
                          file: str = OUTCOMES) -> None:
    """Cross-row checks on the series table: one frequency per city, report-safe city names."""
    for city, group in series.groupby("city", sort=False):
        if group["freq"].nunique() > 1:
            # Named at the first row of the frequency that appears last.
            firsts = group.groupby("freq")["line"].min()
            kinds = [_FREQ_WORDS[f] for f in (MONTHLY, QUARTERLY, WEEKLY) if f in firsts.index]
            problems.add(file, f"city {city!r} mixes {' and '.join(kinds)} periods; use one "
                         "frequency per city", int(firsts.max()), "period")
    first_lines = series.groupby("city")["line"].min().sort_values()
    check_slugs(first_lines, file, "city", "city", problems)



def empty_outcomes() -> pd.DataFrame:
    return pd.DataFrame({
        "city": pd.Series(dtype=object), "area": pd.Series(dtype=object),
        "outcome": pd.Series(dtype=object), "period": pd.Series(dtype=object),
        "count": pd.Series(dtype="int64"), "population": pd.Series(dtype=float),
        "freq": pd.Series(dtype=object), "line": pd.Series(dtype="int64")})


def load_outcomes(path: Path, problems: Problems, keep_rows: bool, file: str = OUTCOMES,
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The outcome rows (empty unless ``keep_rows``) and the per-series summary table.

    ``file`` names the table in problems: unit_outcomes.csv (the series of small units such as
    census blocks) has the same columns and rules as outcomes.csv.
    """
    scan = _OutcomeScan(keep_rows)
    # A header-only table is valid: the empty workbook `impactbook init` writes. Anything
    # that names a city then fails on the reference, and the loader warns.
    for chunk in iter_csv_text(path, REQUIRED[OUTCOMES], label=file):
        _check_outcomes_chunk(chunk, scan, problems, file)
    scan.check_duplicates(file, problems)
    series = scan.series_table()
    _check_outcomes_table(series, problems, file)
    rows = pd.concat(scan.rows, ignore_index=True) if scan.rows else empty_outcomes()
    return as_text(rows, ["city", "area", "outcome", "period", "freq"]), series


def read_outcomes_table(path: Path | str) -> pd.DataFrame:
    """One ``outcomes.csv`` alone, read and checked by the workbook's rules (an ingest merges
    new series into it): ``city, area, outcome, period, count, population`` in file order."""
    problems = Problems()
    rows, _ = load_outcomes(Path(path), problems, keep_rows=True)
    problems.raise_if_any()
    return rows.drop(columns=["freq", "line"]).reset_index(drop=True)
