"""W&B in depth (read back from offline .wandb files), Trainer flags, DDP and SLURM."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import pytest
import torch
import wandb_records
from conftest import HANG, ROOT, data_options, parsed, run_cli, start_train, wait_until

from {{cookiecutter.project_slug}}.commands.options import build_trainer
from {{cookiecutter.project_slug}}.config.flags import FLAG_BY_NAME
from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.datasets import DATASETS
from {{cookiecutter.project_slug}}.training.schedules import lr_at, schedule_arguments


def offline(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(
        "--output-dir", str(tmp_path / "runs"), "--wandb-mode", "offline", "--accelerator", "cpu", *args, cwd=tmp_path
    )


def images(path) -> set[str]:
    """History keys that hold logged images (<key>/_type = images/separated, with PNG files)."""
    found = set()
    for row in wandb_records.history(path):
        for key, value in row.items():
            if key.endswith("/_type") and value in ("image-file", "images/separated"):
                key = key[: -len("/_type")]
                assert all(f.endswith(".png") for f in row.get(f"{key}/filenames", [".png"]))
                found.add(key)
    return found


@pytest.mark.slow
def test_images_tags_group_and_name(tmp_path):
    result = offline(tmp_path, "--max-epochs", "1", "--aug-rotate", "10", "--wandb-tags", "a,b", "--wandb-group", "g1")
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("digits-mlp-d2-w256-adam-lr0.003-bs64-")  # readable default name
    path = wandb_records.find_run_file(run_dir)
    run = next(r.run for r in wandb_records.records(path) if r.WhichOneof("record_type") == "run")
    assert list(run.tags) == ["a", "b"] and run.run_group == "g1" and run.display_name == run_dir.name
    assert {"plots/lr_schedule", "plots/augment", "plots/confusion_matrix"} <= images(path)
    assert (run_dir / "plots" / "confusion_matrix.png").is_file()  # made for W&B only


@pytest.mark.slow
def test_tool_runs_log_their_plot(tmp_path):
    result = offline(tmp_path, "--find-batch-size", "--find-batch-size-max", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "plots/batch_size" in images(wandb_records.find_run_file(run_dir))


@pytest.mark.slow
def test_resume_continues_the_wandb_run(tmp_path):
    assert offline(tmp_path, "--max-epochs", "1", "--run-name", "r").returncode == 0
    first = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())["wandb_run_id"]
    result = offline(tmp_path, "--resume", "last", "--max-epochs", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    again = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())
    assert again["wandb_run_id"] == first and again["epochs"] == 2


@pytest.mark.slow
def test_log_model_offline_says_checkpoints_stay_local(tmp_path):
    result = offline(tmp_path, "--fast-dev-run", "--wandb-log-model")
    assert result.returncode == 0
    assert "checkpoints are not uploaded as artifacts; they stay in" in result.stdout


@pytest.mark.slow
def test_watch_logs_gradients(tmp_path):
    result = offline(tmp_path, "--max-epochs", "5", "--wandb-watch", "gradients", "--run-name", "w")
    assert result.returncode == 0, result.stderr[-2000:]
    keys = {k for row in wandb_records.history(wandb_records.find_run_file(tmp_path / "runs" / "w")) for k in row}
    assert any(k.startswith("gradients/") for k in keys)


def test_trainer_flags_reach_lightning(tmp_path):
    from lightning.pytorch.strategies import DDPStrategy

    a = parse_args(
        [
            "--accelerator",
            "cpu",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--num-nodes",
            "2",
            "--precision",
            "bf16-mixed",
            "--accumulate-grad-batches",
            "4",
            "--gradient-clip-val",
            "0.5",
            "--max-epochs",
            "7",
            "--max-steps",
            "100",
            "--limit-train-batches",
            "0.5",
            "--deterministic",
        ]
    )
    trainer = build_trainer(a, tmp_path, loggers=[])
    assert isinstance(trainer.strategy, DDPStrategy)
    assert (trainer.num_devices, trainer.num_nodes, trainer.accumulate_grad_batches) == (2, 2, 4)
    assert trainer.precision == "bf16-mixed" and trainer.gradient_clip_val == 0.5
    assert (trainer.max_epochs, trainer.max_steps, trainer.limit_train_batches) == (7, 100, 0.5)


def test_compile_compiles_the_network_in_place():
    from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module

    a = parse_args(["--compile"])
    module = build_module(a, build_datamodule(a))
    keys = set(module.state_dict())
    module.configure_model()
    module.configure_model()  # Lightning calls it again for testing
    assert module.net._compiled_call_impl is not None and set(module.state_dict()) == keys


@pytest.mark.slow
def test_ddp_has_one_wandb_run_and_trains_adversarially(tmp_path):
    # Two CPU processes (gloo); rank 1 re-parses the command line, never reads wandb.config.
    result = offline(
        tmp_path,
        "--strategy",
        "ddp",
        "--devices",
        "2",
        "--adversarial",
        "fgsm",
        "--max-epochs",
        "1",
        "--run-name",
        "ddp",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    run_dir = tmp_path / "runs" / "ddp"
    assert len(list(run_dir.glob("wandb/*run-*/run-*.wandb"))) == 1
    assert len(list(run_dir.rglob("results.json"))) == 1
    config = wandb_records.config(wandb_records.find_run_file(run_dir))
    assert (config["global_batch_size"], config["world_size"]) == (128, 2)
    # Test metrics are averaged over both ranks' shards: they equal one process evaluating the
    # whole test set with the best checkpoint (up to the one example DistributedSampler repeats).
    results = json.loads((run_dir / "results.json").read_text())
    from {{cookiecutter.project_slug}}.data.memory import ImageDataModule
    from {{cookiecutter.project_slug}}.training.module import TaskModule

    module = TaskModule.load_from_checkpoint(run_dir / "checkpoints" / "best.ckpt", map_location="cpu").eval()
    dm = ImageDataModule(DATASETS["digits"], data_options())
    dm.setup()
    x, y = dm.test_set.batch(range(len(dm.test_set)))
    with torch.no_grad():
        logits = module(x)[0]
    assert results["test/acc"] == pytest.approx((logits.argmax(1) == y[:, 0]).float().mean().item(), abs=1.5 / 359)
    loss = torch.nn.functional.cross_entropy(logits, y[:, 0]).item()
    assert results["test/loss"] == pytest.approx(loss, rel=0.02)


@pytest.mark.slow
def test_slurm_environment_sets_world_size_and_ranks(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SLURM_NTASKS": "8",
        "SLURM_NTASKS_PER_NODE": "4",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NNODES": "2",
        "SLURM_NODEID": "1",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train",
        "SLURM_NODELIST": "gpu[01-02]",
    }
    code = (
        "from {{cookiecutter.project_slug}}.config.parser import parse_args\n"
        "from {{cookiecutter.project_slug}}.commands.options import build_trainer\n"
        "t = build_trainer(parse_args(['--accelerator', 'cpu', '--devices', '4', '--num-nodes', '2', '--strategy', "
        "'ddp', '--wandb-mode', 'disabled']), __import__('pathlib').Path('.'), [])\n"
        "print(type(t.strategy.cluster_environment).__name__, t.world_size, t.global_rank, t.local_rank, t.node_rank)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-5:] == ["SLURMEnvironment", "8", "5", "1", "1"]


@pytest.mark.slow
def test_sigterm_leaves_a_checkpoint_and_resume_finishes_the_run(tmp_path):
    """SIGTERM inside the second epoch (the run waits there for it), then --resume last to the end."""
    epochs, per_epoch, tau, stop = 3, 21, 45, 30  # 21 steps per epoch (digits, batch 64); τ after the stop
    flags = ["--output-dir", str(tmp_path / "runs"), "--wandb-mode", "offline", "--accelerator", "cpu"]
    flags += ["--dataset", "digits", "--run-name", "r", "--lr-tau", str(tau), "--max-epochs", str(epochs)]
    process = start_train(tmp_path, *flags, pause_at=stop)
    wait_until(process, (tmp_path / f"paused-{stop}").exists)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=HANG)
    assert process.returncode == 143, err[-2000:]
    assert "interrupted at step" in err and "Traceback" not in err
    last = tmp_path / "runs" / "r" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == stop + 1  # where it stood
    first_id = wandb_records.find_run_file(tmp_path / "runs" / "r").stem
    result = run_cli(*flags[:6], "--resume", "last", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())
    assert results["epochs"] == epochs and results["steps"] == epochs * per_epoch
    assert f"run-{results['wandb_run_id']}" == first_id
    with open(tmp_path / "runs" / "r" / "metrics.csv") as f:
        lrs = [(int(r["step"]), float(r["lr"])) for r in csv.DictReader(f) if r["lr"]]
    assert [k for k, _ in lrs] == list(range(epochs * per_epoch)), "every step once, across the interruption"
    kw = schedule_arguments(parsed("--lr-tau", str(tau)))
    for k, value in lrs:
        assert value == pytest.approx(lr_at(k, steps_per_epoch=per_epoch, total_steps=epochs * per_epoch, **kw))


@pytest.mark.slow
def test_auto_mode_falls_back_to_offline_when_the_server_does_not_answer(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    result = run_cli(
        "--output-dir",
        str(tmp_path / "runs"),
        "--accelerator",
        "cpu",
        "--max-epochs",
        "1",
        "--run-name",
        "a",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("does not answer; logging offline") == 1
    assert json.loads((tmp_path / "runs" / "a" / "results.json").read_text())["wandb_mode"] == "offline"


@pytest.mark.slow
def test_compile_runs_on_cpu(tmp_path):
    result = run_cli(
        "--compile",
        "--fast-dev-run",
        "--width",
        "8",
        "--wandb-mode",
        "disabled",
        "--accelerator",
        "cpu",
        "--output-dir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_slurm_script_is_valid_and_uses_known_flags():
    script = ROOT / "scripts" / "slurm.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "srun python train.py" in text and "#SBATCH --requeue" in text and "last.ckpt" in text
    flags = {
        t.strip('"').lstrip("-").replace("-", "_")
        for line in text.splitlines()
        if not line.startswith("#")
        for t in line.split()
        if t.startswith("--")
    }
    assert flags <= set(FLAG_BY_NAME), flags - set(FLAG_BY_NAME)


@pytest.mark.slow
def test_hardware_this_machine_lacks_is_one_line(tmp_path):
    result = run_cli("--accelerator", "gpu", "--output-dir", str(tmp_path / "runs"), cwd=tmp_path)
    if result.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--accelerator gpu" in lines[0]
    assert not (tmp_path / "runs").exists()
