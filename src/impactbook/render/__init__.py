"""Turning report notebooks into files, one at a time or as a batch.

- :mod:`.kernel` one warm, isolated Jupyter kernel; :mod:`.kernel_reset` runs inside it.
- :mod:`.parameters` a notebook's parameters cell: names, defaults, types, ``-p`` values.
- :mod:`.notebook` parameters, execution and writing of one report (ipynb, HTML, PDF).
- :mod:`.exporters` the nbconvert exporters of a report (HTML, PDF), one a module, and
  :mod:`.preprocessors` their preprocessors.
- :mod:`.plan` one job per report, keyed by everything that shapes it.
- :mod:`.options` ``-p`` and ``--template`` typed for a kind of report.
- :mod:`.workers` rendering a job, and long-lived local worker processes.
- :mod:`.run_folder` a run folder's report records and its manifest (their one writer).
- :mod:`.batch` runs a plan: reuse, faults, manifest, index.
- :mod:`.dask_executor` the same plan on a Dask cluster.
"""

import sys
from importlib import import_module

# jsonschema imports rfc3987-syntax when it is installed (jupyter-events asks for
# jsonschema[format-nongpl]), and that package compiles 38 grammars as it is imported: 2 s of
# CPU in every process that loads nbformat, which the batch's planner, each worker and every
# rerun do (an unchanged rerun took 3.8 s instead of under 1 s). It serves only jsonschema's
# "iri" formats, which notebook schemas never use; so, unless something has imported it
# already, it is kept out (an import of it raises ImportError, which jsonschema expects).
sys.modules.setdefault("rfc3987_syntax", None)

# Imported on first use: a report kernel imports one module of this package and should not pay
# for the rest.
_PUBLIC = {"BatchResult": "batch", "render_city": "batch", "run_batch": "batch",
           "summarize_intervention": "batch", "ReportJob": "plan", "plan_batch": "plan"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
