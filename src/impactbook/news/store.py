"""Import news items into a workbook's ``news.csv``: the one writer of that file.

The workbook is loaded (validated) first and the import takes its tags and its existing
items; the file written is checked by the workbook loader's own news rules before it replaces
``news.csv``, so an import never leaves a row that ``validate`` refuses.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from impactbook.errors import ParameterError, Problem
from impactbook.fsutil import atomic_path, safe_join
from impactbook.locks import workbook_lock
from impactbook.news.fields import NEWS_COLUMNS, normalise_news_date, read_text
from impactbook.news.parse import FORMATS, parse_news_text
from impactbook.news.tags import normalise_space
from impactbook.workbook import NEWS, TAGS, Workbook, load_workbook
from impactbook.workbook.csvread import read_header
from impactbook.workbook.digest import workbook_digest
from impactbook.workbook.periods import parse_date_or_month
from impactbook.workbook.tables import read_news


@dataclass(frozen=True)
class ImportReport:
    """The outcome of :func:`import_news`."""

    path: Path
    new: int
    duplicates: int
    rejected: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    new_titles: tuple[str, ...] = ()
    duplicate_titles: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing in the input was rejected."""
        return not self.rejected

    def summary_lines(self) -> list[str]:
        """One headline, then one line per rejected item and per warning (each with its line)."""
        verb = "would be added to" if self.dry_run else "added to"
        lines = [f"{self.new} new item(s) {verb} {self.path}, {self.duplicates} duplicate(s) "
                 f"skipped, {len(self.rejected)} rejected, {len(self.warnings)} warning(s)"]
        lines += [f"rejected: {p}" for p in self.rejected]
        lines += [f"warning: {p}" for p in self.warnings]
        return lines


def duplicate_key(title: object, outlet: object, date: object) -> tuple[str, str, str]:
    """Items with the same title, outlet and month (case, space and quote style aside)."""
    def fold(text: object) -> str:
        text = unicodedata.normalize("NFKC", str(text))
        text = text.translate(str.maketrans("‘’‚“”„", "'''\"\"\""))
        return normalise_space(text).casefold()

    try:
        month = str(parse_date_or_month(normalise_news_date(date)))
    except ValueError:
        month = normalise_space(str(date))
    return fold(title), fold(outlet), month


def import_news(data_dir: Path, file: Path, fmt: str, *, dry_run: bool = False,
                workbook: Workbook | None = None) -> ImportReport:
    """Append the new items in ``file`` to ``data_dir/news.csv``, atomically.

    ``data_dir`` is validated first (``workbook`` when the caller already loaded it): tags
    are split and normalised against its ``tags.csv``; unknown tags are kept as written and
    reported as warnings. Items already in ``news.csv`` (or earlier in the same file) with
    the same title, outlet and month are counted as duplicates and not added. ``news.csv``
    is replaced in one rename after the new file passed the workbook's news rules, so an
    import that fails halfway leaves it exactly as it was. Raises :class:`DataError` when
    the input or the workbook cannot be read.
    """
    data_dir, file = Path(data_dir), Path(file)
    if fmt not in FORMATS:
        raise ParameterError("format", fmt, " | ".join(FORMATS))
    if dry_run:
        return _import_news(data_dir, file, fmt, dry_run=True, workbook=workbook)
    # Read, merge and replace news.csv under the workbook's lock: two imports at once must
    # not both read the old file and the second rename drop the first one's items.
    with workbook_lock(data_dir, "news import"):
        if workbook is not None and workbook.digest != workbook_digest(data_dir):
            workbook = None  # changed since the caller loaded it: read it again, locked
        return _import_news(data_dir, file, fmt, dry_run=False, workbook=workbook)


def _import_news(data_dir: Path, file: Path, fmt: str, *, dry_run: bool,
                 workbook: Workbook | None) -> ImportReport:
    if workbook is None:
        workbook = load_workbook(data_dir, require=(TAGS,))
    parsed = parse_news_text(read_text(file), fmt, str(file), workbook.tags["tag"].tolist())
    news_path = safe_join(data_dir, NEWS)
    existing = workbook.news
    seen = {duplicate_key(title, outlet, date) for title, outlet, date in
            existing[["title", "outlet", "date"]].itertuples(index=False)}
    new_rows: list[dict[str, str]] = []
    duplicate_titles: list[str] = []
    for item in parsed.items.to_dict("records"):
        key = duplicate_key(item["title"], item["outlet"], item["date"])
        if key in seen:
            duplicate_titles.append(str(item["title"]))
            continue
        seen.add(key)
        new_rows.append({c: str(item[c]) for c in NEWS_COLUMNS})

    if new_rows and not dry_run:
        write_news_rows(news_path, existing, new_rows, tags=workbook.tags)
    return ImportReport(path=news_path, new=len(new_rows), duplicates=len(duplicate_titles),
                        rejected=tuple(parsed.rejected), warnings=tuple(parsed.warnings),
                        new_titles=tuple(r["title"] for r in new_rows),
                        duplicate_titles=tuple(duplicate_titles), dry_run=dry_run)


def write_news_rows(path: Path, existing: pd.DataFrame, new_rows: list[dict[str, str]], *,
                    tags: pd.DataFrame | None = None) -> None:
    """Write ``news.csv`` with ``new_rows`` appended, replacing the file in one rename.

    ``existing`` is the validated ``news.csv`` of the same folder. When its header already
    has every news column the file's bytes are copied unchanged (so an append never rewrites
    what was there); otherwise it is rewritten with the missing optional columns added at the
    end. The result is checked by the workbook's news rules before the rename.
    """
    path = Path(path)
    existing_bytes = path.read_bytes() if path.exists() else b""
    header = read_header(path) if existing_bytes.strip() else []
    header = header or list(NEWS_COLUMNS)
    missing = [c for c in NEWS_COLUMNS if c not in header]
    columns = header + missing
    newline = "\r\n" if b"\r\n" in existing_bytes else "\n"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            if existing_bytes.strip() and not missing:
                fh.write(existing_bytes)
                if not existing_bytes.endswith(b"\n"):
                    fh.write(newline.encode())
            else:
                fh.write(_format_row(dict(zip(columns, columns, strict=True)), columns, newline))
                for row in existing.to_dict("records"):
                    fh.write(_format_row(row, columns, newline))
            for row in new_rows:
                fh.write(_format_row(row, columns, newline))
        # The one news rule: what validate would refuse is never renamed into place.
        read_news(tmp, tags)


def _format_row(row: dict[str, str], columns: list[str], newline: str) -> bytes:
    """One CSV record as UTF-8 bytes (quoted as needed, e.g. summaries with line breaks)."""
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerow([str(row.get(c, "")) for c in columns])
    return out.getvalue().encode("utf-8")
