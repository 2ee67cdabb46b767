"""Give memory a long-lived process no longer uses back to the system.

A batch keeps processes alive across reports (its parent, each worker and its kernel), and their
summed resident memory is what a machine must hold. Freed Python objects go back to the C
allocator, which keeps the pages for reuse; ``malloc_trim`` returns the free ones to the system,
and pyarrow's pool (where pandas' Arrow strings and the prepared slices live) is asked for its
unused blocks likewise. Nothing here changes what a process computes, only what it keeps.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import sys


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where there is no such function (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:  # by name: ctypes.util.find_library would start a subprocess (ldconfig) to look
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_unused_memory() -> None:
    """Collect cycles, then hand free pages back to the system."""
    gc.collect()
    arrow = sys.modules.get("pyarrow")
    pool = arrow.default_memory_pool() if arrow is not None else None
    if hasattr(pool, "release_unused"):  # pyarrow >= 9
        pool.release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
