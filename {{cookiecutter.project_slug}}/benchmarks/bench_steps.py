"""Training steps/s of several variants of one run, each in its own process, the first variant
being the baseline; prints steps/s (training time only, from results.json) and the ratio to the first.

    python benchmarks/bench_steps.py "--lr-schedule constant" "--lr-schedule linear"
    python benchmarks/bench_steps.py "" "--aug-translate 0.1 --aug-scale 0.1 --aug-rotate 10 \\
        --aug-mirror 0.5 --aug-skew 10 --aug-blur 1 --aug-contrast 0.3"
    python benchmarks/bench_steps.py "" "--adversarial fgsm" "--adversarial pgd --adv-steps 5"
    python benchmarks/bench_steps.py "--devices 1" "--devices 2 --strategy ddp"   # CPU: gloo
Options before the variants: --repeats N (default 3), --common "FLAGS" (added to every variant).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(flags: list[str], out: str, name: str) -> tuple[float, int]:
    """(steps/s from the first training step to the last, global batch size) of one `python train.py`."""
    argv = [
        sys.executable,
        str(ROOT / "train.py"),
        "--accelerator",
        "cpu",
        "--wandb-mode",
        "disabled",
        "--output-dir",
        out,
        "--run-name",
        name,
        *flags,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode != 0:
        sys.exit(f"failed: {shlex.join(argv)}\n{result.stderr[-2000:]}")
    results = json.loads((Path(out) / name / "results.json").read_text())
    config = (Path(out) / name / "hparams.yaml").read_text()
    batch = int(next(line.split(":")[1] for line in config.splitlines() if line.startswith("global_batch_size")))
    return results["steps"] / results["train_seconds"], batch


if __name__ == "__main__":
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--common", default="", help="flags added to every variant")
    bench.add_argument("variants", nargs="+")
    opts = bench.parse_args()
    rates: dict[str, list[float]] = {v: [] for v in opts.variants}
    batches: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as out:
        for i in range(opts.repeats):  # alternate, so that drift in the machine's speed hits all alike
            for j, variant in enumerate(opts.variants):
                rate, batches[variant] = run(shlex.split(opts.common) + shlex.split(variant), out, f"{i}-{j}")
                rates[variant].append(rate)
    base = statistics.median(rates[opts.variants[0]])
    print(f"median of {opts.repeats} runs each; common flags: {opts.common or '(none)'}")
    for variant in opts.variants:
        rate = statistics.median(rates[variant])
        print(
            f"{rate:8.1f} steps/s {rate * batches[variant]:9.0f} examples/s  {rate / base:5.2f}x  "
            f"{variant or '(baseline)'}"
        )
