"""`sweeps run`: the local engine's command line (search/ runs it). commands/sweeps.py builds the
parser and dispatches."""

import argparse
from pathlib import Path

from ..config.types import Range, number_type, run_name_type
from ..errors import SweepError, refuse
from ..files import TargetError, check_folder

PACKAGE = __package__.rpartition(".")[0]  # the project's package (this file is in its commands/)


def add_run_command(commands) -> None:
    run = commands.add_parser("run", help="run a W&B sweep file locally with Optuna (no W&B server needed)")
    run.add_argument("sweep", type=Path, metavar="SWEEP.yaml", help="a W&B sweep file (sweep.yaml, sweeps/stage*.yaml)")
    run.add_argument("--trials", type=positive, required=True, metavar="N", help="trials the study holds in all")
    run.add_argument("--workers", type=positive, default=1, metavar="K", help="trials run at once on this machine")
    run.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage shared by every runner of the study: sqlite:///PATH, postgresql+psycopg2://"
        "USER@HOST/DB, mysql+pymysql://..., or journal:PATH (default: sqlite:///<output-dir>/sweeps.db)",
    )
    study = "the study's name (default: the sweep file's name)"
    run.add_argument("--study", type=run_name_type, metavar="NAME", help=study)
    run.add_argument(
        "--output-dir", type=Path, default=Path("runs"), metavar="PATH", help="where the trials' run directories go"
    )
    run.add_argument(
        "--seed", type=number_type(int, Range(0, 2**32 - 1)), metavar="S", help="the sampler's seed (default: random)"
    )
    run.add_argument("--quasi-random", action="store_true", help="method random: scrambled Sobol points (QMC) instead")
    run.add_argument(
        "--heartbeat",
        type=positive,
        default=30,
        metavar="S",
        help="RDB storages: the runner beats for its trials every S/2 seconds; a trial whose runner stopped beating "
        "for S (its machine died) is noticed by any live runner within about 2 S, failed and run again",
    )


def positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10**6:
        raise argparse.ArgumentTypeError(f"must be 1 to 1000000, got {text[:40]!r}")
    return value


def run_command(parser, args: argparse.Namespace, train_args: list[str]) -> int:
    """`sweeps run`: the flags after `--` go to every trial (checked here first, as train.py would)."""
    from ..config.parser import parse_args
    from ..search.engine import Options, run_sweep
    from ..search.sweepfile import load_sweep

    # A bad trial flag: train.py's one line and exit 2, before any trial; judged with the --output-dir the trials get
    # (a read-only working folder is no reason to refuse when DIR is elsewhere).
    parse_args([*train_args, "--output-dir", str(args.output_dir)])
    try:
        import optuna  # noqa: F401
    except ImportError:
        return refuse(
            f"{parser.prog} run", SweepError(f"the local engine needs Optuna: pip install -e '.[sweeps]' ({PACKAGE})")
        )
    options = Options(
        trials=args.trials,
        workers=args.workers,
        storage=args.storage,
        study=args.study,
        output_dir=args.output_dir,
        seed=args.seed,
        quasi_random=args.quasi_random,
        heartbeat=args.heartbeat,
        train_args=train_args,
    )
    try:
        check_folder(args.output_dir)  # files.py: a file, /proc, unwritable, a name too long: before any trial
        return run_sweep(preflight(load_sweep(args.sweep)), options)
    except (SweepError, TargetError) as e:
        return refuse(f"{parser.prog} run", e)


def preflight(sweep):
    """What would fail every trial, refused before the first: a command or program not there; for train.py, a parameter
    that is none of its flags, or a metric it never reports (else every trial fails and the study still exits 0)."""
    import shutil

    from ..config.flags import FLAG_BY_NAME
    from ..data.tasks import TASK_KINDS

    where, first = f"{sweep.path}", sweep.command[0] if sweep.command else "${env}"
    if not first.startswith("${") and shutil.which(first) is None:  # the child would die of FileNotFoundError
        raise SweepError(f"{where}: command {first!r} is not found (no such program on PATH)")
    if "${program}" in sweep.command and not Path(sweep.program).is_file():
        raise SweepError(f"{where}: program {sweep.program} does not exist (from {Path.cwd()})")
    if Path(sweep.program).name != "train.py":
        return sweep
    if unknown := [p for p in sweep.config.get("parameters") or {} if str(p).replace("-", "_") not in FLAG_BY_NAME]:
        raise SweepError(f"{where}: parameter {unknown[0]!r} is not a flag of train.py (python train.py --help)")
    names = {"loss", *(m for kind in TASK_KINDS.values() for m in kind.metrics)}
    split, _, name = sweep.metric.partition("/")
    if split not in ("train", "val", "test") or name.rpartition("/")[2] not in names:
        raise SweepError(
            f"{where}: metric {sweep.metric!r} is none train.py reports (<train|val|test>/<{'|'.join(sorted(names))}>)"
        )
    return sweep
