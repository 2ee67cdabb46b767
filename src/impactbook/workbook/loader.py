"""Load and validate a workbook folder (the five CSV tables of docs/DESIGN.md).

Validation collects *every* problem in every table before failing, so a
person fixing a spreadsheet sees the whole list at once, each problem on one
line with file, row and column. Loading returns typed frames; nothing is
written. The rules live in :mod:`.cells`, :mod:`.outcomes` and :mod:`.tables`;
this module runs them in order and builds the :class:`~.model.Workbook`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from impactbook.errors import DataError, ParameterError, Problem, UnsafePathError
from impactbook.fsutil import regular_file_problem, safe_join
from impactbook.workbook.areas import empty_areas, load_areas
from impactbook.workbook.cells import as_text
from impactbook.workbook.costs import empty_costs, empty_unit_costs, load_costs, load_unit_costs
from impactbook.workbook.digest import workbook_digest
from impactbook.workbook.model import Workbook
from impactbook.workbook.outcomes import empty_outcomes, load_outcomes
from impactbook.workbook.problems import Problems
from impactbook.workbook.rollouts import empty_rollouts, load_rollouts
from impactbook.workbook.schema import (
    AREAS,
    COSTS,
    FUNDERS,
    INTERVENTIONS,
    NEWS,
    OPTIONAL,
    OUTCOMES,
    REQUIRED,
    ROLLOUT_AREA,
    ROLLOUTS,
    TAGS,
    UNIT_COSTS,
    UNIT_OUTCOMES,
)
from impactbook.workbook.tables import load_funders, load_interventions, load_news, load_tags


def _optional_table(root: Path, name: str) -> pd.DataFrame:
    columns = ["line", *REQUIRED[name], *OPTIONAL[name]]
    return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})


#: The tables each table is checked against: reading one reads these too, so what is read is
#: validated exactly as a full load validates it.
CHECKED_AGAINST = {
    INTERVENTIONS: (OUTCOMES, TAGS), NEWS: (TAGS,), FUNDERS: (OUTCOMES, TAGS),
    AREAS: (OUTCOMES,), COSTS: (INTERVENTIONS,), ROLLOUTS: (INTERVENTIONS, OUTCOMES),
}


def tables_to_read(tables: Iterable[str]) -> frozenset[str]:
    """``tables`` and every table they are checked against."""
    found: set[str] = set()
    waiting = list(tables)
    while waiting:
        name = waiting.pop()
        if name not in found:
            found.add(name)
            waiting.extend(CHECKED_AGAINST.get(name, ()))
    return frozenset(found)


def load_workbook(data_dir: Path | str, *, require: Iterable[str] = (OUTCOMES,),
                  tables: Iterable[str] | None = None) -> Workbook:
    """Load and validate every table of ``data_dir``; raise one :class:`DataError` listing all.

    ``require`` names the tables that must exist; the others are optional and
    load empty when absent (``estimate --start`` needs only outcomes.csv). unit_outcomes.csv
    (hundreds of thousands of block series) is loaded only when ``require`` names it.
    ``tables`` (default: all) names the tables a caller uses, for one that needs a few (an
    estimate): those and the tables they are checked against (:data:`CHECKED_AGAINST`) are
    read and validated, the others are not read and are empty in the result, which is
    therefore for that caller only.
    """
    return _read_workbook(data_dir, require, keep_rows=True,
                          only=None if tables is None else tables_to_read([*tables, *require]))


def validate_workbook(data_dir: Path | str) -> list[str]:
    """Validate all five tables; return warnings, raise :class:`DataError` on problems.

    outcomes.csv is streamed: only compact per-row keys are kept for the
    cross-row checks, so a file of hundreds of megabytes validates in bounded memory.
    """
    return list(_read_workbook(data_dir, tuple(REQUIRED), keep_rows=False).warnings)


def _read_workbook(data_dir: Path | str, require: Iterable[str], *, keep_rows: bool,
                   only: frozenset[str] | None = None) -> Workbook:
    root = Path(data_dir)
    if not root.is_dir():
        raise ParameterError("data", str(root), "an existing workbook folder")
    # Hashed before reading: the digest names the bytes that were then validated.
    digest = workbook_digest(root)
    problems = Problems()
    warnings: list[str] = []
    required = set(require)

    def is_read(name: str) -> bool:
        path = root / name
        return (path.exists() or path.is_symlink()) and (only is None or name in only)

    def table(name: str, loader, *args):
        """The loaded table, an empty one when optional and absent (or not asked for), None
        when unreadable."""
        if not is_read(name) and name not in required:
            return _optional_table(root, name)
        path = root / name
        try:
            safe_join(root, name)  # a table linked out of the workbook is not read
            return loader(path, *args)
        except UnsafePathError as exc:
            problems.add(name, str(exc).split(": ", 1)[1])
            return None
        except DataError as exc:
            problems.items.extend(exc.problems)
            return None

    # Every *.csv of the folder is hashed for the batch: one that is not an ordinary file
    # (a FIFO, a folder, unreadable) would hang or fail it later, so it is a problem now.
    for path in sorted(root.glob("*.csv")):
        reason = None if path.name in REQUIRED else regular_file_problem(path)
        if reason:
            problems.add(path.name, f"{reason}; every *.csv file in a workbook must be a "
                         "readable table (move it out of the folder)")

    # A table that cannot be read (None) is not used to check the others: one broken
    # file gives its own error, not a cascade of "no such city" lines.
    if not is_read(OUTCOMES) and OUTCOMES not in required:
        outcomes, series = empty_outcomes(), None
    else:
        loaded = table(OUTCOMES, load_outcomes, problems, keep_rows)
        outcomes, series = loaded if loaded is not None else (empty_outcomes(), None)
        if series is not None and series.empty:
            warnings.append(f"{OUTCOMES} has no rows yet; add counts with 'impactbook ingest'")
    tags = table(TAGS, load_tags, problems)
    # An absent optional tags.csv checks nothing: no tag is "unknown" without a vocabulary.
    vocabulary = tags if is_read(TAGS) else None
    interventions = table(INTERVENTIONS, load_interventions, series, vocabulary, problems,
                          warnings)
    news = table(NEWS, load_news, vocabulary, problems, warnings)
    funders = table(FUNDERS, load_funders, series, vocabulary, problems, warnings)
    areas = table(AREAS, load_areas, series, problems) if is_read(AREAS) else None
    # Costs refer to programme ids: checked against interventions.csv only when it loaded.
    costs = table(COSTS, load_costs, interventions, problems) if is_read(COSTS) else None
    unit_costs = table(UNIT_COSTS, load_unit_costs, problems) if is_read(UNIT_COSTS) else None
    units = None
    if (root / UNIT_OUTCOMES).exists() and (UNIT_OUTCOMES in required or not keep_rows):
        units = table(UNIT_OUTCOMES, load_outcomes, problems, keep_rows, UNIT_OUTCOMES)
    elif UNIT_OUTCOMES in required:
        problems.add(UNIT_OUTCOMES, "file not found; micro-synthetic control needs the "
                     "series of the small units (e.g. census blocks)")
    rollouts = None
    if is_read(ROLLOUTS):
        rollouts = table(ROLLOUTS, load_rollouts, interventions, series,
                         units[1] if units is not None else None, problems,
                         (root / UNIT_OUTCOMES).exists())
    elif (only is None or ROLLOUTS in only) and interventions is not None and (
            interventions["area"] == ROLLOUT_AREA).any():
        # A warning, as for other optional tables: the rest of the workbook is usable, and the
        # rollout's estimate and report section say what is missing.
        warnings.append(f"{ROLLOUTS} not found: interventions.csv has a programme with area "
                        f"'{ROLLOUT_AREA}' whose units and starts that table lists; its "
                        "estimate cannot run without it")
    problems.raise_if_any()

    def finished(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(columns="line").reset_index(drop=True)
        return as_text(frame, [c for c in frame.columns if frame[c].dtype == object])

    return Workbook(
        root=root,
        outcomes=outcomes.drop(columns="line").reset_index(drop=True),
        interventions=finished(interventions), news=finished(news), tags=finished(tags),
        funders=finished(funders), digest=digest, warnings=tuple(warnings),
        areas=(areas if areas is not None else empty_areas()).drop(columns="line"),
        costs=finished(costs if costs is not None else empty_costs().assign(line=0)),
        unit_costs=finished(unit_costs if unit_costs is not None
                            else empty_unit_costs().assign(line=0)),
        unit_outcomes=(units[0].drop(columns="line").reset_index(drop=True) if units is not None
                       else empty_outcomes().drop(columns="line")),
        rollouts=finished(rollouts if rollouts is not None else empty_rollouts()),
    )


def load_unit_outcomes(workbook: Workbook) -> pd.DataFrame:
    """unit_outcomes.csv of ``workbook``: the copy it carries, else read and validated now.

    The table is read on demand (micro-synthetic control alone needs it) and kept for the
    last workbook digest, since a report asks for it once per outcome.
    """
    if not workbook.unit_outcomes.empty:
        return workbook.unit_outcomes
    cached = _UNIT_OUTCOMES.get(workbook.digest)
    if cached is not None:
        return cached
    path = Path(workbook.root) / UNIT_OUTCOMES
    if not path.exists():
        raise DataError(Problem(UNIT_OUTCOMES, "file not found; micro-synthetic control needs "
                                "the series of the small units (e.g. census blocks)"))
    problems = Problems()
    rows, _ = load_outcomes(path, problems, True, UNIT_OUTCOMES)
    problems.raise_if_any()
    _UNIT_OUTCOMES.clear()
    _UNIT_OUTCOMES[workbook.digest] = rows.drop(columns="line").reset_index(drop=True)
    return _UNIT_OUTCOMES[workbook.digest]


_UNIT_OUTCOMES: dict[str, pd.DataFrame] = {}


def load_area_attributes(workbook: Workbook) -> pd.DataFrame:
    """areas.csv of ``workbook``: the copy it carries (a batch's prepared slice has it), else
    read now."""
    if not workbook.areas.empty or not (Path(workbook.root) / AREAS).exists():
        return workbook.areas
    if workbook.digest not in _AREAS:
        problems = Problems()
        frame = load_areas(Path(workbook.root) / AREAS, None, problems)
        problems.raise_if_any()
        _AREAS.clear()
        _AREAS[workbook.digest] = frame.drop(columns="line")
    return _AREAS[workbook.digest]


_AREAS: dict[str, pd.DataFrame] = {}
