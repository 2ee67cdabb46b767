"""Runs *inside* a report kernel: warm it up, and reset it between reports.

A batch worker reuses one kernel for many reports because starting a kernel and importing
pandas, matplotlib and statsmodels costs seconds. Reuse is only acceptable if a report's output
cannot depend on what ran before it, so :func:`reset` puts back everything a notebook commonly
changes: the user namespace and execution counter, open figures and matplotlib rcParams, pandas
and numpy options, warnings filters, the working directory, ``sys.path``, environment variables,
and every ``impactbook`` module (dropped from ``sys.modules`` so module-level caches and
monkey-patches die with them). The pristine state is captured once by :func:`warm_up` and kept on
the IPython shell object, which survives ``%reset`` and module reloads.

Speed without weaker isolation: the warm-up also imports the report modules once, only so that
every third-party library they pull in (pydantic, threadpoolctl, statsmodels submodules, ...) is
already loaded; the impactbook modules themselves are dropped again before the snapshot, so each
report still imports fresh copies. Everything loaded by then is moved to the garbage collector's
permanent generation (``gc.freeze``): the full collections in :func:`reset` (ours and IPython's)
then scan only what reports created, not the hundreds of thousands of library objects.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings

_SNAPSHOT_ATTR = "_impactbook_pristine_state"
_PRELOAD = ("numpy", "pandas", "matplotlib", "matplotlib.pyplot", "scipy.stats",
            "statsmodels.api", "IPython.display",
            # Imported for their dependencies only; dropped again before the snapshot.
            "impactbook.report.content", "impactbook.report.summary_content",
            "impactbook.report.sections", "impactbook.report.plots",
            "impactbook.news.link", "impactbook.news.html_list")


def _shell():
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("impactbook kernel reset must run inside an IPython kernel")
    return shell


def warm_up(preload: tuple[str, ...] = _PRELOAD) -> None:
    """Import the heavy libraries once and record the pristine state to reset to.

    Runs before every report (in the prelude) but does its work only the first time.
    """
    import importlib

    shell = _shell()
    if getattr(shell, _SNAPSHOT_ATTR, None) is not None:
        return
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # a report that needs it will say so itself
            pass
    _drop_impactbook_modules()
    gc.collect()  # free the dropped modules' cycles before freezing the rest
    setattr(shell, _SNAPSHOT_ATTR, _capture())
    gc.freeze()


def _drop_impactbook_modules() -> None:
    """Forget our own modules so the next import runs them afresh.

    This module and its parent packages stay: ``import impactbook.render.kernel_reset`` finds
    the module in ``sys.modules`` and would not re-import the parents it is reached through.
    """
    keep = {__name__, *(__name__.rsplit(".", n)[0] for n in range(1, __name__.count(".") + 1))}
    for name in [m for m in sys.modules if m == "impactbook" or m.startswith("impactbook.")]:
        if name not in keep:
            del sys.modules[name]
            # A kept parent still holds the dropped submodule as an attribute, and
            # ``from impactbook import effects`` would return that stale module.
            parent, _, child = name.rpartition(".")
            if parent in keep and child in vars(sys.modules[parent]):
                delattr(sys.modules[parent], child)


def _capture() -> dict:
    state: dict = {
        "cwd": os.getcwd(),
        "sys_path": list(sys.path),
        "environ": dict(os.environ),
        "warnings": list(warnings.filters),
        "modules": set(sys.modules),
    }
    if "matplotlib" in sys.modules:
        import matplotlib

        state["rc"] = matplotlib.rcParams.copy()
    if "numpy" in sys.modules:
        import numpy

        state["np_err"] = numpy.geterr()
        state["np_print"] = numpy.get_printoptions()
    return state


def reset(cwd: str | None = None) -> None:
    """Return the kernel to the state :func:`warm_up` recorded, then ``chdir(cwd)``."""
    shell = _shell()
    state = getattr(shell, _SNAPSHOT_ATTR, None)
    if state is None:
        warm_up()
        state = getattr(shell, _SNAPSHOT_ATTR)
    # Namespace, In/Out history, execution counter back to 1.
    shell.reset(new_session=True)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")
    if "rc" in state:
        import matplotlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.rcParams.clear()
            matplotlib.rcParams.update(state["rc"])
    if "pandas" in sys.modules:
        import pandas

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pandas.reset_option("all")
    if "np_err" in state:
        import numpy

        numpy.seterr(**state["np_err"])
        numpy.set_printoptions(**state["np_print"])
    warnings.resetwarnings()
    warnings.filters[:] = state["warnings"]
    os.environ.clear()
    os.environ.update(state["environ"])
    sys.path[:] = state["sys_path"]
    # Drop our own modules (and anything a report imported beyond the warm set from the
    # impactbook namespace) so caches, module globals and monkey-patches start fresh.
    _drop_impactbook_modules()
    os.chdir(cwd or state["cwd"])
    from impactbook.memory import release_unused_memory

    release_unused_memory()  # the previous report's frames and figures: freed, and given back
