"""Reading only the tables a caller uses (``load_workbook(tables=...)``, what an estimate reads).

What is read is validated as a full load validates it, with the tables it is checked against;
what is not read cannot fail the caller; an estimate's tables are read again only when the
folder changed.
"""

from __future__ import annotations

import pytest

from impactbook.errors import DataError
from impactbook.workbook import load_workbook
from impactbook.workbook.loader import tables_to_read
from impactbook.workbook.schema import (
    COSTS,
    FUNDERS,
    INTERVENTIONS,
    NEWS,
    OUTCOMES,
    ROLLOUTS,
    TAGS,
)

from .conftest import FIXTURES

BAD = FIXTURES / "bad"


def test_a_table_is_read_with_the_tables_it_is_checked_against():
    assert tables_to_read([ROLLOUTS]) == {ROLLOUTS, INTERVENTIONS, OUTCOMES, TAGS}
    assert tables_to_read([COSTS]) == {COSTS, INTERVENTIONS, OUTCOMES, TAGS}
    assert tables_to_read([OUTCOMES]) == {OUTCOMES}


def test_what_is_read_is_still_validated_against_the_other_tables():
    # interventions.csv names a city outcomes.csv does not have: refused even when a caller
    # asks for interventions.csv alone, since outcomes.csv is read to check it.
    with pytest.raises(DataError) as caught:
        load_workbook(BAD / "intervention_unknown_city", tables=(INTERVENTIONS,))
    assert any(p.file == INTERVENTIONS and p.row == 2 and p.column == "city"
               for p in caught.value.problems)


def test_a_table_not_read_does_not_fail_the_caller_and_is_empty():
    case = BAD / "news_two_digit_year"
    with pytest.raises(DataError):
        load_workbook(case)
    workbook = load_workbook(case, tables=(INTERVENTIONS,))
    assert workbook.news.empty and workbook.funders.empty
    assert not workbook.interventions.empty and not workbook.outcomes.empty
    assert {NEWS, FUNDERS}.isdisjoint(tables_to_read([INTERVENTIONS]))
