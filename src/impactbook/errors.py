"""The exceptions impactbook raises for problems a user can fix.

Every user-facing failure is an :class:`ImpactbookError`. Subclasses carry the
structured fields (file, row, column, parameter) that locate the problem, and
``str(error)`` is one line a person can act on. The CLI prints that line and
exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ImpactbookError(Exception):
    """Root of every error impactbook reports to a user."""


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file.

    ``row`` is the 1-based line number in the file as a text editor shows it
    (the header is line 1), so the first data row is line 2.
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {_clip(repr(self.column), _MAX_COLUMN_CHARS)}"
        return f"{where}: {_clip(self.message, _MAX_MESSAGE_CHARS)}"


# One problem is one readable line, whatever the data holds (a value of a million characters,
# a header of a million columns).
_MAX_MESSAGE_CHARS = 600
_MAX_COLUMN_CHARS = 80


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DataError(ImpactbookError):
    """One or more problems in input data; each is a :class:`Problem`."""

    def __init__(self, problems: Iterable[Problem] | Problem):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        if not self.problems:
            raise ValueError("DataError needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class ParameterError(ImpactbookError):
    """A parameter (CLI option, notebook parameter, setting) has a bad value."""

    def __init__(self, parameter: str, value: object, expected: str):
        self.parameter = parameter
        self.value = value
        self.expected = expected
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"parameter {parameter!r}: got {shown}, expected {expected}")


class EstimationError(ImpactbookError):
    """A model could not produce a trustworthy estimate (too little data, no convergence)."""

    def __init__(self, message: str, *, city: str | None = None, outcome: str | None = None,
                 area: str | None = None):
        self.city, self.outcome, self.area = city, outcome, area
        where = " / ".join(x for x in (city, area, outcome) if x)
        super().__init__(f"{where}: {message}" if where else message)


class RenderError(ImpactbookError):
    """A report failed to execute or export."""

    def __init__(self, report: str, message: str, *, notebook: str | None = None):
        self.report = report
        self.notebook = notebook
        super().__init__(f"report {report!r}: {message}")


class ClusterError(ImpactbookError):
    """A Dask scheduler could not be reached, or no worker joined it in time."""

    def __init__(self, scheduler: str, message: str):
        self.scheduler = scheduler
        super().__init__(f"Dask scheduler {scheduler}: {message}")


class MailError(ImpactbookError):
    """A message could not be composed or delivered."""

    def __init__(self, message: str, *, funder: str | None = None):
        self.funder = funder
        super().__init__(f"funder {funder!r}: {message}" if funder else message)


class UnsafePathError(ParameterError):
    """A path under a run folder or workbook leads elsewhere (a symbolic link out of it) or
    is not the kind of file expected; impactbook refuses rather than follow it."""

    def __init__(self, path: object, reason: str):
        self.parameter, self.value, self.expected = "path", str(path), reason
        self.path = str(path)
        ImpactbookError.__init__(self, f"{path}: {reason}; impactbook does not follow it "
                                       "(remove or replace it)")
