"""Collect data problems; cap each repeated check so a huge file's list stays readable."""

from __future__ import annotations

import pandas as pd

from impactbook.errors import DataError, Problem
from impactbook.workbook.schema import MAX_PROBLEMS_PER_CHECK


class Problems:
    """Collects problems, capping each repeated check so huge files stay readable."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._counts: dict[tuple[str, str | None, str], int] = {}

    def add(self, file: str, message: str, row: int | None = None, column: str | None = None,
            *, check: str | None = None) -> None:
        key = (file, column, check or message)
        seen = self._counts.get(key, 0)
        self._counts[key] = seen + 1
        if seen < MAX_PROBLEMS_PER_CHECK:
            self.items.append(Problem(file, message, row, column))

    def add_rows(self, file: str, frame: pd.DataFrame, mask: pd.Series, column: str,
                 message: str) -> None:
        """One problem per masked row, quoting the bad value (only the first few are built)."""
        total = int(mask.sum())
        if not total:
            return
        key = (file, column, message)
        seen = self._counts.get(key, 0)
        wanted = max(0, MAX_PROBLEMS_PER_CHECK - seen)
        shown = frame.loc[mask, ["line", column]].head(wanted)
        for line, value in shown.itertuples(index=False):
            self.items.append(Problem(file, message.format(value=shorten(value)), int(line),
                                      column))
        self._counts[key] = seen + total

    def count_more(self, file: str, column: str | None, check: str, extra: int) -> None:
        """Count ``extra`` further occurrences of a check without listing them."""
        if extra > 0:
            key = (file, column, check)
            self._counts[key] = self._counts.get(key, 0) + extra

    def summarise_overflow(self) -> None:
        for (file, column, check), count in self._counts.items():
            if count > MAX_PROBLEMS_PER_CHECK:
                extra = count - MAX_PROBLEMS_PER_CHECK
                self.items.append(Problem(
                    file, f"... and {extra} more row(s) with the same problem ({check})",
                    column=column))

    def raise_if_any(self) -> None:
        if self.items:
            self.summarise_overflow()
            raise DataError(self.items)


def shorten(value: object) -> object:
    """Long values are cut in messages so one problem stays one readable line."""
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    return value


def literal(text: str) -> str:
    """Protect data-derived text that goes into a ``str.format`` message template."""
    return text.replace("{", "{{").replace("}", "}}")
