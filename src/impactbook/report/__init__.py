"""What a report says and shows.

- :mod:`.content` every number of a city report and of an intervention summary, as plain data.
- :mod:`.sections` one ``show_*`` function per notebook section (the notebooks' edge).
- :mod:`.plots` the figures, each a function returning a matplotlib ``Figure``.
- :mod:`.index_page` the run's ``index.html``.
"""

from impactbook.report import sections
from impactbook.report.content import (
    CityReport,
    InterventionSummary,
    OutcomeResult,
    build_city_report,
    build_intervention_summary,
)

__all__ = [
    "CityReport",
    "InterventionSummary",
    "OutcomeResult",
    "build_city_report",
    "build_intervention_summary",
    "sections",
]
