"""The runs of a study the local engine ran, for `sweeps next --from optuna:<storage>#<study>`:
(run name, the flags the trial ran with, its metric) of each completed trial, and the sweep file
the study was started from (its `parameters:` tell which stage it searched)."""

import math
from pathlib import Path

from ..errors import SweepError

PREFIX = "optuna:"


def split_source(origin: str) -> tuple[str, str | None]:
    url, _, study = origin[len(PREFIX) :].partition("#")
    if not url:
        raise SweepError(
            "argument --from: optuna:<storage URL>#<study name>, e.g. optuna:sqlite:///runs/sweeps.db#stage1_lr"
        )
    return url, study or None


def optuna_runs(origin: str, metric: str | None = None) -> tuple[list[tuple[str, dict, float]], dict]:
    """metric None: the one the study was run on (its sweep file's metric.name)."""
    try:
        import optuna
    except ImportError:
        raise SweepError("argument --from: reading an Optuna study needs Optuna: pip install -e '.[sweeps]'") from None

    from .storage import JOURNAL, open_storage

    url, name = split_source(origin)
    file = next((url[len(p) :] for p in ("sqlite:///", JOURNAL) if url.startswith(p)), None)
    if file is not None and not Path(file).is_file():  # opening it would create an empty one
        raise SweepError(f"argument --from: {url}: {file} does not exist (or is not a file)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = open_storage(url)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    except Exception as e:  # noqa: BLE001 - a wrong URL, a missing driver, no server: one line
        raise SweepError(
            f"argument --from: cannot open {url} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        raise SweepError(f"argument --from: name the study with #<name>; {url} holds: {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=name, storage=storage)
    sweep = study.user_attrs.get("sweep")
    if not isinstance(sweep, dict) or (metric is not None and study.user_attrs.get("metric", metric) != metric):
        raise SweepError(f"argument --from: study {name} was not run by `sweeps run` on {metric}")
    runs = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.value is not None and math.isfinite(t.value) and isinstance(t.user_attrs.get("config"), dict):
            run = str(t.user_attrs.get("run_dir", f"trial {t.number}")).rstrip("/").rpartition("/")[2]
            runs.append((run, t.user_attrs["config"], float(t.value)))
    if not runs:
        raise SweepError(f"argument --from: study {name} has no completed trial")
    return runs, sweep
