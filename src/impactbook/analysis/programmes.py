"""Every design a report estimates for a programme, and the table of all of them.

A report shows, for each programme and each outcome it lists, the interrupted time series and
the naive pre/post always, the comparison-area model when the programme row names comparison
areas, and the synthetic control unless the programme is citywide (a city has no donor pool
inside itself). :func:`estimate_programme` is that rule and those calls; the city report, the
intervention summary and :meth:`Workbook.estimates <impactbook.workbook.Workbook.estimates>`
all go through it, so the table a researcher gets in JupyterLab has the report's numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from impactbook import effects
from impactbook.analysis import (
    EstimateRequest,
    estimate_resolved,
    make_request,
    resolve_request,
)
from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.designs import DESIGN_NAMES
from impactbook.errors import ImpactbookError
from impactbook.workbook import CITYWIDE, Workbook, split_list, unknown_value

#: The designs in the order a report lists them.
DESIGNS: tuple[str, ...] = ("its", "prepost", "comparison", "synth")


def workbook_with_one_programme(workbook: Workbook, programme: Mapping) -> Workbook:
    """The workbook as if ``programme`` were the city's only one (so defaults resolve to it)."""
    table = workbook.interventions
    return dataclasses.replace(workbook, interventions=table[table["id"] == programme["id"]])


def programme_designs(programme: Mapping, *, with_synth: bool = True) -> list[str]:
    """The designs a report estimates for ``programme`` (a row of interventions.csv)."""
    designs = ["its", "prepost"]
    if split_list(programme.get("comparison_areas", "")):
        designs.append("comparison")
    if with_synth and CITYWIDE not in split_list(programme["area"]):
        designs.append("synth")
    return designs


def programme_request(programme: Mapping, outcome: str, design: str, *,
                      post_periods: int = DEFAULT_POST_PERIODS,
                      placebos: int | None = None) -> EstimateRequest:
    """What a report asks of ``design`` for ``programme`` and ``outcome`` (the programme row
    fills in area, start and comparisons): the request an estimate store keys it by."""
    extra = {"placebos": placebos} if design == "synth" else {}
    return make_request(method=design, city=programme["city"], outcome=outcome, area=None,
                        start=programme["start"], post_periods=post_periods, **extra)


def estimate_programme(workbook: Workbook, programme: Mapping, outcome: str, *,
                       post_periods: int = DEFAULT_POST_PERIODS, with_synth: bool = True,
                       placebos: int | None = None,
                       ) -> tuple[dict[str, effects.Estimate], list[str]]:
    """Each of the programme's designs for ``outcome``: ``(estimates by method, errors)``.

    A design that cannot be estimated is an error ``"<method>: <why>"``, not an exception, so
    one bad series never hides the other designs.
    """
    # The same programme row resolves area, start and comparisons for every method.
    scoped = workbook_with_one_programme(workbook, programme)
    estimates: dict[str, effects.Estimate] = {}
    errors: list[str] = []
    for design in programme_designs(programme, with_synth=with_synth):
        try:
            request = programme_request(programme, outcome, design, post_periods=post_periods,
                                        placebos=placebos)
            resolved = resolve_request(scoped, request)
            estimates[design] = estimate_resolved(scoped, resolved, request)
        except ImpactbookError as exc:
            errors.append(f"{design}: {exc}")
    return estimates, errors


def estimates_table(workbook: Workbook, city: str | None = None, *,
                    post_periods: int = DEFAULT_POST_PERIODS) -> pd.DataFrame:
    """One row per programme x outcome x design a city report shows, unrounded.

    The columns are the programme's (``programme_id``, ``programme``, ``intervention``), then
    each estimate's :meth:`~impactbook.effects.Estimate.to_frame` row, then ``is_headline``
    (the design that leads that outcome in the report) and ``error`` (why a design has no
    estimate; its numbers are then missing).
    """
    table = workbook.interventions
    if city is not None:
        if city not in set(table["city"]):
            raise unknown_value("city", city, workbook.programme_cities,
                                what="a city with a programme in interventions.csv")
        table = table[table["city"] == city]
    rows: list[dict] = []
    for programme in table.to_dict("records"):
        for outcome in split_list(programme["outcomes"]):
            estimates, errors = estimate_programme(workbook, programme, outcome,
                                                   post_periods=post_periods)
            leading = effects.choose_headline(estimates).method
            why = {e.split(":", 1)[0]: e.split(":", 1)[1].strip() for e in errors}
            for design in programme_designs(programme):
                labels = {"programme_id": programme["id"], "programme": programme["programme"],
                          "intervention": programme["intervention"]}
                est = estimates.get(design)
                if est is None:
                    rows.append({**labels, "city": programme["city"],
                                 "area": programme["area"], "outcome": outcome,
                                 "start": programme["start"], "method": design,
                                 "design": DESIGN_NAMES[design],
                                 "is_headline": False, "error": why.get(design, "")})
                    continue
                rows.append({**labels, **est.to_frame().iloc[0].to_dict(),
                             "is_headline": design == leading, "error": ""})
    return pd.DataFrame(rows)
