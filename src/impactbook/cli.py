"""The ``impactbook`` command: a thin wrapper over the library.

Each subcommand parses its options, calls one library function and prints
what it returned. Every :class:`ImpactbookError` becomes one line per problem
on stderr and a non-zero exit; a traceback is shown only with
``IMPACTBOOK_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from impactbook import __version__
from impactbook.defaults import DEFAULT_FORMATS, DEFAULT_TIMEOUT_S, INGEST_SOURCES
from impactbook.errors import DataError, ImpactbookError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _cmd_init(args: argparse.Namespace) -> int:
    from impactbook.workbook.starter import init_workbook

    for path in init_workbook(Path(args.dir)):
        print(path)
    print(f"{args.dir}: an empty workbook; next: impactbook ingest generic FILE --data "
          f"{args.dir} --city CITY --outcome OUTCOME --date-column COL")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from impactbook.workbook import validate_workbook

    warnings = validate_workbook(args.data)
    for warning in warnings:
        _say(f"warning: {warning}")
    print(f"{args.data}: workbook is valid ({len(warnings)} warning(s))")
    return EXIT_OK


_GENERIC_OPTIONS = ("city", "outcome", "date_column", "area_column", "area_prefix", "count",
                    "key_column")


def _target_workbook(args: argparse.Namespace, command: str) -> Path:
    """The workbook a writing command changes: always named, so the embedded demo workbook
    (the ``./data`` that reading commands default to) is never changed by accident."""
    if args.data is None:
        from impactbook.errors import ParameterError

        raise ParameterError("data", None, f"the workbook folder {command} writes into, named "
                                           "explicitly (--data DIR): it has no default")
    return Path(args.data)


def _cmd_ingest(args: argparse.Namespace) -> int:
    from impactbook.ingest.sources import ingest_into_workbook

    data = _target_workbook(args, "ingest")
    settings = {key: getattr(args, key) for key in _GENERIC_OPTIONS
                if getattr(args, key) is not None}
    summary = ingest_into_workbook(args.source, Path(args.file), data,
                                   mapping=args.mapping, settings=settings,
                                   agencies=args.agency, sheet=args.sheet,
                                   date_format=args.date_format,
                                   frequency=args.frequency, dry_run=args.dry_run)
    for note in summary.notes:
        _say(f"note: {note}")
    print(summary.describe())
    return EXIT_OK


def _cmd_estimate(args: argparse.Namespace) -> int:
    from impactbook.analysis import make_request, run_estimate, run_estimate_with_value

    request = make_request(
        city=args.city, outcome=args.outcome, area=args.area, start=args.start,
        pre_periods=args.pre_periods, post_periods=args.post_periods, method=args.method,
        comparison_areas=args.comparison_areas, donors=args.donors, placebos=args.placebos,
        slope_change=args.slope_change,
        family=args.family, robust=args.robust,
        programme=args.programme, controls=args.controls, cohort_bin=args.cohort_bin,
        anticipation=args.anticipation, exclude_controls=args.exclude_controls,
    )
    if request.method == "rollout":
        from impactbook.analysis.value import rollout_value_for
        from impactbook.effects.rollout_words import describe_rollout

        estimate = run_estimate(Path(args.data), request)
        value = rollout_value_for(Path(args.data), estimate)
        if args.json:
            record = estimate.to_dict()
            if value is not None:  # only a programme with costs in costs.csv has one
                record["value"] = value.to_dict()
            print(json.dumps(record, allow_nan=False))
        else:
            print(describe_rollout(estimate, detailed=True))
            if value is not None:
                from impactbook.report.value_section import value_summary_line

                print(f"  value          {value_summary_line(value)}")
        return EXIT_OK
    estimate, value = run_estimate_with_value(Path(args.data), request)
    if args.json:
        record = estimate.to_dict(with_details=request.method == "synth")
        if value is not None:  # only a programme with costs in costs.csv has one
            record["value"] = value.to_dict()
        print(json.dumps(record, allow_nan=False))
    else:
        from impactbook.effects import describe_finding

        record = estimate.to_dict()
        print(describe_finding(estimate))
        for key in ("method", "model", "pre_periods", "post_periods", "pre_mean", "post_mean",
                    "rate_ratio", "ci_low", "ci_high", "percent_change", "p_value",
                    "dispersion", "interval", "events_averted", "detectable_change_pct"):
            # The JSON is unrounded; printed for reading, four significant digits do.
            shown = record[key]
            print(f"  {key:<14} {f'{shown:.4g}' if isinstance(shown, float) else shown}")
        for warning in record["warnings"]:
            print(f"  warning: {warning}")
        if value is not None:
            from impactbook.report.value_section import value_summary_line

            print(f"  value          {value_summary_line(value)}")
    return EXIT_OK


def _print_entry(run_dir: Path, entry: dict) -> None:
    for path in entry["files"].values():
        print(run_dir / path)
    for finding in entry.get("key_findings") or []:
        _say(f"finding: {finding}")


def _template(args: argparse.Namespace) -> Path | None:
    return Path(args.template) if args.template else None


def _cmd_render(args: argparse.Namespace) -> int:
    from impactbook.render.batch import render_city
    from impactbook.render.options import typed_parameters
    from impactbook.render.plan import CITY

    parameters = typed_parameters(CITY, args.param, template=_template(args))
    entry = render_city(Path(args.data), args.city, Path(args.out),
                        formats=_formats(args.formats), page_size=_page(args.paper),
                        timeout_s=args.timeout, template=_template(args),
                        parameters=parameters, allow_incomplete=args.allow_incomplete)
    _print_entry(Path(args.out), entry)
    return EXIT_OK


def _cmd_summarize(args: argparse.Namespace) -> int:
    from impactbook.render.batch import summarize_intervention
    from impactbook.render.options import typed_parameters
    from impactbook.render.plan import INTERVENTION

    parameters = typed_parameters(INTERVENTION, args.param, template=_template(args))
    entry = summarize_intervention(Path(args.data), args.intervention, Path(args.out),
                                   formats=_formats(args.formats), page_size=_page(args.paper),
                                   timeout_s=args.timeout, template=_template(args),
                                   parameters=parameters,
                                   allow_incomplete=args.allow_incomplete)
    _print_entry(Path(args.out), entry)
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from impactbook.demo import batch_summary_lines
    from impactbook.render.batch import allowing_incomplete, run_batch
    from impactbook.render.options import batch_parameters, template_kind
    from impactbook.render.plan import plan_batch

    if args.executor == "dask" and not args.scheduler:
        from impactbook.errors import ParameterError

        raise ParameterError("scheduler", None, "a Dask scheduler address with --executor dask")
    templates: dict[str, Path] = {}
    for path in map(Path, args.template or ()):
        kind = template_kind(path)
        if kind in templates:
            from impactbook.errors import ParameterError

            raise ParameterError("template", str(path), f"one {kind} notebook (also given: "
                                                        f"{templates[kind]})")
        templates[kind] = path
    jobs = plan_batch(Path(args.data), Path(args.out), formats=_formats(args.formats),
                      page_size=_page(args.paper), templates=templates,
                      parameters=batch_parameters(args.param, templates=templates))
    if args.allow_incomplete:
        jobs = [allowing_incomplete(job) for job in jobs]
    result = run_batch(jobs, Path(args.out), workers=args.workers, force=args.force,
                       executor=args.executor, scheduler=args.scheduler,
                       timeout_s=args.timeout, progress=not args.quiet)
    for line in batch_summary_lines(result):
        print(line)
    return result.exit_code


def _cmd_news_import(args: argparse.Namespace) -> int:
    from impactbook.news.parse import guess_news_format
    from impactbook.news.store import import_news

    data = _target_workbook(args, "news import")
    fmt = args.format or guess_news_format(Path(args.file))
    report = import_news(data, Path(args.file), fmt)
    for line in report.summary_lines():
        print(line)
    return EXIT_OK if not report.rejected else EXIT_FAILED


def _cmd_email(args: argparse.Namespace) -> int:
    from impactbook.mail.run import run_email

    report = run_email(Path(args.run), Path(args.data), send=args.send, host=args.smtp_host,
                       port=args.smtp_port, starttls=args.starttls, resend=args.resend)
    for line in report.summary_lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_demo(args: argparse.Namespace) -> int:
    from impactbook.demo import run_demo

    result = run_demo(Path(args.data), Path(args.out), workers=args.workers)
    for line in result.lines:
        print(line)
    return EXIT_OK if result.is_success else EXIT_FAILED


def _page(paper: str) -> str:
    return "A4" if paper == "a4" else "Letter"


def _formats(text: str) -> tuple[str, ...]:
    from impactbook.errors import ParameterError

    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in DEFAULT_FORMATS]
    if bad or not formats:
        raise ParameterError("formats", text, "a comma-separated list of html, pdf")
    return formats


def _mapping_keys_help() -> str:
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
    parser = argparse.ArgumentParser(
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
        # Checked by _target_workbook rather than argparse, for a one-line impactbook error.
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

    sub = command("init", _cmd_init, "create an empty, valid workbook (tables, tags, README)")
    sub.add_argument("dir", metavar="DIR", help="a new or empty folder")

    def allow_incomplete_option(sub) -> None:
        sub.add_argument("--allow-incomplete", action="store_true",
                         help="publish the report even if a section cannot be computed (it is "
                              "marked missing); by default such a report fails")

    sub = command("validate", _cmd_validate, "check every table of a workbook")
    data_option(sub)

    sub = command("ingest", _cmd_ingest, "turn a raw incident list or agency table into "
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
    sub.epilog = _mapping_keys_help()
    sub.formatter_class = argparse.RawDescriptionHelpFormatter
    sub.add_argument("--agency", action="append",
                     help="RTCI only: keep this agency (repeatable; default all)")
    sub.add_argument("--dry-run", action="store_true", help="report, write nothing")

    sub = command("estimate", _cmd_estimate, "estimate one programme effect")
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
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = command("render", _cmd_render, "render one city report (ipynb, HTML, PDF)")
    data_option(sub)
    sub.add_argument("--city", required=True,
                     help="a city with a programme in interventions.csv (a city with data but "
                          "no programme is not rendered: a report evaluates programmes)")
    output_options(sub, "reports/latest")
    sub.add_argument("--template", metavar="NOTEBOOK",
                     help="render this copy of the city report notebook instead")
    allow_incomplete_option(sub)

    sub = command("summarize", _cmd_summarize, "render one intervention-type summary")
    data_option(sub)
    sub.add_argument("--intervention", required=True, metavar="TYPE")
    output_options(sub, "reports/latest")
    sub.add_argument("--template", metavar="NOTEBOOK",
                     help="render this copy of the intervention summary notebook instead")
    allow_incomplete_option(sub)

    sub = command("batch", _cmd_batch, "render every report of a workbook, incrementally (one "
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
    sub.set_defaults(handler=_cmd_news_import)
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--format", choices=("csv", "json", "nnsc-page"),
                     help="default: from the file name (.csv, .json, else nnsc-page)")
    target_option(sub)

    sub = command("email", _cmd_email, "write (or --send) one message per funder")
    sub.add_argument("--run", required=True, metavar="RUN_DIR")
    data_option(sub)
    sub.add_argument("--send", action="store_true", help="deliver over SMTP (default: dry run)")
    sub.add_argument("--smtp-host", default="localhost")
    sub.add_argument("--smtp-port", type=int, default=25)
    sub.add_argument("--starttls", action="store_true")
    sub.add_argument("--resend", action="store_true",
                     help="send again messages whose delivery is unknown")

    sub = command("demo", _cmd_demo, "render the embedded default workbook end to end")
    data_option(sub)
    sub.add_argument("--out", default="reports/demo", metavar="RUN_DIR")
    sub.add_argument("--workers", type=int, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except DataError as exc:
        _say(*(f"impactbook: error: {line}" for line in exc.lines))
        return EXIT_FAILED
    except ImpactbookError as exc:
        _say(*(f"impactbook: error: {line}" for line in str(exc).splitlines()))
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_FAILED
    except OSError as exc:
        # A full disk or a permission problem: say which file, keep the message one line.
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"impactbook: error: {where}{exc.strerror or exc}")
        return EXIT_FAILED
    except KeyboardInterrupt as exc:  # a batch says what it kept; nothing else is half-written
        _say(f"impactbook: interrupted{': ' + str(exc) if str(exc) else ''}")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("IMPACTBOOK_DEBUG"):
            raise
        _say(f"impactbook: internal error: {type(exc).__name__}: {exc} "
             "(set IMPACTBOOK_DEBUG=1 for the traceback)")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
