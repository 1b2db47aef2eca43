"""The console of a run as a user sees it (train.py in its own process, no terminal): what they act on,
one line per epoch, the rest in <run dir>/train.log or with --verbose; the LR range test's own length."""

from __future__ import annotations

import re

import pytest
from conftest import run_cli

# Lines a run printed before the console policy (training/trainer.py's quiet_lightning), each gone at its cause.
NOISE = (
    "The anonymous setting has no effect",  # W&B, from the anonymous=None that Lightning passed
    'ckpt_path="best"',  # Lightning, testing "best" with two ModelCheckpoint callbacks
    "was configured so",  # Lightning restating --val-check-interval 1.0 and the batch limits
    "Total Flops",  # the model summary: train.log
    "Total params",
    "`Trainer.fit` stopped",  # printed before the last epoch's line: train.log
    "GPU available",
    "`weights_only` was not set",  # the LR finder's temporary checkpoint
)


@pytest.fixture(autouse=True)
def _as_a_user(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("WANDB_SILENT", raising=False)  # W&B's own lines (and warnings), as a user has them


def test_a_run_prints_the_network_one_line_per_epoch_and_the_result(tmp_path):
    out = tmp_path / "runs"
    result = run_cli("--max-epochs", "2", "--wandb-mode", "offline", "--output-dir", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = out.iterdir()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("network: --model "), lines
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/2", "2/2"], lines
    (end,) = [i for i, line in enumerate(lines) if line.startswith("test/acc=")]
    assert lines[end].endswith(f"; run directory: {run_dir}"), lines
    # A baked diagnosis, then W&B's one line saying where its run is (its own banner and summary are silenced).
    *diagnosis, last = lines[end + 1 :]
    wandb_line = f"W&B: offline run, upload it with: wandb sync {(run_dir / 'wandb').relative_to(tmp_path)}"
    assert last.startswith(wandb_line) and (tmp_path / last.split()[-1]).is_dir(), lines
    assert all(line.startswith("diagnosis") for line in diagnosis), lines
    others = [line for line in lines[1:end] if not line.startswith("epoch ")]
    assert all(line.startswith("  ") for line in others), others  # the network's own lines, indented
    assert "wandb: " not in result.stderr, result.stderr
    console = result.stdout + result.stderr
    assert not [noise for noise in NOISE if noise in console], console
    log = (run_dir / "train.log").read_text()
    assert "Total params" in log and "GPU available" in log and "`Trainer.fit` stopped" in log, log


def test_verbose_shows_lightnings_info_lines_on_the_console(tmp_path):
    flags = ("--max-epochs", "1", "--wandb-mode", "disabled", "--verbose", "--output-dir", str(tmp_path / "runs"))
    result = run_cli(*flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Total params" in result.stderr and "GPU available" in result.stderr, result.stderr
    assert "epoch 1/1 " in result.stdout and "run directory: " in result.stdout


def range_test(tmp_path, *flags: str) -> tuple[str, int, str]:
    """(Suggested ε0, minibatches of the range test, its line) of `train.py --find-lr FLAGS`."""
    out = tmp_path / "runs"
    tmp_path.mkdir()
    result = run_cli("--find-lr", "--wandb-mode", "disabled", "--output-dir", str(out), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    console = result.stdout + result.stderr
    assert "weights_only" not in console and "TORCH_FORCE" not in console, console
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("suggested ε0")]
    suggested, steps = re.search(r"\(--lr\): (\S+) .*range test over (\d+) minibatches", line).groups()
    assert ("the loss diverged" in line) == (int(steps) < 100), line  # stopped early: only for that reason
    return suggested, int(steps), line


@pytest.mark.parametrize(
    "short",
    [
        ["--max-epochs", "1"],  # one epoch of digits is 23 minibatches
        pytest.param(["--max-epochs", "1", "--max-steps", "5", "--limit-train-batches", "2"], marks=pytest.mark.slow),
    ],
)
def test_find_lr_on_a_short_run_is_the_same_range_test(tmp_path, monkeypatch, short):
    full = range_test(tmp_path / "full")
    # The finder's temporary checkpoint loads weights-only even where this asks torch for full unpickling.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    assert range_test(tmp_path / "short", *short)[:2] == full[:2]
