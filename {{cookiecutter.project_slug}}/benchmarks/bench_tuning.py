"""Does following the checklist's procedure help? At an equal budget of trials and of epochs per trial,
compare four ways to choose the flags, each run by the project's own tools:

  (a) defaults          one `train.py` run with the flags' defaults;
  (b) random            `sweeps run` on one sweep file: random search over the union of the three
                        stages' spaces (each parameter with the range of the first stage that searches it);
  (c) staged            the procedure: `sweeps run` stage 1 → `sweeps next` → stage 2 → `sweeps next`
                        → stage 3, the trials split over the stages, each stage as shipped (method bayes:
                        Optuna's TPE) without its early termination;
  (d) staged+hyperband  the same with the stage files' `early_terminate: hyperband` (W&B's rule, as
                        `sweeps run` applies it; min_iter scaled from the files' 3 of 20 epochs to --epochs);
  (e) sweep-random      random search over sweep.yaml's space (its early termination off);
  (f) sweep-tpe         TPE (method bayes) over sweep.yaml's space;
  (g) tune              `sweeps tune --budget-epochs <trials x epochs> --seed <search seed>`: the checklist as a
                        procedure (ε0, noise, the stage the diagnosis asks for, ε0 again after a network change), at
                        the same epoch budget. Its figure is its winner's test mean over its seed repeats (read once,
                        for the winner).

--datasets runs several: digits, mnist (with --make-mnist where there is none), an embedded table (wine,
breast-cancer: the tables feature) and
`sequences`, a synthetic image-folder set written here (16 time steps of a 16-wide signal as the rows of
an image: a bump that drifts right, left, back and forth or stays, from a random start, in noise; the
class is the motion, which a network reading the rows in order sees and an MLP must learn at each offset).

For each it prints the validation and test accuracy of the best run (by val/acc) and the epochs
spent in all (results.json's `epochs` of every trial: a pruned trial counts the epochs it trained),
medians over --search-seeds seeds of the search (the seed of the sampler and of every trial).
A benchmark, not a test: the figures are what this machine measures, whichever way they come out.

    python benchmarks/bench_tuning.py                                # digits: 24 trials x 8 epochs, 3 seeds
    python benchmarks/bench_tuning.py --trials 6 --epochs 4 --search-seeds 1   # a quick look
    python benchmarks/bench_tuning.py --dataset mnist --data-dir data  # MNIST's IDX files in data/MNIST/raw
    python benchmarks/bench_tuning.py --dataset mnist --data-dir /tmp/m --make-mnist 6000
        # no MNIST here (no network): first write an MNIST-format set made from digits' images
    python benchmarks/bench_tuning.py --keep runs/bench   # again after a stop: only the unfinished searches
    python benchmarks/bench_tuning.py --datasets mnist,breast-cancer,sequences --data-dir /tmp/m --make-mnist 4000 \
        --trials 16 --epochs 4 --methods defaults,sweep-random,sweep-tpe,tune     # the README's table

Needs the [sweeps] extra (Optuna). W&B and the end-of-run diagnosis are off; `--workers` trials run
at once (each with its share of the CPU threads), which is also how a user would run a sweep.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the tests' file-format writers

from formats import write_idx  # noqa: E402

from {{cookiecutter.project_slug}}.commands.sweeps import load_stage, searched  # noqa: E402

PACKAGE = "{{cookiecutter.project_slug}}"
STAGES = sorted((ROOT / "sweeps").glob("stage*.yaml"))
METHODS = ["defaults", "random", "staged", "staged+hyperband", "sweep-random", "sweep-tpe", "tune"]
SHIPPED_EPOCHS, SHIPPED_MIN_ITER = 20, 3  # the stage files' max_epochs and early_terminate.min_iter


def budgeted(sweep: dict, epochs: int, hyperband: bool) -> dict:
    """A sweep file at the benchmark's budget: max_epochs fixed to `epochs`; early termination kept
    (min_iter scaled to the shorter runs) or removed."""
    out = {k: v for k, v in sweep.items() if k != "early_terminate"}
    out["parameters"] = {**sweep["parameters"], "max_epochs": {"value": epochs}}
    if hyperband:
        spec = dict(sweep.get("early_terminate") or {"type": "hyperband", "eta": 2})
        spec["min_iter"] = max(1, round(spec.get("min_iter", SHIPPED_MIN_ITER) * epochs / SHIPPED_EPOCHS))
        out["early_terminate"] = spec
    return out


def sweep_file(epochs: int, method: str) -> dict:
    """sweep.yaml's space at the benchmark's budget, searched by `method` (random or bayes: TPE)."""
    return {**budgeted(load_stage(ROOT / "sweep.yaml"), epochs, hyperband=False), "method": method}


def write_sequences(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """An image-folder set of ordered data: each 16x16 image is 16 time steps (rows) of a 16-wide signal, a
    Gaussian bump whose centre moves right, left, back and forth or stays (the 4 classes), from a random start,
    in noise. PNG files under root/train/<class>/ and root/test/<class>/."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    moves = {"right": [1] * 15, "left": [-1] * 15, "zigzag": [1, -1] * 7 + [1], "still": [0] * 15}
    x = np.arange(16)
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            name = list(moves)[k % 4]
            centre = rng.uniform(0, 16) + np.concatenate([[0], np.cumsum(moves[name])]) * rng.uniform(0.5, 1.0)
            rows = np.exp(-(((x[None, :] - (centre[:, None] % 16)) / 1.5) ** 2)) + rng.normal(0, 0.35, (16, 16))
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((np.clip(rows, 0, 1) * 255).astype(np.uint8)).save(folder / f"{k:05d}.png")


def union_sweep(epochs: int) -> dict:
    """Random search over every parameter some stage searches, with the range of the first stage
    that searches it (stage 1's ε0 range, not stage 2's narrower one or stage 3's fixed value)."""
    params: dict = {}
    for path in STAGES:
        sweep = load_stage(path)
        for name in sorted(searched(sweep) - {"max_epochs"}):
            params.setdefault(name, sweep["parameters"][name])
    first = load_stage(STAGES[0])
    return budgeted({**first, "method": "random", "parameters": params}, epochs, hyperband=False)


class Search:
    """One method's search under one folder: its sweep files, its Optuna studies (one SQLite file)
    and the trials' run directories."""

    def __init__(self, folder: Path, common: list[str], seed: int, workers: int):
        self.folder, self.common, self.seed, self.workers = folder, common, seed, workers
        self.runs = folder / "runs"
        self.storage = f"sqlite:///{folder / 'studies.db'}"
        self.done = (folder / "done").is_file()  # finished by an earlier call with the same --keep
        if not self.done:
            shutil.rmtree(folder, ignore_errors=True)  # an interrupted one starts again
            folder.mkdir(parents=True)

    def tool(self, *argv: str) -> None:
        log = self.folder / "tools.log"
        with open(log, "a") as out:
            status = subprocess.run([sys.executable, *argv], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
        if status != 0:
            sys.exit(f"error: {' '.join(argv[:4])} … exited with {status}; see {log}")

    def run_sweep(self, sweep: dict, name: str, trials: int) -> str:
        """Runs `trials` trials of `sweep` as study `name`; returns the study's optuna: source."""
        path = self.folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(sweep, sort_keys=False))
        self.tool(
            "-m", f"{PACKAGE}.sweeps", "run", str(path), "--trials", str(trials), "--workers", str(self.workers),
            "--seed", str(self.seed), "--storage", self.storage, "--study", name, "--output-dir", str(self.runs),
            "--", *self.common, "--seed", str(self.seed),
        )  # fmt: skip
        return f"optuna:{self.storage}#{name}"

    def next_stage(self, source: str, stages: Path, output: Path) -> dict:
        self.tool("-m", f"{PACKAGE}.sweeps", "next", "--from", source, "--stages", str(stages), "--output", str(output))
        return yaml.safe_load(output.read_text())

    def defaults(self, epochs: int) -> None:
        self.tool(
            "train.py", *self.common, "--seed", str(self.seed), "--max-epochs", str(epochs),
            "--output-dir", str(self.runs), "--run-name", "defaults",
        )  # fmt: skip

    def tune(self, trials: int, epochs: int) -> None:
        self.tool(
            "-m", f"{PACKAGE}.sweeps", "tune", "--budget-epochs", str(trials * epochs), "--seeds", "2",
            "--seed", str(self.seed), "--workers", str(self.workers), "--output-dir", str(self.runs),
            "--storage", self.storage,
            "--", *self.common, "--max-epochs", str(epochs),
        )  # fmt: skip

    def outcome(self) -> tuple[float, float, int, int]:
        """(best val/acc, its test/acc, epochs spent, trials) over every run directory of the search.
        A pruned trial's results.json holds its best epoch so far; it competes like any other run. A
        diverged or stuck one has no results.json: its epochs are those its metrics.csv trained."""
        best, epochs, trials = {}, 0, 0
        runs = self.runs / "tune" if (self.runs / "tune" / "tune.json").is_file() else self.runs  # tune's <study>/
        for run in sorted(d for d in runs.iterdir() if (d / "config.yaml").is_file()):
            trials += 1
            if not (run / "results.json").is_file():
                epochs += trained_epochs(run / "metrics.csv")
                continue
            r = json.loads((run / "results.json").read_text())
            epochs += int(r.get("epochs", 0))
            if r.get("val/acc", -1.0) > best.get("val/acc", -1.0):
                best = r
        if (runs / "tune.json").is_file():  # tune: its winner's figures (its range test counts an epoch)
            state = json.loads((runs / "tune.json").read_text())
            test = statistics.mean(state["test"]) if state.get("test") else math.nan
            return state.get("val", math.nan), test, epochs + 1, trials + 1
        return best.get("val/acc", math.nan), best.get("test/acc", math.nan), epochs, trials


def trained_epochs(metrics: Path) -> int:
    """The epochs a run trained in, from its metrics.csv (the epochs of its train/loss rows)."""
    if not metrics.is_file():
        return 0
    with open(metrics, newline="") as f:
        return len({row["epoch"] for row in csv.DictReader(f) if row.get("train/loss")})


def staged(s: Search, trials: int, epochs: int, hyperband: bool) -> None:
    """Stage 1 → next → stage 2 → next → stage 3, `trials` split over the stages (the first ones one more)."""
    stages = s.folder / "stages"  # the shipped files at the benchmark's budget, for `sweeps next --stages`
    stages.mkdir()
    for path in STAGES:
        (stages / path.name).write_text(yaml.safe_dump(budgeted(load_stage(path), epochs, hyperband), sort_keys=False))
    files = sorted(stages.glob("stage*.yaml"))
    per_stage = [trials // len(files) + (i < trials % len(files)) for i in range(len(files))]
    sweep = load_stage(files[0])
    for i, (path, n) in enumerate(zip(files, per_stage)):
        source = s.run_sweep(sweep, path.stem, n)
        if i + 1 < len(files):
            sweep = s.next_stage(source, stages, s.folder / f"{files[i + 1].stem}.next.yaml")


def write_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """An MNIST-format set (IDX files in root/MNIST/raw) made from scikit-learn's 8x8 digits: each
    image scaled to 20x20 and placed at a random offset in a 28x28 frame (MNIST's own layout: 20x20
    digits in 28x28), with noise. Train and test images come from disjoint halves of digits."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    scaled = torch.nn.functional.interpolate(
        torch.tensor(digits.images, dtype=torch.float32)[:, None] * 255 / 16, size=(20, 20), mode="bilinear"
    )[:, 0].numpy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    halves = order[: len(order) // 2], order[len(order) // 2 :]
    for prefix, pool, n in (("train", halves[0], n_train), ("t10k", halves[1], n_test)):
        picks = rng.choice(pool, n)
        frames = np.zeros((n, 28, 28))
        for k, (dy, dx) in enumerate(rng.integers(0, 9, (n, 2))):
            frames[k, dy : dy + 20, dx : dx + 20] = scaled[picks[k]]
        images = np.clip(frames + rng.normal(0, 24, frames.shape), 0, 255).astype(np.uint8)
        write_idx(root / "MNIST" / "raw", prefix, images, digits.target[picks].astype(np.uint8))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=24, help="trials per search (staged: split over the stages)")
    p.add_argument("--epochs", type=int, default=8, help="epochs per trial (max_epochs of every sweep file)")
    p.add_argument("--search-seeds", type=int, default=3, help="seeds of the search: the figures are their medians")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="trials run at once")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--datasets", help="comma-separated (digits, mnist, wine, breast-cancer, sequences): a table each")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--make-mnist", type=int, metavar="N", help="first write an MNIST-format set of N training images")
    p.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the searches here (default: a temporary folder); called again with the same DIR, it "
        "reruns only the searches that did not finish, then prints the table of all",
    )
    p.add_argument("--methods", default=",".join(METHODS), help=f"which of {','.join(METHODS)} (default: all)")
    a = p.parse_args()
    methods = [m for m in a.methods.split(",") if m]
    if not methods or set(methods) - set(METHODS):
        p.error(f"argument --methods: choose from {','.join(METHODS)} (got {a.methods!r})")
    if a.trials < len(STAGES) or a.epochs < 1 or a.search_seeds < 1 or a.workers < 1:
        p.error(f"--trials must be at least {len(STAGES)} (a trial per stage); --epochs, --search-seeds, --workers 1")
    first_band = budgeted(load_stage(STAGES[0]), a.epochs, hyperband=True)["early_terminate"]["min_iter"]
    if "staged+hyperband" in methods and first_band >= a.epochs:
        print(f"warning: with --epochs {a.epochs} Hyperband's first band is the last epoch: it stops nothing")
    for dataset in (a.datasets or a.dataset).split(","):
        a.dataset = dataset
        bench(a, methods, p)
    return 0


def bench(a, methods: list[str], p) -> None:
    budget = {k: getattr(a, k) for k in ("dataset", "trials", "epochs")}
    keep = a.keep / a.dataset if a.keep and a.datasets else a.keep
    if keep and (keep / "bench.json").is_file() and json.loads((keep / "bench.json").read_text()) != budget:
        p.error(f"argument --keep: {keep} holds searches of another budget ({(keep / 'bench.json').read_text()})")
    if a.make_mnist:
        write_mnist(Path(a.data_dir), a.make_mnist, max(1, a.make_mnist // 6))
        print(f"wrote an MNIST-format set ({a.make_mnist} training images) in {a.data_dir}/MNIST/raw", flush=True)
    data_dir = Path(a.data_dir).resolve()
    if a.dataset == "sequences":
        data_dir = data_dir / "sequences"
        if not (data_dir / "train").is_dir():
            write_sequences(data_dir, 1600, 400)
    dataset = "image-folder" if a.dataset == "sequences" else a.dataset
    common = ["--dataset", dataset, "--data-dir", str(data_dir), "--accelerator", "cpu"]
    common += ["--image-size", "16"] if a.dataset == "sequences" else []
    common += ["--wandb-mode", "disabled", "--no-diagnose"]
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # trials at once share the cores (sweeps run divides them)
    table: dict[str, list[tuple[float, float, int]]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        top = keep or Path(tmp)
        top.mkdir(parents=True, exist_ok=True)
        (top / "bench.json").write_text(json.dumps(budget))
        for seed in range(a.search_seeds):
            for m in methods:
                s = Search(top / f"{m}-seed{seed}", common, seed, a.workers)
                if s.done:
                    pass
                elif m == "defaults":
                    s.defaults(a.epochs)
                elif m == "random":
                    s.run_sweep(union_sweep(a.epochs), "random", a.trials)
                elif m in ("sweep-random", "sweep-tpe"):
                    s.run_sweep(sweep_file(a.epochs, "random" if m == "sweep-random" else "bayes"), m, a.trials)
                elif m == "tune":
                    s.tune(a.trials, a.epochs)
                else:
                    staged(s, a.trials, a.epochs, hyperband=m == "staged+hyperband")
                (s.folder / "done").touch()
                v, t, e, n = s.outcome()
                table[m].append((v, t, e))
                print(f"seed {seed} {m:17} val/acc {v:.4f} test/acc {t:.4f} epochs {e:4d} ({n} runs)", flush=True)
    print(f"\n{a.dataset}: {a.trials} trials x {a.epochs} epochs, medians over {a.search_seeds} seeds of the search")
    print(f"| {a.dataset} | method | val/acc | test/acc | epochs |\n|---|---|---|---|---|")
    for m in methods:
        v, t, e = (statistics.median(x[i] for x in table[m]) for i in range(3))
        print(f"| {a.dataset} | {m} | {v:.4f} | {t:.4f} | {e:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
