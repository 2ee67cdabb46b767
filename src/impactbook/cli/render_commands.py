"""The subcommands that render reports: ``render`` (a city report), ``summarize`` (an
intervention summary), ``batch`` (every report of a workbook) and ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from impactbook.cli.output import EXIT_FAILED, EXIT_OK, say
from impactbook.defaults import DEFAULT_FORMATS
from impactbook.errors import ParameterError


def print_entry(run_dir: Path, entry: dict) -> None:
    """A rendered report's files on stdout, its key findings on stderr."""
    for path in entry["files"].values():
        print(run_dir / path)
    for finding in entry.get("key_findings") or []:
        say(f"finding: {finding}")


def template_path(args: argparse.Namespace) -> Path | None:
    return Path(args.template) if args.template else None


def page_size(paper: str) -> str:
    return "A4" if paper == "a4" else "Letter"


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in DEFAULT_FORMATS]
    if bad or not formats:
        raise ParameterError("formats", text, "a comma-separated list of html, pdf")
    return formats


def cmd_render(args: argparse.Namespace) -> int:
    from impactbook.render.batch import render_city
    from impactbook.render.options import typed_parameters
    from impactbook.render.plan import CITY

    parameters = typed_parameters(CITY, args.param, template=template_path(args))
    entry = render_city(Path(args.data), args.city, Path(args.out),
                        formats=parse_formats(args.formats), page_size=page_size(args.paper),
                        timeout_s=args.timeout, template=template_path(args),
                        parameters=parameters, allow_incomplete=args.allow_incomplete)
    print_entry(Path(args.out), entry)
    return EXIT_OK


def cmd_summarize(args: argparse.Namespace) -> int:
    from impactbook.render.batch import summarize_intervention
    from impactbook.render.options import typed_parameters
    from impactbook.render.plan import INTERVENTION

    parameters = typed_parameters(INTERVENTION, args.param, template=template_path(args))
    entry = summarize_intervention(Path(args.data), args.intervention, Path(args.out),
                                   formats=parse_formats(args.formats),
                                   page_size=page_size(args.paper),
                                   timeout_s=args.timeout, template=template_path(args),
                                   parameters=parameters,
                                   allow_incomplete=args.allow_incomplete)
    print_entry(Path(args.out), entry)
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    from impactbook.demo import batch_summary_lines
    from impactbook.render.batch import allowing_incomplete, run_batch
    from impactbook.render.options import batch_parameters, template_kind
    from impactbook.render.plan import plan_batch

    if args.executor == "dask" and not args.scheduler:
        raise ParameterError("scheduler", None, "a Dask scheduler address with --executor dask")
    templates: dict[str, Path] = {}
    for path in map(Path, args.template or ()):
        kind = template_kind(path)
        if kind in templates:
            raise ParameterError("template", str(path), f"one {kind} notebook (also given: "
                                                        f"{templates[kind]})")
        templates[kind] = path
    jobs = plan_batch(Path(args.data), Path(args.out), formats=parse_formats(args.formats),
                      page_size=page_size(args.paper), templates=templates,
                      parameters=batch_parameters(args.param, templates=templates))
    if args.allow_incomplete:
        jobs = [allowing_incomplete(job) for job in jobs]
    result = run_batch(jobs, Path(args.out), workers=args.workers, force=args.force,
                       executor=args.executor, scheduler=args.scheduler,
                       timeout_s=args.timeout, progress=not args.quiet)
    for line in batch_summary_lines(result):
        print(line)
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from impactbook.demo import run_demo

    result = run_demo(Path(args.data), Path(args.out), workers=args.workers)
    for line in result.lines:
        print(line)
    return EXIT_OK if result.is_success else EXIT_FAILED
