"""Weights & Biases: choosing the mode without hanging, creating the logger, resuming the run id."""

from __future__ import annotations

import functools
import netrc
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(urlparse(_base_url()).hostname) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _base_url() -> str:
    return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")


def _reachable(url: str, timeout: float = 3.0) -> bool:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(mode: str) -> str:
    """auto → WANDB_MODE if set; else online with credentials and a reachable server; else offline."""
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("online", "offline", "disabled"):
        return env
    if env == "dryrun":
        return "offline"
    if not has_credentials():
        return "offline"
    if not _reachable(_base_url()):
        print(f"W&B: {_base_url()} does not answer; logging offline (upload later with `wandb sync`)")
        return "offline"
    return "online"


def previous_run_id(run_dir: Path) -> str | None:
    """The id of the W&B run this run directory logged to (folders end in -<id>)."""
    runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
    return runs[-1].name.rsplit("-", 1)[-1] if runs else None


def create_logger(a, run_dir: Path, mode: str, job_type: str = "train"):
    """Lightning's WandbLogger from the flags; resuming a run directory continues its W&B run."""
    from .wandb_sweep import normalize_sweep_params

    run_id = previous_run_id(run_dir) if a.resume_ckpt else None
    log_model = a.wandb_log_model and mode == "online"
    if a.wandb_log_model and mode != "online":
        print(f"W&B is {mode}: checkpoints are not uploaded as artifacts; they stay in {run_dir / 'checkpoints'}")
    logger = _background_wandb_logger()(
        sweep_keys=normalize_sweep_params(),  # under a W&B agent: underscore keys, no "locked" lines
        name=a.run_name,
        project=a.wandb_project,
        entity=a.wandb_entity or None,
        group=a.wandb_group or None,
        tags=a.wandb_tags or None,
        save_dir=str(run_dir),
        mode=mode,
        id=run_id,
        resume="allow" if run_id else None,
        log_model=log_model,
        job_type=job_type,
    )
    if mode == "online" and a.wandb_mode == "auto":
        try:
            logger.experiment  # noqa: B018 - starts the run now, so a refusal is caught here
        except Exception as e:  # noqa: BLE001 - wrong entity, revoked key, server error: never block training
            import wandb

            wandb.finish()
            print(f"W&B refused the run ({str(e).splitlines()[0][:200]}); logging offline instead")
            return create_logger(a, run_dir, "offline", job_type)
    logger.start()  # wandb.init in the background, while the data loads and training starts
    return logger


# ----------------------------------------------------------------------------- metrics.csv


@functools.cache
def _run_csv_logger():
    """Lightning's CSVLogger with a writer that never deletes or truncates metrics.csv in place.
    Lightning's writer removes an existing file when it starts and rewrites the file in place when
    new columns appear; a kill in between loses rows. Here a resumed run keeps the rows before its
    checkpoint's step, and every rewrite goes to a temporary file that then replaces the old one."""
    import csv

    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class Writer(ExperimentWriter):
        def __init__(self, log_dir: str, keep_below_step: int | None):
            self._keep_below_step = keep_below_step
            super().__init__(log_dir)

        def _check_log_dir_exists(self) -> None:  # Lightning deletes metrics.csv here
            path = Path(self.metrics_file_path)
            if not path.is_file():
                return
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                rows = list(reader)
                self.metrics_keys = list(reader.fieldnames or [])
            if self._keep_below_step is not None:
                kept = [r for r in rows if r.get("step", "").isdigit() and int(r["step"]) < self._keep_below_step]
                if len(kept) != len(rows):
                    self._write_all(kept, self.metrics_keys)

        def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
            with open(self.metrics_file_path, newline="") as f:
                rows = list(csv.DictReader(f))
            self._write_all(rows, fieldnames)

        def _write_all(self, rows: list[dict], fieldnames: list[str]) -> None:
            path = Path(self.metrics_file_path)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fieldnames)
                writer.writeheader()
                writer.writerows(rows)
            tmp.replace(path)

    class RunCSVLogger(CSVLogger):
        def __init__(self, save_dir: str, keep_below_step: int | None = None):
            super().__init__(save_dir=save_dir, name="", version="")
            self._keep_below_step = keep_below_step

        @property
        @rank_zero_experiment
        def experiment(self):
            if self._experiment is None:
                self._experiment = Writer(self.log_dir, self._keep_below_step)
            return self._experiment

    return RunCSVLogger


# ----------------------------------------------------------------------------- W&B off the training path


@functools.cache
def _background_wandb_logger():
    """Lightning's WandbLogger, with wandb's work moved off the training loop: wandb.init (seconds:
    it starts wandb's service) and every call after it (a per-step log costs about as much as a small
    network's step; plots cost matplotlib's time) run in order on one background thread, while
    training goes on. flush() waits for all of it; finalize() (end of fit/test) and finish_wandb()
    call it, so everything reaches the run before it finishes. Hand-written: neither Lightning nor
    wandb has a non-blocking logger."""
    import queue
    import threading

    from lightning.pytorch.utilities import rank_zero_only

    from .wandb_sweep import SweepWandbLogger

    class BackgroundWandbLogger(SweepWandbLogger):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_lock = threading.RLock()
            self._calls: queue.Queue = queue.Queue()
            self._worker: threading.Thread | None = None
            self.failure: str | None = None

        @property
        def experiment(self):
            if self._experiment is not None or self._worker is None or threading.current_thread() is self._worker:
                with self._init_lock:  # wandb.init once, whichever thread asks first
                    return super().experiment
            # wandb.init is still running on the logger's thread. Lightning touches `experiment` when fit
            # and test set up; waiting there would put wandb's start-up back on the training path, so
            # hand out a stand-in that waits only when it is used.
            return _Pending(self)

        def run(self):
            """The wandb Run, once wandb.init has finished (waits for it)."""
            with self._init_lock:
                return super().experiment

        def __getstate__(self) -> dict:
            # ddp_spawn pickles the loggers: send what was queued, then leave the thread objects behind.
            self.flush()
            state = super().__getstate__()
            for key in ("_init_lock", "_calls", "_worker"):
                state.pop(key, None)
            return state

        def __setstate__(self, state: dict) -> None:
            self.__dict__.update(state)
            self._init_lock, self._calls, self._worker = threading.RLock(), queue.Queue(), None

        def start(self) -> None:
            """Start wandb.init in the background; calls made meanwhile wait in the queue."""
            if self._worker is None and rank_zero_only.rank == 0:
                self._worker = threading.Thread(target=self._work, name="wandb-logger", daemon=True)
                self._worker.start()

        def _work(self) -> None:
            try:
                self.experiment  # noqa: B018 - wandb.init
            except Exception as e:  # noqa: BLE001 - W&B must never stop training: metrics.csv has it all
                self.failure = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            while True:
                fn, args, kwargs = self._calls.get()
                try:
                    if self.failure is None:
                        fn(*args, **kwargs)
                except Exception as e:  # noqa: BLE001
                    self.failure = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
                finally:
                    self._calls.task_done()

        def _later(self, fn, *args, **kwargs) -> None:
            self.start()
            self._calls.put((fn, args, kwargs))

        def call(self, fn, *args, **kwargs) -> None:
            """Run fn (a plot to draw and log, say) on the logger's thread, after what came before."""
            self._later(fn, *args, **kwargs)

        def flush(self) -> None:
            if self._worker is not None:
                self._calls.join()
            if self.failure:
                print(f"warning: W&B failed ({self.failure}); the run's metrics are in metrics.csv", file=sys.stderr)
                self.failure = None

        @rank_zero_only
        def log_metrics(self, metrics, step=None) -> None:
            # Values become floats here: tensors could change (or be on a GPU) by the time they are sent.
            values = {k: v.item() if hasattr(v, "item") else v for k, v in metrics.items()}
            self._later(super().log_metrics, values, step)

        @rank_zero_only
        def log_hyperparams(self, params) -> None:
            self._later(super().log_hyperparams, params)

        @rank_zero_only
        def log_table(self, *args, **kwargs) -> None:
            self._later(super().log_table, *args, **kwargs)

        @rank_zero_only
        def log_image(self, *args, **kwargs) -> None:
            self._later(super().log_image, *args, **kwargs)

        @rank_zero_only
        def finalize(self, status: str) -> None:
            self.flush()
            super().finalize(status)

    class _Pending:
        """Stands for the wandb Run until wandb.init has finished; any use waits for it."""

        def __init__(self, logger):
            self._logger = logger

        def __getattr__(self, name: str):
            return getattr(self._logger.run(), name)

    return BackgroundWandbLogger


def __getattr__(name: str):
    # The loggers import Lightning: built on first use so that this module stays light to import.
    if name == "RunCSVLogger":
        return _run_csv_logger()
    if name == "BackgroundWandbLogger":
        return _background_wandb_logger()
    raise AttributeError(name)
