"""The ``impactbook`` argument tree: every subcommand, its options and its help.

Building it imports no more than the standard library and the handlers' modules (which import
the library inside each handler), so ``impactbook --help`` stays quick.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from impactbook import __version__
from impactbook.cli.email_command import cmd_email
from impactbook.cli.estimate_command import cmd_estimate
from impactbook.cli.render_commands import cmd_batch, cmd_demo, cmd_render, cmd_summarize
from impactbook.cli.workbook_commands import (
    cmd_ingest,
    cmd_init,
    cmd_news_import,
    cmd_validate,
)
from impactbook.defaults import DEFAULT_TIMEOUT_S, INGEST_SOURCES


class LazyEpilogParser(argparse.ArgumentParser):
    """An argument parser whose epilog may be a function, called when the help is shown.

    The ``ingest`` help lists the generic mapping keys, which live beside the ingest code
    (pandas, DuckDB, pydantic): reading them only for ``ingest --help`` keeps every other
    command from importing that code just to build the parser. Subparsers share the class.
    """

    def format_help(self) -> str:
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()


def mapping_keys_help() -> str:
    """The ``ingest`` help's epilog: the generic source's mapping keys and what each means."""
    import textwrap

    from impactbook.ingest.mapping import MAPPING_KEYS, option_name

    lines = ["generic settings (mapping file keys; the options above set the same keys):"]
    for key, meaning in MAPPING_KEYS.items():
        lines += textwrap.wrap(meaning, 78, initial_indent=f"  {key:<24}",
                               subsequent_indent=" " * 26)
    lines += textwrap.wrap(f"{option_name('date_column')} sets date_column, and so on. "
                           "Two-digit years: 00-29 are 2000-2029, 30-99 are 1930-1999, as "
                           "spreadsheets read them.", 78)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = LazyEpilogParser(
        prog="impactbook",
        description="Evaluation reports for community violence interventions.",
        epilog="Errors are one line per problem on stderr; set IMPACTBOOK_DEBUG=1 for tracebacks.")
    parser.add_argument("--version", action="version", version=f"impactbook {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def data_option(sub, required: bool = False) -> None:
        sub.add_argument("--data", default="data", required=required, metavar="DIR",
                         help="workbook folder (default: ./data)")

    def target_option(sub) -> None:
        # Checked by target_workbook rather than argparse, for a one-line impactbook error.
        sub.add_argument("--data", default=None, metavar="DIR",
                         help="the workbook folder to write into (required)")

    def output_options(sub, default_out: str) -> None:
        sub.add_argument("--out", default=default_out, metavar="RUN_DIR",
                         help=f"run folder for the reports (default: {default_out})")
        sub.add_argument("--formats", default="html,pdf", help="html,pdf (default both)")
        sub.add_argument("--paper", choices=("a4", "letter"), default="a4",
                         help="PDF page size (default a4)")
        sub.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                         help="seconds per report")
        sub.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                         dest="param", metavar=("NAME", "VALUE"),
                         help="set a parameter of the notebook's parameters cell (repeatable; "
                              "values parsed as papermill -p parses them)")

    sub = command("init", cmd_init, "create an empty, valid workbook (tables, tags, README)")
    sub.add_argument("dir", metavar="DIR", help="a new or empty folder")

    def allow_incomplete_option(sub) -> None:
        sub.add_argument("--allow-incomplete", action="store_true",
                         help="publish the report even if a section cannot be computed (it is "
                              "marked missing); by default such a report fails")

    sub = command("validate", cmd_validate, "check every table of a workbook")
    data_option(sub)

    sub = command("ingest", cmd_ingest, "turn a raw incident list or agency table into "
                  "outcomes.csv rows")
    sub.add_argument("source", choices=INGEST_SOURCES, metavar="SOURCE",
                     help="one of: " + ", ".join(INGEST_SOURCES))
    sub.add_argument("file", metavar="FILE", help="a .csv, .csv.gz or .xlsx file")
    target_option(sub)
    sub.add_argument("--sheet", metavar="NAME", help=".xlsx only: the sheet (default: the first)")
    sub.add_argument("--date-format", metavar="FORMAT",
                     help="DD/MM/YYYY-style words or strftime codes (%%d/%%m/%%Y); default: "
                          "ISO dates/timestamps, M/D/YYYY, M/D/YY, Excel serial numbers")
    sub.add_argument("--frequency", choices=("month", "quarter"),
                     help="count an incident list's events per month (the default) or per "
                          "quarter (YYYY-Qn; one frequency per city)")
    generic = sub.add_argument_group("generic", "describe any incident list (or use --mapping)")
    generic.add_argument("--city")
    generic.add_argument("--outcome", help="the outcome name the counts get, e.g. shootings")
    generic.add_argument("--date-column", metavar="COL")
    generic.add_argument("--area-column", metavar="COL",
                         help="district/precinct/beat column (default: citywide only)")
    generic.add_argument("--area-prefix", metavar="TEXT", help='e.g. "Precinct "')
    generic.add_argument("--count", nargs="+", metavar="HOW",
                         help="incidents, rows or sum-of COLUMN (default: rows, or incidents "
                              "with --key-column)")
    generic.add_argument("--key-column", metavar="COL",
                         help="incident id column: --count incidents counts its unique values")
    generic.add_argument("--mapping", type=Path, metavar="FILE",
                         help="the same settings in a JSON or TOML file (options win)")
    sub.epilog = mapping_keys_help  # a function: called only when the help is shown
    sub.formatter_class = argparse.RawDescriptionHelpFormatter
    sub.add_argument("--agency", action="append",
                     help="RTCI only: keep this agency (repeatable; default all)")
    sub.add_argument("--dry-run", action="store_true", help="report, write nothing")

    sub = command("estimate", cmd_estimate, "estimate one programme effect")
    data_option(sub)
    sub.add_argument("--city", required=True)
    sub.add_argument("--outcome", required=True)
    sub.add_argument("--area", help="area (default: the programme's area, else citywide)")
    sub.add_argument("--start", metavar="PERIOD", help="YYYY-MM or YYYY-Qn (default: from "
                     "interventions.csv)")
    sub.add_argument("--pre-periods", type=int, metavar="N")
    sub.add_argument("--post-periods", type=int, metavar="N")
    sub.add_argument("--method", choices=("its", "prepost", "comparison", "synth", "rollout"),
                     default="its")
    sub.add_argument("--comparison-areas", metavar='"A;B"')
    sub.add_argument("--donors", metavar='"A;B"', help="synth: the donor areas (default: the "
                     "city's other areas)")
    sub.add_argument("--placebos", type=int, metavar="N", help="synth: placebo groups of a "
                     "micro-synthetic control (default 250)")
    sub.add_argument("--slope-change", action="store_true", help="its: add a trend change")
    sub.add_argument("--family", choices=("quasi-poisson", "negative-binomial"),
                     default="quasi-poisson")
    sub.add_argument("--robust", choices=("none", "hac"), default="none",
                     help="hac: Newey-West autocorrelation-robust intervals")
    rollout = sub.add_argument_group("rollout", "staggered rollouts (rollouts.csv)")
    rollout.add_argument("--programme", metavar="ID", help="the rollout programme (when the "
                         "city has several)")
    rollout.add_argument("--controls", choices=("notyet", "never"), default="notyet",
                         help="not-yet-treated (default) or never-treated units; never also "
                         "gives the leads before the start")
    rollout.add_argument("--cohort-bin", choices=("auto", "none", "quarter", "year"),
                         default="auto", help="pool start dates (and sum counts) by quarter or "
                         "year; auto: the finest whose cells all hold events")
    rollout.add_argument("--anticipation", type=int, default=0, metavar="K",
                         help="periods before a start that may already be affected")
    rollout.add_argument("--exclude-controls", metavar='"A;B"', help="units left out of the "
                         "controls")
    rollout.add_argument("--callaway-santanna", action="store_true",
                         help="also the linear Callaway and Sant'Anna view (rates per 100,000 "
                         "where populations are known; seconds of CPU on a monthly panel)")
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = command("render", cmd_render, "render one city report (ipynb, HTML, PDF)")
    data_option(sub)
    sub.add_argument("--city", required=True,
                     help="a city with a programme in interventions.csv (a city with data but "
                          "no programme is not rendered: a report evaluates programmes)")
    output_options(sub, "reports/latest")
    sub.add_argument("--template", metavar="NOTEBOOK",
                     help="render this copy of the city report notebook instead")
    allow_incomplete_option(sub)

    sub = command("summarize", cmd_summarize, "render one intervention-type summary")
    data_option(sub)
    sub.add_argument("--intervention", required=True, metavar="TYPE")
    output_options(sub, "reports/latest")
    sub.add_argument("--template", metavar="NOTEBOOK",
                     help="render this copy of the intervention summary notebook instead")
    allow_incomplete_option(sub)

    sub = command("batch", cmd_batch, "render every report of a workbook, incrementally (one "
                  "per city with a programme, one per intervention type)")
    data_option(sub)
    output_options(sub, "reports/latest")
    allow_incomplete_option(sub)
    sub.add_argument("--workers", type=int, default=None, help="parallel workers (default: cores)")
    sub.add_argument("--force", action="store_true", help="re-render unchanged reports too")
    sub.add_argument("--executor", choices=("local", "dask"), default="local")
    sub.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_argument("--template", metavar="NOTEBOOK", action="append",
                     help="render this copy of a report notebook instead (repeatable: its "
                          "parameters cell says whether it is the city report or the summary)")

    news = commands.add_parser("news", help="news items and tags")
    news_commands = news.add_subparsers(dest="news_command", metavar="ACTION", required=True)
    sub = news_commands.add_parser("import", help="append news items to news.csv",
                                   description="append news items to news.csv")
    sub.set_defaults(handler=cmd_news_import)
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--format", choices=("csv", "json", "nnsc-page"),
                     help="default: from the file name (.csv, .json, else nnsc-page)")
    target_option(sub)

    sub = command("email", cmd_email, "write (or --send) one message per funder")
    sub.add_argument("--run", required=True, metavar="RUN_DIR")
    data_option(sub)
    sub.add_argument("--send", action="store_true", help="deliver over SMTP (default: dry run)")
    sub.add_argument("--smtp-host", default="localhost")
    sub.add_argument("--smtp-port", type=int, default=25)
    sub.add_argument("--starttls", action="store_true")
    sub.add_argument("--resend", action="store_true",
                     help="send again messages whose delivery is unknown")

    sub = command("demo", cmd_demo, "render the embedded default workbook end to end")
    data_option(sub)
    sub.add_argument("--out", default="reports/demo", metavar="RUN_DIR")
    sub.add_argument("--workers", type=int, default=None)
    return parser
