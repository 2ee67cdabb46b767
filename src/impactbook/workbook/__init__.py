"""The workbook: a folder of CSV tables, read and validated in one place.

- :mod:`.schema` names the tables, their columns and the limits they are checked against.
- :mod:`.csvread` reads a workbook CSV as text and recognises the ways such files go wrong.
- :mod:`.periods` turns ``YYYY-MM`` / ``YYYY-Qn`` labels into pandas periods and back.
- :mod:`.problems` collects every problem (capped per check) into one :class:`DataError`.
- :mod:`.cells` holds the rules for one cell: names, ``;`` lists, periods, slugs, numbers.
- :mod:`.outcomes` streams outcomes.csv and runs its cross-row checks in bounded memory.
- :mod:`.tables` checks tags.csv, interventions.csv, news.csv and funders.csv.
- :mod:`.costs` checks costs.csv and unit_costs.csv; reads the shipped CPI-U and unit costs.
- :mod:`.rollouts` checks rollouts.csv: the units of a staggered rollout and their starts.
- :mod:`.model` is the validated :class:`Workbook`; everything else in impactbook takes it.
- :mod:`.digest` the one digest of the tables, carried on the :class:`Workbook`: the input
  data hash that reports, the index and the manifest show.
- :mod:`.loader` runs the checks in order (:func:`load_workbook`, :func:`validate_workbook`).
- :mod:`.queries` asks a validated workbook for one series, a summary, a city's programmes.
- :mod:`.index` the series index a :class:`Workbook` carries (look-ups without scans).
- :mod:`.prepared` each report's slice of a validated workbook, written once by a batch.
"""

from impactbook.workbook.cells import name_problem, split_list
from impactbook.workbook.loader import load_workbook, validate_workbook
from impactbook.workbook.model import Workbook, unknown_value
from impactbook.workbook.periods import format_period, frequency_of, parse_period
from impactbook.workbook.queries import programmes_for_city, select_series, summarise_series
from impactbook.workbook.schema import (
    ALL,
    CITYWIDE,
    FUNDERS,
    INTERVENTIONS,
    NEWS,
    OPTIONAL,
    OUTCOMES,
    REQUIRED,
    TAGS,
)
from impactbook.workbook.tables import read_tags

__all__ = [
    "ALL",
    "CITYWIDE",
    "FUNDERS",
    "INTERVENTIONS",
    "NEWS",
    "OPTIONAL",
    "OUTCOMES",
    "REQUIRED",
    "TAGS",
    "Workbook",
    "format_period",
    "frequency_of",
    "load_workbook",
    "name_problem",
    "parse_period",
    "programmes_for_city",
    "read_tags",
    "select_series",
    "split_list",
    "summarise_series",
    "unknown_value",
    "validate_workbook",
]
