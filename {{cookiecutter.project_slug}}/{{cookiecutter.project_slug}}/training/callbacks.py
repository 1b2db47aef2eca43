"""THE place to add a callback (CALLBACKS: one entry), and the callbacks Lightning lacks: the
divergence guard, last.ckpt at every epoch's end, the save on an interrupt, the best-epoch metrics,
plain epoch lines and the run's facts. trainer.callbacks_for puts them all on the Trainer."""

from __future__ import annotations

import math
import sys
import time

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from ..config.flags import FLAG_BY_NAME
from .monitor import Monitor, epoch_line_keys

# A stuck run whose ε0 is under a tenth of the default (a decade below where the checklist's tuning
# starts) most likely moves too slowly to leave its first loss in `patience` steps: the checklist's
# "too low: it decreases too slowly", not "too high". Above it, a loss that never falls is at chance.
LOW_LR = FLAG_BY_NAME["lr"].default / 10

# Your callbacks: each entry makes one for a run, from the run directory (or returns None to skip it):
#     CALLBACKS.append(lambda run_dir: MyCallback(run_dir / "my.csv"))
CALLBACKS: list = []


class Diverged(RuntimeError):
    """Raised inside fit so that no checkpoint is written after the loss blew up; holds the step, the
    training loss there and why (diverged, stuck; fit.stopped adds overflow)."""

    def __init__(self, message: str, step: int = 0, loss: float = math.nan, reason: str = "diverged"):
        super().__init__(message)
        self.step, self.loss, self.reason = step, loss, reason


class DivergenceGuard(L.Callback):
    """Stop when the training loss is NaN/inf, or above `factor` × its first value for `patience`
    consecutive steps: the checklist's "when ε0 is too high, the cost function may increase
    dramatically". Raising (rather than should_stop) keeps the last good checkpoint on disk.
    Also stuck: at an epoch's end, once `patience` steps have run, a run whose training loss never
    averaged below its first value over an epoch is at chance (ε0 too high for the loss to blow up,
    e.g. SGD with momentum and no batch norm), not healthy."""

    def __init__(self, lr: float, factor: float = 10.0, patience: int = 20):
        self.lr, self.factor, self.patience = lr, factor, patience
        self.first: float | None = None
        self.above = 0
        self.improved = False  # some epoch's mean training loss was below the first value
        self.steps, self.epoch_sum, self.epoch_steps = 0, 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = pl_module.last_train_loss  # already on the host: no extra device sync
        if self.first is None and math.isfinite(loss):
            self.first = loss
        self.steps, self.epoch_sum, self.epoch_steps = self.steps + 1, self.epoch_sum + loss, self.epoch_steps + 1
        if not math.isfinite(loss):
            why = f"the training loss became {loss} at step {trainer.global_step}"
        else:
            self.above = self.above + 1 if loss > self.factor * self.first else 0
            if self.above < self.patience:
                return
            why = (
                f"the training loss stayed above {self.factor:g}× its first value ({self.first:.3g}) for "
                f"{self.patience} steps"
            )
        raise Diverged(self.advice(f"training diverged: {why}"), trainer.global_step, loss)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epoch_sum, self.epoch_steps = 0.0, 0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.improved or self.first is None or not self.epoch_steps:
            return
        mean = self.epoch_sum / self.epoch_steps
        if mean < self.first:
            self.improved = True
        elif self.steps >= self.patience:
            why = (
                f"training is stuck: after {self.steps} steps the training loss averaged over epoch "
                f"{trainer.current_epoch + 1} ({mean:.3g}) is not below its first value ({self.first:.3g})"
            )
            raise Diverged(self.advice(why, stuck=True), trainer.global_step, mean, "stuck")

    def advice(self, why: str, stuck: bool = False) -> str:
        if stuck and self.lr < LOW_LR:
            return (
                f"{why}. The learning rate ε0 = {self.lr:g} is probably too low for the loss to move in "
                f"{self.steps} steps; run with --find-lr to pick one, or raise --lr."
            )
        return (
            f"{why}. The learning rate ε0 = {self.lr:g} is probably too high; run with --find-lr to pick one, "
            "or lower --lr."
        )

    def state_dict(self) -> dict:
        return {"first": self.first, "improved": self.improved, "steps": self.steps}

    def load_state_dict(self, state_dict: dict) -> None:
        self.first = state_dict.get("first")
        self.improved = state_dict.get("improved", True)  # a checkpoint from before the stuck check: not judged
        self.steps = state_dict.get("steps", 0)


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt = the end of the latest completed epoch, whatever the monitored metric did. Lightning's
    save_last=True rewrites last.ckpt only when the monitored checkpoint is saved (a finished run's
    last.ckpt held its best epoch), so this is a second ModelCheckpoint that monitors nothing and
    keeps one file. It also saves where training ends mid-epoch (--max-steps). Lightning writes
    checkpoints through a transaction (temporary file, then rename): a kill never leaves half a file."""

    def __init__(self, dirpath):
        super().__init__(
            dirpath=dirpath,
            filename="last",
            monitor=None,
            save_top_k=1,
            enable_version_counter=False,
            auto_insert_metric_name=False,
        )

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if not self._should_skip_saving_checkpoint(trainer) and trainer.global_step > 0:
            self._save_checkpoint(trainer, self.format_checkpoint_name(self._monitor_candidates(trainer)))


class SaveOnInterrupt(L.Callback):
    """Ctrl-C (SIGINT) or SIGTERM (a scheduler's preemption): write last.ckpt where training stands,
    mid-epoch included, so that --resume last continues from there. Other exceptions (a diverged
    run) keep the last good checkpoint instead."""

    def __init__(self, path):
        self.path = path

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)) and trainer.global_step > 0:
            trainer.save_checkpoint(self.path)


class BestEpochMetrics(L.Callback):
    """The validation metrics of the epoch with the best monitored metric (the epoch of best.ckpt)."""

    def __init__(self, monitor: Monitor | None = None):
        self.monitor = monitor or Monitor()
        self.best: dict[str, float] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        value, best = metrics.get(self.monitor.name), self.best.get(self.monitor.name)
        if value is not None and (best is None or self.monitor.better(value, best)):
            self.best = metrics

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = state_dict.get("best", {})


class EpochLines(L.Callback):
    """One plain line per epoch when no terminal shows a progress bar (CI, SLURM, nohup): the epoch's
    own training metrics and the validation that ran in it (none shown when it ran none), those of the
    primary task's kind (the monitored one among them). Lightning runs validation inside the epoch and
    a callback's on_train_epoch_end before the module's, where the training metrics are computed; so
    the line is printed when they are all known: when the next epoch starts, or training ends."""

    def __init__(self, monitor: Monitor | None = None):
        self.kind = (monitor or Monitor()).kind
        self.pending: tuple[int, float, dict] | None = None  # (epoch, seconds, its validation metrics)
        self.start, self.val = time.perf_counter(), {}  # a resumed epoch starts without on_train_epoch_start

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._print(trainer)
        self.start, self.val = time.perf_counter(), {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":  # not the end-of-run validation
            self.val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.pending = (trainer.current_epoch, time.perf_counter() - self.start, dict(self.val))

    def on_train_end(self, trainer, pl_module) -> None:
        self._print(trainer)

    def _print(self, trainer) -> None:
        if self.pending is None or not trainer.is_global_zero:
            self.pending = None
            return
        epoch, took, val = self.pending
        self.pending = None
        # The module's on_train_epoch_end has logged this epoch's train/* by now (the next epoch's not yet).
        m = {**{k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}, **val}
        shown = " ".join(f"{k}={m[k]:.4f}" for k in epoch_line_keys(self.kind) if k in m)
        print(f"epoch {epoch + 1}/{trainer.max_epochs} {shown} ({took:.1f}s)", file=sys.stdout, flush=True)


class RunFacts(L.Callback):
    """Values derived from the flags, logged once as hyperparameters (W&B config), plus the
    parameter count per layer as a W&B table; and the training time (processes launched, data
    and model set up: from the first step to the last)."""

    train_seconds = math.nan

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()
        from lightning.pytorch.loggers import WandbLogger
        from lightning.pytorch.utilities.model_summary import ModelSummary

        summary = ModelSummary(pl_module, max_depth=-1)
        facts = {
            "steps_per_epoch": math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches),
            "global_batch_size": pl_module.hparams.batch_size * trainer.world_size * trainer.accumulate_grad_batches,
            "param_count": summary.total_parameters,
            "world_size": trainer.world_size,
        }
        for logger in trainer.loggers:
            logger.log_hyperparams(facts)
            if isinstance(logger, WandbLogger):
                # Leaf layers only (no containers), so the counts add up to the total.
                modules = dict(pl_module.named_modules())
                rows = [
                    [name, kind, count]
                    for name, kind, count in zip(summary.layer_names, summary.layer_types, summary.param_nums)
                    if count and not any(True for _ in modules[name].children())
                ]
                logger.log_table("model/parameters", columns=["layer", "type", "params"], data=rows)

    def on_train_end(self, trainer, pl_module) -> None:
        self.train_seconds = time.perf_counter() - self.start
