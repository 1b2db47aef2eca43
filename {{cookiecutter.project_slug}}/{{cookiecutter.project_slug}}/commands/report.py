"""`sweeps report SOURCE`: the isolation plots and the Markdown report of one stage's runs
(analysis/report.py), from run directories or `optuna:<storage>#<study>`."""

from pathlib import Path

from ..analysis.report import REPEAT_FILE, write_report
from ..analysis.sources import OPTUNA_PREFIX, local_trials, optuna_trials, sweep_dimensions, varied_dimensions
from ..errors import SweepError
from ..training.monitor import MODE, MONITOR


def report(source: str, sweep: Path | None = None, output: Path | None = None) -> tuple[Path, list[str]]:
    """Write the report; returns (report.md, its warnings)."""
    if source.startswith(OPTUNA_PREFIX):
        trials, dims, maximize = optuna_trials(source)
        repeats: list[Path] = []
        output = output or Path(f"report-{source.rpartition('#')[2]}")
    else:
        root = Path(source)
        trials, maximize = local_trials(root, MONITOR), MODE == "max"
        dims = []
        repeats = sorted(root.glob(f"*/{REPEAT_FILE}")) + sorted(root.glob(REPEAT_FILE))
        output = output or (root / "report")
    if sweep is not None:
        dims = sweep_dimensions(sweep)
    elif not dims:
        dims = varied_dimensions(trials)
    if not dims:
        raise SweepError("the runs do not differ in any hyperparameter: nothing to compare (give --sweep FILE.yaml)")
    return write_report(source, trials, dims, MONITOR, maximize, output, repeats)
