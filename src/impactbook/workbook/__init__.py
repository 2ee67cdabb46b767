"""The workbook: a folder of CSV tables, read and validated in one place.

- :mod:`.csvread` reads a workbook CSV as text and recognises the ways such files go wrong.
- :mod:`.periods` turns ``YYYY-MM`` / ``YYYY-Qn`` labels into pandas periods and back.
- :mod:`.loader` validates every table (collecting every problem) and returns a
  :class:`Workbook`; everything else in impactbook takes that validated object.
"""

from impactbook.workbook.loader import (
    Workbook,
    load_workbook,
    programmes_for_city,
    select_series,
    split_list,
    summarise_series,
    validate_workbook,
)
from impactbook.workbook.periods import format_period, frequency_of, parse_period

__all__ = [
    "Workbook",
    "format_period",
    "frequency_of",
    "load_workbook",
    "parse_period",
    "programmes_for_city",
    "select_series",
    "split_list",
    "summarise_series",
    "validate_workbook",
]
