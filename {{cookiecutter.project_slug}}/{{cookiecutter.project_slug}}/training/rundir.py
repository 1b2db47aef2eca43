"""The run directory: its name, atomic creation, the lock keeping out a second process, removal if never trained."""

import fcntl
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from ..config.environment import RUN_NAME_ENV, is_rank_zero
from ..errors import RunDirectoryError, UsageError
from ..files import remove_stale_temporaries, write_atomically

_LOCKS: list = []  # open lock files: held until the run ends (the OS releases them even on SIGKILL)


def default_run_name(dataset: str, model: str, shape: dict, optimizer: str, lr: float, batch_size: int) -> str:
    """`<dataset>-<model>[-d<depth>][-w<width>]-<optimizer>-lr<ε0>-bs<batch>-<time>`; `shape`: --depth and --width
    where they reach the network (config/reach.py), so a network that ignores --depth gets no `-d`."""
{%- if cookiecutter.backbones %}
    model = model.replace(":", "-")  # torchvision:resnet18 → a portable directory name
{%- endif %}
    size = (f"{flag[0]}{value}" for flag, value in shape.items())
    return "-".join([dataset, model, *size, optimizer, f"lr{lr:g}", f"bs{batch_size}", time.strftime("%Y%m%d-%H%M%S")])


def choose_run_directory(output_dir: str, run_name: str | None, default_name: str) -> Path:
    """--run-name, the name rank 0 chose (DDP ranks started later), or `default_name` (-2, -3… if taken)."""
    chosen = run_name or (None if is_rank_zero() else os.environ.get(RUN_NAME_ENV))
    run_dir = Path(output_dir) / chosen if chosen else unused(Path(output_dir) / default_name)
    os.environ[RUN_NAME_ENV] = run_dir.name
    return run_dir


def unused(run_dir: Path) -> Path:
    """`run_dir`, or `<run_dir>-2`, `-3`… the first that does not exist."""
    candidates = itertools.chain([run_dir], (run_dir.with_name(f"{run_dir.name}-{n}") for n in itertools.count(2)))
    return next(c for c in candidates if not c.exists())


def claim_run_directory(run_dir: Path, *, overwrite: bool = False, resuming: bool = False) -> bool:
    """Make `run_dir` this run's own: created unless resuming, then locked; whether it was created (rank 0 only)."""
    if not is_rank_zero():
        return False
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        if overwrite and not resuming and run_dir.is_dir():
            lock_or_refuse(run_dir)  # never delete a directory another process is writing
            shutil.rmtree(run_dir)
            release_run_directory()
        created = not (resuming and run_dir.is_dir())  # resuming a checkpoint from elsewhere starts a run directory
        if created:
            run_dir.mkdir()  # atomic: of two runs started together with one name, one gets an error
        lock_or_refuse(run_dir)
        for folder in (run_dir, run_dir / "checkpoints"):  # what a run killed while writing left (resuming)
            remove_stale_temporaries(folder)
    except FileExistsError:
        raise RunDirectoryError(
            f"--run-name: {run_dir} already holds a run (started meanwhile?); continue it with --resume {run_dir}, "
            "choose another --run-name, or replace it with --overwrite"
        ) from None
    except OSError as e:
        raise RunDirectoryError(f"--output-dir: cannot create {run_dir} ({e.strerror or type(e).__name__})") from None
    return created


def lock_or_refuse(run_dir: Path) -> None:
    handle = open(run_dir / ".lock", "a+")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunDirectoryError(f"{run_dir}: another process is writing it; wait or use another --run-name") from None
    handle.truncate(0)
    print(os.getpid(), file=handle, flush=True)
    _LOCKS.append(handle)


def release_run_directory() -> None:
    """The run is over (in a notebook or a test the process goes on): another run may write there."""
    while _LOCKS:
        _LOCKS.pop().close()


@contextmanager
def owned(run_dir: Path, created: bool) -> Iterator[Path]:
    """The run's time in its directory: a refused run removes a directory it created and never trained in; unlocks."""
    try:
        yield run_dir
    except UsageError:
        if created and not (run_dir / "checkpoints").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        release_run_directory()


def write_config(run_dir: Path, config: dict) -> None:
    """config.yaml: every flag's resolved value (what --config reads back)."""
    write_atomically(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def write_results(run_dir: Path, results: dict) -> None:
    write_atomically(run_dir / "results.json", json.dumps(results, indent=2) + "\n")
