"""One run: build the data, the module, the loggers and the Trainer from the parsed flags; then fit
and test (or run one of the tools and exit)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

import yaml

from .cli import config_dict, is_rank_zero

RUN_NAME_ENV = "CHECKLIST_RUN_NAME"  # so DDP ranks started later agree on rank 0's run name


def default_run_name(a: argparse.Namespace) -> str:
    return f"{a.model}-d{a.depth}-w{a.width}-{a.optimizer}-lr{a.lr:g}-bs{a.batch_size}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_directory(a: argparse.Namespace) -> Path:
    inherited = None if is_rank_zero() else os.environ.get(RUN_NAME_ENV)
    name = a.run_name or inherited or default_run_name(a)
    run_dir = Path(a.output_dir) / name
    if not (a.run_name or inherited):
        suffix = 1
        while run_dir.exists():  # two runs started in the same second
            suffix += 1
            run_dir = Path(a.output_dir) / f"{name}-{suffix}"
    os.environ[RUN_NAME_ENV] = run_dir.name
    a.run_name = run_dir.name
    return run_dir


def build_datamodule(a: argparse.Namespace):
    import torch

    from .augment import create_augmentation
    from .data import ImageDataModule
    from .datasets import DATASETS

    kind = DATASETS[a.dataset].kind
    if kind == "table":
        from .tables import TableDataModule

        dm = TableDataModule(features=a.features, dataset=a.dataset, data_dir=a.data_dir, tasks=a.tasks,
                             batch_size=a.batch_size, num_workers=a.num_workers, val_fraction=a.val_fraction,
                             seed=a.seed)
        dm.setup("fit")
        return dm
    if kind == "streaming":
        from .streaming import StreamingDataModule

        dm = StreamingDataModule(a)
        dm.setup("fit")
        return dm
    dm = ImageDataModule(
        dataset=a.dataset, data_dir=a.data_dir, tasks=a.tasks, batch_size=a.batch_size,
        num_workers=a.num_workers, val_fraction=a.val_fraction, seed=a.seed, download=a.download,
        image_size=a.image_size,
        pin_memory=torch.cuda.is_available() and a.accelerator in ("auto", "gpu"),
    )
    dm.prepare_data()
    dm.setup("fit")
    dm.augment = create_augmentation(
        dm.input_shape[1:], translate=a.aug_translate, scale=a.aug_scale, rotate=a.aug_rotate, mirror=a.aug_mirror,
        skew=a.aug_skew, blur=a.aug_blur, contrast=a.aug_contrast,
    )
    return dm


def build_module(a: argparse.Namespace, dm):
    """The adapter from flags to the module: the flags plus what the data determines."""
    from .module import Classifier

    return Classifier(
        **config_dict(a),
        input_shape=list(dm.input_shape),
        input_mean=dm.mean,
        input_std=dm.std,
        task_names=[t.name for t in dm.tasks],
        task_classes=[t.num_classes for t in dm.tasks],
        label_frequencies=dm.label_frequencies(),
    )


def sync_batchnorm(a: argparse.Namespace) -> bool:
    import torch

    if a.sync_batchnorm != "auto":
        return a.sync_batchnorm == "true"
    gpus = torch.cuda.device_count() if a.accelerator in ("auto", "gpu") else 0
    devices = gpus if a.devices in ("auto", -1) else (len(a.devices) if isinstance(a.devices, list) else a.devices)
    return a.batchnorm and gpus > 0 and devices * a.num_nodes > 1


def build_trainer(a: argparse.Namespace, run_dir: Path, loggers: list):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, ModelSummary, TQDMProgressBar

    from .callbacks import BestEpochMetrics, DivergenceGuard, EpochLines, RunFacts, SaveOnInterrupt

    interactive = sys.stderr.isatty()
    callbacks = [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/acc", mode="max",
                        save_last=True, enable_version_counter=False, auto_insert_metric_name=False),
        DivergenceGuard(a.lr),
        SaveOnInterrupt(run_dir / "checkpoints" / "last.ckpt"),
        BestEpochMetrics(),
        RunFacts(),
        ModelSummary(max_depth=4),  # parameter count per layer and in total, printed at the start
        TQDMProgressBar(refresh_rate=10) if interactive else EpochLines(),
    ]
    if a.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor="val/acc", mode="max", patience=a.early_stopping_patience,
                                       min_delta=a.early_stopping_min_delta))
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=a.max_epochs, max_steps=a.max_steps, deterministic=a.deterministic,
        fast_dev_run=a.fast_dev_run, limit_train_batches=a.limit_train_batches,
        limit_val_batches=a.limit_val_batches, accelerator=a.accelerator, devices=a.devices,
        strategy=a.strategy, num_nodes=a.num_nodes, precision=a.precision,
        accumulate_grad_batches=a.accumulate_grad_batches, sync_batchnorm=sync_batchnorm(a),
        gradient_clip_val=a.gradient_clip_val or None,
        logger=loggers, callbacks=callbacks, enable_progress_bar=interactive,
        # Per-step values (train/loss, lr) reach the loggers every step from Classifier.log_step;
        # everything Lightning logs itself is per epoch, so its step logging interval does not matter.
        # Validation needs input gradients to build adversarial examples for val/adv_acc.
        inference_mode=a.adversarial == "none",
    )


class _DropTips(logging.Filter):
    NOISE = ("litlogger", "was configured so 100%", "Skipping setting a default")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(s in record.getMessage() for s in self.NOISE)


def quiet_lightning() -> None:
    """Keep the console to what a user acts on: drop Lightning's advertising and restatements."""
    warnings.filterwarnings("ignore", message=r".*(does not have many workers|exists and is not empty|LeafSpec).*")
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in logger.filters):
        logger.addFilter(_DropTips())


def augmentation_preview(dm, run_dir: Path) -> Path | None:
    """plots/augment.png: 8 training images, each beside 7 augmented copies (None: no augmentation)."""
    from .augment import preview

    if dm.augment is None:
        return None
    return preview(dm.train_set.batch(range(8))[0], dm.augment, run_dir / "plots" / "augment.png")


def keep_metrics(csv_logger, path: Path, ckpt: str) -> None:
    """On resume, carry the earlier rows over (CSVLogger deletes an existing metrics.csv when it
    starts), up to the checkpoint's step: the steps after it are trained again."""
    import torch

    if not path.is_file():
        return
    resumed_at = torch.load(ckpt, map_location="cpu", mmap=True, weights_only=False)["global_step"]
    with open(path, newline="") as f:
        rows = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(f)
                if int(row["step"]) < resumed_at]
    csv_logger.experiment.metrics[:0] = rows  # written back, with the new rows, at the next save


class HardwareError(Exception):
    """A Trainer setting this machine cannot honour (no GPU for --accelerator gpu, too many devices…)."""


def check_hardware(a: argparse.Namespace) -> None:
    """Let Lightning judge --accelerator/--devices/--strategy/--num-nodes/--precision before any file
    is written: a Trainer that is built and thrown away costs milliseconds."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    quiet = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the real Trainer reports the devices; this one stays silent
    try:
        L.Trainer(accelerator=a.accelerator, devices=a.devices, strategy=a.strategy, num_nodes=a.num_nodes,
                  precision=a.precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False)
    except (MisconfigurationException, ValueError, RuntimeError, TypeError) as e:
        flags = f"--accelerator {a.accelerator} --devices {a.devices} --strategy {a.strategy}"
        raise HardwareError(f"{flags}: {str(e).splitlines()[0]}") from None
    finally:
        quiet.setLevel(level)


def run_tools(a: argparse.Namespace, run_dir: Path, dm, module) -> list[Path]:
    """--plot-lr-schedule, --aug-preview, --find-batch-size: write their files; returns the plots."""
    from .tuning import find_batch_size, plot_lr_schedule

    plots = []
    if a.plot_lr_schedule:
        plots.append(plot_lr_schedule(a, run_dir, len(dm.train_set)))
        print(f"planned schedule: {plots[-1]}")
    if a.aug_preview:
        plots.append(augmentation_preview(dm, run_dir))
        print(f"augmentation preview: {plots[-1]}")
    if a.find_batch_size:
        find_batch_size(a, run_dir, dm, module)
        plots.append(run_dir / "plots" / "batch_size.png")
    return plots


def log_plots(wandb_logger, plots: list[Path | None]) -> None:
    """Each PNG under plots/ as a W&B image keyed plots/<name> (rank 0, when W&B logs)."""
    if wandb_logger is None or not is_rank_zero():
        return
    for path in plots:
        if path is not None and path.is_file():
            wandb_logger.log_image(key=f"plots/{path.stem}", images=[str(path)])


def finish_wandb(wandb_logger) -> None:
    if wandb_logger is not None and is_rank_zero():
        import wandb

        wandb.finish()


def main(a: argparse.Namespace) -> int:
    """Returns the process exit status."""
    quiet_lightning()
    import lightning as L

    from .data import DataError
    from .tracking import create_logger, resolve_mode

    L.seed_everything(a.seed, workers=True, verbose=False)
    try:
        check_hardware(a)
        dm = build_datamodule(a)
    except (DataError, HardwareError) as e:  # one line, like any other bad input; nothing written
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2
    run_dir = run_directory(a)
    module = build_module(a, dm)
    if is_rank_zero():
        (run_dir / "plots").mkdir(parents=True, exist_ok=True)
    mode = resolve_mode(a.wandb_mode)
    tool = a.plot_lr_schedule or a.aug_preview or a.find_batch_size  # write files, then exit
    wandb_logger = None
    if mode != "disabled":
        wandb_logger = create_logger(a, run_dir, mode, job_type="tool" if tool or a.find_lr else "train")
    if tool:
        log_plots(wandb_logger, run_tools(a, run_dir, dm, module))
        finish_wandb(wandb_logger)
        return 0
    if a.find_lr or a.auto_lr:
        from .tuning import find_lr

        suggestion = find_lr(a, run_dir, dm, module, build_trainer(a, run_dir, loggers=[]))
        if a.find_lr:
            log_plots(wandb_logger, [run_dir / "plots" / "lr_find.png"])
            finish_wandb(wandb_logger)
            return 0
        a.lr, a.auto_lr = suggestion, False
        module = build_module(a, dm)
    status = fit_and_test(a, run_dir, dm, module, wandb_logger, mode)
    finish_wandb(wandb_logger)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()  # else gloo's threads can abort the process at exit
    return status


def fit_and_test(a: argparse.Namespace, run_dir: Path, dm, module, wandb_logger, mode: str) -> int:
    from lightning.pytorch.loggers import CSVLogger

    from .callbacks import BestEpochMetrics, Diverged, RunFacts
    from .tuning import plot_confusion_matrix, plot_lr_schedule

    loggers = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if a.resume_ckpt and is_rank_zero():
        keep_metrics(loggers[0], run_dir / "metrics.csv", a.resume_ckpt)
    if wandb_logger is not None:
        loggers.append(wandb_logger)
        if a.wandb_watch != "none":
            wandb_logger.watch(module.net, log=a.wandb_watch, log_freq=100, log_graph=False)
    if is_rank_zero():
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_dict(a), sort_keys=False, allow_unicode=True))
        if wandb_logger is not None:
            # Pictures of the plan: the schedule, the augmentation grid, the range test if it ran.
            log_plots(wandb_logger, [plot_lr_schedule(a, run_dir, len(dm.train_set)),
                                     augmentation_preview(dm, run_dir), run_dir / "plots" / "lr_find.png"])
    trainer = build_trainer(a, run_dir, loggers)
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=a.resume_ckpt)
    except Diverged as e:
        print(f"error: {e} The last good checkpoint stays in {run_dir / 'checkpoints'}.", file=sys.stderr)
        return 1
    except SystemExit as e:  # Lightning turns SIGTERM and Ctrl-C into SystemExit after on_exception
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        print(f"interrupted at step {trainer.global_step}; continue with: python train.py --resume "
              f"{run_dir / 'checkpoints' / 'last.ckpt'}", file=sys.stderr)
        return 143 if isinstance(e, SIGTERMException) else 130
    ckpt = None if a.fast_dev_run else "best"
    test_metrics = trainer.test(module, datamodule=dm, ckpt_path=ckpt, verbose=False)[0]
    if trainer.is_global_zero:
        if wandb_logger is not None:  # a picture for W&B; the numbers always go to results.json
            log_plots(wandb_logger, [plot_confusion_matrix(module.test_confusion, dm.tasks[0].name,
                                                           run_dir / "plots" / "confusion_matrix.png")])
        best = next(c for c in trainer.callbacks if isinstance(c, BestEpochMetrics)).best
        train_seconds = next(c for c in trainer.callbacks if isinstance(c, RunFacts)).train_seconds
        results = {"run_name": a.run_name, "wandb_run_id": wandb_logger.experiment.id if wandb_logger else None,
                   "wandb_mode": mode, **best, **test_metrics, "epochs": trainer.current_epoch,
                   "steps": trainer.global_step, "train_seconds": round(train_seconds, 3),
                   "test/confusion_matrix": module.test_confusion.tolist(),
                   "best_checkpoint": None if ckpt is None else trainer.checkpoint_callback.best_model_path}
        (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"test/acc={test_metrics.get('test/acc', math.nan):.4f} test/loss="
              f"{test_metrics.get('test/loss', math.nan):.4f}; run directory: {run_dir}")
    return 0
