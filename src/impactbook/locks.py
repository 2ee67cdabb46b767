"""One lock per folder impactbook writes: a workbook (news import, ingest) or a run folder
(batch, render, email).

Every writer holds the folder's lock for its whole read-modify-write, so two commands can
never interleave: the second waits briefly (workbook writers are quick) or stops at once with
a line naming the command and process that holds the folder. The lock is ``fcntl.flock`` on
``FOLDER/.impactbook.lock``: the kernel releases it when the holder exits, however it exits,
so a killed run never leaves a stale lock behind. Within one process the lock is re-entrant
(``email --send`` takes the run folder's lock in planning and again in sending).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

from impactbook.errors import ImpactbookError

LOCK_NAME = ".impactbook.lock"
# How long a workbook writer waits for another one: imports and ingests take seconds.
WORKBOOK_WAIT_S = 60.0
_POLL_S = 0.1

_held: dict[str, int] = {}  # lock path -> nesting depth, for this process


class FolderBusyError(ImpactbookError):
    """Another impactbook process is writing the folder."""

    def __init__(self, folder: Path, holder: str):
        self.folder = Path(folder)
        self.holder = holder
        super().__init__(f"{folder} is in use by another impactbook process ({holder}); "
                         "wait for it to finish, then run this again")


def _holder(fd: int) -> str:
    """What the current holder wrote into the lock file (its command, pid and start)."""
    try:
        text = os.pread(fd, 300, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return " ".join(text.split())[:200] or "holder unknown"


def _open_lock_file(path: Path) -> int:
    # O_NOFOLLOW: a lock file planted as a symbolic link must not make us create or truncate
    # a file elsewhere; O_CLOEXEC: workers and kernels we start never inherit the lock.
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        from impactbook.errors import UnsafePathError

        if os.path.islink(path):
            raise UnsafePathError(path, "is a symbolic link where impactbook keeps its lock "
                                        "file") from None
        raise exc


@contextlib.contextmanager
def folder_lock(folder: Path, command: str, *, wait_s: float = 0.0,
                create: bool = False) -> Iterator[None]:
    """Hold ``folder``'s writer lock for the block; raise :class:`FolderBusyError` if another
    process holds it for longer than ``wait_s`` seconds. A missing folder is created when
    ``create``, else there is nothing to protect yet and the caller's own error follows."""
    import fcntl

    folder = Path(folder)
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    elif not folder.is_dir():
        yield
        return
    path = folder / LOCK_NAME
    key = str(path.resolve())
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = _open_lock_file(path)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FolderBusyError(folder, _holder(fd)) from None
                time.sleep(_POLL_S)
        since = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"impactbook {command}, pid {os.getpid()}, since {since}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def workbook_lock(data_dir: Path, command: str) -> contextlib.AbstractContextManager[None]:
    """The lock of a workbook folder, waiting up to :data:`WORKBOOK_WAIT_S` for a holder."""
    return folder_lock(data_dir, command, wait_s=WORKBOOK_WAIT_S)


def run_lock(run_dir: Path, command: str, *,
             create: bool = True) -> contextlib.AbstractContextManager[None]:
    """The lock of a run folder; a batch takes minutes, so a second writer stops at once."""
    return folder_lock(run_dir, command, create=create)
