"""Cost of the learning-rate schedule per step: training steps/s with the linear schedule vs a
constant ε, alternating in one process. Prints both and the ratio.

    python benchmarks/bench_schedule.py [--repeats 3] [train.py flags...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from {{cookiecutter.project_slug}}.cli import parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.run import main  # noqa: E402


def steps_per_second(argv: list[str], out: str) -> float:
    a = parse_args([*argv, "--output-dir", out])
    start = time.perf_counter()
    assert main(a) == 0
    seconds = time.perf_counter() - start
    return json.loads((Path(out) / a.run_name / "results.json").read_text())["steps"] / seconds


if __name__ == "__main__":
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--repeats", type=int, default=3)
    opts, rest = bench.parse_known_args()
    base = ["--accelerator", "cpu", "--wandb-mode", "disabled", *rest]
    rates: dict[str, list[float]] = {"constant": [], "linear": []}
    with tempfile.TemporaryDirectory() as out:
        steps_per_second([*base, "--lr-schedule", "constant"], out)  # warm-up
        for _ in range(opts.repeats):
            for schedule in rates:
                rates[schedule].append(steps_per_second([*base, "--lr-schedule", schedule], out))
    constant, linear = (statistics.median(rates[s]) for s in ("constant", "linear"))
    print(f"constant ε: {constant:.0f} steps/s (whole run, median of {opts.repeats})")
    print(f"linear:     {linear:.0f} steps/s")
    print(f"ratio constant/linear time per step: {constant / linear:.3f}")
