"""How one incident list is counted (:class:`IncidentSpec`) and the DuckDB SQL that counts it.

The row-level expressions (date, key, area, filter) are built once here and used both by the
aggregate query over the whole file and, on error paths, to find the first rows a problem is
in, so the rows an error names are judged by exactly the rule that counted them.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from impactbook.errors import DataError, Problem
from impactbook.ingest.dates import (
    column_date_sql,
    in_range_sql,
    sql_ident,
    sql_literal,
)
from impactbook.ingest.files import find_malformed_row, is_gzip, iter_rows
from impactbook.workbook.periods import MONTHLY, QUARTERLY

ROWS = "rows"
KEYS = "keys"
SUM = "sum"
# Values that mean "blank" in police exports.
_BLANK_SQL = "('', 'na', 'nan', 'null', 'none', 'n/a')"
_DUCKDB_MEMORY = "512MB"
# A row read as a slash date. Without a format these are read month first, so a day above 12
# proves that order: the scan counts both, and a file that never proves it is refused.
SLASH_DATE = "(d IS NOT NULL AND contains(date_raw, '/'))"


@dataclass(frozen=True)
class IncidentSpec:
    """How to count one incident list.

    ``outcomes`` maps an outcome name to ``"rows"`` (every row is one victim/event) or
    ``"keys"`` (unique values of ``key_column``: incidents) or ``"sum"`` (the sum of the whole
    numbers in ``sum_column``, e.g. victims per incident). ``filters`` keeps rows whose
    column value (trimmed, a trailing ``.0`` removed, leading zeros removed) is one of the
    listed values. ``date_formats`` are strftime codes; empty reads the forms of
    :mod:`impactbook.ingest.dates`.
    """

    source: str
    city: str
    date_column: str
    outcomes: dict[str, str]
    date_formats: tuple[str, ...] = ()
    key_column: str | None = None
    sum_column: str | None = None
    area_column: str | None = None
    area_prefix: str = ""
    area_label: str = "area"
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    strip_utc_offset: bool = False
    year_column: str | None = None
    frequency: str = MONTHLY
    tolerance_days: int = 3

    def required_columns(self) -> list[str]:
        cols = [self.date_column, self.key_column, self.area_column, self.sum_column,
                *self.filters, self.year_column]
        return [c for c in dict.fromkeys(cols) if c]


def _blank_to_null(expr: str) -> str:
    return f"CASE WHEN lower(trim({expr})) IN {_BLANK_SQL} THEN NULL ELSE trim({expr}) END"


def _number_text(expr: str) -> str:
    """IDs exported as floats (``17.0``) back to their integer text (``17``)."""
    return f"regexp_replace({_blank_to_null(expr)}, '\\.0+$', '')"


def _whole_number(expr: str) -> str:
    """A plain non-negative whole number (``3``, or ``3.0`` as a spreadsheet exports it), else
    NULL: a cast alone would round ``3.5`` to 4 and read ``1e3`` and ``0x10`` as numbers."""
    text = _blank_to_null(expr)
    return (f"CASE WHEN regexp_full_match({text}, '[0-9]+(\\.0+)?') "
            f"THEN try_cast(regexp_replace({text}, '\\.0+$', '') AS BIGINT) END")


def _code_text(column: str) -> str:
    """A precinct, district or code as text without float or leading-zero padding
    (``017.0`` -> ``17``), so files exported by different tools give the same names."""
    return f"regexp_replace({_number_text(sql_ident(column))}, '^0+(\\d)', '\\1')"


def _src_select(spec: IncidentSpec, source: str, extra: str = "") -> str:
    """One row per input row: raw and parsed date, key, area, year, count value and whether
    the filter keeps it. ``source`` is the FROM clause (the file, or a chunk on error paths)."""
    date_raw = f"trim({sql_ident(spec.date_column)})"
    date_expr = column_date_sql(spec.date_column, spec.date_formats,
                                strip_utc_offset=spec.strip_utc_offset)
    key_expr = _number_text(sql_ident(spec.key_column)) if spec.key_column else "NULL"
    if spec.area_column:
        # Trimmed as a whole: the workbook loader strips a name, so a prefix's own edge
        # spaces would make the written name differ from the one read back.
        area_expr = f"trim({sql_literal(spec.area_prefix)} || {_code_text(spec.area_column)})"
    else:
        area_expr = "NULL"
    year_expr = "NULL"
    if spec.year_column:
        year_expr = f"try_cast({_number_text(sql_ident(spec.year_column))} AS INTEGER)"
    value_raw, value_expr = "NULL", "NULL"
    if spec.sum_column:
        value_raw = f"trim({sql_ident(spec.sum_column)})"
        value_expr = _whole_number(sql_ident(spec.sum_column))
    conditions = []
    for column, values in spec.filters.items():
        norm = _code_text(column)
        wanted = ", ".join(sql_literal(v.strip().lstrip("0") or "0") for v in values)
        conditions.append(f"{norm} IN ({wanted})")
    where = " AND ".join(conditions) if conditions else "TRUE"

    # Two layers so the date is parsed once and then checked against the workbook's years.
    return f"""
        SELECT date_raw, {in_range_sql("d0")} AS d, k, area, yr, v_raw, v, keep{extra}
        FROM (SELECT {date_raw} AS date_raw, {date_expr} AS d0, {key_expr} AS k,
                     {area_expr} AS area, {year_expr} AS yr, {value_raw} AS v_raw,
                     {value_expr} AS v, coalesce({where}, FALSE) AS keep{extra}
              FROM {source})
    """  # noqa: S608


def _csv_source(path: Path) -> str:
    compression = "gzip" if is_gzip(path) else "none"
    return (f"read_csv({sql_literal(str(path))}, header=true, all_varchar=true, delim=',', "
            f"quote='\"', escape='\"', compression='{compression}')")


def build_query(spec: IncidentSpec, path: Path) -> str:
    trunc = "quarter" if spec.frequency == QUARTERLY else "month"
    sums = ""
    if spec.sum_column:
        sums = """,
               sum(v) FILTER (WHERE keep AND v >= 0) AS n_sum,
               count(*) FILTER (WHERE keep AND (v IS NULL OR v < 0)) AS n_bad_value"""
    # Rows the filter drops are grouped under a NULL period (and counted in n_filtered) so the
    # file is scanned once. Column names and values are quoted by sql_ident/sql_literal.
    return f"""
        WITH src AS ({_src_select(spec, _csv_source(path))})
        SELECT GROUPING(g_area) AS is_city, g_area AS area, g_p AS p,
               count(*) FILTER (WHERE keep) AS n_rows,
               count(DISTINCT k) FILTER (WHERE keep) AS n_keys,
               count(*) FILTER (WHERE keep AND k IS NULL) AS n_nokey,
               min(d) FILTER (WHERE keep) AS first_date, max(d) FILTER (WHERE keep) AS last_date,
               count(*) FILTER (WHERE keep AND d IS NULL AND date_raw <> '') AS n_bad_date,
               count(*) FILTER (WHERE keep AND d IS NULL AND coalesce(date_raw, '') = '')
                   AS n_blank_date,
               count(*) FILTER (WHERE keep AND yr IS NOT NULL AND d IS NOT NULL AND yr <> year(d))
                   AS n_year_mismatch,
               count(*) FILTER (WHERE keep AND {SLASH_DATE}) AS n_slash,
               count(*) FILTER (WHERE keep AND {SLASH_DATE} AND day(d) > 12) AS n_month_first,
               count(*) FILTER (WHERE NOT keep) AS n_filtered{sums}
        FROM (SELECT *, CASE WHEN keep THEN area END AS g_area,
                        CASE WHEN keep THEN date_trunc('{trunc}', d) END AS g_p FROM src)
        GROUP BY GROUPING SETS ((g_area, g_p), (g_p))
    """  # noqa: S608


def build_key_spread_query(spec: IncidentSpec, path: Path, examples: int = 3) -> str:
    """How many incident keys have rows in more than one period, or more than one area (each
    such key is counted once in every period and area it has rows in), and a few of them."""
    trunc = "quarter" if spec.frequency == QUARTERLY else "month"
    return f"""
        WITH src AS ({_src_select(spec, _csv_source(path))}),
        per_key AS (SELECT k, count(DISTINCT date_trunc('{trunc}', d)) AS n_p,
                           count(DISTINCT area) AS n_a
                    FROM src WHERE keep AND k IS NOT NULL AND d IS NOT NULL GROUP BY k)
        SELECT count(*) FILTER (WHERE n_p > 1) AS n_multi_period,
               count(*) FILTER (WHERE n_a > 1) AS n_multi_area,
               (SELECT list(k ORDER BY k) FROM (SELECT k FROM per_key WHERE n_p > 1 OR n_a > 1
                                                ORDER BY k LIMIT {int(examples)})) AS examples
        FROM per_key
    """  # noqa: S608


def run_duckdb(query: str, path: Path) -> pd.DataFrame:
    """Run one aggregate query with bounded memory; DuckDB errors become a DataError."""
    spill = tempfile.mkdtemp(prefix="impactbook-duckdb-")
    try:
        con = duckdb.connect(":memory:", config={
            "memory_limit": _DUCKDB_MEMORY, "preserve_insertion_order": False,
            "temp_directory": spill})
        try:
            con.execute("SET enable_progress_bar = false")
            return con.execute(query).df()
        finally:
            con.close()
    except duckdb.Error as exc:
        located = find_malformed_row(path)
        if located:
            raise DataError(located) from None
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(Problem(str(path), f"could not read as CSV: {message}")) from None
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def first_rows_where(path: Path, spec: IncidentSpec, condition: str, value: str,
                     limit: int = 5) -> list[tuple[int, str]]:
    """The first lines (as an editor numbers them) whose row meets ``condition``, judged by
    the same SQL as the aggregate (error paths only: the file is streamed in chunks)."""
    columns = spec.required_columns()
    found: list[tuple[int, str]] = []
    con = duckdb.connect(":memory:")
    try:
        for chunk in _line_chunks(path, columns):
            con.register("chunk", chunk)
            # Only our own column names (quoted by _ident) and fixed conditions go in here.
            query = (f"SELECT line, {value} FROM ({_src_select(spec, 'chunk', ', line')}) "  # noqa: S608
                     f"WHERE {condition} ORDER BY line LIMIT {limit - len(found)}")
            found += [(int(line), "" if v is None else str(v))
                      for line, v in con.execute(query).fetchall()]
            con.unregister("chunk")
            if len(found) >= limit:
                break
    finally:
        con.close()
    return found


def _line_chunks(path: Path, columns: list[str], size: int = 100_000):
    """The needed columns of the file as string frames with each row's line number."""
    rows: list[list[str]] = []
    for line, row in iter_rows(path):
        rows.append([line, *((row.get(c) or "") for c in columns)])
        if len(rows) >= size:
            yield pd.DataFrame(rows, columns=["line", *columns])
            rows = []
    if rows:
        yield pd.DataFrame(rows, columns=["line", *columns])
