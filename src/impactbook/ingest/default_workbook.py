"""Rebuild the embedded default workbook's ``outcomes.csv`` from ``data/raw/``.

Run ``python -m impactbook.ingest.default_workbook [--data DIR]``. The result depends only on
the files in ``DIR/raw`` (same input, byte-identical output), and a test checks that the committed
``data/outcomes.csv`` equals what this produces (and the Seattle blocks' ``unit_outcomes.csv``
and ``areas.csv``). The ingest notes go to ``raw/INGEST_NOTES.txt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from impactbook.errors import ImpactbookError
from impactbook.ingest.sources import (
    format_outcomes_csv,
    ingest_file,
    merge_outcomes,
    unit_tables_text,
    write_text_atomic,
)

# (source, raw file, RTCI agencies). From RTCI only the agencies the programmes need.
RAW_INPUTS: tuple[tuple[str, str, list[str] | None], ...] = (
    ("chicago-homicides", "chicago_homicides_2001_to_present.csv.gz", None),
    ("nypd-shootings", "nypd_shooting_incidents_historic_2006_2019.csv.gz", None),
    ("philadelphia-shootings", "philadelphia_shooting_victims_2015_2023.csv.gz", None),
    ("rtci", "rtci_by_agency_monthly_2018_2024.csv.gz", ["Baltimore"]),
    ("seattle-dmi", "seattle_dmi_microsynth_block_quarter.csv.gz", None),
)
NOTES_FILE = "INGEST_NOTES.txt"


def build_outcomes(raw_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """All default series and the notes of every ingest, in a fixed order."""
    outcomes = pd.DataFrame()
    notes: list[str] = []
    for source, name, agencies in RAW_INPUTS:
        result = ingest_file(source, Path(raw_dir) / name, agencies=agencies)
        outcomes = merge_outcomes(outcomes, result.outcomes)
        notes.append(f"# {source} ({name})")
        notes += result.notes
    return outcomes, notes


def build_outcomes_text(raw_dir: Path) -> tuple[str, str]:
    """The exact text of ``outcomes.csv`` and of the notes file."""
    outcomes, notes = build_outcomes(raw_dir)
    return format_outcomes_csv(outcomes), "\n".join(notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="workbook folder holding raw/ (default ./data)")
    args = parser.parse_args(argv)
    try:
        csv_text, notes_text = build_outcomes_text(args.data / "raw")
    except ImpactbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for source, name, _ in RAW_INPUTS:
        for table, text in (unit_tables_text(source, args.data / "raw" / name) or {}).items():
            write_text_atomic(args.data / table, text)
    write_text_atomic(args.data / "outcomes.csv", csv_text)
    write_text_atomic(args.data / "raw" / NOTES_FILE, notes_text)
    print(f"wrote {args.data / 'outcomes.csv'} ({csv_text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
