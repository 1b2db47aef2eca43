"""The monitored metric, spelled once: best.ckpt, early stopping, the best-epoch metrics, the epoch lines,
results.json and every tool that ranks runs read it here. It follows the primary task's kind (its
`monitor` and `mode` in data/tasks.TASK_KINDS, which imports no torch): val/acc (maximized), val/rmse."""

from dataclasses import dataclass

from ..data.tasks import DEFAULT_KIND, TASK_KINDS, kinds_of

MONITOR, MODE = f"val/{TASK_KINDS[DEFAULT_KIND].monitor}", TASK_KINDS[DEFAULT_KIND].mode  # classification: val/acc, max
GOALS = {"max": "maximize", "min": "minimize"}  # a mode as a W&B sweep's metric.goal
# What a diverged or stuck run reports, so that a sweep ranks it last: 0 for an accuracy (maximized). A
# minimized metric gets a finite 1e6, not inf: W&B's summaries, JSON and a Bayesian model's fit need a
# number, and no run that learned anything comes near it. Set WORST yourself if MONITOR names another.
WORSTS = {"max": 0.0, "min": 1e6}
GOAL, WORST = GOALS[MODE], WORSTS[MODE]


@dataclass(frozen=True)
class Monitor:
    """The monitored metric of a run: its name and whether higher (max) or lower (min) is better."""

    name: str = MONITOR
    mode: str = MODE
    kind: str = DEFAULT_KIND  # the primary task's kind (data/tasks.TASK_KINDS): which metrics the epoch lines show

    goal = property(lambda self: GOALS[self.mode])
    test_name = property(lambda self: "test/" + self.name.split("/", 1)[1])
    worst = property(lambda self: WORSTS[self.mode])  # what a diverged or stuck run reports (see WORST)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b


def monitor_for(kind) -> Monitor:  # the monitored metric of a run whose primary task is of this kind (TaskKind)
    return Monitor(f"val/{kind.monitor}", kind.mode, kind.name)


def monitor_of(hparams: dict) -> Monitor:  # ... from its module's hyperparameters
    return monitor_for(kinds_of(hparams)[0])


def monitor_named(name: str) -> Monitor:
    """The Monitor of a metric name found in results.json or a sweep file."""
    return next((m for m in map(monitor_for, TASK_KINDS.values()) if m.name == name), Monitor(name, MODE))


def epoch_line_keys(kind: str = DEFAULT_KIND) -> tuple[str, ...]:
    """What the per-epoch line prints: the primary task's metrics on train and val, and the validation loss."""
    names = TASK_KINDS[kind].metrics
    return (*(f"train/{m}" for m in names), "val/loss", *(f"val/{m}" for m in names))
