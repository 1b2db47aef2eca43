"""Quality on the embedded real tables (breast-cancer, wine, diabetes): the project's default MLP and a
tuned flag set against scikit-learn's LogisticRegression / Ridge and MLPClassifier / MLPRegressor, on
the same split and seed. Prints test accuracy (classification) or test RMSE and R² (regression); no
assertion, no timing: a table to read.

    python benchmarks/bench_tables.py                       # every embedded table, seed 0
    python benchmarks/bench_tables.py --seeds 3 wine        # mean ± std over seeds 0, 1, 2
    python benchmarks/bench_tables.py --tuned "--max-epochs 100 --dropout 0.2"

Each project run is `python train.py --dataset NAME` in its own process (the test split is scored
with best.ckpt, chosen on the validation split). scikit-learn's models are fitted on the same training
rows (TableDataModule's split: stratified by class, or a seeded shuffle for a regression target), on
features standardized with the training split's statistics as the project's network does, and
scored on the same test rows; the MLPRegressor also learns the standardized target (as the project's
regression head does), through TransformedTargetRegressor.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLES = ("breast-cancer", "wine", "diabetes")
# Found with a small manual search on seed 0's validation split (not its test split): longer training
# in smaller minibatches (more steps), a wider layer, dropout and weight decay for these few hundred rows.
TUNED = "--max-epochs 60 --batch-size 16 --width 64 --dropout 0.1 --weight-decay 0.01"


def split(name: str, seed: int):
    """(x_train, y_train, x_test, y_test, kind) exactly as train.py splits the table."""
    from {{cookiecutter.project_slug}}.config.parser import parse_args
    from {{cookiecutter.project_slug}}.config.views import view
    from {{cookiecutter.project_slug}}.data.build import DataOptions
    from {{cookiecutter.project_slug}}.data.tables import TableDataModule
    from {{cookiecutter.project_slug}}.datasets import DATASETS

    a = parse_args(["--dataset", name, "--seed", str(seed), "--wandb-mode", "disabled"])  # train.py's split
    dm = TableDataModule(DATASETS[name], view(DataOptions, a, pin_memory=False))
    dm.setup()
    flat = lambda s: s.x.view(len(s), -1).double().numpy()  # noqa: E731
    return flat(dm.train_set), dm.train_set.y[:, 0].numpy(), flat(dm.test_set), dm.test_set.y[:, 0].numpy(), dm.kinds[0]


def project(name: str, flags: str, seed: int, out: str) -> dict:
    run = f"{name}-{abs(hash(flags)) % 10**6}-{seed}"
    argv = [sys.executable, str(ROOT / "train.py"), "--dataset", name, "--seed", str(seed), "--accelerator", "cpu"]
    argv += ["--wandb-mode", "disabled", "--output-dir", out, "--run-name", run, *shlex.split(flags)]
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode != 0:
        sys.exit(f"failed: {shlex.join(argv)}\n{result.stderr[-2000:]}")
    return json.loads((Path(out) / run / "results.json").read_text())


def sklearn_scores(name: str, seed: int) -> dict[str, dict]:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, xt, yt, kind = split(name, seed)
    if kind == "regression":
        models = {
            "Ridge": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
            "MLPRegressor": TransformedTargetRegressor(
                make_pipeline(StandardScaler(), MLPRegressor(max_iter=2000, early_stopping=True, random_state=seed)),
                transformer=StandardScaler(),
            ),
        }
    else:
        models = {
            "LogisticRegression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
            "MLPClassifier": make_pipeline(StandardScaler(), MLPClassifier(max_iter=2000, random_state=seed)),
        }
    scores = {}
    for model_name, model in models.items():
        predicted = model.fit(x, y.astype(np.int64) if kind != "regression" else y).predict(xt)
        if kind == "regression":
            scores[model_name] = {"rmse": mean_squared_error(yt, predicted) ** 0.5, "r2": r2_score(yt, predicted)}
        else:
            scores[model_name] = {"acc": accuracy_score(yt.astype(np.int64), predicted)}
    return scores


def summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", default=list(TABLES), help=f"of {', '.join(TABLES)} (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (each: its own split and initialization)")
    parser.add_argument("--tuned", default=TUNED, help="the tuned flag set")
    a = parser.parse_args()
    unknown = [t for t in a.tables if t not in TABLES]
    if unknown:
        parser.error(f"argument tables: {unknown[0]!r} is not an embedded table (choose from {', '.join(TABLES)})")
    print(f"tuned flags: {a.tuned}")
    print("| table | model | test metric | value |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for name in a.tables:
            rows: dict[str, dict[str, list[float]]] = {}
            for seed in range(a.seeds):
                for label, flags in (("project MLP (defaults)", ""), ("project MLP (tuned)", a.tuned)):
                    results = project(name, flags, seed, out)
                    for metric in ("acc", "rmse", "r2"):
                        if f"test/{metric}" in results:
                            rows.setdefault(label, {}).setdefault(metric, []).append(results[f"test/{metric}"])
                for label, scores in sklearn_scores(name, seed).items():
                    for metric, value in scores.items():
                        rows.setdefault(f"scikit-learn {label}", {}).setdefault(metric, []).append(value)
            for label, metrics in rows.items():
                for metric, values in metrics.items():
                    print(f"| {name} | {label} | test/{metric} | {summary(values)} |", flush=True)


if __name__ == "__main__":
    main()
