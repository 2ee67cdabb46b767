"""``impactbook estimate``: one programme effect, as plain lines or one JSON object."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from impactbook.cli.output import EXIT_OK

# What the plain (not --json) output lists under the finding, in this order.
PRINTED_KEYS = ("method", "model", "pre_periods", "post_periods", "pre_mean", "post_mean",
                "rate_ratio", "ci_low", "ci_high", "percent_change", "p_value",
                "dispersion", "interval", "events_averted", "detectable_change_pct")


def cmd_estimate(args: argparse.Namespace) -> int:
    from impactbook.analysis import make_request, run_estimate_with_value

    request = make_request(
        city=args.city, outcome=args.outcome, area=args.area, start=args.start,
        pre_periods=args.pre_periods, post_periods=args.post_periods, method=args.method,
        comparison_areas=args.comparison_areas, donors=args.donors, placebos=args.placebos,
        slope_change=args.slope_change,
        family=args.family, robust=args.robust,
        programme=args.programme, controls=args.controls, cohort_bin=args.cohort_bin,
        anticipation=args.anticipation, exclude_controls=args.exclude_controls,
        include_cs=args.callaway_santanna,
    )
    estimate, value = run_estimate_with_value(Path(args.data), request)
    if request.method == "rollout":
        from impactbook.effects.rollout_words import describe_rollout

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
    if args.json:
        record = estimate.to_dict(with_details=request.method == "synth")
        if value is not None:  # only a programme with costs in costs.csv has one
            record["value"] = value.to_dict()
        print(json.dumps(record, allow_nan=False))
    else:
        from impactbook.effects import describe_finding

        record = estimate.to_dict()
        print(describe_finding(estimate))
        for key in PRINTED_KEYS:
            # The JSON is unrounded; printed for reading, four significant digits do.
            shown = record[key]
            print(f"  {key:<14} {f'{shown:.4g}' if isinstance(shown, float) else shown}")
        for warning in record["warnings"]:
            print(f"  warning: {warning}")
        if value is not None:
            from impactbook.report.value_section import value_summary_line

            print(f"  value          {value_summary_line(value)}")
    return EXIT_OK
