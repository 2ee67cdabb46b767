"""Guards at the edges: count and parameter ranges, init faults, folder names, validate help,
numerical warnings, and a Dask batch that cannot hang."""

from __future__ import annotations

import pytest

from impactbook.errors import DataError
from impactbook.workbook import load_workbook

from .conftest import TAGS, monthly_rows, write_workbook

OUTCOMES_HEADER = "city,area,outcome,period,count\n"


# --- counts are under 10 million (README, "Counts") -----------------------------------------

@pytest.mark.parametrize(("count", "is_accepted"), [(9_999_999, True), (10_000_000, False)])
def test_a_count_must_be_under_ten_million(tmp_path, count, is_accepted):
    counts = [10] * 24
    counts[3] = count
    folder = write_workbook(tmp_path / "wb", tags=TAGS, outcomes=OUTCOMES_HEADER + monthly_rows(
        "Springfield", "citywide", "shootings", 2015, counts))
    if is_accepted:
        load_workbook(folder)
        return
    with pytest.raises(DataError) as info:
        load_workbook(folder)
    [problem] = info.value.problems
    assert (problem.row, problem.column) == (5, "count")
    assert "10,000,000 or more" in problem.message
