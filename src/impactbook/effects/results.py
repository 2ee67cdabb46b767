"""The results protocol every design's result follows, modelled on statsmodels and pysyncon.

A fitted design is an object a researcher can question the way a statsmodels results object
is questioned:

- ``params`` the unrounded estimate(s), a Series named by estimate;
- ``conf_int(alpha=0.05)`` the ``1 - alpha`` interval of each estimate (columns ``lower``,
  ``upper``, same index as ``params``), recomputed at any level from the kept fit or standard
  error; a classic synthetic control inverts its permutation test instead, and a result whose
  test gives no interval (the placebo-in-time rank, the micro-synthetic control's t test)
  raises :class:`~impactbook.errors.EstimationError` saying why and what to read instead;
- ``summary(alpha=0.05)`` a :class:`ResultSummary` (prints as text, displays as a table);
  ``_repr_html_`` makes a bare result display as that table in JupyterLab;
- ``plot()`` the report's own chart for the design (a matplotlib ``Figure``);
- ``describe()`` the plain-language finding the report prints;
- ``to_frame()`` a tidy frame, one row per estimate, unrounded;
- ``to_dict()`` the JSON view (unrounded; rounding is presentation);
- ``model_result`` the underlying statsmodels results object where one exists (never in the
  JSON).

:class:`ResultsMixin` supplies ``summary``, ``_repr_html_`` and a ``conf_int`` that refuses
with the design's reason; a result class (a frozen dataclass) inherits it and implements
``params``, ``to_frame``, ``to_dict``, ``plot``, ``describe`` and, where it has an interval,
``conf_int``, plus the hooks ``_summary_title``, ``_summary_info`` and ``_summary_notes``.
"""

from __future__ import annotations

import abc
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats

from impactbook.errors import EstimationError, ParameterError


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float strictly between 0 and 1 (the interval's level is 1 - alpha)."""
    expected = "a number between 0 and 1 (0.05 gives a 95% interval)"
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ParameterError("alpha", alpha, expected) from None
    if not 0.0 < value < 1.0:
        raise ParameterError("alpha", alpha, expected)
    return value


def normal_interval(estimate: float, se: float, alpha: float) -> tuple[float, float]:
    """``estimate +/- z(1 - alpha/2) * se`` (NaN when the standard error is not finite)."""
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(1.0 - check_alpha(alpha) / 2.0))
    return (estimate - z * se, estimate + z * se)


def interval_frame(names: Sequence[str], bounds: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """The ``conf_int`` frame: one row per estimate, columns ``lower`` and ``upper``."""
    return pd.DataFrame([list(b) for b in bounds], index=list(names),
                        columns=["lower", "upper"], dtype=float)


def level_label(alpha: float) -> str:
    """``0.05`` -> ``"95%"``, ``0.1`` -> ``"90%"``, ``0.025`` -> ``"97.5%"``."""
    return f"{100.0 * (1.0 - check_alpha(alpha)):g}%"


@dataclass(frozen=True)
class ResultSummary:
    """What ``summary()`` returns: a title, a block of facts, the estimates table and notes.

    ``str()`` / :meth:`as_text` give plain text (``print(result.summary())``);
    :meth:`as_html` / ``_repr_html_`` an HTML table for a notebook. The numbers in ``table``
    are already written for reading (the report's formatter); the unrounded values are in the
    result's ``params``, ``conf_int()`` and ``to_frame()``.
    """

    title: str
    info: tuple[tuple[str, str], ...]
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    def as_text(self) -> str:
        width = max([len(self.title), 60])
        lines = [self.title, "=" * width]
        label_width = max((len(k) for k, _ in self.info), default=0)
        lines += [f"{key:<{label_width}}  {value}" for key, value in self.info]
        if not self.table.empty:
            lines += ["-" * width, self.table.to_string(), "-" * width]
        for note in self.notes:
            lines.append(f"Note: {note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def as_html(self) -> str:
        facts = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
                        for k, v in self.info)
        table = self.table.to_html(escape=True, border=0) if not self.table.empty else ""
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<div class='impactbook-summary'><strong>{html.escape(self.title)}</strong>"
                f"<table>{facts}</table>{table}"
                + (f"<ul>{notes}</ul>" if notes else "") + "</div>")

    def _repr_html_(self) -> str:
        return self.as_html()


class ResultsMixin(abc.ABC):
    """The shared half of the results protocol (see the module docstring)."""

    #: Why ``conf_int`` has no answer for this design (None: the design has an interval).
    no_interval_reason: str | None = None
    #: The underlying statsmodels results object, where the design fits one.
    model_result: Any = None

    # -- what each result class provides -------------------------------------------------

    @property
    @abc.abstractmethod
    def params(self) -> pd.Series:
        """The unrounded estimate(s), indexed by name."""

    @abc.abstractmethod
    def to_frame(self) -> pd.DataFrame:
        """A tidy frame, one row per estimate, unrounded."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON view (plain values, unrounded)."""

    @abc.abstractmethod
    def plot(self):
        """The report's chart of this result (a matplotlib ``Figure``)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The plain-language finding, as the report words it."""

    @abc.abstractmethod
    def _summary_title(self) -> str:
        """The first line of ``summary()``."""

    def _summary_info(self) -> list[tuple[str, str]]:
        return []

    def _summary_notes(self) -> list[str]:
        return [self.describe()]

    # -- shared --------------------------------------------------------------------------

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """The ``1 - alpha`` interval of each estimate; this design has none (see why)."""
        check_alpha(alpha)
        raise EstimationError(self.no_interval_reason or "this result has no interval")

    def _summary_table(self, alpha: float) -> pd.DataFrame:
        """Estimates, intervals and p-values written as the report writes them."""
        from impactbook.report.format import format_number, format_p

        params = self.params
        try:
            bounds = self.conf_int(alpha)
        except EstimationError:
            bounds = None
        p_values = self._p_values()
        level = level_label(alpha)
        rows = {}
        for name, value in params.items():
            row = {"estimate": format_number(value, 4)}
            if bounds is not None:
                row[f"{level} lower"] = format_number(bounds.loc[name, "lower"], 4)
                row[f"{level} upper"] = format_number(bounds.loc[name, "upper"], 4)
            else:
                row["interval"] = "none"
            row["p"] = format_p(p_values.get(name))
            rows[name] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def _p_values(self) -> dict[str, float]:
        return {}

    def summary(self, alpha: float = 0.05) -> ResultSummary:
        """The result as a table with its facts and notes (prints as text, displays as HTML)."""
        check_alpha(alpha)
        notes = list(self._summary_notes())
        if self.no_interval_reason:
            notes.append(f"No interval: {self.no_interval_reason}")
        return ResultSummary(title=self._summary_title(), info=tuple(self._summary_info()),
                             table=self._summary_table(alpha), notes=tuple(notes))

    def _repr_html_(self) -> str:
        return self.summary().as_html()
