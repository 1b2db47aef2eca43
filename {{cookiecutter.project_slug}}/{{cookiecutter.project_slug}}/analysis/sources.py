"""The runs of one sweep stage, from run directories (config.yaml, results.json, metrics.csv) or
from an Optuna study (`optuna:<storage>#<study>`, through optuna's API), as Trials; and the space
they searched (a W&B sweep file's parameters, the study's distributions, or the values the runs vary).
Standard library, PyYAML and (for a study) optuna."""

import math
from dataclasses import dataclass
from pathlib import Path

from ..config.agent import parameters_problem
from ..errors import SweepError, UsageError, one_line
from ..files import read_yaml
from .curves import read_curves
from .diagnose import read_config, read_json
from .rules import DIVERGED_FACTOR

OPTUNA_PREFIX = "optuna:"
STATES = ("ok", "diverged", "failed", "pruned")
# Not hyperparameters: what a run is called, where it writes, how it logs.
NOT_SEARCHED = {"seed", "run_name", "output_dir", "resume", "overwrite", "data_dir", "diagnose", "target_error"}


@dataclass
class Trial:
    name: str
    params: dict
    value: float | None  # the monitored metric (None unless state is "ok")
    state: str  # one of STATES
    epochs: int | None = None
    run_dir: str | None = None


@dataclass
class Dimension:
    """One searched hyperparameter: a numeric range [low, high] (log: searched on a log scale) or choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None  # categorical values (numbers listed with `values:` are numeric)

    @property
    def numeric(self) -> bool:
        return self.low is not None


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def run_state(run_dir: Path, results: dict | None, metric: str) -> str:
    """ok, diverged (results say so, or the loss went non-finite or 10× up), pruned, or failed."""
    if results is not None:
        if results.get("diverged"):
            return "diverged"
        if results.get("pruned"):
            return "pruned"
        return "ok" if _number(results.get(metric)) else "failed"
    try:
        loss = read_curves(run_dir / "metrics.csv").values("train/loss")
    except UsageError:  # a damaged metrics.csv: the run failed, the others are still compared
        return "failed"
    finite = [v for v in loss if math.isfinite(v)]
    if loss and (len(finite) < len(loss) or (len(finite) > 3 and finite[-1] > DIVERGED_FACTOR * finite[0])):
        return "diverged"
    return "failed"


def local_trials(source: Path, metric: str) -> list[Trial]:
    """Every run directory (config.yaml) under `source`, finished or not."""
    if not source.is_dir():
        raise SweepError(f"argument SOURCE: {source} is not a directory of runs")
    dirs = [source] if (source / "config.yaml").is_file() else sorted(p for p in source.iterdir() if p.is_dir())
    trials = []
    for d in dirs:
        config = read_config(d)
        if not config:
            continue
        results = read_json(d / "results.json")
        state = run_state(d, results, metric)
        epochs = results.get("epochs") if results else None
        value = float(results[metric]) if state == "ok" else None
        trials.append(Trial(d.name, config, value, state, epochs, str(d)))
    if not trials:
        raise SweepError(f"argument SOURCE: no run directory (config.yaml) in {source}")
    return trials


def sweep_dimensions(sweep_file: Path) -> list[Dimension]:
    """The searched parameters of a W&B sweep file (not those fixed with `value:`; not max_epochs)."""
    try:
        params = read_yaml(sweep_file, "argument --sweep:")["parameters"]
        why = parameters_problem(params)
    except (UsageError, KeyError, AttributeError) as e:
        raise SweepError(f"argument --sweep: cannot read the parameters of {sweep_file} ({one_line(e)})") from None
    if why:
        raise SweepError(f"argument --sweep: {sweep_file}: {why}")
    dims = []
    for name, spec in params.items():
        name = name.replace("-", "_")
        if not isinstance(spec, dict) or "value" in spec or name == "max_epochs":
            continue
        if "values" in spec:
            values = list(spec["values"])
            if all(_number(v) for v in values):
                low, high = min(values), max(values)
                dims.append(Dimension(name, low, high, low > 0 and high / low >= 10, tuple(sorted(values))))
            else:
                dims.append(Dimension(name, choices=tuple(values)))
        elif "min" in spec and "max" in spec:
            dims.append(Dimension(name, float(spec["min"]), float(spec["max"]), "log" in spec.get("distribution", "")))
    return dims


def varied_dimensions(trials: list[Trial]) -> list[Dimension]:
    """Without a sweep file: the values the runs vary, their observed range (log when positive and
    spanning at least two decades, as a log-uniform search does)."""
    keys = sorted(set().union(*(t.params for t in trials)) - NOT_SEARCHED)
    dims = []
    for k in keys:
        values = [t.params.get(k) for t in trials]
        if len({repr(v) for v in values}) < 2:
            continue
        if all(_number(v) for v in values):
            low, high = min(values), max(values)
            discrete = len(set(values)) <= 8 and all(isinstance(v, int) for v in values)
            dims.append(
                Dimension(k, low, high, low > 0 and high / low >= 100, tuple(sorted(set(values))) if discrete else None)
            )
        else:
            dims.append(Dimension(k, choices=tuple(sorted({repr(v) for v in values}))))
    return dims


def optuna_trials(source: str) -> tuple[list[Trial], list[Dimension], bool]:
    """`optuna:<storage URL>#<study name>` → (trials, the study's distributions, maximize)."""
    import optuna

    storage, _, study_name = source[len(OPTUNA_PREFIX) :].rpartition("#")
    if not storage or not study_name:
        raise SweepError(f"argument SOURCE: {source}: write optuna:<storage URL>#<study name>")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).is_file():  # opening would create it
        raise SweepError(f"argument SOURCE: {storage}: no such database file")
    if storage.startswith("journal:") and not Path(storage[len("journal:") :]).is_file():  # nor wait on a FIFO
        raise SweepError(f"argument SOURCE: {storage}: no such journal file")
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise SweepError(f"argument SOURCE: no study {study_name} in {storage}") from None
    except Exception as e:  # noqa: BLE001 - a wrong URL or name: one line
        raise SweepError(f"argument SOURCE: {source}: {str(e).splitlines()[0][:200]}") from None
    states = {"COMPLETE": "ok", "PRUNED": "pruned", "FAIL": "failed"}
    trials, dists = [], {}
    for t in study.trials:
        state = states.get(t.state.name)
        if state is None:
            continue  # running or waiting
        if t.user_attrs.get("diverged"):
            state = "diverged"
        dists.update(t.distributions)
        epochs = t.user_attrs.get("epochs") or (max(t.intermediate_values) if t.intermediate_values else None)
        value = t.value if state == "ok" and t.value is not None and math.isfinite(t.value) else None
        run_dir = t.user_attrs.get("run_dir")
        trials.append(
            Trial(
                f"trial {t.number}",
                dict(t.params),
                value,
                state if value is not None or state != "ok" else "failed",
                epochs,
                run_dir,
            )
        )
    if not trials:
        raise SweepError(f"argument SOURCE: study {study_name} has no finished trial")
    dims = []
    for name, d in sorted(dists.items()):
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            choices = tuple(d.choices)
            if all(_number(c) for c in choices):
                dims.append(Dimension(name, min(choices), max(choices), False, tuple(sorted(choices))))
            else:
                dims.append(Dimension(name, choices=choices))
        else:
            dims.append(Dimension(name, float(d.low), float(d.high), bool(d.log)))
    return trials, dims, study.direction == optuna.study.StudyDirection.MAXIMIZE
