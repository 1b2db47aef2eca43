"""W&B in depth (read back from offline .wandb files), Trainer flags, DDP and SLURM."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
import wandb_records
from conftest import ROOT, run_cli

from {{cookiecutter.project_slug}}.cli import FLAG_BY_NAME, parse_args
from {{cookiecutter.project_slug}}.run import build_trainer


def offline(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("--output-dir", str(tmp_path / "runs"), "--wandb-mode", "offline", "--accelerator", "cpu", *args,
                   cwd=tmp_path)


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


def test_images_tags_group_and_name(tmp_path):
    result = offline(tmp_path, "--max-epochs", "1", "--aug-rotate", "10", "--wandb-tags", "a,b", "--wandb-group",
                     "g1")
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("mlp-d2-w256-adam-lr0.003-bs64-")  # readable default name
    path = wandb_records.find_run_file(run_dir)
    run = next(r.run for r in wandb_records.records(path) if r.WhichOneof("record_type") == "run")
    assert list(run.tags) == ["a", "b"] and run.run_group == "g1" and run.display_name == run_dir.name
    assert {"plots/lr_schedule", "plots/augment", "plots/confusion_matrix"} <= images(path)
    assert (run_dir / "plots" / "confusion_matrix.png").is_file()  # made for W&B only


def test_tool_runs_log_their_plot(tmp_path):
    result = offline(tmp_path, "--find-batch-size", "--find-batch-size-max", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "plots/batch_size" in images(wandb_records.find_run_file(run_dir))


def test_resume_continues_the_wandb_run(tmp_path):
    assert offline(tmp_path, "--max-epochs", "1", "--run-name", "r").returncode == 0
    first = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())["wandb_run_id"]
    result = offline(tmp_path, "--resume", "last", "--max-epochs", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    again = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())
    assert again["wandb_run_id"] == first and again["epochs"] == 2


def test_log_model_offline_says_checkpoints_stay_local(tmp_path):
    result = offline(tmp_path, "--fast-dev-run", "--wandb-log-model")
    assert result.returncode == 0
    assert "checkpoints are not uploaded as artifacts; they stay in" in result.stdout


def test_watch_logs_gradients(tmp_path):
    result = offline(tmp_path, "--max-epochs", "5", "--wandb-watch", "gradients", "--run-name", "w")
    assert result.returncode == 0, result.stderr[-2000:]
    keys = {k for row in wandb_records.history(wandb_records.find_run_file(tmp_path / "runs" / "w")) for k in row}
    assert any(k.startswith("gradients/") for k in keys)


def test_trainer_flags_reach_lightning(tmp_path):
    from lightning.pytorch.strategies import DDPStrategy

    a = parse_args(["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--num-nodes", "2",
                    "--precision", "bf16-mixed", "--accumulate-grad-batches", "4", "--gradient-clip-val", "0.5",
                    "--max-epochs", "7", "--max-steps", "100", "--limit-train-batches", "0.5", "--deterministic"])
    trainer = build_trainer(a, tmp_path, loggers=[])
    assert isinstance(trainer.strategy, DDPStrategy)
    assert (trainer.num_devices, trainer.num_nodes, trainer.accumulate_grad_batches) == (2, 2, 4)
    assert trainer.precision == "bf16-mixed" and trainer.gradient_clip_val == 0.5
    assert (trainer.max_epochs, trainer.max_steps, trainer.limit_train_batches) == (7, 100, 0.5)


def test_compile_wraps_the_network():
    from {{cookiecutter.project_slug}}.run import build_datamodule, build_module

    a = parse_args(["--compile"])
    module = build_module(a, build_datamodule(a))
    module.configure_model()
    assert isinstance(module.net, torch._dynamo.eval_frame.OptimizedModule)


@pytest.mark.slow
def test_ddp_has_one_wandb_run_and_trains_adversarially(tmp_path):
    # Two CPU processes (gloo); rank 1 re-parses the command line, never reads wandb.config.
    result = offline(tmp_path, "--strategy", "ddp", "--devices", "2", "--adversarial", "fgsm", "--max-epochs", "1",
                     "--run-name", "ddp")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "ddp"
    assert len(list(run_dir.glob("wandb/*run-*/run-*.wandb"))) == 1
    config = wandb_records.config(wandb_records.find_run_file(run_dir))
    assert (config["global_batch_size"], config["world_size"]) == (128, 2)
    assert 0 <= json.loads((run_dir / "results.json").read_text())["test/acc"] <= 1


def test_slurm_script_is_valid_and_uses_known_flags():
    script = ROOT / "scripts" / "slurm.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "srun python train.py" in text and "#SBATCH --requeue" in text and "last.ckpt" in text
    flags = {t.strip('"').lstrip("-").replace("-", "_") for line in text.splitlines() if not line.startswith("#")
             for t in line.split() if t.startswith("--")}
    assert flags <= set(FLAG_BY_NAME), flags - set(FLAG_BY_NAME)


def test_hardware_this_machine_lacks_is_one_line(tmp_path):
    result = run_cli("--accelerator", "gpu", "--output-dir", str(tmp_path / "runs"), cwd=tmp_path)
    if result.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--accelerator gpu" in lines[0]
    assert not (tmp_path / "runs").exists()
