"""What W&B and start-up cost a run: whole `train.py` processes, side by side in one script.

    python benchmarks/bench_wandb.py [--repeats 3] [--synthetic] [train.py flags...]

1. `train.py` with `--wandb-mode disabled`, `--wandb-mode offline` (the project's background W&B
   logger) and `--wandb-mode offline` with the plain SweepWandbLogger in its place (every W&B call
   on the training thread), interleaved, median of --repeats: the whole process, and the part outside
   training (results.json's train_seconds is from the first step to the last). Their differences are
   what W&B adds to a run (its fixed cost: start-up, plots, finish; and its per-step cost), and what
   the background logger saves over the plain path.
2. `train.py --fast-dev-run` against `python -c "import lightning"`: the start-up a smoke test pays.
3. `train.py --help` (no torch import).

--synthetic writes MNIST-format files of random pixels (60,000 + 10,000) to a temporary folder; the
default work is then issue-sized: `--dataset mnist --depth 3 --width 128 --batch-size 128
--max-epochs 2` (an MLP 3×128 with batch norm, Adam).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]  # the tests' file-format writers


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


# train.py with the core's plain SweepWandbLogger in place of the background logger: the same calls,
# made on the training thread.
PLAIN = """
import sys
from PKG.training import background
background.attach = lambda: None  # every run keeps loggers.WANDB_LOGGER, the plain SweepWandbLogger
from PKG.commands.train import main
sys.exit(main(sys.argv[1:]))
"""


def package() -> str:
    return next(p.parents[1].name for p in ROOT.glob("*/commands/train.py"))


def train_seconds(out: Path, name: str) -> float:
    return json.loads((out / name / "results.json").read_text())["train_seconds"]


if __name__ == "__main__":
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--synthetic", action="store_true", help="MNIST-format files of random pixels (60k)")
    opts, flags = bench.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "WANDB_DIR": str(tmp / "wandb"), "WANDB_SILENT": "true"}
        env.pop("WANDB_MODE", None)
        (tmp / "wandb").mkdir()
        if opts.synthetic:
            from formats import make_mnist

            make_mnist(tmp / "data", "MNIST", 60000, 10000)
            flags = [
                "--dataset",
                "mnist",
                "--data-dir",
                str(tmp / "data"),
                "--depth",
                "3",
                "--width",
                "128",
                "--batch-size",
                "128",
                "--max-epochs",
                "2",
                *flags,
            ]
        train = [sys.executable, "train.py", "--accelerator", "cpu", "--output-dir", str(tmp / "runs"), *flags]
        timed([*train, "--fast-dev-run", "--wandb-mode", "disabled"], env)  # warm-up: data cache, file cache
        plain = [sys.executable, "-c", PLAIN.replace("PKG", package()), *train[2:]]
        commands = {"disabled": train, "offline": train, "plain": plain}
        walls: dict[str, list[float]] = {"disabled": [], "offline": [], "plain": []}
        outside: dict[str, list[float]] = {"disabled": [], "offline": [], "plain": []}
        for i in range(opts.repeats):
            for mode in walls:
                name = f"{mode}-{i}"
                wandb_mode = "disabled" if mode == "disabled" else "offline"
                wall = timed([*commands[mode], "--wandb-mode", wandb_mode, "--run-name", name], env)
                walls[mode].append(wall)
                outside[mode].append(wall - train_seconds(tmp / "runs", name))
        smoke = [
            timed([*train, "--fast-dev-run", "--wandb-mode", "disabled", "--run-name", f"smoke-{i}"], env)
            for i in range(opts.repeats)
        ]
        lightning = [timed([sys.executable, "-c", "import lightning"], env) for _ in range(opts.repeats)]
        helps = [timed([sys.executable, "train.py", "--help"], env) for _ in range(opts.repeats)]
    med = {k: statistics.median(v) for k, v in walls.items()}
    out = {k: statistics.median(v) for k, v in outside.items()}
    print(f"work: {' '.join(flags) or 'train.py defaults'}; median of {opts.repeats}")
    print(f"W&B disabled: {med['disabled']:.2f} s whole process, {out['disabled']:.2f} s outside training")
    print(f"W&B offline:  {med['offline']:.2f} s whole process, {out['offline']:.2f} s outside training")
    print(f"W&B offline, plain WandbLogger: {med['plain']:.2f} s whole process, {out['plain']:.2f} s outside training")
    print(
        f"W&B adds {med['offline'] - med['disabled']:+.2f} s ({med['offline'] / med['disabled']:.2f}x); "
        f"outside training {out['offline'] - out['disabled']:+.2f} s, inside "
        f"{(med['offline'] - out['offline']) - (med['disabled'] - out['disabled']):+.2f} s"
    )
    print(
        f"the background logger against the plain WandbLogger: {med['offline'] - med['plain']:+.2f} s "
        f"({med['offline'] / med['plain']:.2f}x the plain path's whole process)"
    )
    light = statistics.median(lightning)
    print(
        f"train.py --fast-dev-run: {statistics.median(smoke):.2f} s; python -c 'import lightning': {light:.2f} s "
        f"({statistics.median(smoke) / light:.2f}x)"
    )
    print(f"train.py --help: {statistics.median(helps):.3f} s")
