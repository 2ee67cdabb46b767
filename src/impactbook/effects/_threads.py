"""Run the model fits with BLAS on one thread.

The fits are many small least-squares problems (IRLS steps). On a multi-core machine
OpenBLAS splits even a 288 x 76 ``lstsq`` across threads, and the hand-off costs far more than
the arithmetic: measured 32 ms threaded against 2 ms on one thread for the comparison model's
design. One thread is also what a batch running several reports in parallel wants. The limit
only lasts while an estimator runs, so the caller's BLAS settings are left as they were.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable)


@functools.cache
def blas_controller() -> ThreadpoolController:
    # Scanning the loaded libraries takes a few milliseconds, so it is done once; numpy's and
    # scipy's OpenBLAS are both loaded by the time statsmodels is imported.
    return ThreadpoolController()


def single_blas_thread(function: F) -> F:
    """Decorator: call ``function`` with BLAS limited to one thread (restored afterwards)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with blas_controller().limit(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
