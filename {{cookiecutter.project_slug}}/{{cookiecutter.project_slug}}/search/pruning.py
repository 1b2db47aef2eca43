"""The trial's side of Hyperband: after each validation the trial sends the metric to its runner
(step = the number of validations so far, W&B's "iteration") and waits for the answer; when the
runner's pruner says prune, the run stops at the end of that epoch. A diverged run says so, so the
runner records its worst value.

Our own callback rather than optuna_integration's PyTorchLightningPruningCallback, for two reasons:
that one raises optuna.TrialPruned inside fit, which skips the test, results.json and the run's last
line (here a pruned trial stops like an early-stopped run and stays an ordinary run directory that
`sweeps next`, predict.py and --resume can use); and it needs Optuna and a storage connection in
every trial's process (seconds of imports and schema checks per trial, one more database
connection per trial), where the runner already holds the study: the trial talks to it over a
pipe, one line each way."""

import contextlib
import json
import os
import sys

import lightning as L


class TrialReporter(L.Callback):
    """A callback and its own factory (CALLBACKS entries are called with the run directory)."""

    def __init__(self, reports: int, answers: int, metric: str, hyperband: bool):
        self.reports, self.answers, self.metric, self.hyperband = reports, answers, metric, hyperband
        self.last_step = 0

    def __call__(self, run_dir):
        return self

    def send(self, message: dict) -> None:
        with contextlib.suppress(OSError):  # the runner is gone: the run goes on (and gets SIGTERM from it)
            os.write(self.reports, (json.dumps(message) + "\n").encode())

    def answer(self) -> str:
        line = b""
        while not line.endswith(b"\n"):
            try:
                chunk = os.read(self.answers, 64)
            except OSError:
                return "go"
            if not chunk:  # the runner is gone
                return "go"
            line += chunk
        return line.decode().strip()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self.hyperband:
            return  # without early termination the runner reads results.json only
        prune = False
        value = trainer.callback_metrics.get(self.metric)
        step = trainer.current_epoch + 1
        if trainer.is_global_zero and value is not None and step > self.last_step:
            self.last_step = step
            # The last epoch's value is reported (later trials are judged against it) but not judged:
            # stopping a run that has finished would only record a complete run as pruned.
            last = (trainer.max_epochs is not None and step >= trainer.max_epochs > 0) or (
                trainer.max_steps is not None and trainer.global_step >= trainer.max_steps > 0
            )
            self.send({"step": step, "value": float(value), **({"last": True} if last else {})})
            prune = not last and self.answer() == "prune"
            if prune:
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
            self.send({"diverged": {"step": trainer.global_step, "reason": str(exception)[:300]}})
