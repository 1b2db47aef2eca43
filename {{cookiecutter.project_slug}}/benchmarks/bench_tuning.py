"""Does following the checklist's procedure help? At an equal budget of trials and epochs per trial,
compare (a) the defaults, (b) random search over the union of the three stages' spaces, (c) the
staged procedure (stage 1 → `next` → stage 2 → `next` → stage 3, random search in each stage) and
(d) the staged procedure with Hyperband's successive halving (η = 2: every trial at a quarter of the
epochs, the better half continued with --resume to half, the better half of those to all epochs).
Prints the best validation and test accuracy and the epochs spent, medians over --search-seeds
seeds of the search. A benchmark, not a test: the figures are what this machine measures.

    python benchmarks/bench_tuning.py                                  # digits, 9 trials × 8 epochs, 3 seeds
    python benchmarks/bench_tuning.py --trials 6 --epochs 4 --search-seeds 1   # a reduced budget
    python benchmarks/bench_tuning.py --dataset mnist --data-dir data  # an MNIST-format set (IDX files)

Trials run in this process (no start-up per trial); W&B and the end-of-run diagnosis are off.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from {{cookiecutter.project_slug}}.commands.sweeps import fill_in, load_stage, searched  # noqa: E402
from {{cookiecutter.project_slug}}.commands.train import train  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import parse_args  # noqa: E402

STAGES = sorted((ROOT / "sweeps").glob("stage*.yaml"))


def sample(spec: dict, rng: random.Random):
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return rng.choice(spec["values"])
    low, high = float(spec["min"]), float(spec["max"])
    if spec.get("distribution") == "log_uniform_values":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def flags_of(values: dict) -> list[str]:
    out = []
    for k, v in values.items():
        option = "--" + k.replace("_", "-")
        out += (
            [f"{option}={str(v).lower()}"]
            if isinstance(v, bool)
            else [option, f"{v:.6g}" if isinstance(v, float) else str(v)]
        )
    return out


class Budget:
    """Runs trials under one output folder and counts the epochs they train."""

    def __init__(self, out: Path, common: list[str], seed: int):
        self.out, self.common, self.seed, self.epochs, self.count = out, common, seed, 0, 0

    def run(self, values: dict, epochs: int, resume: Path | None = None, trained: int = 0) -> tuple[dict, Path]:
        """(results.json, run directory) of one trial trained to `epochs` (continuing `resume`)."""
        self.count += 1
        name = resume.name if resume else f"t{self.count}"
        argv = [*self.common, "--seed", str(self.seed), "--output-dir", str(self.out), "--run-name", name]
        argv += ["--max-epochs", str(epochs)] + (["--resume", str(resume)] if resume else flags_of(values))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            status, run_dir = train(parse_args(argv))
        self.epochs += epochs - trained
        results = json.loads((run_dir / "results.json").read_text()) if status == 0 and run_dir else {}
        return results, run_dir


def val(results: dict) -> float:
    return results.get("val/acc", -1.0)


def best_of(trials: list[tuple[dict, dict, Path]]) -> tuple[dict, dict, Path]:
    return max(trials, key=lambda t: val(t[1]))


def random_search(b: Budget, rng: random.Random, trials: int, epochs: int) -> dict:
    union: dict = {}
    for path in STAGES:  # the union of the stages' spaces (the later stage's spec of a shared name)
        union.update({k: s for k, s in load_stage(path)["parameters"].items() if k != "max_epochs"})
    runs = []
    for _ in range(trials):
        values = {k: sample(s, rng) for k, s in union.items()}
        runs.append((values, *b.run(values, epochs)))
    return best_of(runs)[1]


def staged(b: Budget, rng: random.Random, trials: int, epochs: int, halving: bool) -> dict:
    per_stage = [trials // len(STAGES) + (i < trials % len(STAGES)) for i in range(len(STAGES))]
    best_values: dict = {}
    fixed: set[str] = set()
    best = None
    for path, n in zip(STAGES, per_stage):
        sweep = fill_in(load_stage(path), best_values, fixed) if best_values else load_stage(path)
        space = {k: s for k, s in sweep["parameters"].items() if k != "max_epochs"}
        candidates = [{**best_values, **{k: sample(s, rng) for k, s in space.items()}} for _ in range(n)]
        runs = successive_halving(b, candidates, epochs) if halving else [(v, *b.run(v, epochs)) for v in candidates]
        stage_best = best_of(runs)
        if best is None or val(stage_best[1]) >= val(best[1]):
            best = stage_best
        best_values = {**best_values, **{k: best[0][k] for k in space if k in best[0]}}
        fixed |= searched(sweep)
    return best[1]


def successive_halving(b: Budget, candidates: list[dict], epochs: int) -> list[tuple[dict, dict, Path]]:
    """Hyperband's inner loop with η = 2: rungs at E/4, E/2, E epochs; the better half goes on."""
    rungs = [max(1, epochs // 4), max(1, epochs // 2), epochs]
    alive = [(v, *b.run(v, rungs[0])) for v in candidates]
    finished = []
    for trained, target in zip(rungs, rungs[1:]):
        alive.sort(key=lambda t: val(t[1]), reverse=True)
        keep = max(1, len(alive) // 2)
        finished += alive[keep:]
        alive = [(v, *b.run(v, target, resume=d, trained=trained)) for v, _, d in alive[:keep]]
    return finished + alive


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=9, help="trials per search (the staged ones split them over 3 stages)")
    p.add_argument("--epochs", type=int, default=8, help="epochs per trial")
    p.add_argument("--search-seeds", type=int, default=3)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir", default="data")
    a = p.parse_args()
    common = [
        "--dataset",
        a.dataset,
        "--data-dir",
        a.data_dir,
        "--accelerator",
        "cpu",
        "--wandb-mode",
        "disabled",
        "--no-diagnose",
        "--num-sanity-val-steps",
        "0",
    ]
    methods = ["defaults", "random", "staged", "staged+hyperband"]
    table: dict[str, list[tuple[float, float, int]]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.search_seeds):
            for m in methods:
                rng = random.Random(seed)
                b = Budget(Path(tmp) / f"{m}-{seed}", common, seed)
                if m == "defaults":
                    results = b.run({}, a.epochs)[0]
                elif m == "random":
                    results = random_search(b, rng, a.trials, a.epochs)
                else:
                    results = staged(b, rng, a.trials, a.epochs, halving=m == "staged+hyperband")
                table[m].append((val(results), results.get("test/acc", math.nan), b.epochs))
                print(
                    f"seed {seed} {m:17} val/acc {val(results):.4f} test/acc {results.get('test/acc', math.nan):.4f} "
                    f"epochs {b.epochs}",
                    flush=True,
                )
    print(f"\n{a.dataset}: {a.trials} trials × {a.epochs} epochs, medians over {a.search_seeds} seeds of the search")
    print(f"{'method':18} {'val/acc':>8} {'test/acc':>8} {'epochs':>7} {'epochs vs staged':>17}")
    staged_epochs = statistics.median(e for _, _, e in table["staged"])
    for m in methods:
        v, t, e = (statistics.median(x[i] for x in table[m]) for i in range(3))
        print(f"{m:18} {v:8.4f} {t:8.4f} {e:7.0f} {e / staged_epochs:17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
