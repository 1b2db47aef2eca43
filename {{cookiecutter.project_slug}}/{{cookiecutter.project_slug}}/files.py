"""Files whole or absent: write-then-rename for all the project writes, output-path checks, removal of temporaries
dead writers left. Hand-written on os.replace: no library names temporaries by pid, so the next run can remove them."""

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from .errors import UsageError, one_line

SUFFIX = ".tmp"
PSEUDO = ("/proc", "/sys", "/dev")  # writing there is never what a user means (and /proc answers oddly)


class TargetError(UsageError):
    """An output path that cannot be written as asked (the commands turn it into their one line)."""


def pseudo(path: str | Path) -> str | None:
    """The pseudo file system (/proc, /sys, /dev) `path` lies in, if any: never a place for output, nor for data."""
    full = Path(os.path.abspath(path))
    return next((p for p in PSEUDO if Path(p) in (full, *full.parents)), None)


def check_target(path: str | Path, overwrite: bool, folder: bool = False) -> Path:
    """Before any work: `path` can be written through atomic_path as a file (or folder), else TargetError says why."""
    path, parent = Path(path), Path(os.path.abspath(path)).parent
    if where := pseudo(path):
        raise TargetError(f"{path}: under {where}, not a place for output files")
    if path.exists() or path.is_symlink():
        mode = os.stat(path).st_mode if path.exists() else 0
        if folder and not stat.S_ISDIR(mode):
            raise TargetError(f"{path}: exists and is not a folder")
        if not folder and not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise TargetError(f"{path}: {kind}, where a file is written")
        if not overwrite and not (folder and not any(path.iterdir())):
            raise TargetError(f"{path}: exists; pass --overwrite to replace it")
    if not parent.is_dir():
        raise TargetError(f"{path}: {parent} {'is not a folder' if parent.exists() else 'does not exist'}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise TargetError(f"{path}: permission denied (cannot write in {parent})")
    return path


def check_folder(path: str | Path) -> Path:
    """Before any work: an output folder that exists, or can be made, where this user can write (else TargetError)."""
    full = Path(os.path.abspath(path))
    if where := pseudo(path):
        raise TargetError(f"{path}: under {where}, not a place for output files")
    if any(len(part.encode()) > 255 for part in full.parts):
        raise TargetError(f"{str(path)[:60]}…: a name longer than 255 bytes")
    existing = next(p for p in (full, *full.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise TargetError(f"{existing} {'is not writable' if existing.is_dir() else 'exists and is not a directory'}")
    return Path(path)


def read_text(path: str | Path, what: str = "") -> str:
    """A regular UTF-8 file's text, else UsageError (a folder, FIFO or device is never opened: never waited on)."""
    where = f"{what} {path}".strip()
    try:
        if not stat.S_ISREG(mode := os.stat(path).st_mode):
            raise UsageError(f"{where} is {'a directory' if stat.S_ISDIR(mode) else 'not a regular file'}, not a file")
        if "\0" in (text := Path(path).read_text(encoding="utf-8")):
            raise UsageError(f"{where}: a binary file, not text")
        return text
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{where}: {e.strerror.lower() if isinstance(e, OSError) else 'not UTF-8 text'}") from None


def read_yaml(path: str | Path, what: str = "") -> dict:
    """The mapping a YAML file holds (empty: {}), through read_text; no Python tags (safe_load), no deep nesting."""
    try:
        value = yaml.safe_load(read_text(path, what))
        why = None if isinstance(value, dict | None) else f"holds a YAML {type(value).__name__}, not a mapping"
    except (yaml.YAMLError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else f"not valid YAML ({one_line(e)[:160]})"
    if why:
        raise UsageError(f"{what} {path}: {why}".strip())
    return value or {}


def check_apart(output: str | Path, inputs, inside: bool = True) -> None:
    """Refuse an output that is, contains or (`inside`) lies inside an input: it would delete it, or a scan read it."""
    out = Path(output).resolve()
    for source in inputs:
        src = Path(source).resolve()
        if out == src or out in src.parents or (inside and src in out.parents):
            how = "is" if out == src else "contains" if out in src.parents else "lies inside"
            raise TargetError(f"{output}: the output {how} the input {source}; write it elsewhere")


@contextmanager
def atomic_path(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary file or folder that replaces `path` in one rename on success (no reader or kill sees half)."""
    path = Path(path)  # `.<name>.<pid>.tmp` names its writer; keep_suffix adds `path`'s (torch.export wants it)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{SUFFIX}{path.suffix if keep_suffix else ''}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            _remove(path)  # a folder cannot be renamed over a non-empty one
        tmp.replace(path)
    finally:
        _remove(tmp)


def write_atomically(path: Path, content: str | bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(content) if isinstance(content, bytes) else tmp.write_text(content)
{%- if cookiecutter.streaming %}


# LitData's optimize() pickles its work list to $TMPDIR/litdata-node-<rank>-items-<pid>-<random>.pkl.
LITDATA_TEMPORARIES = ("litdata-node-*-items-*.pkl", re.compile(r"^litdata-node-\d+-items-(\d+)-"))
{%- endif %}


def remove_stale_temporaries(folder: Path, kind: tuple[str, re.Pattern] | None = None) -> None:
    """Remove temporaries in `folder` whose writer died: ours (`.<name>.<pid>.tmp`), or with `kind` (a glob,
    a regex whose group is the pid) another writer's{% if cookiecutter.streaming %}, such as LITDATA_TEMPORARIES{% endif %}."""
    glob, pattern = kind or (f".*{SUFFIX}*", re.compile(rf"^\..*\.(\d+){re.escape(SUFFIX)}"))
    for tmp in Path(folder).glob(glob):
        if (found := pattern.match(tmp.name)) and not alive(int(found.group(1))):
            with contextlib.suppress(OSError):  # a read-only folder: what it holds stays (space only)
                _remove(tmp)


def alive(pid: int) -> bool:
    try:
        with contextlib.suppress(PermissionError):  # a process we may not signal exists: it is someone's
            os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
