"""The local sweep engine's cost: a trial's wall time through `sweeps run` against the same run
started by hand (`python train.py --lr=… …`, goal ≤ 1.1×), and the runner's own overhead per trial
(its wall time beyond its trials' processes, goal ≤ 0.5 s), in one script, the same machine, the
same flags. The by-hand runs go before and after the engine's (their mean), so a machine that
slows down meanwhile does not favour either side.

    python benchmarks/bench_sweeps.py [--trials 3] [train.py flags...]
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
LRS = [0.001, 0.003, 0.01, 0.03, 0.1]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args, extra = parser.parse_known_args()
    flags = FLAGS + extra
    lrs = LRS[: args.trials]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sweep = tmp / "bench.yaml"
        config = {
            "program": "train.py",
            "method": "grid",
            "metric": {"name": "val/acc", "goal": "maximize"},
            "parameters": {"lr": {"values": lrs}},
        }
        sweep.write_text(yaml.safe_dump(config))
        before = {lr: by_hand(lr, flags, tmp / "hand", f"before-{lr}") for lr in lrs}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            f"{PACKAGE}.sweeps",
            "run",
            str(sweep),
            "--trials",
            str(len(lrs)),
            "--output-dir",
            str(tmp / "engine"),
            "--",
            *flags,
        ]
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        total = time.perf_counter() - start
        after = {lr: by_hand(lr, flags, tmp / "hand", f"after-{lr}") for lr in lrs}
        import optuna

        study = optuna.load_study(study_name="bench", storage=f"sqlite:///{tmp / 'engine' / 'sweeps.db'}")
        walls = {t.user_attrs["config"]["lr"]: t.user_attrs["wall_s"] for t in study.trials}
    print(f"{len(lrs)} trials, train.py {' '.join(flags)}")
    print(f"{'lr':>8} {'by hand s':>10} {'sweeps run s':>13} {'ratio':>6}")
    ratios = []
    for lr in lrs:
        hand = (before[lr] + after[lr]) / 2
        ratios.append(walls[lr] / hand)
        print(f"{lr:>8g} {hand:>10.2f} {walls[lr]:>13.2f} {ratios[-1]:>6.3f}")
    overhead = (total - sum(walls.values())) / len(lrs)
    print(f"trial wall time through sweeps run / by hand: median {statistics.median(ratios):.3f}x (goal <= 1.1x)")
    print(
        f"runner's own time per trial (its wall time {total:.2f} s minus its trials'): {overhead:.3f} s (goal <= 0.5 s)"
    )


if __name__ == "__main__":
    main()
