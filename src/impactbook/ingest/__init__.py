"""Raw source files -> the workbook's ``outcomes.csv``: one module per source family.

- :mod:`.files` first look at an input file (is it a CSV, has it the columns).
- :mod:`.excel` an ``.xlsx`` sheet as a CSV with the sheet's row numbers.
- :mod:`.xlsx_scan` what an ``.xlsx`` expands to and holds, checked before it is read.
- :mod:`.dates` the one date reader (ISO, M/D/YYYY, M/D/YY, Excel serials, explicit formats).
- :mod:`.incident_query` how an incident list is counted, and the DuckDB SQL that counts it.
- :mod:`.incidents` incident lists (one row per victim or incident), aggregated in DuckDB.
- :mod:`.stray_dates` dates far from the rest of a list (a mistyped year), set aside.
- :mod:`.tables` aggregate tables (RTCI agency-months, Seattle DMI block-quarters).
- :mod:`.mapping` the ``generic`` source, described by options or a JSON/TOML mapping.
- :mod:`.sources` the registry of sources, merging into a workbook, writing ``outcomes.csv``.
- :mod:`.default_workbook` rebuilds the embedded default workbook from ``data/raw``.
"""

from impactbook.ingest.sources import (
    SOURCES,
    IngestResult,
    IngestSummary,
    ingest_file,
    ingest_into_workbook,
)

__all__ = ["SOURCES", "IngestResult", "IngestSummary", "ingest_file", "ingest_into_workbook"]
