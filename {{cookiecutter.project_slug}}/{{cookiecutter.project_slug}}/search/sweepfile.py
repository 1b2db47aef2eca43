"""A W&B sweep file read for the local engine: its method, metric, early termination and command,
each checked, with one line naming what is refused. Only the standard library and PyYAML."""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import SweepError, UsageError, one_line
from ..files import read_text
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
    hyperband: dict | None  # stopping.WandbHyperband's arguments, or None (no early termination)
    command: list
    program: str

    @property
    def direction(self) -> str:
        return self.goal

    def worst(self) -> float:
        """The value a diverged trial is recorded with: the worst there is for the goal (0 for an
        accuracy that is maximized, +inf for a loss that is minimized)."""
        return 0.0 if self.goal == "maximize" else float("inf")


MAX_BANDS = 100  # W&B's hyperband computes the first 100 bands of a min_iter ladder


def bands_of(min_iter: int | None, eta: int, max_iter: int | None = None, s: int = 0) -> list[int]:
    if min_iter is not None:
        return [min_iter * eta**k for k in range(MAX_BANDS)]
    found, band = [], float(max_iter)
    for _ in range(s):
        band /= eta
        if band < 1:
            break
        found.append(int(band))
    return sorted(found)


def hyperband(spec) -> dict | None:
    """W&B's `early_terminate: {type: hyperband, min_iter | max_iter+s, eta, strict}` as the
    arguments of search/stopping.WandbHyperband (W&B's rule): its bands, η and strict."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") != "hyperband":
        raise SweepError(f"early_terminate: only type hyperband is supported (got {spec!r})")
    unknown = set(spec) - {"type", "min_iter", "max_iter", "eta", "s", "strict"}
    if unknown:
        raise SweepError(f"early_terminate: unknown key {sorted(unknown)[0]}")
    eta = spec.get("eta", 3)  # W&B's default
    if not isinstance(eta, int) or isinstance(eta, bool) or eta < 2:
        raise SweepError(f"early_terminate: eta must be an integer >= 2 (got {eta!r})")
    strict = spec.get("strict", True)  # W&B's default (its schema): the original algorithm's condition
    if not isinstance(strict, bool):
        raise SweepError(f"early_terminate: strict must be true or false (got {strict!r})")
    # W&B reads max_iter (and s) before min_iter when a file has both
    if "max_iter" in spec:
        high, s = spec["max_iter"], spec.get("s", 0)
        if not (isinstance(high, int) and 1 <= high <= 10**12 and isinstance(s, int) and 0 <= s <= 1000):
            raise SweepError("early_terminate: max_iter must be an integer from 1 to 10^12, and s one from 0 to 1000")
        bands = bands_of(None, eta, high, s)
        if not bands:  # W&B refuses it the same way
            raise SweepError("early_terminate: max_iter/eta^s gives no band of 1 or more: raise max_iter or lower s")
        return {"bands": bands, "eta": eta, "strict": strict}
    if "min_iter" in spec:
        low = spec["min_iter"]
        if not isinstance(low, int) or isinstance(low, bool) or not 1 <= low <= 10**12:
            raise SweepError(f"early_terminate: min_iter must be a positive integer (got {low!r})")
        return {"bands": bands_of(low, eta), "eta": eta, "strict": strict}
    raise SweepError("early_terminate: hyperband needs min_iter, or max_iter and s")


def load_sweep(path: Path) -> Sweep:
    try:  # files.read_text: no FIFO (never waited on), binary or non-UTF-8 file
        config = yaml.safe_load(read_text(path, "sweep file"))
    except (UsageError, yaml.YAMLError, RecursionError) as e:
        raise SweepError(f"cannot read sweep file {path} ({one_line(e)})") from None
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
    for name, p in space.params.items():
        if method == "grid" and p.weights:  # W&B: disallowed in grid search
            raise SweepError(f"{path}: parameter {name}: probabilities are not allowed in a grid search")
        if method == "grid":
            p.grid_size()  # a continuous range: refused here, before any trial
    space = space.for_grid() if method == "grid" else space
    if {"output_dir", "output-dir"} & {*space.params, *space.constants}:  # the runner's --output-dir places the runs
        raise SweepError(
            f"{path}: output_dir is set by `sweeps run --output-dir` (where the study's runs and logs go); "
            "remove it from the file"
        )
    command = config.get("command") or DEFAULT_COMMAND
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise SweepError(f"{path}: command must be a list of strings")
    program = config.get("program")
    if "${program}" in command and not isinstance(program, str):
        raise SweepError(f"{path}: the command runs " + "${program}" + " but the file names no program")
    return Sweep(
        Path(path),
        config,
        method,
        metric["name"],
        goal,
        space,
        hyperband(config.get("early_terminate")),
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
