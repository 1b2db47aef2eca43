"""Training end to end: outputs of a run, accuracy on digits, resume, W&B offline records."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import wandb_records
import yaml
from conftest import run_cli, train

from {{cookiecutter.project_slug}}.networks import MODELS


@pytest.mark.parametrize("model", MODELS)
def test_fast_dev_run_per_model(model, tmp_path):
    status, run_dir = train(tmp_path, "--model", model, "--width", "16", "--fast-dev-run")
    assert status == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["test/acc"] <= 1.0


def test_run_directory_contents(tmp_path):
    status, run_dir = train(tmp_path, "--max-epochs", "2", "--run-name", "r")
    assert status == 0
    assert run_dir == tmp_path / "runs" / "r"
    for name in ("config.yaml", "metrics.csv", "results.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "plots").is_dir()
    results = json.loads((run_dir / "results.json").read_text())
    assert {"val/acc", "val/loss", "test/acc", "test/loss", "run_name"} <= set(results)
    confusion = torch.tensor(results["test/confusion_matrix"])  # rows: true digit, columns: predicted
    assert confusion.shape == (10, 10) and confusion.sum() == 359
    assert confusion.diag().sum() / 359 == pytest.approx(results["test/acc"])
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["max_epochs"] == 2
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    lr_steps = sorted(int(r["step"]) for r in rows if r["lr"])
    assert lr_steps == list(range(results["steps"])), "lr must be logged at every optimizer step"
    assert {"train/loss", "val/loss", "val/acc", "test/loss", "test/acc"} <= set(rows[0])
    # best.ckpt holds the epoch with the best val/acc, which results.json reports.
    best = torch.load(run_dir / "checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    ckpt_cb = next(v for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert ckpt_cb["best_model_score"].item() == pytest.approx(results["val/acc"])


@pytest.mark.slow
def test_default_run_reaches_95_percent(tmp_path):
    result = run_cli(
        "--output-dir", str(tmp_path / "runs"), "--wandb-mode", "disabled", "--accelerator", "cpu", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test/acc"] >= 0.95


@pytest.mark.slow
def test_resume_continues_the_epoch_count(tmp_path):
    status, run_dir = train(tmp_path, "--max-epochs", "2", "--run-name", "r", "--lr-schedule", "constant")
    assert status == 0
    status, again = train(tmp_path, "--resume", "last", "--max-epochs", "4")
    assert status == 0 and again == run_dir
    with open(run_dir / "metrics.csv") as f:
        epochs = sorted({int(r["epoch"]) for r in csv.DictReader(f) if r["val/acc"]})
    assert epochs == [0, 1, 2, 3]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["epochs"] == 4
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["lr_schedule"] == "constant"


@pytest.mark.slow
def test_wandb_offline_run_holds_config_and_history(tmp_path):
    result = run_cli(
        "--output-dir",
        str(tmp_path / "runs"),
        "--run-name",
        "w",
        "--wandb-mode",
        "offline",
        "--accelerator",
        "cpu",
        "--max-epochs",
        "2",
        "--lr",
        "0.003",
        "--depth",
        "1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "runs" / "w"
    path = wandb_records.find_run_file(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    assert path.stem == f"run-{results['wandb_run_id']}"
    config = wandb_records.config(path)
    assert (config["lr"], config["depth"], config["max_epochs"]) == (0.003, 1, 2)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert {k: config[k] for k in saved} == saved, "the W&B config must hold every resolved flag"
    # Derived values: 1,294 training images / 64 = 21 steps; a 64-256-10 MLP whose hidden layer
    # feeds batch norm (no bias; γ and β instead).
    assert (config["steps_per_epoch"], config["global_batch_size"]) == (21, 64)
    assert config["param_count"] == 64 * 256 + 2 * 256 + 256 * 10 + 10
    history = wandb_records.history(path)
    val_acc = [row["val/acc"] for row in history if "val/acc" in row and "epoch" in row]  # per epoch
    assert len(val_acc) == 2 and all(0 <= v <= 1 for v in val_acc)
    assert max(val_acc) == pytest.approx(results["val/acc"])
    final = [row for row in history if "val/acc" in row and "epoch" not in row]  # the sweep metric, once at the end
    assert len(final) == 1 and final[0]["val/acc"] == pytest.approx(results["val/acc"])
    lrs = [row["lr"] for row in history if "lr" in row]
    assert len(lrs) == results["steps"] and lrs[0] == 0.003
    assert any(
        row.get("model/parameters", {}).get("_type") == "table-file" or "model/parameters/_type" in row
        for row in history
    ), "the per-layer parameter table"


def test_a_failing_after_run_hook_is_one_warning_and_the_run_succeeds(tmp_path, capsys, monkeypatch):
    """training/fit.AFTER_RUN, the extension point of the optional features: a hook that raises never
    fails a finished run; it is named in one warning line."""
    from {{cookiecutter.project_slug}}.training import fit

    calls = []

    def broken(plan, module, dm, wandb_logger):
        calls.append(plan.run_dir)
        raise RuntimeError("boom")

    monkeypatch.setattr(fit, "AFTER_RUN", [broken])
    status, run_dir = train(tmp_path, "--max-steps", "2", "--limit-val-batches", "1")
    assert status == 0 and calls == [run_dir] and (run_dir / "results.json").is_file()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "failed after the run" in line]
    assert len(warnings) == 1 and "broken" in warnings[0] and "boom" in warnings[0], warnings
