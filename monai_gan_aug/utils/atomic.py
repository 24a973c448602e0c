"""Atomic file writes: write to a temporary file beside the target, then rename into place.

A crash or kill mid-write leaves either the old file or the new one, never a truncated file.
A killed process can leave its hidden temporary file behind (``.<name>.<host>-<pid>-<random>.tmp<ext>``);
the next :func:`atomic_write` into that folder removes the ones whose writer is gone (same host,
process no longer running) and any older than a day.

``exclusive=True`` creates the target only if it does not exist yet, atomically (a hard link,
which fails if the name is taken): of two runs writing the same new file at once, one fails
with :class:`FileExistsError` instead of silently replacing the other's output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "clean_stale_temp_files"]

#: Temp files of writers on any host older than this are stale (seconds).
STALE_AGE = 24 * 3600
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
# ".<stem>.<host>-<pid>-<mkstemp random>.tmp<suffix>"; the older form had no host-pid part.
_TEMP_RE = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[a-z0-9_]{8}\.tmp(\.[^/]*)?$")
_cleaned: set[str] = set()


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike, suffix: str | None = None, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed onto ``target``.

    Args:
        target: final path. Its parent folder is created if missing.
        suffix: suffix of the temporary file (some writers pick the format from it); defaults to
            the target's own suffixes.
        exclusive: fail with :class:`FileExistsError` (and leave the existing file alone) if
            ``target`` exists when the write completes, instead of replacing it.

    Yields:
        The temporary path, in the same folder as ``target`` so that the rename is atomic.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if str(target.parent) not in _cleaned:
        _cleaned.add(str(target.parent))
        clean_stale_temp_files(target.parent)
    suffix = "".join(target.suffixes) if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.{_HOST}-{os.getpid()}-", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # flush to disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        if exclusive:
            _link_exclusive(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _link_exclusive(tmp: Path, target: Path) -> None:
    """Make ``tmp`` appear as ``target`` only if ``target`` does not exist (atomic where links work)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
    except OSError:  # no hard links here (some network/FAT file systems): best effort
        if target.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.replace(tmp, target)


def clean_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Remove temporary files of :func:`atomic_write` left in ``folder`` by writers that are gone.

    A temp file is stale when its writer ran on this host and is no longer running, or when it
    is older than :data:`STALE_AGE` (any host, and the older name form without a process id).
    Returns the removed paths. Files of running writers and all other files are left alone.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AGE
        except OSError:
            continue
        gone = match["host"] == _HOST and not _running(int(match["pid"]))
        if old or gone:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the target path."""
    with atomic_write(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)
