"""Files that are either whole or absent: write-then-rename for every file and folder the project
writes (results, configs, metrics, caches, predictions, exports, shards), and the removal of the
temporaries that killed writers leave behind.

Only the standard library. Hand-written: the standard library's os.replace is the primitive, and no
well-kept library adds the naming of temporaries by process id that lets the next run remove them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUFFIX = ".tmp"


def temporary_for(path: Path, keep_suffix: bool = False) -> Path:
    """`.<name>.<pid>.tmp` beside `path`: hidden, and naming the process that writes it (with
    keep_suffix, the path's suffix follows: readers such as torch.export.load insist on theirs)."""
    return path.with_name(f".{path.name}.{os.getpid()}{SUFFIX}{path.suffix if keep_suffix else ''}")


@contextmanager
def atomic_path(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write (a file or a folder); on success it replaces `path` in one
    rename, so a reader (or a kill) never sees half of it and the old one stays whole until then.
    On an exception the temporary is removed and `path` is untouched."""
    path = Path(path)
    tmp = temporary_for(path, keep_suffix)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            _remove(path)  # a folder cannot be renamed over a non-empty one
        tmp.replace(path)
    finally:
        _remove(tmp)


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` through atomic_path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(content) if isinstance(content, bytes) else tmp.write_text(content)


def remove_stale_temporaries(folder: Path) -> None:
    """Temporaries (`.<name>.<pid>.tmp`) in `folder` whose process no longer exists (killed while writing)."""
    if not Path(folder).is_dir():
        return
    for tmp in Path(folder).glob(f".*{SUFFIX}*"):
        pid = tmp.name.rpartition(SUFFIX)[0].rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
