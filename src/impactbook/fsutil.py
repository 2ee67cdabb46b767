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

from impactbook.errors import ParameterError

_SLUG_MAX = 60


def slugify(name: str) -> str:
    """A path-safe, lowercase ASCII slug of ``name`` (``"New York"`` -> ``"new-york"``).

    Anything that could steer a path (``../``, separators, control characters)
    is dropped, so a slug can always be joined under a run folder.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    text = text[:_SLUG_MAX].rstrip("-")
    if not text:
        raise ParameterError("name", name, "a name with at least one letter or digit")
    return text


def safe_join(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and refuse any result outside ``root``."""
    root = Path(root).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise ParameterError("path", "/".join(parts), f"a path inside {root}")
    return path


def _create_temp_beside(path: Path) -> Path:
    """A new, empty file next to ``path`` created as ``open()`` creates files: mode 0o666 less
    the process umask (``mkstemp`` would make it 0600, and the rename would keep that)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
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
