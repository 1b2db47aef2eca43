"""Every refusal of bad input is a UsageError (a subclass per concern; commands/ catch the base class): one line, exit
2, nothing half-written. Only the standard library: the command line raises these before torch."""

import errno
import functools
import sys
import traceback


class UsageError(Exception):
    """Bad input (data, checkpoint, files, settings): one line, exit 2; `show_cause`: the user's code raised."""

    show_cause = False


class DataError(UsageError):
    """Missing, undownloadable or corrupt data."""


class CheckpointError(UsageError):
    """A checkpoint argument that names no usable checkpoint of this project."""
{%- if cookiecutter.inference %}


class InputError(UsageError):
    """Input files or tables that the model cannot read (predict.py)."""
{%- endif %}


class NetworkError(UsageError):
    """A network that cannot be built; when the user's code raised, its exception is the __cause__."""

    show_cause = True
{%- if cookiecutter.backbones %}


class BackboneError(NetworkError):
    """A torchvision/timm backbone that cannot be built here: unknown name, weights not cached, timm missing."""

    show_cause = False
{%- endif %}


class SettingError(UsageError):
    """A Trainer or hardware setting this machine or this data cannot honour."""


class RunDirectoryError(UsageError):
    """A run directory that cannot be created or is being written by another process."""


class StorageError(UsageError):
    """A file that cannot be written: the disk is full, or the folder is read-only."""


class SweepError(UsageError):
    """Bad input to a sweeps command."""


def one_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type when it has none."""
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def refuse(prog: str, e: UsageError) -> int:
    """`prog: error: <line>` on stderr, exit status 2 (then the traceback of the user code that raised: show_cause)."""
    print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
    if e.show_cause and e.__cause__ is not None:
        traceback.print_exception(e.__cause__, file=sys.stderr)
    return 2


BAD_PATH = {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENXIO}


def guarded(prog: str):
    """main() whose bad-input failures (bad path, memory a size asks for, nesting too deep) end in refuse()."""
    return lambda main: functools.wraps(main)(functools.partial(_guard, prog, main))


def _guard(prog: str, main, *args):
    try:
        return main(*args)
    except (OSError, RuntimeError, MemoryError, OverflowError) as e:
        if isinstance(e, OSError) and e.errno in BAD_PATH:
            return refuse(prog, UsageError(f"{e.filename or ''}: {e.strerror}".lstrip(": ")[:300]))
        if isinstance(e, (MemoryError, RecursionError, OverflowError)) or "you tried to allocate" in str(e):
            return refuse(prog, UsageError("a number or nesting too large: more than this machine holds"))
        raise
