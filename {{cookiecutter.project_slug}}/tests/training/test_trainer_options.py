"""The Trainer options (intervals, sanity steps, anomaly detection, cuDNN autotuner) reach Lightning and
do what their help says."""

from __future__ import annotations

import csv

import pytest
from conftest import FAST, assert_bad_input, train


@pytest.mark.cli
@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        ("--val-check-interval 0", "--val-check-interval"),
        ("--val-check-interval 1.5", "--val-check-interval"),
        ("--log-every-n-steps 0", "--log-every-n-steps"),
        ("--check-val-every-n-epoch 0", "--check-val-every-n-epoch"),
        ("--num-sanity-val-steps -2", "--num-sanity-val-steps"),
        ("--benchmark --deterministic", "--benchmark"),
        ("--detect-anomaly=maybe", "--detect-anomaly"),
    ],
)
def test_bad_trainer_options_exit_2_in_one_line(argv, flag, capsys):
    assert_bad_input(argv, flag, capsys)


@pytest.mark.cli
def test_trainer_options_are_in_print_config(capsys):
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--val-check-interval", "3", "--num-sanity-val-steps", "-1", "--print-config"])
    out = capsys.readouterr().out
    for line in [
        "val_check_interval: 3\n",
        "num_sanity_val_steps: -1",
        "log_every_n_steps: 1",
        "check_val_every_n_epoch: 1",
        "detect_anomaly: false",
        "benchmark: false",
    ]:
        assert line in out


def capture_trainer(monkeypatch) -> dict:
    """Record the Trainer that a run builds, and what holds while it trains, through a callback."""
    import lightning as L
    import torch

    from {{cookiecutter.project_slug}}.training import fit as run

    seen = {"sanity_batches": 0, "val_steps": [], "anomaly": set(), "benchmark": set()}

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, *args):
            seen["anomaly"].add(torch.is_anomaly_enabled())
            seen["benchmark"].add(torch.backends.cudnn.benchmark)

        def on_validation_batch_start(self, trainer, *args):
            seen["sanity_batches"] += trainer.sanity_checking

        def on_validation_epoch_end(self, trainer, module):
            if not trainer.sanity_checking:
                seen["val_steps"].append(trainer.global_step)

    build = run.build_trainer

    def spying(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.callbacks.append(Spy())
        seen["trainer"] = trainer
        return trainer

    monkeypatch.setattr(run, "build_trainer", spying)
    benchmark = torch.backends.cudnn.benchmark
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", benchmark)  # restored after the test
    return seen


def logged_steps(run_dir, column: str) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row.get(column)]


def test_each_trainer_option_reaches_lightning_and_acts(tmp_path, monkeypatch):
    seen = capture_trainer(monkeypatch)
    status, run_dir = train(
        tmp_path,
        "--width",
        "16",
        "--max-epochs",
        "2",
        "--limit-train-batches",
        "6",
        "--limit-val-batches",
        "2",
        "--val-check-interval",
        "3",
        "--check-val-every-n-epoch",
        "2",
        "--num-sanity-val-steps",
        "1",
        "--log-every-n-steps",
        "2",
        "--detect-anomaly",
        "--benchmark",
    )
    assert status == 0
    trainer = seen["trainer"]
    assert (
        trainer.log_every_n_steps,
        trainer.val_check_interval,
        trainer.check_val_every_n_epoch,
        trainer.num_sanity_val_steps,
    ) == (2, 3, 2, 1)
    # Validation after every 3rd batch of every 2nd epoch only: steps 9 and 12 of 2 × 6.
    assert seen["val_steps"] == [9, 12]
    assert seen["sanity_batches"] == 1
    assert seen["anomaly"] == {True} and seen["benchmark"] == {True}
    assert logged_steps(run_dir, "lr") == [0, 2, 4, 6, 8, 10]  # every 2nd of steps 0-11


def test_val_check_interval_beyond_an_epoch_exits_2_before_writing(tmp_path, capsys):
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    a = parse_args(
        [*FAST, "--output-dir", str(tmp_path / "runs"), "--limit-train-batches", "5", "--val-check-interval", "6"]
    )
    assert main(a) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--val-check-interval" in err and "5 training batches" in err, err
    assert not (tmp_path / "runs").exists()
