"""The Trainer from the "Trainer and hardware" flags: strategy (DDP with --ddp-timeout), SyncBatchNorm,
{% if cookiecutter.diagnostics %}profiler, {% endif %}callbacks, the hardware check before any file is written, and the console policy (quiet_lightning)."""

import io
import logging
import os
import shutil
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, ModelSummary, TQDMProgressBar
from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

from ..errors import SettingError, StorageError, one_line
from . import callbacks as cb
from .monitor import Monitor
{%- if cookiecutter.diagnostics %}

PROFILE_DIR = "profiler"
{%- endif %}


@dataclass(frozen=True)
class TrainerOptions:  # the flags the Trainer and its callbacks read (field names are flag names)
    max_epochs: int
    max_steps: int
    deterministic: bool
    fast_dev_run: bool
    limit_train_batches: int | float
    limit_val_batches: int | float
    accelerator: str
    devices: str | int | list
    strategy: str
    num_nodes: int
    precision: str
    accumulate_grad_batches: int
    ddp_timeout: int
{%- if cookiecutter.diagnostics %}
    profiler: str
{%- endif %}
    log_every_n_steps: int
    val_check_interval: int | float
    check_val_every_n_epoch: int
    num_sanity_val_steps: int
    detect_anomaly: bool
    benchmark: bool
    gradient_clip_val: float
    sync_batchnorm: str
    batchnorm: bool
    adversarial: str
    early_stopping_patience: int
    early_stopping_min_delta: float
    lr: float  # for the divergence guard's message


def callbacks_for(o: TrainerOptions, run_dir: Path, interactive: bool, monitor: Monitor | None = None) -> list:
    """A run's callbacks: the project's, early stopping with --early-stopping-patience, then yours (CALLBACKS)."""
    monitor, folder = monitor or Monitor(), run_dir / "checkpoints"
    callbacks = [
        # best.ckpt: the epoch with the best monitored metric. last.ckpt: the end of the latest completed
        # epoch (Lightning's save_last rewrites it only when best.ckpt changes), see LastCheckpoint.
        ModelCheckpoint(folder, filename="best", monitor=monitor.name, mode=monitor.mode, enable_version_counter=False),
        cb.LastCheckpoint(dirpath=folder),
        cb.DivergenceGuard(o.lr),
        cb.SaveOnInterrupt(folder / "last.ckpt"),
        cb.BestEpochMetrics(monitor),
        cb.RunFacts(),
        ModelSummary(max_depth=4),  # parameter count per layer and in total: train.log (log_file)
        TQDMProgressBar(refresh_rate=10) if interactive else cb.EpochLines(monitor),
    ]
    patience, delta = o.early_stopping_patience, o.early_stopping_min_delta
    if patience:
        callbacks.append(EarlyStopping(monitor=monitor.name, mode=monitor.mode, patience=patience, min_delta=delta))
    return callbacks + [c for c in (make(run_dir) for make in cb.CALLBACKS) if c is not None]


# The flags that are Trainer arguments of the same name, passed as they are (TaskModule.log_step keeps
# --log-every-n-steps for the per-step values; Lightning logs per epoch).
TRAINER_ARGS = ("max_epochs", "max_steps", "deterministic", "fast_dev_run", "limit_train_batches", "limit_val_batches")
TRAINER_ARGS += ("accelerator", "devices", "num_nodes", "precision", "accumulate_grad_batches", "log_every_n_steps")
TRAINER_ARGS += ("val_check_interval", "check_val_every_n_epoch", "num_sanity_val_steps", "detect_anomaly", "benchmark")


def build_trainer(o: TrainerOptions, run_dir: Path, loggers: list, monitor: Monitor | None = None) -> L.Trainer:
    interactive = sys.stderr.isatty()
    return L.Trainer(
        default_root_dir=run_dir,
        **{name: getattr(o, name) for name in TRAINER_ARGS},
        strategy=strategy(o),
        sync_batchnorm=sync_batchnorm(o),
        gradient_clip_val=o.gradient_clip_val or None,
        logger=loggers,
        callbacks=callbacks_for(o, run_dir, interactive, monitor),
        enable_progress_bar=interactive,
        inference_mode=o.adversarial == "none",
{%- if cookiecutter.diagnostics %}
        profiler=profiler(o, run_dir),
{%- endif %}
        plugins=[CheckedCheckpointIO()],
    )


class CheckedCheckpointIO(TorchCheckpointIO):
    """Lightning's writer (temporary file, then rename), a full disk or read-only folder as one line with the sizes."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        try:
            super().save_checkpoint(checkpoint, path, storage_options)
        except OSError as e:
            buffer, path = io.BytesIO(), Path(path)
            torch.save(checkpoint, buffer)  # its size: what the write needed
            folder = next((p for p in (path.parent, *path.parents) if p.exists()), Path("."))
            why = os.strerror(e.errno) if e.errno else one_line(e)
            space = f"it needs {_size(buffer.tell())}, {_size(shutil.disk_usage(folder).free)} free in {folder}"
            keep = "the previous checkpoint there is intact (free space, then --resume last)"
            raise StorageError(f"cannot write the checkpoint {path} ({why}): {space}; {keep}") from None


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


{%- if cookiecutter.diagnostics %}


def profiler(o: TrainerOptions, run_dir: Path):
    """Lightning's profiler for --profiler; it writes <stage>-profile.txt into <run dir>/profiler/."""
    from lightning.pytorch.profilers import AdvancedProfiler, PyTorchProfiler, SimpleProfiler

    kinds = {"simple": SimpleProfiler, "advanced": AdvancedProfiler, "pytorch": PyTorchProfiler}
    if o.profiler == "none":
        return None
    return kinds[o.profiler](dirpath=run_dir / PROFILE_DIR, filename="profile")
{%- endif %}


def sync_batchnorm(o: TrainerOptions) -> bool:
    if o.sync_batchnorm != "auto":
        return o.sync_batchnorm == "true"
    on_gpus = o.accelerator in ("auto", "gpu") and torch.cuda.device_count() > 0
    return o.batchnorm and on_gpus and device_count(o) * o.num_nodes > 1


def device_count(o: TrainerOptions) -> int:
    """Processes per node that --devices asks for (auto: the GPUs, or 1 process on CPU)."""
    if isinstance(o.devices, list):
        return len(o.devices)
    if o.devices in ("auto", -1):
        gpus = torch.cuda.device_count() if o.accelerator in ("auto", "gpu") else 0
        return max(gpus, 1) if o.devices == "auto" or gpus else os.cpu_count() or 1
    return o.devices


def strategy(o: TrainerOptions):
    """--strategy, with --ddp-timeout bounding joins and collectives (a lost node: one line, not a half-hour wait)."""
    timeout = timedelta(seconds=o.ddp_timeout)
    distributed = o.num_nodes > 1 or device_count(o) > 1
    if o.strategy == "ddp" or (o.strategy == "auto" and distributed):
        return DDPStrategy(timeout=timeout)
    if o.strategy == "ddp_spawn":
        return DDPStrategy(start_method="spawn", timeout=timeout)
    if o.strategy == "fsdp":
        return FSDPStrategy(timeout=timeout)
    return o.strategy


def check_hardware(o: TrainerOptions) -> None:
    """Lightning judges the hardware flags before any file is written (a Trainer built and dropped: milliseconds)."""
    quiet = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the real Trainer reports the devices; this one stays silent
    try:
        hardware = {k: getattr(o, k) for k in ("accelerator", "devices", "strategy", "num_nodes", "precision")}
        off = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        L.Trainer(**hardware, **off)
    except (MisconfigurationException, ValueError, RuntimeError, TypeError) as e:
        flags = f"--accelerator {o.accelerator} --devices {o.devices} --strategy {o.strategy}"
        raise SettingError(f"{flags}: {one_line(e)}") from None
    finally:
        quiet.setLevel(level)


def check_val_check_interval(o: TrainerOptions, dm) -> None:
    """Refuse a count past one epoch's batches now: Lightning would fail only after the run directory exists."""
    if isinstance(o.val_check_interval, float) or o.fast_dev_run:  # fast_dev_run validates after its batch
        return
    n, limit = len(dm.train_dataloader()), o.limit_train_batches  # batches as Lightning counts them
    n = min(n, limit) if isinstance(limit, int) else int(n * limit)
    if o.val_check_interval > n:
        bound = f"at most the {n} training batches of an epoch (or a fraction <= 1)"
        raise SettingError(f"argument --val-check-interval: must be {bound}, got {o.val_check_interval}")


# Python warnings that are known noise (a regex each), kept off the console; every other warning reaches it.
KNOWN_NOISE = (
    "does not have many workers",  # --num-workers 0 is the default on purpose: the data is in memory
    "exists and is not empty",  # the run directory is this run's own (rundir.claim_run_directory)
    "LeafSpec",  # a deprecation inside torch's pytree, not in this project's code
    r"module\(s\) in eval mode at the start of training",  # --freeze-backbone keeps the trunk's BN statistics
)
# Lightning's info lines dropped from the console and train.log alike: its advertising, its restatements of the flags,
# and what its LR finder says of the temporary checkpoint it saves whole and loads weights-only (tuning.find_lr).
DROPPED = ("litlogger", "Skipping setting a default", "was configured so", "`weights_only` was not set")
LIGHTNING_LOGGERS = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]


_keep = lambda record: not any(s in record.getMessage() for s in DROPPED)  # noqa: E731 - a logging filter


def quiet_lightning(verbose: bool = False) -> None:
    """Lightning's info lines go to train.log (log_file), to the console only with --verbose; real warnings always."""
    for pattern in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=f".*{pattern}")
    if not verbose:  # W&B's banner and summary; finish_wandb says in one line where the run is (your setting wins)
        os.environ.setdefault("WANDB_SILENT", "true")
    for handler in [h for logger in LIGHTNING_LOGGERS for h in logger.handlers if type(h) is logging.StreamHandler]:
        handler.setLevel(logging.INFO if verbose else logging.WARNING)  # Lightning's own console handler
        if _keep not in handler.filters:
            handler.addFilter(_keep)


@contextmanager
def log_file(path: Path | None):
    """Lightning's info lines and model summary into `path` (<run dir>/train.log) while a run lasts (None: nowhere)."""
    handler = logging.FileHandler(path, encoding="utf-8") if path is not None else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    handler.addFilter(_keep)
    for logger in LIGHTNING_LOGGERS:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in LIGHTNING_LOGGERS:
            logger.removeHandler(handler)
        handler.close()
