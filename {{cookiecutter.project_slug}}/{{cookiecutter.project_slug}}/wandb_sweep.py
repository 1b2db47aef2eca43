"""A run started by a W&B sweep agent: its swept parameters under their underscore names in the W&B
config, and no "Config item … was locked by 'sweep'" lines.

The agent writes the run's parameters to the YAML file named by WANDB_SWEEP_PARAM_PATH
({name: {value: v}}) and passes them on the command line; wandb.init loads that file into the run's
config and locks those keys for the sweep. A parameter spelled `batch-size` would then sit in the
config beside the `batch_size` this program logs, and every later update of a locked key prints the
"locked" warning (two per parameter and run: Lightning logs the hyperparameters at fit and at test).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.loggers import WandbLogger

SWEEP_PARAM_PATH = "WANDB_SWEEP_PARAM_PATH"  # wandb.env.SWEEP_PARAM_PATH


def normalize_sweep_params() -> set[str]:
    """Rename the agent's dashed parameter keys to underscores in its parameter file, before
    wandb.init reads it; returns the (underscore) names the sweep sets. No agent: empty set."""
    path = os.environ.get(SWEEP_PARAM_PATH)
    if not path or not Path(path).is_file():
        return set()
    try:
        data: dict[str, Any] = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return set()  # wandb.init reports the file itself
    if not isinstance(data, dict):
        return set()
    renamed = {(k.replace("-", "_") if k != "wandb_version" else k): v for k, v in data.items()}
    if list(renamed) != list(data):
        Path(path).write_text(yaml.safe_dump(renamed, sort_keys=False, allow_unicode=True))
    return {k for k in renamed if k != "wandb_version"}


class SweepWandbLogger(WandbLogger):
    """WandbLogger that leaves the sweep's parameters alone: W&B ignores updates of keys the sweep
    locked (they hold the same values, given on the command line) and warns for each one."""

    def __init__(self, *args, sweep_keys: set[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sweep_keys = set(sweep_keys)

    def log_hyperparams(self, params) -> None:
        if self.sweep_keys and isinstance(params, dict):
            params = {k: v for k, v in params.items() if k not in self.sweep_keys}
        super().log_hyperparams(params)
