"""Regression runs end to end: a linear target fitted and monitored by val/rmse, a mixed classification
+ regression multitask run, best.ckpt following val/rmse (lower is better), --resume, --test-only,
`sweeps next` ranking by val/rmse, and the embedded tables training offline."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_regression_data import write_linear  # noqa: E402

pytestmark = pytest.mark.slow


def metric_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def per_epoch(run: Path, key: str) -> list[float]:
    return [float(r[key]) for r in metric_rows(run) if r.get(key)]


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    """A noise-free linear target, learned well enough to check predictions in the target's units."""
    tmp = tmp_path_factory.mktemp("linear")
    path = write_linear(tmp / "t.csv", n=400)
    flags = ["--dataset", "csv", "--data-dir", str(path), "--target", "price", "--features", "a,b,c"]
    # Nearly linear units (leaky slope 0.9) so that one hidden layer fits a line closely in 20 short epochs.
    shape = ["--depth", "1", "--width", "32", "--activation", "leaky-relu", "--leaky-slope", "0.9"]
    status, run = train(tmp, *flags, *shape, "--max-epochs", "20", "--lr", "0.01", "--run-name", "lin")
    assert status == 0
    return tmp, path, run


def test_a_linear_target_is_fitted_and_monitored_by_val_rmse(linear_run):
    _, path, run = linear_run
    results = json.loads((run / "results.json").read_text())
    assert results["monitor"] == "val/rmse" and results["monitor_mode"] == "min"
    with open(path, newline="") as f:
        truth = np.array([float(r["price"]) for r in csv.DictReader(f)])
    assert results["test/r2"] > 0.99 and results["test/rmse"] < 0.1 * truth.std()


def test_best_ckpt_follows_val_rmse_lower_is_better(linear_run):
    _, _, run = linear_run
    rmse = per_epoch(run, "val/rmse")
    assert len(rmse) == 20 and rmse[-1] < rmse[0]
    best = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert best["epoch"] == int(np.argmin(rmse)), (best["epoch"], rmse)
    results = json.loads((run / "results.json").read_text())
    assert results["val/rmse"] == pytest.approx(min(rmse), rel=1e-6)  # the best epoch's metrics
    assert set(per_epoch(run, "train/rmse")) and not any(r.get("val/acc") for r in metric_rows(run))


def test_a_mixed_multitask_run_logs_both_metric_families(tmp_path):
    path = write_linear(tmp_path / "t.csv", n=200)
    flags = ["--dataset", "csv", "--data-dir", str(path), "--tasks", "category,price", "--features", "a,b,c"]
    status, run = train(tmp_path, *flags, "--task-weights", "1,0.5", "--max-epochs", "2", "--run-name", "mix")
    assert status == 0
    header = metric_rows(run)[0].keys()
    for key in ("val/category/acc", "val/price/rmse", "val/price/mae", "val/price/r2", "val/acc", "val/price/loss"):
        assert key in header, sorted(header)
    results = json.loads((run / "results.json").read_text())
    assert results["monitor"] == "val/acc"  # the primary task is classification
    assert {"test/category/acc", "test/price/rmse", "test/price/r2"} <= set(results)
    assert 0 <= results["test/acc"] <= 1 and results["test/price/rmse"] > 0


def test_resume_and_test_only_of_a_regression_table(tmp_path, capsys):
    status, run = train(tmp_path, "--dataset", "diabetes", "--max-epochs", "2", "--run-name", "d")
    assert status == 0
    status, _ = train(tmp_path, "--dataset", "diabetes", "--resume", str(run), "--max-epochs", "3")
    assert status == 0 and len(per_epoch(run, "val/rmse")) == 3
{%- if cookiecutter.inference %}
    status, tested = train(tmp_path, "--test-only", "--resume", str(run), "--dataset", "diabetes", "--run-name", "t")
    assert status == 0
    results = json.loads((tested / "results.json").read_text())
    assert results["monitor"] == "val/rmse" and results["test/rmse"] > 0 and "test/r2" in results
    assert "test/rmse=" in capsys.readouterr().out
{%- endif %}


def test_sweeps_next_ranks_regression_runs_by_lowest_val_rmse(tmp_path):
    from {{cookiecutter.project_slug}}.commands.sweeps import next_stage

    root = Path(__file__).resolve().parents[2]
    runs = tmp_path / "runs"
    for name, lr, rmse in (("a", 0.01, 60.0), ("b", 0.001, 50.0), ("c", 0.1, 70.0)):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.yaml").write_text(yaml.safe_dump({"lr": lr, "batch_size": 64}))
        (runs / name / "results.json").write_text(json.dumps({"val/rmse": rmse, "monitor": "val/rmse"}))
    stages = root / "sweeps"
    out = next_stage(str(runs), sorted(stages.glob("stage*.yaml"))[1], tmp_path / "next.yaml", stages)
    written = yaml.safe_load(out.read_text())
    assert written["metric"] == {"name": "val/rmse", "goal": "minimize"}
    assert "best run b (val/rmse = 50.0000)" in out.read_text()


@pytest.mark.parametrize("name", ["breast-cancer", "wine", "diabetes"])
def test_the_embedded_tables_train_offline(tmp_path, name, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise OSError("network used by an embedded table")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # any attempt to reach a server fails the run
    status, run = train(tmp_path, "--dataset", name, "--max-epochs", "2", "--run-name", name)
    assert status == 0
    results = json.loads((run / "results.json").read_text())
    key = "test/rmse" if name == "diabetes" else "test/acc"
    assert key in results and np.isfinite(results[key])
