"""Inside a trial's process (train.py started by `sweeps run`): the runner passes two pipes in the
environment; `attach()` then puts the reporting callback (pruning.py) on the run's Trainer. Outside
a sweep it does nothing and imports nothing (train.py calls it on every run)."""

import json
import os

TRIAL_ENV = "CHECKLIST_SWEEP_TRIAL"  # JSON: the pipes' file descriptors, the metric, whether Hyperband is on


def trial_environment(reports: int, answers: int, metric: str, hyperband: bool) -> dict:
    """What the runner puts in a trial's environment: the trial writes to `reports`, reads `answers`."""
    return {TRIAL_ENV: json.dumps({"reports": reports, "answers": answers, "metric": metric, "hyperband": hyperband})}


def attach() -> None:
    # Every DDP rank gets the callback (they decide to stop together); only global rank 0, the
    # process the runner started, uses the pipes.
    spec = os.environ.get(TRIAL_ENV)
    if not spec:
        return
    from ..training.callbacks import CALLBACKS
    from .pruning import TrialReporter

    reporter = TrialReporter(**json.loads(spec))
    CALLBACKS[:] = [c for c in CALLBACKS if not isinstance(c, TrialReporter)] + [reporter]
