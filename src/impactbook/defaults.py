"""Defaults shared across impactbook, each written once.

A default that two modules need lives here, so the CLI, the library calls, the batch
and the notebooks cannot drift apart (they once disagreed on the per-report timeout).
This module imports nothing heavy: the CLI reads it before deciding what to load.
"""

# Seconds a report's notebook may run before the kernel is interrupted (CLI ``--timeout``,
# single renders and batch workers alike).
DEFAULT_TIMEOUT_S = 600.0

# Periods after a programme's start that an estimate evaluates (DESIGN.md: 24 after).
DEFAULT_POST_PERIODS = 24

# The MIME type under which a report notebook hands its findings to the renderer; the
# exporter leaves outputs of this type out of the HTML and PDF.
FINDINGS_MIME = "application/vnd.impactbook.findings+json"

# The raw source families ``impactbook ingest SOURCE`` accepts, in the order the CLI lists them.
INGEST_SOURCES = ("chicago-homicides", "nypd-shootings", "philadelphia-shootings", "rtci",
                  "seattle-dmi", "generic")

# The export formats a report is rendered to unless asked otherwise.
DEFAULT_FORMATS = ("html", "pdf")

# Placebo groups of a micro-synthetic control's permutation test (microsynth's own default is
# 250), and the seed they are drawn with, so a report is reproducible.
DEFAULT_PLACEBOS = 250
PLACEBO_SEED = 20130101
