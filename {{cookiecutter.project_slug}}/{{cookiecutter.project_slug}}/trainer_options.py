"""The Trainer options people reach for (profiler, logging and validation intervals, sanity steps,
anomaly detection, cuDNN autotuner) and TensorBoard as a second logger, from the parsed flags."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

PROFILE_DIR = "profiler"
TENSORBOARD_DIR = "tensorboard"


class SettingError(Exception):
    """A Trainer setting that only the data can refute (e.g. --val-check-interval beyond one epoch)."""


def profiler(a: argparse.Namespace, run_dir: Path):
    """Lightning's profiler for --profiler; it writes <stage>-profile.txt into <run dir>/profiler/."""
    from lightning.pytorch.profilers import AdvancedProfiler, PyTorchProfiler, SimpleProfiler

    kinds = {"simple": SimpleProfiler, "advanced": AdvancedProfiler, "pytorch": PyTorchProfiler}
    if a.profiler == "none":
        return None
    return kinds[a.profiler](dirpath=run_dir / PROFILE_DIR, filename="profile")


def trainer_kwargs(a: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """The options of the "Trainer and hardware" section that go to L.Trainer as they are."""
    return {
        "profiler": profiler(a, run_dir),
        "log_every_n_steps": a.log_every_n_steps,
        "val_check_interval": a.val_check_interval,
        "check_val_every_n_epoch": a.check_val_every_n_epoch,
        "num_sanity_val_steps": a.num_sanity_val_steps,
        "detect_anomaly": a.detect_anomaly,
        "benchmark": a.benchmark,
    }


def training_batches(a: argparse.Namespace, dm) -> int:
    """Training batches per epoch as Lightning counts them (loader length, then --limit-train-batches)."""
    n = len(dm.train_dataloader())
    limit = a.limit_train_batches
    return min(n, limit) if isinstance(limit, int) else int(n * limit)


def check_val_check_interval(a: argparse.Namespace, dm) -> None:
    """A count of batches beyond one epoch would make Lightning fail once fit starts, after the run
    directory exists; the count is known as soon as the data is set up, so refuse it here."""
    if isinstance(a.val_check_interval, float) or a.fast_dev_run:  # fast_dev_run validates after its batch
        return
    n = training_batches(a, dm)
    if a.val_check_interval > n:
        raise SettingError(
            f"argument --val-check-interval: must be at most the {n} training batches of an epoch "
            f"(or a fraction <= 1), got {a.val_check_interval}"
        )


def tensorboard_missing() -> bool:
    """True when the `tensorboard` package (the project's tensorboard extra) is not installed."""
    return importlib.util.find_spec("tensorboard") is None


def tensorboard_logger(a: argparse.Namespace, run_dir: Path) -> list:
    """[TensorBoardLogger] writing to <run dir>/tensorboard/ with --tensorboard, else []."""
    if not a.tensorboard:
        return []
    from lightning.pytorch.loggers import TensorBoardLogger

    return [TensorBoardLogger(save_dir=str(run_dir), name=TENSORBOARD_DIR, version="", default_hp_metric=False)]
