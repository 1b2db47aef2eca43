"""One run: build the data, the module, the loggers and the Trainer from the parsed flags; then fit
and test (or run one of the tools and exit)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import yaml

from .cli import RUN_NAME_ENV, config_dict, is_rank_zero
from .flags import FLAG_BY_NAME


class UserError(Exception):
    """Bad input found after parsing (data, hardware, output folder, checkpoint): one line, exit 2."""


def default_run_name(a: argparse.Namespace) -> str:
    model = a.model.replace(":", "-")  # torchvision:resnet18 → a portable directory name
    return f"{model}-d{a.depth}-w{a.width}-{a.optimizer}-lr{a.lr:g}-bs{a.batch_size}-{time.strftime('%Y%m%d-%H%M%S')}"


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


_LOCKS: list = []  # open lock files: held until the run ends (the OS releases them even on SIGKILL)


def claim_run_directory(a: argparse.Namespace, run_dir: Path) -> bool:
    """Make `run_dir` this run's own: created here (a name taken meanwhile is refused), or, with
    --resume/--overwrite, locked so no second process writes it. Returns whether it was created.
    DDP ranks other than 0 belong to rank 0's job and take no lock."""
    import fcntl
    import shutil

    if not is_rank_zero():
        return False
    created = False
    try:
        Path(a.output_dir).mkdir(parents=True, exist_ok=True)
        if a.overwrite and not a.resume_ckpt and run_dir.is_dir():
            lock_or_refuse(run_dir, fcntl)  # never delete a directory another process is writing
            shutil.rmtree(run_dir)
            _LOCKS.clear()
        if not a.resume_ckpt:
            run_dir.mkdir()  # atomic: of two runs started together with one name, one gets an error
            created = True
        lock_or_refuse(run_dir, fcntl)
    except FileExistsError:
        raise UserError(
            f"--run-name: {run_dir} already holds a run (started meanwhile?); continue it with "
            f"--resume {run_dir}, choose another --run-name, or replace it with --overwrite"
        ) from None
    except OSError as e:
        raise UserError(
            f"--output-dir: cannot create the run directory {run_dir} ({e.strerror or type(e).__name__})"
        ) from None
    return created


def lock_or_refuse(run_dir: Path, fcntl) -> None:
    handle = open(run_dir / ".lock", "a+")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(
            f"{run_dir} is being written by another process right now; wait for it to finish or use another --run-name"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _LOCKS.append(handle)


def build_datamodule(a: argparse.Namespace):
    import torch

    from .augment import augmentation_from_flags
    from .data import ImageDataModule
    from .datasets import DATASETS

    kind = DATASETS[a.dataset].kind
    if kind == "table":
        from .tables import TableDataModule

        dm = TableDataModule(
            features=a.features,
            dataset=a.dataset,
            data_dir=a.data_dir,
            tasks=a.tasks,
            batch_size=a.batch_size,
            num_workers=a.num_workers,
            val_fraction=a.val_fraction,
            seed=a.seed,
        )
        dm.setup("fit")
        a.features = list(dm.feature_names)  # resolved (default: every other numeric column): saved, predicted on
        return dm
    if kind == "streaming":
        from .streaming import StreamingDataModule

        dm = StreamingDataModule(a)
        dm.setup("fit")
        return dm
    dm = ImageDataModule(
        dataset=a.dataset,
        data_dir=a.data_dir,
        tasks=a.tasks,
        batch_size=a.batch_size,
        num_workers=a.num_workers,
        val_fraction=a.val_fraction,
        seed=a.seed,
        download=a.download,
        image_size=a.image_size,
        pin_memory=torch.cuda.is_available() and a.accelerator in ("auto", "gpu"),
    )
    dm.prepare_data()
    dm.setup("fit")
    dm.augment = augmentation_from_flags(a, dm.input_shape[1:])
    return dm


def build_module(a: argparse.Namespace, dm, load_pretrained: bool = True):
    """The adapter from flags to the module: the flags plus what the data determines."""
    from .module import Classifier

    return Classifier(
        load_pretrained=load_pretrained,
        **config_dict(a),
        input_shape=list(dm.input_shape),
        input_mean=dm.mean,
        input_std=dm.std,
        task_names=[t.name for t in dm.tasks],
        task_classes=[t.num_classes for t in dm.tasks],
        task_class_names=dm.class_names,
        label_frequencies=dm.label_frequencies(),
    )


def network_summary(a: argparse.Namespace, module) -> str:
    """Which of the network-dependent checklist flags reach this network (the rest apply to any network)."""
    from .model_names import flag_reach

    applies, ignored = flag_reach(a.model, a.pretrained)
    net = module.net
    adapt = [
        f"{net.channels} channels" if net.channels != len(module.hparams.input_mean or [0]) else "",
        f"resized to {net.size}×{net.size}" if net.size else "",
    ]
    return "\n".join(
        [
            f"network: --model {a.model}: trunk → {net.heads.outputs[0].in_features} features → "
            f"{len(net.heads.outputs)} head(s); input: raw images in [0, 1], standardized"
            + "".join(f", {s}" for s in adapt if s),
            "  flags that apply to it: "
            + ", ".join(f"{FLAG_BY_NAME[f].option} ({where})" for f, where in applies.items())
            + "; and every optimization, schedule, regularization and data flag",
            "  flags ignored by it: " + (", ".join(FLAG_BY_NAME[f].option for f in ignored) or "none"),
        ]
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

    from .callbacks import BestEpochMetrics, DivergenceGuard, EpochLines, LastCheckpoint, RunFacts, SaveOnInterrupt
    from .trainer_options import trainer_kwargs

    interactive = sys.stderr.isatty()
    callbacks = [
        # best.ckpt: the epoch with the best val/acc. last.ckpt: the end of the latest completed epoch
        # (Lightning's save_last rewrites it only when best.ckpt changes), see LastCheckpoint.
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="best",
            monitor="val/acc",
            mode="max",
            enable_version_counter=False,
            auto_insert_metric_name=False,
        ),
        LastCheckpoint(dirpath=run_dir / "checkpoints"),
        DivergenceGuard(a.lr),
        SaveOnInterrupt(run_dir / "checkpoints" / "last.ckpt"),
        BestEpochMetrics(),
        RunFacts(),
        ModelSummary(max_depth=4),  # parameter count per layer and in total, printed at the start
        TQDMProgressBar(refresh_rate=10) if interactive else EpochLines(),
    ]
    if a.early_stopping_patience:
        callbacks.append(
            EarlyStopping(
                monitor="val/acc", mode="max", patience=a.early_stopping_patience, min_delta=a.early_stopping_min_delta
            )
        )
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=a.max_epochs,
        max_steps=a.max_steps,
        deterministic=a.deterministic,
        fast_dev_run=a.fast_dev_run,
        limit_train_batches=a.limit_train_batches,
        limit_val_batches=a.limit_val_batches,
        accelerator=a.accelerator,
        devices=a.devices,
        strategy=strategy(a),
        num_nodes=a.num_nodes,
        precision=a.precision,
        accumulate_grad_batches=a.accumulate_grad_batches,
        sync_batchnorm=sync_batchnorm(a),
        gradient_clip_val=a.gradient_clip_val or None,
        logger=loggers,
        callbacks=callbacks,
        enable_progress_bar=interactive,
        # Per-step values (train/loss, lr) reach the loggers from Classifier.log_step, which keeps Lightning's
        # log_every_n_steps (--log-every-n-steps, below); everything Lightning logs itself is per epoch.
        # Validation needs input gradients to build adversarial examples for val/adv_acc.
        inference_mode=a.adversarial == "none",
        **trainer_kwargs(a, run_dir),  # --profiler, --log-every-n-steps, --val-check-interval, …
    )


def device_count(a: argparse.Namespace) -> int:
    """Processes per node that --devices asks for (auto: the GPUs, or 1 process on CPU)."""
    import torch

    if isinstance(a.devices, list):
        return len(a.devices)
    if a.devices in ("auto", -1):
        gpus = torch.cuda.device_count() if a.accelerator in ("auto", "gpu") else 0
        return max(gpus, 1) if a.devices == "auto" or gpus else os.cpu_count() or 1
    return a.devices


def strategy(a: argparse.Namespace):
    """Lightning's strategy for --strategy, with --ddp-timeout for joining and for every collective: a
    node that never joins ends the run with one line instead of a wait of half an hour."""
    from datetime import timedelta

    timeout = timedelta(seconds=a.ddp_timeout)
    distributed = a.num_nodes > 1 or device_count(a) > 1
    if a.strategy == "ddp" or (a.strategy == "auto" and distributed):
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(timeout=timeout)
    if a.strategy == "ddp_spawn":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(start_method="spawn", timeout=timeout)
    if a.strategy == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(timeout=timeout)
    return a.strategy


class _DropTips(logging.Filter):
    NOISE = ("litlogger", "was configured so 100%", "Skipping setting a default")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(s in record.getMessage() for s in self.NOISE)


def quiet_lightning() -> None:
    """Keep the console to what a user acts on: drop Lightning's advertising and restatements."""
    warnings.filterwarnings("ignore", message=r".*(does not have many workers|exists and is not empty|LeafSpec).*")
    # --freeze-backbone keeps the trunk in eval mode on purpose (its batch norm statistics stay fixed).
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in logger.filters):
        logger.addFilter(_DropTips())


def augmentation_preview(dm, run_dir: Path) -> Path | None:
    """plots/augment.png: 8 training images, each beside 7 augmented copies (None: no augmentation)."""
    from .augment import preview

    if dm.augment is None:
        return None
    return preview(dm.train_set.batch(range(8))[0], dm.augment, run_dir / "plots" / "augment.png")


class HardwareError(UserError):
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
        L.Trainer(
            accelerator=a.accelerator,
            devices=a.devices,
            strategy=a.strategy,
            num_nodes=a.num_nodes,
            precision=a.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
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

        wandb_logger.flush()  # what the background thread still holds reaches the run first
        wandb.finish()


def check_batches(a: argparse.Namespace, dm) -> None:
    """Data-dependent values the parser cannot judge: a split with no examples, or --limit-*-batches
    that leave no batch at all (Lightning would quietly train or validate on nothing)."""
    import math

    if len(dm.train_set) == 0:
        raise UserError(
            f"--val-fraction {a.val_fraction:g} leaves no training examples (of "
            f"{len(dm.train_set) + len(dm.val_set)}); lower it"
        )
    train_batches = math.ceil(len(dm.train_set) / a.batch_size)
    val_batches = math.ceil(len(dm.val_set) / a.batch_size)
    for flag, limit, batches in (
        ("--limit-train-batches", a.limit_train_batches, train_batches),
        ("--limit-val-batches", a.limit_val_batches, val_batches),
    ):
        if isinstance(limit, float) and batches and int(limit * batches) == 0:
            raise UserError(
                f"{flag} {limit:g} of {batches} batches rounds to 0 batches; use a larger fraction or a count >= 1"
            )


def check_resume_data(a: argparse.Namespace, dm) -> None:
    """The checkpoint's network must fit this data: same input shape and classes per task."""
    hp = a.resume_state["hparams"]
    saved = (list(hp.get("input_shape", [])), list(hp.get("task_classes", [])))
    now = (list(dm.input_shape), [t.num_classes for t in dm.tasks])
    if saved != now:
        raise UserError(
            f"--resume: {a.resume_ckpt} was trained on inputs {saved[0]} with classes per task "
            f"{saved[1]}; --dataset {a.dataset} --data-dir {a.data_dir} gives {now[0]} and {now[1]}"
        )


def allocate_module(a: argparse.Namespace, dm):
    """Build the module, first on the meta device (no memory): a network too large for this machine
    is one line naming its size, not an allocator traceback."""
    import torch

    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in build_module(a, dm, load_pretrained=False).parameters())
    except Exception:  # noqa: BLE001 - the estimate is a courtesy; the real build below reports real errors
        params = None
    if params is not None:
        need = params * 4 * 4  # float32 weights, gradients and up to two optimizer moments
        free = available_memory(a)
        if free is not None and need > free:
            raise UserError(
                f"the network asked for (--model {a.model} --depth {a.depth} --width {a.width}) has "
                f"{params:,} parameters, about {need / 2**30:.1f} GiB to train, more than the "
                f"{free / 2**30:.1f} GiB available; use a smaller --width or --depth"
            )
    try:
        return build_module(a, dm)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "alloc" not in str(e).lower() and "memory" not in str(e).lower():
            raise
        size = f"{params:,} parameters" if params else "a network"
        raise UserError(
            f"cannot allocate {size} for --model {a.model} --depth {a.depth} --width {a.width} "
            f"({str(e).splitlines()[0][:120]}); use a smaller --width or --depth"
        ) from None


def available_memory(a: argparse.Namespace) -> int | None:
    import torch

    if torch.cuda.is_available() and a.accelerator in ("auto", "gpu"):
        return torch.cuda.mem_get_info()[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def main(a: argparse.Namespace) -> int:
    """Returns the process exit status. Everything that can be judged before training is judged
    before the run directory exists; a failure after it was created removes what this run made."""
    quiet_lightning()
    import lightning as L

    from .backbones import BackboneError
    from .data import DataError
    from .models import NetworkError
    from .trainer_options import SettingError, check_val_check_interval

    L.seed_everything(a.seed, workers=True, verbose=False)
    created, run_dir = False, None
    try:
        check_hardware(a)
        dm = build_datamodule(a)
        check_batches(a, dm)
        check_val_check_interval(a, dm)
        if a.resume_ckpt:
            check_resume_data(a, dm)
        module = allocate_module(a, dm)
        run_dir = run_directory(a)
        created = claim_run_directory(a, run_dir)
        return start(a, run_dir, dm, module)
    except (NetworkError, BackboneError) as e:  # raised before the run directory exists: nothing written
        print(f"train.py: error: {e}", file=sys.stderr)
        if e.__cause__ is not None:  # the user's network raised: their traceback is what they need
            traceback.print_exception(e.__cause__, file=sys.stderr)
        return 2
    except (DataError, UserError, SettingError) as e:  # one line, like any other bad input
        print(f"train.py: error: {e}", file=sys.stderr)
        if created and not (run_dir / "checkpoints").exists():
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)  # a run that never trained leaves nothing behind
        return 2
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()  # else gloo's threads can abort the process at exit
        release_run_directory()


def release_run_directory() -> None:
    """The run is over (in a notebook or a test the process goes on): another run may write there."""
    while _LOCKS:
        _LOCKS.pop().close()


def start(a: argparse.Namespace, run_dir: Path, dm, module) -> int:
    from .tracking import create_logger, resolve_mode

    if is_rank_zero():
        print(network_summary(a, module))
        (run_dir / "plots").mkdir(parents=True, exist_ok=True)
    mode = resolve_mode(a.wandb_mode)
    tool = a.plot_lr_schedule or a.aug_preview or a.find_batch_size  # write files, then exit
    if a.aug_preview and len(dm.train_set) == 0:
        raise UserError("--aug-preview: the training split has no images to preview")
    wandb_logger = None
    if mode != "disabled":
        wandb_logger = create_logger(a, run_dir, mode, job_type="tool" if tool or a.find_lr else "train")
    try:
        if tool:
            log_plots(wandb_logger, run_tools(a, run_dir, dm, module))
            return 0
        if a.find_lr or a.auto_lr:
            from .tuning import find_lr

            suggestion = find_lr(a, run_dir, dm, module, build_trainer(a, run_dir, loggers=[]))
            if a.find_lr:
                log_plots(wandb_logger, [run_dir / "plots" / "lr_find.png"])
                return 0
            a.lr, a.auto_lr = suggestion, False
            module = build_module(a, dm)
        return fit_and_test(a, run_dir, dm, module, wandb_logger, mode)
    finally:
        finish_wandb(wandb_logger)


def write_atomically(path: Path, text: str) -> None:
    """Write-then-rename: a reader (or a kill) never sees half a file, and the old file stays whole
    until the new one is complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def stopped(a: argparse.Namespace, trainer, run_dir: Path, e: BaseException) -> int:
    """The exit status of a fit that did not finish, with one line saying why and what is kept;
    exceptions that are not one of these (bugs) go on to a traceback."""
    import torch
    import torch.distributed as dist
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from .callbacks import Diverged

    last = run_dir / "checkpoints" / "last.ckpt"
    where = f"continue with: python train.py --resume {run_dir}" if last.is_file() else "no checkpoint was written"
    if isinstance(e, Diverged):
        keep = f" The last good checkpoint stays in {last}." if last.is_file() else ""
        print(f"error: {e}{keep}", file=sys.stderr)
        return 1
    if isinstance(e, SystemExit):  # Lightning turns SIGTERM and Ctrl-C into SystemExit after on_exception
        if os.environ.get("WANDB_SWEEP_ID"):  # a W&B agent stopping its run (early termination, Stop)
            print(f"stopped by the W&B sweep at step {trainer.global_step}; {where}", file=sys.stderr)
            return 0
        print(f"interrupted at step {trainer.global_step}; {where}", file=sys.stderr)
        return 143 if isinstance(e, SIGTERMException) else 130
    if isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e):
        print(
            f"error: out of memory at step {trainer.global_step} with --batch-size {a.batch_size} (--precision "
            f"{a.precision}); lower --batch-size or --width, or run --find-batch-size; {where}",
            file=sys.stderr,
        )
        return 1
    if "overflow" in str(e):  # ε0 beyond what float32 holds: the update itself overflows
        print(
            f"error: training diverged: the update overflowed ({str(e).splitlines()[0]}) at step "
            f"{trainer.global_step}. The learning rate ε0 = {a.lr:g} is far too high; run with --find-lr to "
            f"pick one, or lower --lr.",
            file=sys.stderr,
        )
        return 1
    if isinstance(e, getattr(dist, "DistError", ())) or "clients joined" in str(e):
        raise UserError(
            f"--num-nodes {a.num_nodes} --devices {a.devices}: not every process joined within "
            f"--ddp-timeout {a.ddp_timeout} s ({str(e).splitlines()[0][:120]}); start the same "
            f"command on every node with its NODE_RANK, MASTER_ADDR and MASTER_PORT"
        ) from None
    raise e


def fit_and_test(a: argparse.Namespace, run_dir: Path, dm, module, wandb_logger, mode: str) -> int:
    from .callbacks import BestEpochMetrics, Diverged, RunFacts
    from .tracking import RunCSVLogger
    from .trainer_options import tensorboard_logger
    from .tuning import plot_confusion_matrix, plot_lr_schedule

    resumed_at = a.resume_state["step"] if a.resume_state else None
    # On resume the rows up to the checkpoint's step are kept (the later ones are trained again).
    loggers = [RunCSVLogger(save_dir=str(run_dir), keep_below_step=resumed_at), *tensorboard_logger(a, run_dir)]
    if wandb_logger is not None:
        loggers.append(wandb_logger)
        if a.wandb_watch != "none":
            wandb_logger.watch(module.net, log=a.wandb_watch, log_freq=100, log_graph=False)
    if is_rank_zero():
        # resume is an action, not a hyperparameter: the saved config starts a run like this one.
        saved = {**config_dict(a), "resume": None}
        write_atomically(run_dir / "config.yaml", yaml.safe_dump(saved, sort_keys=False, allow_unicode=True))
        if wandb_logger is not None:
            # Pictures of the plan: the schedule, the augmentation grid, the range test if it ran. The
            # schedule is drawn on the logger's thread while training runs (matplotlib is slow to start);
            # the grid here, as it draws random numbers from the training run's generator.
            grid = augmentation_preview(dm, run_dir)
            wandb_logger.call(
                lambda: log_plots(
                    wandb_logger,
                    [plot_lr_schedule(a, run_dir, len(dm.train_set)), grid, run_dir / "plots" / "lr_find.png"],
                )
            )
    trainer = build_trainer(a, run_dir, loggers)
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=a.resume_ckpt)
    except (Diverged, SystemExit, RuntimeError) as e:
        return stopped(a, trainer, run_dir, e)
    best_path = trainer.checkpoint_callback.best_model_path if not a.fast_dev_run else ""
    ckpt = "best" if best_path and Path(best_path).is_file() else None
    if ckpt is None and not a.fast_dev_run and trainer.is_global_zero:
        print(
            "no best.ckpt (validation never ran: too few steps or validation examples); testing the last weights",
            file=sys.stderr,
        )
    test_metrics = trainer.test(module, datamodule=dm, ckpt_path=ckpt, verbose=False)[0]
    if trainer.is_global_zero:
        if wandb_logger is not None:  # a picture for W&B; the numbers always go to results.json
            confusion = module.test_confusion
            wandb_logger.call(
                lambda: log_plots(
                    wandb_logger,
                    [plot_confusion_matrix(confusion, dm.tasks[0].name, run_dir / "plots" / "confusion_matrix.png")],
                )
            )
        best = next(c for c in trainer.callbacks if isinstance(c, BestEpochMetrics)).best
        train_seconds = next(c for c in trainer.callbacks if isinstance(c, RunFacts)).train_seconds
        results = {
            "run_name": a.run_name,
            "wandb_run_id": wandb_logger.experiment.id if wandb_logger else None,
            "wandb_mode": mode,
            **best,
            **test_metrics,
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "train_seconds": round(train_seconds, 3),
            "test/confusion_matrix": module.test_confusion.tolist(),
            "tested": "best checkpoint" if ckpt else "last weights",
            "best_checkpoint": best_path if ckpt else None,
        }
        write_atomically(run_dir / "results.json", json.dumps(results, indent=2) + "\n")
        print(
            f"test/acc={test_metrics.get('test/acc', math.nan):.4f} test/loss="
            f"{test_metrics.get('test/loss', math.nan):.4f}; run directory: {run_dir}"
        )
    return 0
