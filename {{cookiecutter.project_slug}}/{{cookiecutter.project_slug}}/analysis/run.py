"""The diagnosis at the end of a run (and for `python -m <pkg>.diagnose`): the unit statistics of a
sample of training inputs through the network's weights, analysis/diagnose.py's findings, at most 5
printed lines and, when W&B is on, the findings as a W&B table."""

from pathlib import Path

import torch

from ..training.monitor import Monitor, monitor_of
from .diagnose import diagnose, summary_lines
from .units import unit_statistics

SAMPLE = 512  # training inputs through the final weights (enough for a share of units to 5%)
TABLE_COLUMNS = ["id", "severity", "section", "evidence", "checklist", "flags"]


def training_sample(dm, n: int = SAMPLE) -> torch.Tensor | None:
    """Up to n training inputs [n, C, H, W] without augmentation; None when the data has none."""
    train = getattr(dm, "train_set", None)
    if train is not None and hasattr(train, "batch") and len(train):
        return train.batch(range(min(n, len(train))))[0]
    try:
        return next(iter(dm.train_dataloader()))[0][:n]
    except (StopIteration, AttributeError, TypeError):
        return None


def units_of(module, dm) -> dict | None:
    x = training_sample(dm)
    if x is None:
        return None
    was_training = module.training
    module.eval()  # the final weights as predict.py uses them (batch norm's running statistics)
    try:
        return unit_statistics(module.net.trunk, module, x.to(module.device))
    finally:
        module.train(was_training)


def diagnose_run(run_dir: Path, module, dm, wandb_logger=None) -> dict:
    """Write diagnosis.json, print its lines, log the W&B table; returns the diagnosis."""
    monitor = monitor_of(dict(module.hparams)) if module is not None else Monitor()  # val/rmse for regression
    units = units_of(module, dm) if module is not None else None
    diagnosis = diagnose(run_dir, monitor.name, monitor.mode == "max", units)
    for line in summary_lines(diagnosis):
        print(line)
    if wandb_logger is not None:
        rows = [[x[c] if c != "flags" else " ".join(x[c]) for c in TABLE_COLUMNS] for x in diagnosis["findings"]]
        wandb_logger.log_table("diagnosis", columns=TABLE_COLUMNS, data=rows)
    return diagnosis


def after_run(plan, module, dm, wandb_logger) -> None:
    """diagnosis.json and at most 5 lines (the checklist's next step), unless --no-diagnose."""
    if plan.config.get("diagnose", True):  # a failure is a warning line (training/fit.after_run)
        diagnose_run(plan.run_dir, module, dm, wandb_logger)


def attach() -> None:
    """The diagnostics feature: every finished run on rank 0 ends with its diagnosis (features.py)."""
    from ..training.fit import AFTER_RUN

    if after_run not in AFTER_RUN:
        AFTER_RUN.append(after_run)
