"""impactbook: evaluation report workbook for community violence interventions.

The handful of calls a notebook or a script needs (imported on first use, so that
``import impactbook`` stays cheap for the CLI and the report kernels)::

    import impactbook as ib
    wb = ib.open_workbook("data")          # validated; displays as a summary
    r = wb.estimate(city="New York", area="Precinct 77", outcome="shootings", method="its")
    r.summary(); r.conf_int(alpha=0.1); r.plot(); r.to_frame(); r.model_result
    wb.estimates(city="New York")         # every programme x outcome x design, one row each
    report = ib.build_city_report("data", "New York")
    jobs = ib.plan_batch("data", "reports/run"); ib.run_batch(jobs, "reports/run")
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "open_workbook": "impactbook.analysis",
    "load_workbook": "impactbook.workbook",
    "validate_workbook": "impactbook.workbook",
    "select_series": "impactbook.workbook",
    "make_request": "impactbook.analysis",
    "estimate_for": "impactbook.analysis",
    "run_estimate": "impactbook.analysis",
    "build_city_report": "impactbook.report",
    "build_intervention_summary": "impactbook.report",
    "plan_batch": "impactbook.render",
    "run_batch": "impactbook.render",
    "render_city": "impactbook.render",
    "summarize_intervention": "impactbook.render",
    "run_email": "impactbook.mail",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'impactbook' has no attribute {name!r}")
