"""Funders as the mailer sees them, built from the validated workbook's ``funders.csv``.

``funders.csv`` is checked by the workbook loader alone (one address rule, one list
splitter); this module only turns its validated rows into :class:`Funder` objects and says
which reports each funder receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook.contracts import ReportKind
from impactbook.errors import MailError
from impactbook.fsutil import slugify
from impactbook.mail.text import norm_name, one_line, slug_or_empty
from impactbook.workbook import FUNDERS, Workbook, load_workbook, split_list
from impactbook.workbook.cells import (
    ENCODED_WORD_PROBLEM,
    address_problem,
    has_control_chars,
    has_encoded_word,
)

if TYPE_CHECKING:
    from impactbook.mail.manifest import ReportEntry


@dataclass(frozen=True)
class Funder:
    """One row of ``funders.csv``: a name, one or more addresses and what they fund."""

    name: str
    emails: tuple[str, ...]
    cities: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The workbook loader's rules, applied again so a Funder built in code cannot smuggle
        # a header line through its display name or an address.
        if not self.name.strip() or has_control_chars(self.name):
            raise MailError("funder name must be one non-empty line without control characters",
                            funder=one_line(self.name))
        if has_encoded_word(self.name):
            raise MailError("funder name " + ENCODED_WORD_PROBLEM, funder=self.name)
        if not slug_or_empty(self.name):
            raise MailError("funder name needs a letter or digit (it names the outbox file)",
                            funder=self.name)
        if not self.emails:
            raise MailError("no email address", funder=self.name)
        for address in self.emails:
            reason = address_problem(address)
            if reason:
                raise MailError(f"bad email address {address!r}: {reason}", funder=self.name)

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def _lists(self, items: tuple[str, ...], report: ReportEntry) -> bool:
        wanted = {norm_name(i) for i in items}
        if "*" in wanted:
            return True
        return norm_name(report.name) in wanted or report.slug in {slug_or_empty(i) for i in items}

    def wants(self, report: ReportEntry) -> bool:
        """Does this funder receive ``report``? (``*`` means all.)"""
        if report.kind == ReportKind.CITY:
            # Both lists select, and an empty list does not restrict: ("New York", "") is
            # New York's report; ("", "Cure Violence") every city running Cure Violence;
            # ("*", "Cure Violence") the same; a funder of one programme type does not receive
            # reports on cities that run only other types.
            wanted = {norm_name(i) for i in self.interventions}
            if not self.cities and not wanted:
                return False
            city_ok = not self.cities or self._lists(self.cities, report)
            type_ok = (not wanted or "*" in wanted or not report.interventions
                       or any(norm_name(i) in wanted for i in report.interventions))
            return city_ok and type_ok
        if report.kind == "intervention":
            return self._lists(self.interventions, report)
        return False



def funders_from_workbook(workbook: Workbook) -> list[Funder]:
    """One :class:`Funder` per row of the validated ``funders.csv``, in file order."""
    return [Funder(name=name, emails=tuple(split_list(emails)),
                   cities=tuple(split_list(cities)), interventions=tuple(split_list(kinds)))
            for name, emails, cities, kinds in workbook.funders[
                ["funder", "email", "cities", "interventions"]].itertuples(index=False)]


def load_funders(data_dir: Path | str) -> list[Funder]:
    """The funders of ``data_dir``: its ``funders.csv`` (required), validated with the rest of
    the workbook by :func:`~impactbook.workbook.load_workbook`."""
    return funders_from_workbook(load_workbook(data_dir, require=(FUNDERS,)))
