"""Defaults are written once (impactbook.defaults) and every caller uses that one value."""

import inspect

from impactbook import defaults
from impactbook.cli import build_parser
from impactbook.effects import its, prepost
from impactbook.ingest.sources import GENERIC, INCIDENT_SPECS, SOURCES, TABLE_SOURCES
from impactbook.render import batch, notebook, workers
from impactbook.report import content, summary_content


def _default(function, name):
    return inspect.signature(function).parameters[name].default


def test_one_timeout_for_cli_single_renders_and_batch_workers():
    parser = build_parser()
    cli_default = parser.parse_args(["batch", "--data", "d"]).timeout
    assert cli_default == defaults.DEFAULT_TIMEOUT_S
    for function in (batch.run_batch, batch.render_city, batch.summarize_intervention,
                     workers.render_job, notebook.render_notebook):
        assert _default(function, "timeout_s") == defaults.DEFAULT_TIMEOUT_S, function


def test_one_post_period_default():
    for function in (its.estimate_its, prepost.estimate_prepost, content.build_city_report,
                     summary_content.build_intervention_summary):
        assert _default(function, "post_periods") == defaults.DEFAULT_POST_PERIODS, function


def test_ingest_sources_listed_once_and_each_has_a_reader():
    assert SOURCES == defaults.INGEST_SOURCES
    assert set(SOURCES) == {*INCIDENT_SPECS, *TABLE_SOURCES, GENERIC}
    parser = build_parser()
    assert parser.parse_args(["ingest", "rtci", "f.csv"]).source == "rtci"
