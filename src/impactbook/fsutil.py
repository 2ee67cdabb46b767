"""Safe file system edges: slugs for paths, atomic writes, content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook.errors import ParameterError, UnsafePathError

if TYPE_CHECKING:  # pandas is imported where frames are hashed
    import pandas as pd

_SLUG_MAX_BYTES = 60
# Temporary files are named ``.<target>.<pid>.<random>.tmp``: the pid says which process owns
# one, so a cleanup never removes a file another live process is still writing.
TEMP_SUFFIX = ".tmp"
_TEMP_RE = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.tmp$")


# Names Windows refuses for a file or folder, whatever the case or extension.
_WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                               *(f"lpt{i}" for i in range(1, 10))})


def _slug_piece(char: str, previous: str) -> str:
    """What one character of a name becomes in a slug: ASCII letters and digits where it has
    them (``é`` -> ``e``, ``Ⅻ`` -> ``xii``), else itself casefolded when it is a letter, digit
    or a mark on one (``Ж`` -> ``ж``, ``京``), else a separator."""
    ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    ascii_form = re.sub(r"[^a-z0-9]+", "", ascii_form.lower())
    if ascii_form:
        return ascii_form
    kind = unicodedata.category(char)[0]
    if kind in "LN":
        return char.casefold()
    if kind == "M" and previous and not previous.isascii():
        return char  # a vowel sign or accent of a kept letter (Devanagari, Greek tonos)
    return "-"


def slugify(name: str) -> str:
    """A path-safe, lowercase slug of ``name`` (``"New York"`` -> ``"new-york"``).

    Anything that could steer a path (``../``, separators, control characters)
    is dropped, so a slug can always be joined under a run folder. Latin letters become ASCII
    (``São Paulo`` -> ``sao-paulo``); letters and digits of other scripts are kept, casefolded
    and NFC-normalised (``Москва`` -> ``москва``, ``北京``), so every script names a folder.
    Slugs are portable: only letters, digits and ``-`` (no trailing dot or space), at most
    60 bytes of UTF-8, never a name Windows reserves (``CON``, ``NUL``, ``COM1`` ... get
    ``-report`` appended).
    """
    pieces: list[str] = []
    for char in unicodedata.normalize("NFC", str(name)):
        pieces.append(_slug_piece(char, pieces[-1][-1:] if pieces else ""))
    text = unicodedata.normalize("NFC", "".join(pieces))
    text = re.sub(r"-+", "-", text).strip("-")[:_SLUG_MAX_BYTES]
    while len(text.encode("utf-8")) > _SLUG_MAX_BYTES:  # cut whole characters, never bytes
        text = text[:-1]
    text = text.rstrip("-")
    if not text:
        raise ParameterError("name", name, "a name with at least one letter or digit")
    if text in _WINDOWS_RESERVED:  # funders open reports on Windows and OneDrive
        text = f"{text}-report"
    return text


def safe_join(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and refuse any result outside ``root``.

    This is the one rule for paths under a run folder or a workbook: ``..`` and symbolic
    links may move around inside ``root`` but never out of it. The refusal
    (:class:`UnsafePathError`) names the link that leads out.
    """
    root = Path(root).resolve()
    joined = root.joinpath(*parts)
    path = joined.resolve()
    if path != root and root not in path.parents:
        link = _first_link(root, joined)
        if link is not None:
            raise UnsafePathError(link, f"is a symbolic link to {os.readlink(link)}, "
                                        f"outside {root}")
        raise UnsafePathError(joined, f"lies outside {root}")
    return path


def _first_link(root: Path, path: Path) -> Path | None:
    current = root
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # an absolute part: nothing under root was followed
        return None
    for part in parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _create_temp_beside(path: Path) -> Path:
    """A new, empty file next to ``path`` created as ``open()`` creates files: mode 0o666 less
    the process umask (``mkstemp`` would make it 0600, and the rename would keep that)."""
    for _ in range(100):
        # The writer's pid in the name: a cleanup removes only files of processes that are gone.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new
    one, never half of either. On failure the temporary file is removed and
    ``path`` is untouched. Modes: a file that replaces another keeps the old file's
    mode (a workbook shared by a team stays shared); a new file gets the process umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temp_beside(path)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp_path, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.filename is None:  # a full disk fails a write, which names no file: name it
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_LIBRARY_HASH: str | None = None


def library_hash() -> str:
    """Hash of the installed impactbook sources: a code change re-renders even without a bump."""
    global _LIBRARY_HASH
    if _LIBRARY_HASH is None:
        h = hashlib.sha256()
        root = Path(__file__).resolve().parent
        for path in sorted(root.rglob("*")):
            if path.suffix in {".py", ".j2", ".css", ".json"} and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
        _LIBRARY_HASH = h.hexdigest()
    return _LIBRARY_HASH


def hash_frames(*parts: tuple[str, pd.DataFrame | None]) -> str:
    """Order-independent hash of named row sets (rows sorted, columns sorted)."""
    import numpy as np
    import pandas as pd

    h = hashlib.sha256()
    for name, frame in parts:
        h.update(f"\0{name}\0".encode())
        if frame is None or frame.empty:
            continue
        columns = sorted(frame.columns)
        # pandas' vectorised 64-bit hash of each row (fixed key), sorted: row text built in
        # Python cost about 1 s for the default workbook's slices, on every rerun.
        rows = np.sort(pd.util.hash_pandas_object(frame[columns], index=False).to_numpy())
        h.update(("\x1f".join(columns) + "\n").encode())
        h.update(rows.astype("<u8").tobytes())
    return h.hexdigest()


def _is_running(pid: int) -> bool:
    """Whether process ``pid`` is alive. A zombie is not: a killed writer stays in the process
    table until its parent (or, its parent killed too, init) reaps it, which in a container
    may be late or never, and its temporary files are orphans all the same."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    try:  # Linux: the state letter follows the command name in parentheses
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS) or it just ended: kill(0) said it was there
    return state not in ("Z", "X")


def remove_orphaned_temp_files(folder: Path) -> list[Path]:
    """Remove the temporary files under ``folder`` whose writing process is gone.

    Atomic writes never expose them; a killed process leaves them behind. Files of a process
    that is still running, and files not named as :func:`atomic_path` names them, are left
    alone. Symbolic links are not followed.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return removed
    for parent, _dirs, names in os.walk(folder):  # os.walk does not descend into links
        for name in names:
            match = _TEMP_RE.match(name)
            if match and not _is_running(int(match["pid"])):
                path = Path(parent) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def regular_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an ordinary file, or ``None`` when it can.

    Checked with ``stat`` before anything opens the file: opening a FIFO blocks until a
    writer appears, and a device or a folder is never a table.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ("is a symbolic link to a file that does not exist" if os.path.islink(path)
                else "file is missing")
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, expected a file"
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else (
            "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
        return f"is {kind}, expected an ordinary file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None
