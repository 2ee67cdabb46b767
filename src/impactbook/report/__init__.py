"""What a report says and shows.

- :mod:`.content` every number of a city report and of an intervention summary, as plain data.
- :mod:`.headlines` a report's headline as the plain data the index and the emails format.
- :mod:`.sections` one ``show_*`` function per notebook section (the notebooks' edge), with
  :mod:`.page_one` (the first page), :mod:`.methods` (the methods notes and diagnostics
  table) and :mod:`.blocks` (headings, figures, tables, lists).
- :mod:`.plots` the figures, each a function returning a matplotlib ``Figure``.
- :mod:`.tables` the report's tables with column names in words.
- :mod:`.format` the one formatter of every number a reader sees, the design names, the
  one significance rule and the one-line headline (:func:`~.format.headline_line`).
- :mod:`.index_page` the run's ``index.html``.
- :mod:`.value_section` the "Value for money" part and its one-line summary (costs only).
- :mod:`.rollout_section`, :mod:`.rollout_chart` a city report's staggered-rollout section
  and its event-study chart.

The names below are imported on first use: writing ``index.html`` (an unchanged batch rerun)
imports :mod:`.index_page` alone, not statsmodels and matplotlib through the other modules.
"""

from importlib import import_module

_PUBLIC = {
    "sections": "impactbook.report.sections",
    "CityReport": "impactbook.report.content",
    "InterventionSummary": "impactbook.report.summary_content",
    "OutcomeResult": "impactbook.report.content",
    "build_city_report": "impactbook.report.content",
    "build_intervention_summary": "impactbook.report.summary_content",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name == "sections":
        return import_module(_PUBLIC[name])
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'impactbook.report' has no attribute {name!r}")
