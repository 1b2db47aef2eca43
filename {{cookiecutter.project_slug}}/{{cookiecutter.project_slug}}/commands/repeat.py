"""`sweeps repeat RUN_DIR --seeds N [--workers K]`: the run's configuration (its config.yaml) again on
N seeds, each a `train.py` process in a new run directory beside it (K at once), then the mean ±
standard deviation of the validation and test metric, printed and written to RUN_DIR/repeat.md and
repeat.json: the evidence to adopt a change, which one lucky seed is not."""

import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..analysis.diagnose import read_config, read_json
from ..analysis.report import REPEAT_FILE
from ..config.parser import parse_args
from ..errors import SweepError
from ..files import write_atomically
from ..training.monitor import MONITOR

PACKAGE = __package__.rpartition(".")[0]
TEST_METRIC = "test/" + MONITOR.partition("/")[2]  # the same metric on the test split
MAX_SEEDS = 1000  # runs of one configuration: more is a typo, not a plan
TRAIN = f"import sys; from {PACKAGE}.commands.train import main; sys.exit(main())"


def seed_command(run_dir: Path, seed: int, extra: list[str]) -> tuple[list[str], Path]:
    """The train.py command line of one seed, and its new run directory."""
    new = run_dir.parent / f"{run_dir.name}-seed{seed}"
    config = run_dir / "config.yaml"
    argv = ["--config", str(config), "--seed", str(seed), "--output-dir", str(run_dir.parent)]
    return [sys.executable, "-c", TRAIN, *argv, "--run-name", new.name, *extra], new


def run_seed(command: list[str], new: Path) -> tuple[int, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def repeat(run_dir: Path, seeds: int, workers: int = 1, extra: list[str] = ()) -> dict:
    """Run the seeds, summarize them; returns repeat.json's content."""
    config = read_config(run_dir)
    if not config:
        raise SweepError(f"argument RUN_DIR: {run_dir} has no config.yaml (not a run directory)")
    if not (isinstance(base := config.get("seed", 0), int) and abs(base) < 2**32 and seeds <= MAX_SEEDS):
        raise SweepError(f"argument --seeds: at most {MAX_SEEDS} seeds, from a run whose seed is an integer < 2^32")
    if workers > MAX_SEEDS:
        raise SweepError(f"argument --workers: at most {MAX_SEEDS} processes at once, got {workers}")
    chosen = [base + i for i in range(1, seeds + 1)]  # new seeds, not the run's own
    jobs = [seed_command(run_dir, s, list(extra)) for s in chosen]
    parse_args(jobs[0][0][3:])  # every seed's flags as train.py parses them: a bad one is its one line, exit 2
    taken = [str(new) for _, new in jobs if new.exists()]
    if taken:
        raise SweepError(f"argument RUN_DIR: {taken[0]} exists already (an earlier repeat?); remove it first")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda job: run_seed(*job), jobs))
    runs = []
    for seed, (_, new), (status, last) in zip(chosen, jobs, outcomes):
        results = read_json(new / "results.json") or {}
        runs.append(
            {
                "seed": seed,
                "run_dir": str(new),
                "status": status,
                MONITOR: results.get(MONITOR),
                TEST_METRIC: results.get(TEST_METRIC),
                "last_line": last,
            }
        )
    split = next((x for f, x in zip(extra, [*extra[1:], ""]) if f == "--split-seed"), config.get("split_seed", 0))
    varied = f"varied --seed only (initialization, batch order, dropout); the split kept by --split-seed {split}"
    summary = {"source": str(run_dir), "seeds": chosen, "varied": varied, "runs": runs}
    for metric in (MONITOR, TEST_METRIC):
        values = [r[metric] for r in runs if isinstance(r[metric], (int, float))]
        summary[metric] = dict(zip(("mean", "std"), mean_std(values)), n=len(values)) if values else None
    write_atomically(run_dir / "repeat.json", json.dumps(summary, indent=2) + "\n")
    write_atomically(run_dir / REPEAT_FILE, markdown(summary))
    return summary


def summary_line(summary: dict) -> str:
    parts = [f"{m} = {s['mean']:.4f} ± {s['std']:.4f}" for m in (MONITOR, TEST_METRIC) if (s := summary[m])]
    n = sum(1 for r in summary["runs"] if r["status"] == 0)
    return (
        f"{', '.join(parts) or 'no run finished'} over {n} of {len(summary['runs'])} seeds (mean ± standard deviation)"
        + (f"; {summary['varied']}" if "varied" in summary else "")
    )


def markdown(summary: dict) -> str:
    lines = [
        f"### {summary['source']} on seeds {', '.join(map(str, summary['seeds']))}",
        "",
        summary_line(summary),
        "",
        f"| seed | {MONITOR} | {TEST_METRIC} | run |",
        "|---|---|---|---|",
    ]
    for r in summary["runs"]:
        shown = [
            f"{r[m]:.4f}" if isinstance(r[m], (int, float)) else f"exit {r['status']}" for m in (MONITOR, TEST_METRIC)
        ]
        lines.append(f"| {r['seed']} | {shown[0]} | {shown[1]} | {r['run_dir']} |")
    return "\n".join(lines) + "\n"
