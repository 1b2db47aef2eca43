"""A run's state is never lost: last.ckpt, resume, run directories that belong to one run, atomic
writes, the runs that must work without a best checkpoint, and --test-only reproducing a run's
results."""

from __future__ import annotations

import csv
import fcntl
import json
import signal
import subprocess

import pytest
import torch
import yaml
from conftest import FAST, HANG, parsed, start_train, train, wait_until

from {{cookiecutter.project_slug}}.training.schedules import lr_at, schedule_arguments


def rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def lr_steps(run_dir) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r["lr"])) for r in rows(run_dir) if r["lr"]]


def refused(tmp_path, capsys, *args) -> str:
    """The run exits 2 with one line on stderr (no traceback) and writes no run directory."""
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    capsys.readouterr()
    before = set((tmp_path / "runs").rglob("*")) if (tmp_path / "runs").exists() else set()
    try:
        status = main(parse_args([*FAST, "--output-dir", str(tmp_path / "runs"), *args]))
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert status == 2, err[-2000:]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    after = set((tmp_path / "runs").rglob("*")) if (tmp_path / "runs").exists() else set()
    assert after == before, f"files written: {sorted(map(str, after - before))[:5]}"
    return lines[0]


def test_last_checkpoint_is_the_latest_epoch_not_the_best(tmp_path):
    # ε0 so small (and no batch norm statistics) that val/acc never improves after epoch 0: best.ckpt
    # stays at epoch 0 (step 21); Lightning's save_last would have kept last.ckpt there too.
    status, run_dir = train(
        tmp_path, "--lr", "1e-12", "--optimizer", "sgd", "--no-batchnorm", "--max-epochs", "3", "--run-name", "r"
    )
    assert status == 0
    last = torch.load(run_dir / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(run_dir / "checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 3 * 21 and last["epoch"] == 2
    assert best["global_step"] == 21
    assert not list(run_dir.rglob("*.tmp")), "no temporary files left behind"


def test_extending_a_finished_run_continues_at_its_last_step(tmp_path):
    status, run_dir = train(tmp_path, "--max-epochs", "2", "--run-name", "r")
    assert status == 0
    before = lr_steps(run_dir)
    status, again = train(tmp_path, "--resume", "last", "--max-epochs", "3")
    assert status == 0 and again == run_dir
    after = lr_steps(run_dir)
    assert [k for k, _ in after] == list(range(3 * 21)), "every step once: none lost, none trained twice"
    assert after[:42] == before, "the first run's rows are kept as they were"
    kw = schedule_arguments(parsed())
    for k, value in after[42:]:  # re-planned: the linear schedule of a 63-step run
        assert value == pytest.approx(lr_at(k, steps_per_epoch=21, total_steps=63, **kw))
    assert json.loads((run_dir / "results.json").read_text())["steps"] == 63


def test_resume_keeps_the_rows_before_its_step_and_rewrites_atomically(tmp_path, monkeypatch):
    from {{cookiecutter.project_slug}}.training.loggers import RunCSVLogger

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,lr,step\n" + "".join(f"0,0.1,{k}\n" for k in range(10)))
    RunCSVLogger(save_dir=str(tmp_path), keep_below_step=6).experiment  # noqa: B018 - opens the file
    assert [int(r["step"]) for r in csv.DictReader(path.open())] == list(range(6))
    # A rewrite that dies half-way leaves the old file whole (write-then-rename).
    original = path.read_text()
    logger = RunCSVLogger(save_dir=str(tmp_path), keep_below_step=None)
    logger.log_metrics({"train/loss": 1.0}, step=6)

    def die(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", die)
    with pytest.raises(KeyboardInterrupt):
        logger.save()  # a new column: the file is rewritten with a new header
    assert path.read_text() == original


def test_a_taken_run_name_is_refused_unless_overwrite(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--max-steps", "3", "--run-name", "r")
    assert status == 0
    kept = (run_dir / "results.json").read_text()
    line = refused(tmp_path, capsys, "--max-steps", "3", "--run-name", "r")
    assert "--resume" in line and "--overwrite" in line
    assert (run_dir / "results.json").read_text() == kept
    status, _ = train(tmp_path, "--max-steps", "4", "--run-name", "r", "--overwrite")
    assert status == 0 and json.loads((run_dir / "results.json").read_text())["steps"] == 4


def test_two_processes_never_write_one_run_directory(tmp_path, capsys):
    from {{cookiecutter.project_slug}}.errors import UsageError
    from {{cookiecutter.project_slug}}.training.rundir import claim_run_directory, release_run_directory

    status, run_dir = train(tmp_path, "--max-steps", "3", "--run-name", "r")
    assert status == 0
    with open(run_dir / ".lock", "a") as held:  # another process is writing the run
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = refused(tmp_path, capsys, "--resume", str(run_dir), "--max-steps", "6")
        assert "another process" in line
    # Two runs started together with one name: the directory is created atomically, once.
    assert claim_run_directory(tmp_path / "runs" / "new")
    with pytest.raises(UsageError, match="already holds a run"):
        claim_run_directory(tmp_path / "runs" / "new")
    release_run_directory()  # this process goes on: the lock of "new" must not outlive the test


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "a\\b"])
def test_run_names_with_path_parts_are_refused(name, tmp_path, capsys):
    assert "--run-name" in refused(tmp_path, capsys, "--run-name", name)


def test_a_failed_resume_changes_nothing(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--max-epochs", "1", "--run-name", "r")
    assert status == 0
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    line = refused(tmp_path, capsys, "--resume", "last", "--width", "128", "--optimizer", "sgd")
    assert "--width 128 (checkpoint: 256)" in line and "--optimizer sgd (checkpoint: adam)" in line
    assert {p: p.read_bytes() for p in files} == files
    status, again = train(tmp_path, "--resume", "last", "--max-epochs", "2")
    assert status == 0 and again == run_dir


def test_resume_with_fewer_epochs_than_trained_is_one_line(tmp_path, capsys):
    status, _ = train(tmp_path, "--max-epochs", "2", "--run-name", "r")
    assert status == 0
    assert "--max-epochs 1 is fewer" in refused(tmp_path, capsys, "--resume", "last", "--max-epochs", "1")


def test_resume_honours_a_new_learning_rate(tmp_path):
    flags = ["--lr-schedule", "constant", "--run-name", "r"]
    status, run_dir = train(tmp_path, *flags, "--max-epochs", "1")
    assert status == 0
    status, _ = train(tmp_path, "--resume", "last", "--lr", "0.01", "--max-epochs", "2")
    assert status == 0
    lrs = dict(lr_steps(run_dir))
    assert lrs[20] == pytest.approx(3e-3) and all(lrs[k] == pytest.approx(0.01) for k in range(21, 42))
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["lr"] == 0.01


def test_resume_inside_a_config_file(tmp_path):
    status, run_dir = train(tmp_path, "--max-epochs", "1", "--run-name", "r")
    assert status == 0
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["resume"] is None, "config starts a new run"
    from {{cookiecutter.project_slug}}.commands.train import run as main
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    config = tmp_path / "more.yaml"
    config.write_text(f"resume: last\nmax_epochs: 2\noutput_dir: {tmp_path / 'runs'}\n")
    a = parse_args(["--config", str(config)])
    assert a.resume_ckpt == str(run_dir / "checkpoints" / "last.ckpt")
    assert main(a) == 0
    assert json.loads((run_dir / "results.json").read_text())["steps"] == 42


def test_fast_dev_run_leaves_no_last_checkpoint(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--fast-dev-run", "--run-name", "smoke")
    assert status == 0 and not (run_dir / "checkpoints").exists()
    assert "no previous run" in refused(tmp_path, capsys, "--resume", "last")


@pytest.mark.parametrize(
    "flags",
    [
        ["--max-steps", "5"],  # shorter than one epoch: validation never ran
        ["--val-fraction", "0.0003"],  # no validation example at all
        ["--batch-size", "1", "--no-batchnorm", "--limit-train-batches", "30", "--limit-val-batches", "5"],
    ],
    ids=["max-steps", "no-validation", "batch-size-1"],
)
@pytest.mark.slow
def test_runs_without_a_best_checkpoint_test_the_last_weights(flags, tmp_path, capsys):
    status, run_dir = train(tmp_path, *flags, "--run-name", "r")
    assert status == 0, capsys.readouterr().err[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert 0 <= results["test/acc"] <= 1
    if not (run_dir / "checkpoints" / "best.ckpt").exists():
        assert results["tested"] == "last weights" and "testing the last weights" in capsys.readouterr().err
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def _sigterm_when_checkpointed(tmp_path, env: dict) -> subprocess.CompletedProcess:
    """SIGTERM from this process (the parent) in the second epoch, after the first epoch's last.ckpt."""
    flags = ["--output-dir", str(tmp_path / "runs"), "--wandb-mode", "disabled", "--accelerator", "cpu"]
    flags += ["--dataset", "digits", "--run-name", "r", "--max-epochs", "2"]
    process = start_train(tmp_path, *flags, env=env, pause_at=30)
    wait_until(process, (tmp_path / "paused-30").exists)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=HANG)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_a_wandb_sweep_stop_saves_and_exits_zero(tmp_path):
    result = _sigterm_when_checkpointed(tmp_path, {"WANDB_SWEEP_ID": "abc123"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stopped by the W&B sweep" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "runs" / "r" / "checkpoints" / "last.ckpt").is_file()


def test_adversarial_examples_leave_batchnorm_statistics_alone():
    from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args
    from {{cookiecutter.project_slug}}.training.module import TaskModule

    def stats_after_one_step(adversarial: str) -> list[torch.Tensor]:
        torch.manual_seed(0)
        a = parse_args(["--adversarial", adversarial, "--adv-steps", "5"])
        module = TaskModule(
            **config_dict(a),
            input_shape=[1, 8, 8],
            input_mean=[0.3],
            input_std=[0.4],
            task_names=["digit"],
            task_classes=[10],
            label_frequencies=[[0.1] * 10],
        )
        x, y = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(16).remainder(10)
        module.train()
        module.training_step((x, y[:, None]), 0)
        norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert norms
        return [t.clone() for m in norms for t in (m.running_mean, m.running_var, m.num_batches_tracked)]

    clean = stats_after_one_step("none")
    for method in ("fgsm", "pgd"):
        assert all(torch.equal(c, s) for c, s in zip(clean, stats_after_one_step(method))), method
{%- if cookiecutter.inference %}


# ----------------------------------------------------------------------------- --test-only


def test_test_only_reproduces_the_run_results(trained, tmp_path):
    status, test_dir = train(
        tmp_path, "--test-only", "--resume", str(trained / "checkpoints" / "best.ckpt"), "--dataset", "digits"
    )
    assert status == 0
    assert test_dir == tmp_path / "runs" / "r-test-digits"  # a new run; the trained one keeps its results
    original = json.loads((trained / "results.json").read_text())
    tested = json.loads((test_dir / "results.json").read_text())
    keys = [k for k in original if k.startswith("test/")]
    assert {"test/acc", "test/loss", "test/parity/acc", "test/confusion_matrix"} <= set(keys)
    assert {k: tested[k] for k in keys} == {k: original[k] for k in keys}
    assert (test_dir / "plots" / "confusion_matrix.png").is_file()
    assert json.loads((trained / "results.json").read_text()) == original


def test_test_only_bad_input(trained, tmp_path, capsys):
    from conftest import assert_bad_input

    assert_bad_input("--test-only", "--test-only needs --resume", capsys)
    status, _ = train(
        tmp_path,
        "--test-only",
        "--resume",
        str(trained / "checkpoints" / "best.ckpt"),
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "nothing"),
    )
    assert status == 2 and "files not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
{%- endif %}
