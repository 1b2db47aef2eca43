"""Inside a trial's process (train.py started by `sweeps run`): the runner names the study and the
trial in the environment; `attach()` then puts the reporting callback (pruning.py) on the run's
Trainer. Outside a sweep it does nothing and imports nothing (train.py calls it on every run)."""

from __future__ import annotations

import json
import os

TRIAL_ENV = "CHECKLIST_OPTUNA_TRIAL"  # JSON: storage, study, trial_id, metric, hyperband


def trial_environment(storage: str, study: str, trial_id: int, metric: str, hyperband: dict | None) -> dict:
    """What the runner puts in a trial's environment."""
    spec = {"storage": storage, "study": study, "trial_id": trial_id, "metric": metric, "hyperband": hyperband}
    return {TRIAL_ENV: json.dumps(spec)}


def attach() -> None:
    spec = os.environ.get(TRIAL_ENV)
    if not spec:
        return
    from ..training.callbacks import CALLBACKS
    from .pruning import TrialReporter

    reporter = TrialReporter(**json.loads(spec))
    CALLBACKS[:] = [c for c in CALLBACKS if not isinstance(c, TrialReporter)] + [reporter]
