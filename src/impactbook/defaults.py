"""Defaults shared across impactbook, each written once.

A default that two modules need lives here, so the CLI, the library calls, the batch
and the notebooks cannot drift apart (they once disagreed on the per-report timeout).
This module imports nothing heavy: the CLI reads it before deciding what to load.
"""

# Seconds a report's notebook may run before the kernel is interrupted (CLI ``--timeout``,
# single renders and batch workers alike).
DEFAULT_TIMEOUT_S = 600.0

# Periods after a programme's start that an estimate evaluates (docs/DESIGN.md: 24 after).
DEFAULT_POST_PERIODS = 24

# The MIME type under which a report notebook hands its findings to the renderer; the
# exporter leaves outputs of this type out of the HTML and PDF.
FINDINGS_MIME = "application/vnd.impactbook.findings+json"
# Shown (beside a visible failure box) by a report section that could not be produced: the
# renderer then fails the report, and the exporter leaves it out of the HTML and PDF.
SECTION_FAILURE_MIME = "application/vnd.impactbook.section-failure+json"

# The raw source families ``impactbook ingest SOURCE`` accepts, in the order the CLI lists them.
INGEST_SOURCES = ("chicago-homicides", "nypd-shootings", "philadelphia-shootings", "rtci",
                  "seattle-dmi", "generic")

# The export formats a report is rendered to unless asked otherwise.
DEFAULT_FORMATS = ("html", "pdf")

# How a report's headline is chosen, in words: said by the report and by the run's index (here,
# not in report.content, so that writing the index imports no estimator).
HEADLINE_RULE = ("each outcome's figure comes from the strongest design its data support "
                 "(synthetic control with a good pre-period fit for its counts and no bias "
                 "warning, then comparison areas that "
                 "pass the pre-trend check, then the interrupted time series, then pre/post); "
                 "the report's headline is the result with the strongest design, the first "
                 "programme in the workbook (and its first outcome) on ties")

# Placebo groups of a micro-synthetic control's permutation test (microsynth's own default is
# 250), and the seed they are drawn with, so a report is reproducible.
DEFAULT_PLACEBOS = 250
PLACEBO_SEED = 20130101

#: The fewest observed periods before the start an interrupted time series fits on; the
#: workbook's programme check uses the same number so a valid programme can be estimated.
MIN_PRE_OBSERVED = 6

# What one ``.xlsx`` sheet may expand to when ingested. A workbook is a zip archive: a 1 MB file
# can hold gigabytes of text (one long shared string used by 100,000 cells, or 80,000 long
# strings that compress 700 to 1), which filled the temporary folder or the memory before any
# row was read. Past these bounds ingest refuses the file in one line and suggests saving the
# sheet as CSV (a CSV is streamed, not expanded). A real incident list of a million rows by
# twenty columns fits; Excel itself allows 32,767 characters in a cell.
XLSX_MAX_PART_BYTES = 512 * 2**20  # one part of the archive (a sheet, the shared strings)
XLSX_MAX_TOTAL_BYTES = 2**30  # all parts together, uncompressed
XLSX_MAX_RATIO = 200  # uncompressed : compressed, for a part over 1 MiB (workbooks reach ~30)
XLSX_MAX_CELLS = 20_000_000  # rows x columns of the sheet, merged areas included
XLSX_MAX_MERGED_AREAS = 100_000  # each is kept while the sheet is read
XLSX_MAX_CELL_CHARS = 32_767
XLSX_MAX_TEXT_CHARS = 256_000_000  # the sheet's text (its temporary CSV), and the shared strings

# A run's estimate store (impactbook.analysis.store): the variable a batch gives its workers'
# kernels (the store's folder), and the folder inside it where each process logs its lookups.
# Here, not in the store's module, so the batch names them without importing the estimators.
ESTIMATES_ENV = "IMPACTBOOK_ESTIMATES"
ESTIMATES_LOG_DIR = "log"
