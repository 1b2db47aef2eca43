"""Every refusal of bad input is a UsageError: the command prints its one line and exits 2, and nothing
is left half-written. A subclass per concern (a caller or a test can tell them apart); commands/
catch the base class only. Only the standard library: the command line raises these before torch."""

import sys
import traceback


class UsageError(Exception):
    """Bad input found after parsing (data, checkpoint, files, hardware, settings): one line, exit 2.
    `show_cause`: the user's own code raised (their network's builder): its traceback follows the line."""

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
    text = str(e)
    return text.splitlines()[0] if text.strip() else type(e).__name__


def refuse(prog: str, e: UsageError) -> int:
    """The one mapping of a refusal to the console: `prog: error: <line>` on stderr, exit status 2.
    When the user's own code raised (show_cause), its traceback follows: it is what they need."""
    print(f"{prog}: error: {e}", file=sys.stderr)
    if e.show_cause and e.__cause__ is not None:
        traceback.print_exception(e.__cause__, file=sys.stderr)
    return 2
