"""Email a run's reports to funders, each message at most once.

- :mod:`.funders` funders from the validated workbook (``funders.csv`` is checked by the
  workbook loader alone) and which reports each receives.
- :mod:`.manifest` a run's ``manifest.json``: which reports exist and in what state.
- :mod:`.plan` who gets which report, with a deterministic Message-ID.
- :mod:`.compose` the MIME message that carries them; :mod:`.headers` the wire form of the
  headers that carry workbook text; :mod:`.text` header-safe text, short address lists.
- :mod:`.ledger` the SQLite send ledger (one row per Message-ID, one per address of it;
  private, owner-only).
- :mod:`.send` SMTP delivery in batches the server takes, recorded in the ledger.
- :mod:`.run` the ``impactbook email`` flow: dry-run outbox or delivery.
"""

from importlib import import_module

# Imported on first use: the CLI imports one module of this package and should not pay for the
# rest.
_PUBLIC = {"EmailRunReport": "run", "run_email": "run"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
