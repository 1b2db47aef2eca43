"""The trial's side of Hyperband: each validation's metric goes to the Optuna trial (its step = the
number of validations so far, W&B's "iteration"), and when the pruner says so the run stops at the
end of that epoch. A diverged run says so on the trial, so the runner records its worst value.

Our own callback rather than optuna_integration's PyTorchLightningPruningCallback: that one raises
optuna.TrialPruned inside fit, which skips the test, results.json and the run's last line; here a
pruned trial stops like an early-stopped run (trainer.should_stop) and stays an ordinary run
directory (best.ckpt, results.json) that `sweeps next`, predict.py and --resume can use."""

from __future__ import annotations

import sys

import lightning as L


class TrialReporter(L.Callback):
    """A callback and its own factory (CALLBACKS entries are called with the run directory)."""

    def __init__(self, storage: str, study: str, trial_id: int, metric: str, hyperband: dict | None):
        self.storage, self.study_name, self.trial_id = storage, study, trial_id
        self.metric, self.hyperband = metric, hyperband
        self._trial = None

    def __call__(self, run_dir):
        return self

    @property
    def trial(self):
        if self._trial is None:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            pruner = optuna.pruners.HyperbandPruner(**self.hyperband) if self.hyperband else optuna.pruners.NopPruner()
            from .storage import open_storage

            study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage), pruner=pruner)
            self._trial = optuna.trial.Trial(study, self.trial_id)
        return self._trial

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        prune = False
        value = trainer.callback_metrics.get(self.metric)
        if trainer.is_global_zero and value is not None:
            step = trainer.current_epoch + 1
            self.trial.report(float(value), step=step)
            prune = self.hyperband is not None and self.trial.should_prune()
            if prune:
                self.trial.set_user_attr("pruned_at", step)
                print(
                    f"pruned by Hyperband after {step} validations ({self.metric} = {float(value):.4f})",
                    file=sys.stderr,
                )
        if trainer.strategy.reduce_boolean_decision(prune, all=False):  # rank 0 decides; every rank stops
            trainer.should_stop = True

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from ..training.callbacks import Diverged

        # The two ways fit.stopped() calls a run diverged: the guard's Diverged, or an update that overflowed.
        overflowed = isinstance(exception, RuntimeError) and "overflow" in str(exception)
        if (isinstance(exception, Diverged) or overflowed) and trainer.is_global_zero:
            self.trial.set_user_attr("diverged", {"step": trainer.global_step, "reason": str(exception)[:300]})
