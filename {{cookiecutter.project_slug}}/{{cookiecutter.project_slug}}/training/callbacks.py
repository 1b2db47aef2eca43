"""THE place to add a callback (CALLBACKS: one entry), and those Lightning lacks; trainer.callbacks_for adds all."""

import math
import time

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.model_summary import ModelSummary

from ..config.flags import FLAG_BY_NAME
from .monitor import Monitor, epoch_line_keys

# A stuck run with ε0 under a tenth of the default is "too low: it decreases too slowly"; above it, "too high".
LOW_LR = FLAG_BY_NAME["lr"].default / 10

# Your callbacks: each entry makes one for a run, from the run directory (or returns None to skip it):
#     CALLBACKS.append(lambda run_dir: MyCallback(run_dir / "my.csv"))
CALLBACKS: list = []


class Diverged(RuntimeError):
    """Raised inside fit so that no checkpoint follows a blown-up loss; reason: diverged, stuck (or overflow)."""

    def __init__(self, message: str, step: int = 0, loss: float = math.nan, reason: str = "diverged"):
        super().__init__(message)
        self.step, self.loss, self.reason = step, loss, reason


class DivergenceGuard(L.Callback):
    """Stop on a NaN/inf training loss, or one above `factor` × its first value for `patience` steps: the
    checklist's "when ε0 is too high, the cost function may increase dramatically"; or when stuck, no epoch's mean
    below the first value after `patience` steps, nor falling (its second half 1% under its mean, or it 1% under the
    epoch before: a loss that rose and comes down is not stuck). Raising (not should_stop) keeps the last good one."""

    def __init__(self, lr: float, factor: float = 10.0, patience: int = 20):
        self.lr, self.factor, self.patience = lr, factor, patience
        self.first, self.above = None, 0  # the first finite training loss; steps in a row far above it
        self.improved = False  # some epoch's mean training loss was below the first value
        self.steps, self.losses, self.previous = 0, [], math.nan  # the epoch's training losses; the last mean

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = pl_module.last_train_loss  # already on the host: no extra device sync
        if self.first is None and math.isfinite(loss):
            self.first = loss
        self.steps = self.steps + 1
        self.losses.append(loss)
        self.above = self.above + 1 if math.isfinite(loss) and loss > self.factor * self.first else 0
        if not math.isfinite(loss):
            why = f"became {loss} at step {trainer.global_step}"
        elif self.above >= self.patience:
            why = f"stayed above {self.factor:g}× its first value ({self.first:.3g}) for {self.patience} steps"
        else:
            return
        raise Diverged(self.advice(f"training diverged: the training loss {why}"), trainer.global_step, loss)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.losses = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.improved or self.first is None or not (n := len(self.losses)):
            return
        mean, half, previous, self.previous = sum(self.losses) / n, n // 2, self.previous, sum(self.losses) / n
        self.improved = mean < self.first
        falling = mean < 0.99 * previous or half and sum(self.losses[half:]) / (n - half) < 0.99 * mean
        if not self.improved and not falling and self.steps >= self.patience:
            why = (
                f"training is stuck: after {self.steps} steps the training loss averaged over epoch "
                f"{trainer.current_epoch + 1} ({mean:.3g}) is not below its first value ({self.first:.3g})"
            )
            raise Diverged(self.advice(why, stuck=True), trainer.global_step, mean, "stuck")

    def advice(self, why: str, stuck: bool = False) -> str:
        low = stuck and self.lr < LOW_LR
        problem = f"too low for the loss to move in {self.steps} steps" if low else "too high"
        return (
            f"{why}. The learning rate ε0 = {self.lr:g} is probably {problem}; run with --find-lr to pick one, "
            f"or {'raise' if low else 'lower'} --lr."
        )

    def state_dict(self) -> dict:
        return {"first": self.first, "improved": self.improved, "steps": self.steps}

    def load_state_dict(self, state_dict: dict) -> None:
        self.first = state_dict.get("first")
        self.improved = state_dict.get("improved", True)  # a checkpoint from before the stuck check: not judged
        self.steps = state_dict.get("steps", 0)


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt: each epoch's end, or a mid-epoch stop (--max-steps); save_last=True rewrites it with best only."""

    def __init__(self, dirpath):
        super().__init__(dirpath, "last", monitor=None, enable_version_counter=False, auto_insert_metric_name=False)

    state_key = property(lambda self: "LastCheckpoint")  # not ModelCheckpoint's: best.ckpt's has that

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if not self._should_skip_saving_checkpoint(trainer) and trainer.global_step > 0:
            self._save_checkpoint(trainer, self.format_checkpoint_name(self._monitor_candidates(trainer)))


class SaveOnInterrupt(L.Callback):
    """Ctrl-C or SIGTERM (preemption): last.ckpt where training stands, for --resume last (not on other errors)."""

    def __init__(self, path):
        self.path = path

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)) and trainer.global_step > 0:
            trainer.save_checkpoint(self.path)


class BestEpochMetrics(L.Callback):
    """The validation metrics of the epoch with the best monitored metric (the epoch of best.ckpt)."""

    def __init__(self, monitor: Monitor):
        self.monitor = monitor
        self.best: dict[str, float] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        value, best = metrics.get(self.monitor.name), self.best.get(self.monitor.name)
        if not trainer.sanity_checking and value is not None and (best is None or self.monitor.better(value, best)):
            self.best = metrics

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = state_dict.get("best", {})


class EpochLines(L.Callback):
    """Per epoch a line of metrics with no progress bar (CI, nohup), printed late: the module logs train/* after us."""

    def __init__(self, monitor: Monitor):
        self.kind = monitor.kind
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
        pending, self.pending = self.pending, None
        if pending is None or not trainer.is_global_zero:
            return
        epoch, took, val = pending  # train/* of this epoch are logged by now (the next epoch's not yet)
        m = {**{k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}, **val}
        shown = " ".join(f"{k}={m[k]:.4f}" for k in epoch_line_keys(self.kind) if k in m)
        print(f"epoch {epoch + 1}/{trainer.max_epochs} {shown} ({took:.1f}s)", flush=True)


class RunFacts(L.Callback):
    """Logged once: values derived from the flags (W&B config), parameters per layer (a W&B table), training time."""

    train_seconds = math.nan

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()
        summary = ModelSummary(pl_module, max_depth=-1)
        facts = {
            "steps_per_epoch": math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches),
            "global_batch_size": pl_module.hparams.batch_size * trainer.world_size * trainer.accumulate_grad_batches,
            "param_count": summary.total_parameters,
            "world_size": trainer.world_size,
        }
        for logger in trainer.loggers:
            logger.log_hyperparams(facts)
            if isinstance(logger, WandbLogger):  # leaf layers only (no containers), so the counts add up
                leaves = {name for name, m in pl_module.named_modules() if not list(m.children())}
                layers = zip(summary.layer_names, summary.layer_types, summary.param_nums)
                rows = [[name, kind, count] for name, kind, count in layers if count and name in leaves]
                logger.log_table("model/parameters", columns=["layer", "type", "params"], data=rows)

    def on_train_end(self, trainer, pl_module) -> None:
        self.train_seconds = time.perf_counter() - self.start
