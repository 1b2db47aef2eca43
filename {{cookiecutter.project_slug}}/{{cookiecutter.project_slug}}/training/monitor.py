"""The monitored metric, spelled once: best.ckpt, early stopping, the best-epoch metrics, the epoch
lines, results.json and every tool that ranks runs (sweeps) read it here. It follows the primary
task: its validation accuracy (maximized) for classification, its validation RMSE (minimized) for
regression. Only the standard library."""

from __future__ import annotations

from dataclasses import dataclass

MONITOR = "val/acc"  # the primary task's validation accuracy (a classification run)
MODE = "max"  # higher is better
GOAL = {"max": "maximize", "min": "minimize"}[MODE]  # the same, as a W&B sweep's metric.goal
# The value a run that diverged or got stuck reports, so that a sweep ranks it last: 0 for an accuracy
# (maximized; no run scores lower). A minimized metric (a loss) gets a finite 1e6 instead of inf:
# W&B's summaries, JSON and a Bayesian model's fit all need a number, and no run that learned anything
# reports a loss near it. Set WORST yourself if MONITOR names something else.
WORST = {"max": 0.0, "min": 1e6}[MODE]


def better(a: float, b: float, mode: str = MODE) -> bool:
    """Whether value a of the monitored metric is better than b."""
    return a > b if mode == "max" else a < b


@dataclass(frozen=True)
class Monitor:
    """The monitored metric of a run: its name and whether higher (max) or lower (min) is better."""

    name: str = MONITOR
    mode: str = MODE
    kind: str = "classification"  # the primary task's kind (data/tasks.KINDS): which metrics the epoch lines show

    @property
    def goal(self) -> str:
        return {"max": "maximize", "min": "minimize"}[self.mode]

    @property
    def test_name(self) -> str:
        return "test/" + self.name.split("/", 1)[1]

    def better(self, a: float, b: float) -> bool:
        return better(a, b, self.mode)

    @property
    def worst(self) -> float:
        """What a diverged or stuck run reports, so that a sweep ranks it last (see WORST)."""
        return {"max": 0.0, "min": 1e6}[self.mode]

    def best(self, values):
        """The best of `values` (numbers) under this metric's direction."""
        return max(values) if self.mode == "max" else min(values)


MONITORS = {"classification": Monitor(MONITOR, MODE), "regression": Monitor("val/rmse", "min", "regression")}


def monitor_for(kind: str) -> Monitor:
    """The monitored metric of a run whose primary task is of this kind (data/tasks.KINDS)."""
    return MONITORS[kind]


def monitor_of(hparams: dict) -> Monitor:
    """The monitored metric of a run from its module's hyperparameters (checkpoints saved before task
    kinds existed are classification)."""
    kinds = hparams.get("task_kinds") or ["classification"]
    return monitor_for(kinds[0])


def monitor_named(name: str) -> Monitor:
    """The Monitor of a metric name found in results.json or a sweep file."""
    return next((m for m in MONITORS.values() if m.name == name), Monitor(name, MODE))
