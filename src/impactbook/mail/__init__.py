"""Email a run's reports to funders, each message at most once.

- :mod:`.compose` who gets which report, and the MIME message that carries them.
- :mod:`.ledger` the SQLite send ledger (one row per Message-ID).
- :mod:`.send` SMTP delivery recorded in the ledger.
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
