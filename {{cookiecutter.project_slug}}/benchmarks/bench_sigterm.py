"""Time from SIGTERM to a complete last.ckpt on a CPU run (and to the process's exit), against the
30 s W&B's agent waits before SIGKILL (wandb_agent.Agent.KILL_DELAY): the interrupt checkpoint must be
on disk well within that. Each variant runs `python train.py` as a W&B agent would (WANDB_SWEEP_ID
set, this process the parent: the stop path with the SIGTERM-sender thread), waits for its first
last.ckpt, lets it train a moment into the next epoch, sends SIGTERM and watches last.ckpt being
replaced (Lightning writes a temporary file and renames it, so a new mtime is a complete file).

    python benchmarks/bench_sigterm.py                       # the default network and a wide one
    python benchmarks/bench_sigterm.py "" "--width 2048 --depth 4" --repeats 5
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILL_DELAY = 30.0  # wandb/wandb_agent.py: Agent.KILL_DELAY, seconds between SIGTERM and SIGKILL


def once(flags: list[str], out: Path, rng: random.Random) -> tuple[float, float, int]:
    """(seconds from SIGTERM to the new last.ckpt, seconds to the process's exit, checkpoint bytes)."""
    argv = [sys.executable, str(ROOT / "train.py"), "--accelerator", "cpu", "--wandb-mode", "disabled"]
    argv += ["--dataset", "digits", "--output-dir", str(out), "--run-name", "r", "--max-epochs", "100000", *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SWEEP_ID": "bench", "WANDB_RUN_ID": "bench"}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = out / "r" / "checkpoints" / "last.ckpt"
    while not last.exists():
        if process.poll() is not None:
            raise SystemExit(f"train.py {shlex.join(flags)} ended first: {process.stderr.read()[-500:]}")
        time.sleep(0.01)
    time.sleep(rng.uniform(0.05, 0.5))  # somewhere inside a later epoch
    before = last.stat().st_mtime_ns
    sent = time.time_ns()
    process.send_signal(signal.SIGTERM)
    while last.stat().st_mtime_ns == before and process.poll() is None:
        time.sleep(0.001)
    saved = (last.stat().st_mtime_ns - sent) / 1e9 if last.stat().st_mtime_ns != before else float("nan")
    process.wait(timeout=120)
    exited = (time.time_ns() - sent) / 1e9
    if process.returncode != 0:
        raise SystemExit(f"train.py {shlex.join(flags)} exited {process.returncode}: {process.stderr.read()[-500:]}")
    return saved, exited, last.stat().st_size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", default=["", "--width 2048 --depth 4"])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    rng = random.Random(0)
    print(f"{'flags':32} {'ckpt MB':>8} {'SIGTERM→last.ckpt s (median, max)':>34} {'→exit s':>8} {'max/30 s':>9}")
    for variant in a.variants:
        runs = []
        for i in range(a.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(once(shlex.split(variant), Path(tmp) / str(i), rng))
        saved, exited = [r[0] for r in runs], [r[1] for r in runs]
        print(
            f"{variant or '(default)':32} {runs[-1][2] / 1e6:8.2f} {statistics.median(saved):17.3f} {max(saved):16.3f} "
            f"{statistics.median(exited):8.2f} {max(saved) / KILL_DELAY:9.4f}"
        )


if __name__ == "__main__":
    main()
