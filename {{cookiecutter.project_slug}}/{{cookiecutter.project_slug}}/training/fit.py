"""One run in its directory: the tools that write files and exit, or fit and test; results.json; the exit
status of a fit that did not finish. Everything the run resolved arrives as a Plan, not as parsed flags."""

import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ..config.agent import under_agent
from ..config.environment import is_rank_zero, resolve_mode
from ..config.views import view
from ..data.augment import preview
from ..errors import SettingError, UsageError, one_line
from .build import build_module, network_summary
from .callbacks import BestEpochMetrics, Diverged, RunFacts
from .loggers import LoggingOptions, create_wandb_logger, finish_wandb, log_plots, loggers_for, record_in_wandb
from .monitor import monitor_of
from .rundir import write_config, write_results
from .signals import stopped_by_agent
from .trainer import TrainerOptions, build_trainer, log_file
from .tuning import CliffOptions, PlanOptions, find_batch_size, find_lr, plot_confusion_matrix, plot_lr_schedule


@dataclass(frozen=True)
class Tools:  # the tool flags: each writes its files and ends the run (--auto-lr trains after its range test)
    plot_lr_schedule: bool
    aug_preview: bool
    find_batch_size: bool
    find_lr: bool
    auto_lr: bool
    wandb_watch: str


@dataclass(frozen=True)
class Plan:
    """A run as resolved: directory, every flag's final value (ε0 too: config.yaml, hparams, W&B read it), resume."""

    run_dir: Path
    config: dict
    resume_ckpt: str | None
    resume_step: int | None

    run_name = property(lambda self: self.run_dir.name)
    trainer = property(lambda self: view(TrainerOptions, self.config))
    logging = property(lambda self: view(LoggingOptions, self.config))
    schedule = property(lambda self: view(PlanOptions, self.config))
    cliff = property(lambda self: view(CliffOptions, self.config))
    tools = property(lambda self: view(Tools, self.config))


def start(plan: Plan, dm, module) -> int:
    """Returns the process exit status, which the W&B run (when on) ends with too."""
    if is_rank_zero():
        print(network_summary(plan.config["model"], module{% if cookiecutter.backbones %}, plan.config["pretrained"]{% endif %}))
        (plan.run_dir / "plots").mkdir(parents=True, exist_ok=True)
    mode = resolve_mode(plan.logging.wandb_mode)
    t = plan.tools
    tool = t.plot_lr_schedule or t.aug_preview or t.find_batch_size  # write files, then exit
    if t.aug_preview and len(dm.train_set) == 0:
        raise SettingError("--aug-preview: the training split has no images to preview")
    job = "tool" if tool or t.find_lr else "train"
    args = (plan.logging, plan.run_dir, plan.run_name, mode, plan.resume_ckpt is not None, job)
    wandb_logger = create_wandb_logger(*args) if mode != "disabled" else None
    status = 1  # an exception that is not a UsageError or an interrupt: a traceback, exit 1
    try:
        with log_file(plan.run_dir / "train.log" if is_rank_zero() else None):
            status = run_plan(plan, dm, module, wandb_logger, mode, tool)
    except (UsageError, KeyboardInterrupt) as e:
        status = 2 if isinstance(e, UsageError) else 130
        raise
    finally:
        finish_wandb(wandb_logger, status)
    return status


def run_plan(plan: Plan, dm, module, wandb_logger, mode: str, tool: bool) -> int:
    """The tools write their files (plots to W&B too) and end the run, but --auto-lr trains with the ε0 it found."""
    t, plots = plan.tools, []
    if t.plot_lr_schedule:
        plots.append(plot_lr_schedule(plan.schedule, plan.run_dir, len(dm.train_set)))
        print(f"planned schedule: {plots[-1]}")
    if t.aug_preview:
        plots.append(augmentation_preview(dm, plan.run_dir))
        print(f"augmentation preview: {plots[-1]}")
    if t.find_batch_size:
        find_batch_size(plan.cliff, plan.run_dir, dm, module)
        plots.append(plan.run_dir / "plots" / "batch_size.png")
    if tool:
        log_plots(wandb_logger, plots)
        return 0
    if t.find_lr or t.auto_lr:
        suggestion = find_lr(plan.config["lr"], plan.run_dir, dm, module, plan.trainer)
        if t.find_lr:
            log_plots(wandb_logger, [plan.run_dir / "plots" / "lr_find.png"])
            return 0
        # ε0 lives in the plan's config only (the views read it there); config.yaml then reproduces the run.
        plan = replace(plan, config={**plan.config, "lr": suggestion, "auto_lr": False})
        module = build_module(plan.config, dm)
    return fit_and_test(plan, dm, module, wandb_logger, mode)


def augmentation_preview(dm, run_dir: Path) -> Path | None:
    """plots/augment.png: 8 training images, each beside 7 augmented copies (None: no augmentation)."""
    if dm.augment is None:
        return None
    return preview(dm.train_set.batch(range(8))[0], dm.augment, run_dir / "plots" / "augment.png")


def stopped(plan: Plan, trainer, e: BaseException, wandb_logger=None, mode: str = "disabled") -> int:
    """The exit status of an unfinished fit, one line saying why and what is kept (bugs: a traceback). Under a W&B agent
    a diverged/stuck run or the agent's SIGTERM is a result (exit 0); another SIGTERM preempts (exit 143, re-queued)."""
    o, step, last = plan.trainer, trainer.global_step, plan.run_dir / "checkpoints" / "last.ckpt"
    where = f"continue with: python train.py --resume {plan.run_dir}" if last.is_file() else "no checkpoint was written"
    if "overflow" in str(e) and not isinstance(e, Diverged):  # ε0 beyond what float32 holds: the update overflows
        why = f"training diverged: the update overflowed ({one_line(e)}) at step {step}. The learning rate ε0 = "
        why += f"{o.lr:g} is far too high; run with --find-lr to pick one, or lower --lr."
        e = Diverged(why, step, math.nan, "overflow")
    if isinstance(e, Diverged):
        keep = f" The last good checkpoint stays in {last}." if last.is_file() else ""
        if not under_agent():
            print(f"error: {e}{keep}", file=sys.stderr)
            return 1
        # A sweep's result: the monitored metric at its worst (the sweep ranks the run last and its model
        # learns where not to look) in results.json, the W&B history and summary, with the step, loss and why.
        m = monitor_of(dict(trainer.lightning_module.hparams))
        loss = e.loss if math.isfinite(e.loss) else str(e.loss)  # JSON has no NaN or inf
        facts = {"diverged": True, "diverged_reason": e.reason, "diverged_step": e.step, "diverged_loss": loss}
        if trainer.is_global_zero:
            record_in_wandb(wandb_logger, {m.name: m.worst}, facts, step)
            write_run_results(plan, trainer, wandb_logger, mode, {m.name: m.worst, **facts})
        print(f"warning: {e}{keep} Recorded for the W&B sweep as {m.name} = {m.worst:g}.", file=sys.stderr)
        return 0
    if isinstance(e, SystemExit):  # Lightning turns SIGTERM and Ctrl-C into SystemExit after on_exception
        sigterm = isinstance(e, SIGTERMException)
        if under_agent() and (not sigterm or stopped_by_agent() is not False):  # the agent stopping its run
            print(f"stopped by the W&B sweep at step {step}; {where}", file=sys.stderr)
            return 0
        if sigterm:  # from a scheduler: W&B re-queues a run marked preempting that exits non-zero
            record_in_wandb(wandb_logger, {}, {}, step, preempting=True)
        print(f"interrupted at step {step}{' (SIGTERM: preempted)' if sigterm else ''}; {where}", file=sys.stderr)
        return 143 if sigterm else 130
    if isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e):
        asked = f"--batch-size {plan.config['batch_size']} (--precision {o.precision})"
        advice = "lower --batch-size or --width, or run --find-batch-size"
        print(f"error: out of memory at step {step} with {asked}; {advice}; {where}", file=sys.stderr)
        return 1
    if isinstance(e, getattr(dist, "DistError", ())) or "clients joined" in str(e):
        why = f"not every process joined within --ddp-timeout {o.ddp_timeout} s ({one_line(e)[:120]})"
        fix = "start the same command on every node with its NODE_RANK, MASTER_ADDR and MASTER_PORT"
        raise SettingError(f"--num-nodes {o.num_nodes} --devices {o.devices}: {why}; {fix}") from None
    raise e


def fit_and_test(plan: Plan, dm, module, wandb_logger, mode: str) -> int:
    loggers = loggers_for(plan.logging, plan.run_dir, plan.resume_step, wandb_logger)
    if wandb_logger is not None and plan.tools.wandb_watch != "none":
        wandb_logger.watch(module.net, log=plan.tools.wandb_watch, log_freq=100, log_graph=False)
    if is_rank_zero():
        write_config(plan.run_dir, {**plan.config, "resume": None})  # resume is an action, not a hyperparameter
        if wandb_logger is not None:  # the plan's pictures: the schedule drawn on the logger's thread while
            # training runs (matplotlib is slow to start), the grid here (it draws from the run's generator)
            grid, lr_find = augmentation_preview(dm, plan.run_dir), plan.run_dir / "plots" / "lr_find.png"
            schedule = lambda: plot_lr_schedule(plan.schedule, plan.run_dir, len(dm.train_set))
            wandb_logger.call(lambda: log_plots(wandb_logger, [schedule(), grid, lr_find]))
    trainer = build_trainer(plan.trainer, plan.run_dir, loggers, monitor_of(dict(module.hparams)))
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=plan.resume_ckpt, weights_only=True)
    except (Diverged, SystemExit, RuntimeError) as e:
        status = stopped(plan, trainer, e, wandb_logger, mode)
        if isinstance(e, Diverged) and trainer.is_global_zero:
            after_run(plan, module, dm, wandb_logger)  # the diverged run's own evidence for ε0
        return status
    validate_if_never_validated(trainer, module, dm)
    fast = plan.trainer.fast_dev_run
    best_path = trainer.checkpoint_callback.best_model_path if not fast else ""
    ckpt = best_path if best_path and Path(best_path).is_file() else None  # by path: "best" makes Lightning warn
    if ckpt is None and not fast and trainer.is_global_zero:
        why = "validation never ran: too few steps or validation examples"
        print(f"no best.ckpt ({why}); testing the last weights", file=sys.stderr)
    test_metrics = trainer.test(module, datamodule=dm, ckpt_path=ckpt, verbose=False, weights_only=True)[0]
    if trainer.is_global_zero:
        report(plan, trainer, dm, module, wandb_logger, mode, test_metrics, best_path if ckpt else None)
        after_run(plan, module, dm, wandb_logger)
    return 0


# The extension point for what runs after a finished (or diverged) run on rank 0, each called as
# hook(plan, module, dm, wandb_logger): an optional feature appends to it in its attach() (features.py).
AFTER_RUN: list = []


def after_run(plan: Plan, module, dm, wandb_logger) -> None:
    if plan.trainer.fast_dev_run:
        return
    for hook in AFTER_RUN:
        try:
            hook(plan, module, dm, wandb_logger)
        except Exception as e:  # noqa: BLE001 - the run itself is done and saved: an extra never fails it
            where = f"{getattr(hook, '__module__', '')}.{getattr(hook, '__qualname__', hook)}"
            print(f"warning: {where} failed after the run ({one_line(e)[:160]}); the run is saved", file=sys.stderr)


def validate_if_never_validated(trainer, module, dm) -> None:
    """A run too short to validate (--max-steps 20) validates its last weights once: a monitored metric to rank by."""
    name = monitor_of(dict(module.hparams)).name
    if name in next(c for c in trainer.callbacks if isinstance(c, BestEpochMetrics)).best:
        return
    loggers = trainer.loggers
    trainer.loggers = [g for g in loggers if not isinstance(g, WandbLogger)]  # W&B: once, in report
    try:
        metrics = trainer.validate(module, datamodule=dm, verbose=False)
    finally:
        trainer.loggers = loggers
    if metrics and name in metrics[0] and trainer.is_global_zero:
        print(f"no epoch validated: the last weights have {name}={metrics[0][name]:.4f}")


def write_run_results(plan: Plan, trainer, wandb_logger, mode: str, values: dict) -> None:
    """results.json: the run, `values`, its length, the metric best.ckpt followed (sweeps rank runs by it)."""
    from .loggers import wandb_run_id

    monitor = monitor_of(dict(trainer.lightning_module.hparams))
    names = {"run_name": plan.run_name, "wandb_run_id": wandb_run_id(wandb_logger), "wandb_mode": mode}
    length = {"epochs": trainer.current_epoch, "steps": trainer.global_step}
    write_results(plan.run_dir, {**names, **values, **length, "monitor": monitor.name, "monitor_mode": monitor.mode})


def report(plan: Plan, trainer, dm, module, wandb_logger, mode: str, test_metrics: dict, best: str | None) -> None:
    """results.json, the confusion matrix for W&B, and the run's last line."""
    monitor, confusion = monitor_of(dict(module.hparams)), module.test_confusion
    if wandb_logger is not None and confusion is not None:  # a picture for W&B; numbers: results.json
        path = plan.run_dir / "plots" / "confusion_matrix.png"
        wandb_logger.call(lambda: log_plots(wandb_logger, [plot_confusion_matrix(confusion, dm.tasks[0].name, path)]))
    callback = lambda kind: next(c for c in trainer.callbacks if isinstance(c, kind))
    results = {
        **callback(BestEpochMetrics).best,
        **test_metrics,
        "train_seconds": round(callback(RunFacts).train_seconds, 3),
        "test/confusion_matrix": confusion.tolist() if confusion is not None else None,
        "tested": "best checkpoint" if best else "last weights",
        "best_checkpoint": best,
    }
    write_run_results(plan, trainer, wandb_logger, mode, results)
    if monitor.name in results:  # the sweep's metric, logged once at the end (a run that never validated has none)
        record_in_wandb(wandb_logger, {monitor.name: results[monitor.name]}, {"diverged": False}, trainer.global_step)
    shown, loss = monitor.test_name, test_metrics.get("test/loss", math.nan)
    print(f"{shown}={test_metrics.get(shown, math.nan):.4f} test/loss={loss:.4f}; run directory: {plan.run_dir}")
