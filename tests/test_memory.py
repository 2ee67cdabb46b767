"""release_unused_memory gives freed heap pages back to the system (glibc Linux)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from impactbook import memory

PROBE = r"""
import psutil
from impactbook.memory import release_unused_memory

def rss_mb():
    return psutil.Process().memory_info().rss / 2**20

# 300 MB of 4 KB blocks from malloc's heap, then one small block after them that stays, so
# freeing the rest leaves a hole that malloc keeps for reuse instead of shrinking the heap.
blocks = [bytes(4000) + bytes([i % 251]) for i in range(75_000)]
keep = bytes(5000) + b"x"
del blocks
before = rss_mb()
release_unused_memory()
print(before - rss_mb())
"""


@pytest.mark.skipif(memory._malloc_trim() is None, reason="glibc's malloc_trim needed")
def test_freed_heap_pages_go_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True)
    assert float(out.stdout.strip()) > 100  # MB given back of the ~300 MB freed


def test_release_is_harmless_without_pyarrow_or_glibc(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    memory.release_unused_memory()
