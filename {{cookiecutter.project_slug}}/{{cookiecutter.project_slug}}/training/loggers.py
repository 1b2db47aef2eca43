"""THE place to add a logger (LOGGERS: one entry), and the project's own: metrics.csv that is never lost
(RunCSVLogger), W&B that keeps a sweep agent's parameters (SweepWandbLogger{% if cookiecutter.fast_wandb %};
the fast_wandb feature moves its work to a thread: background.py{% endif %}){% if cookiecutter.diagnostics %}, TensorBoard with --tensorboard{% endif %}."""

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from ..config.agent import under_agent
from ..config.environment import is_rank_zero
from ..errors import UsageError, one_line
from ..files import atomic_path, read_yaml
{%- if cookiecutter.diagnostics %}

TENSORBOARD_DIR = "tensorboard"
{%- endif %}

# Your loggers: each entry makes one for a run, from the run directory (or returns None to skip it):
#     LOGGERS.append(lambda run_dir: MLFlowLogger(tracking_uri=f"file:{run_dir / 'mlruns'}"))
LOGGERS: list = []


@dataclass(frozen=True)
class LoggingOptions:  # the Logging flags a logger reads
    wandb_mode: str
    wandb_project: str
    wandb_entity: str | None
    wandb_tags: list
    wandb_group: str | None
    wandb_log_model: bool
{%- if cookiecutter.diagnostics %}
    tensorboard: bool
{%- endif %}


def loggers_for(options: LoggingOptions, run_dir: Path, keep_below_step: int | None, wandb_logger) -> list:
    """Every logger of a run: metrics.csv (rows from `keep_below_step`, the resumed checkpoint's step, are trained
    again), {% if cookiecutter.diagnostics %}TensorBoard with --tensorboard, {% endif %}W&B when on, then yours (LOGGERS)."""
    loggers: list = [RunCSVLogger(save_dir=str(run_dir), keep_below_step=keep_below_step)]
{%- if cookiecutter.diagnostics %}
    if options.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(
            TensorBoardLogger(save_dir=str(run_dir), name=TENSORBOARD_DIR, version="", default_hp_metric=False)
        )
{%- endif %}
    loggers += [wandb_logger, *(make(run_dir) for make in LOGGERS)]
    return [logger for logger in loggers if logger is not None]


def create_wandb_logger(o: LoggingOptions, run_dir: Path, run_name: str, mode: str, resumed: bool, job_type: str):
    """Lightning's WandbLogger from the flags; a resumed run directory or a sweep agent's run continues its W&B run."""
    runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime) if resumed else []
    run_id = runs[-1].name.rsplit("-", 1)[-1] if runs else None
    if o.wandb_log_model and mode != "online":
        print(f"W&B is {mode}: checkpoints are not uploaded as artifacts; they stay in {run_dir / 'checkpoints'}")
    logger = WANDB_LOGGER(
        sweep_keys=normalize_sweep_params(),  # under a W&B agent: underscore keys, no "locked" lines
        name=run_name,
        project=o.wandb_project,
        entity=o.wandb_entity or None,
        group=o.wandb_group or None,
        tags=o.wandb_tags or None,
        save_dir=str(run_dir),
        mode=mode,
        id=run_id or (os.environ.get("WANDB_RUN_ID") if under_agent() else None),
        resume="allow" if run_id else None,
        log_model=o.wandb_log_model and mode == "online",
        job_type=job_type,
    )
    if mode == "online" and o.wandb_mode == "auto":
        try:
            logger.experiment  # noqa: B018 - starts the run now, so a refusal is caught here
        except Exception as e:  # noqa: BLE001 - wrong entity, revoked key, server error: never block training
            import wandb

            wandb.finish()
            print(f"W&B refused the run ({one_line(e)[:200]}); logging offline instead")
            return create_wandb_logger(o, run_dir, run_name, "offline", resumed, job_type)
    logger.start()
    if logger.failure is not None:  # W&B never stops a run: metrics.csv holds everything
        print(f"warning: W&B failed ({logger.failure}); the run's metrics are in metrics.csv", file=sys.stderr)
        return None
    return logger


def log_plots(wandb_logger, plots: list[Path | None]) -> None:
    """Each PNG under plots/ as a W&B image keyed plots/<name> (rank 0, when W&B logs)."""
    if wandb_logger is None or not is_rank_zero():
        return
    for path in plots:
        if path is not None and path.is_file():
            wandb_logger.log_image(key=f"plots/{path.stem}", images=[str(path)])


def finish_wandb(wandb_logger, exit_code: int) -> None:
    """End the W&B run with the process's exit status (a plain wandb.finish() records 0, "finished"), or 1 for a
    diverged run (exit 0 under an agent): failed, which W&B's bayes ranks last (a finished one: by its best epoch)."""
    if wandb_logger is not None and is_rank_zero():
        import wandb

        wandb_logger.flush()  # every call made reaches the run first
        run = wandb_logger.run() if wandb_logger.failure is None else None
        wandb.finish(exit_code=exit_code or int(run is not None and run.summary.get("diverged") is True))
        if run is not None:
            where = Path(os.path.relpath(Path(run.dir).parent))
            print(f"W&B: offline run, upload it with: wandb sync {where}" if run.offline else f"W&B: {run.url}")


def wandb_run_id(wandb_logger) -> str | None:
    """The W&B run's id (None: no W&B, or W&B failed)."""
    return wandb_logger.run().id if wandb_logger is not None and wandb_logger.failure is None else None


def record_in_wandb(wandb_logger, metrics: dict, summary: dict, step: int, preempting: bool = False) -> None:
    """After what was queued: log `metrics` at `step`, set `summary`, mark preempting (a sweep then re-queues it)."""
    if wandb_logger is None or not is_rank_zero():
        return
    if metrics:
        wandb_logger.log_metrics(metrics, step=step)

    def finish_summary() -> None:
        run = wandb_logger.experiment
        run.summary.update({**metrics, **summary})
        if preempting:
            run.mark_preempting()

    wandb_logger.call(finish_summary)


def normalize_sweep_params() -> set[str]:
    """The names a W&B sweep agent sets (none without one) in WANDB_SWEEP_PARAM_PATH ({name: {value: v}}), which
    wandb.init loads and locks: dashed keys become underscores here first, so the config holds one key per flag."""
    try:
        path = Path(os.environ["WANDB_SWEEP_PARAM_PATH"])  # wandb.env.SWEEP_PARAM_PATH
        data = read_yaml(path)  # files.py: a mapping, or UsageError
    except (KeyError, UsageError):
        return set()  # no agent; or a bad file, which wandb.init reports itself
    renamed = {(k.replace("-", "_") if k != "wandb_version" else k): v for k, v in data.items()}
    if list(renamed) != list(data):
        path.write_text(yaml.safe_dump(renamed, sort_keys=False, allow_unicode=True))
    return {k for k in renamed if k != "wandb_version"}


class SweepWandbLogger(WandbLogger):
    """WandbLogger that leaves the sweep's (locked) parameters alone: W&B would warn for each update. start()
    starts the W&B run, call(fn) runs fn after what was logged before, flush() waits for all of it, run() is
    the wandb Run, `failure` says why W&B failed. Here all runs at once, on the training thread{% if cookiecutter.fast_wandb %}
    (background.py's subclass runs them on a thread of its own){% endif %}."""

    failure: str | None = None

    def __init__(self, *args, sweep_keys: set[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sweep_keys = set(sweep_keys)
        self._wandb_init.pop("anonymous", None)  # Lightning passes anonymous=None: W&B warns of any value given

    def log_hyperparams(self, params) -> None:
        if self.sweep_keys and isinstance(params, dict):
            params = {k: v for k, v in params.items() if k not in self.sweep_keys}
        super().log_hyperparams(params)

    def start(self) -> None:
        try:
            self.experiment  # noqa: B018 - wandb.init
        except Exception as e:  # noqa: BLE001 - W&B must never stop training: metrics.csv has it all
            self.failure = one_line(e)[:160]

    def call(self, fn, *args, **kwargs) -> None:
        fn(*args, **kwargs)

    def flush(self) -> None:
        pass

    def run(self):
        return self.experiment


# The class of every run's W&B logger{% if cookiecutter.fast_wandb %} (training/background.py's attach() puts its own here){% endif %}.
WANDB_LOGGER: type[SweepWandbLogger] = SweepWandbLogger


class _Writer(ExperimentWriter):
    """Never deletes or truncates metrics.csv in place (Lightning's writer does, when it starts and when columns
    appear: a kill in between loses rows): a resumed run keeps the rows before its step; rewrites are atomic."""

    def __init__(self, log_dir: str, keep_below_step: int | None):
        self._keep_below_step = keep_below_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # Lightning deletes metrics.csv here
        if not os.path.isfile(self.metrics_file_path):
            return
        with open(self.metrics_file_path, newline="") as f:
            reader = csv.DictReader(f)
            rows, self.metrics_keys = list(reader), list(reader.fieldnames or [])
        if self._keep_below_step is not None:
            kept = [r for r in rows if r.get("step", "").isdigit() and int(r["step"]) < self._keep_below_step]
            if len(kept) != len(rows):
                self._rewrite_with_new_header(self.metrics_keys, kept)

    def _rewrite_with_new_header(self, fieldnames: list[str], rows: list[dict] | None = None) -> None:
        if rows is None:
            with open(self.metrics_file_path, newline="") as f:
                rows = list(csv.DictReader(f))
        with atomic_path(Path(self.metrics_file_path)) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)


class RunCSVLogger(CSVLogger):
    def __init__(self, save_dir: str, keep_below_step: int | None = None):
        super().__init__(save_dir=save_dir, name="", version="")
        self._keep_below_step = keep_below_step

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:
            self._experiment = _Writer(self.log_dir, self._keep_below_step)
        return self._experiment
