"""The local sweep engine's cost: a trial's wall time through `sweeps run` against the same run
started by hand (`python train.py --lr=… …`, goal <= 1.1x), and the runner's own time per trial
beyond its trial's process (goal <= 0.5 s), on the same machine with the same flags. Each trial is
timed between two runs of it by hand (their mean), so a machine whose load changes meanwhile
favours neither side: the runner continues the study one trial at a time (`--trials 1`, `2`, ...,
which also exercises resuming). The runner's start-up (Python, Optuna, opening the study) is
measured apart, with an invocation that finds the study complete, and is paid once per runner.

    python benchmarks/bench_sweeps.py [--trials 3] [--hyperband] [train.py flags...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{cookiecutter.project_slug}}"
FLAGS = [
    "--dataset",
    "digits",
    "--accelerator",
    "cpu",
    "--wandb-mode",
    "disabled",
    "--max-epochs",
    "1",
    "--limit-train-batches",
    "5",
    "--limit-val-batches",
    "2",
]
LR = 0.01  # every trial the same run (a one-value search), so each compares with the same run by hand


def by_hand(lr: float, flags: list[str], out: Path, name: str) -> float:
    start = time.perf_counter()
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        f"--lr={lr}",
        *flags,
        "--output-dir",
        str(out),
        "--run-name",
        name,
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def engine(sweep: Path, trials: int, flags: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        f"{PACKAGE}.sweeps",
        "run",
        str(sweep),
        "--trials",
        str(trials),
        "--output-dir",
        str(out),
        "--",
        *flags,
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument(
        "--hyperband", action="store_true", help="early_terminate: hyperband (the trial reports to Optuna)"
    )
    args, extra = parser.parse_known_args()
    flags = FLAGS + extra
    lrs = [LR] * args.trials
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sweep = tmp / "bench.yaml"
        config = {
            "program": "train.py",
            "method": "random",
            "metric": {"name": "val/acc", "goal": "maximize"},
            "parameters": {"lr": {"values": [LR]}},
        }
        if (
            args.hyperband
        ):  # reports every epoch; min_iter beyond the run: nothing is pruned, so both sides do the same work
            config["early_terminate"] = {"type": "hyperband", "min_iter": 100, "eta": 2}
        sweep.write_text(yaml.safe_dump(config))
        import optuna

        rows, overheads = [], []
        for k in range(1, len(lrs) + 1):
            before = by_hand(lrs[k - 1], flags, tmp / "hand", f"before-{k}")
            total = engine(sweep, k, flags, tmp / "engine")  # continues the study: runs trial k-1
            after = by_hand(lrs[k - 1], flags, tmp / "hand", f"after-{k}")
            study = optuna.load_study(study_name="bench", storage=f"sqlite:///{tmp / 'engine' / 'sweeps.db'}")
            trial = study.trials[k - 1]
            rows.append((trial.user_attrs["config"]["lr"], (before + after) / 2, trial.user_attrs["wall_s"]))
            overheads.append(total - trial.user_attrs["wall_s"])
        startup = statistics.median(engine(sweep, len(lrs), flags, tmp / "engine") for _ in range(3))
    print(f"{len(lrs)} trials{' (hyperband on)' if args.hyperband else ''}, train.py {' '.join(flags)}")
    print(f"{'trial':>8} {'by hand s':>10} {'sweeps run s':>13} {'ratio':>6}")
    ratios = [wall / hand for _, hand, wall in rows]
    for k, ((_, hand, wall), ratio) in enumerate(zip(rows, ratios)):
        print(f"{k:>8} {hand:>10.2f} {wall:>13.2f} {ratio:>6.3f}")
    per_trial = statistics.median(overheads) - startup
    print(f"trial wall time through sweeps run / by hand: median {statistics.median(ratios):.3f}x (goal <= 1.1x)")
    print(f"runner start-up (once per runner): {startup:.2f} s")
    print(f"runner's own time per trial beyond start-up and its trial's process: {per_trial:.3f} s (goal <= 0.5 s)")


if __name__ == "__main__":
    main()
