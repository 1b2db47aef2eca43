"""A W&B sweep file read for the local engine: its method, metric, early termination and command,
each checked, with one line naming what is refused. Only the standard library and PyYAML."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import SweepError
from .space import Space, parse_space

METHODS = ("grid", "random", "bayes")
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]  # W&B's default


@dataclass(frozen=True)
class Sweep:
    path: Path
    config: dict  # the file as read (stored with the study, so `sweeps next` knows the stage)
    method: str
    metric: str
    goal: str  # maximize / minimize
    space: Space
    hyperband: dict | None  # HyperbandPruner's arguments, or None (no early termination)
    command: list
    program: str

    @property
    def direction(self) -> str:
        return self.goal

    def worst(self) -> float:
        """The value a diverged trial is recorded with: the worst there is for the goal (0 for an
        accuracy that is maximized, +inf for a loss that is minimized)."""
        return 0.0 if self.goal == "maximize" else float("inf")


def hyperband(spec, max_epochs) -> dict | None:
    """W&B's `early_terminate: {type: hyperband, min_iter | max_iter+s, eta}` as HyperbandPruner's
    arguments. An iteration is one logged value of the metric: one validation per epoch here."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") != "hyperband":
        raise SweepError(f"early_terminate: only type hyperband is supported (got {spec!r})")
    unknown = set(spec) - {"type", "min_iter", "max_iter", "eta", "s", "strict"}
    if unknown:
        raise SweepError(f"early_terminate: unknown key {sorted(unknown)[0]}")
    eta = spec.get("eta", 3)  # W&B's default
    if not isinstance(eta, int) or eta < 2:
        raise SweepError(f"early_terminate: eta must be an integer >= 2 (got {eta!r})")
    auto = max_epochs if isinstance(max_epochs, int) else "auto"
    if "min_iter" in spec:
        low = spec["min_iter"]
        if not isinstance(low, int) or low < 1:
            raise SweepError(f"early_terminate: min_iter must be a positive integer (got {low!r})")
        return {"min_resource": low, "max_resource": auto, "reduction_factor": eta}
    if "max_iter" in spec:
        high, s = spec["max_iter"], spec.get("s", 0)
        if not (isinstance(high, int) and high >= 1 and isinstance(s, int) and s >= 0):
            raise SweepError("early_terminate: max_iter and s must be non-negative integers")
        return {"min_resource": max(1, high // eta**s), "max_resource": high, "reduction_factor": eta}
    raise SweepError("early_terminate: hyperband needs min_iter, or max_iter and s")


def load_sweep(path: Path) -> Sweep:
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise SweepError(f"cannot read sweep file {path} ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise SweepError(f"{path} is not a W&B sweep file")
    method = config.get("method")
    if method not in METHODS:
        raise SweepError(f"{path}: method must be one of {', '.join(METHODS)} (got {method!r})")
    metric = config.get("metric") or {}
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise SweepError(f"{path}: metric needs a name (the value each run is ranked by)")
    goal = metric.get("goal", "minimize")  # W&B's default
    if goal not in ("maximize", "minimize"):
        raise SweepError(f"{path}: metric.goal must be maximize or minimize (got {goal!r})")
    space = parse_space(config.get("parameters"))
    command = config.get("command") or DEFAULT_COMMAND
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise SweepError(f"{path}: command must be a list of strings")
    program = config.get("program")
    if "${program}" in command and not isinstance(program, str):
        raise SweepError(f"{path}: the command runs " + "${program}" + " but the file names no program")
    max_epochs = space.constants.get("max_epochs")
    return Sweep(
        Path(path),
        config,
        method,
        metric["name"],
        goal,
        space,
        hyperband(config.get("early_terminate"), max_epochs),
        command,
        program or "",
    )


def command_line(sweep: Sweep, flags: dict) -> list[str]:
    """The trial's command, as the W&B agent builds it from the file's `command:` (its macros
    ${env}, ${interpreter}, ${program}, ${args}, ${args_no_equals}, ${args_json}, ...)."""
    pairs = list(flags.items())
    forms = {
        "${args}": [f"--{k}={v}" for k, v in pairs],
        "${args_no_equals}": [x for k, v in pairs for x in (f"--{k}", str(v))],
        "${args_no_hyphens}": [f"{k}={v}" for k, v in pairs],
        "${args_no_boolean_flags}": [f"--{k}" if v is True else f"--{k}={v}" for k, v in pairs if v is not False],
        "${args_json}": [json.dumps(dict(pairs))],
    }
    out = []
    for chunk in sweep.command:
        if chunk in forms:
            out += forms[chunk]
        elif chunk == "${env}":
            out.append("/usr/bin/env")
        elif chunk == "${interpreter}":
            out.append(sys.executable)
        elif chunk == "${program}":
            out.append(sweep.program)
        else:
            out.append(os.path.expandvars(chunk))
    return out
