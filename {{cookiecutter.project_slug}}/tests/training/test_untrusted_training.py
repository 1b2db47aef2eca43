"""What a run tells and keeps when things go wrong: each epoch's console line holds that epoch's own
training and validation metrics (as metrics.csv records them), and a checkpoint that cannot be
written (a full disk) is one line naming the file and the space it needs, the previous last.ckpt
intact."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import FAST, HANG, ROOT, train

FLOAT = r"([0-9.]+)"


def epoch_metrics(run_dir) -> dict[int, dict[str, float]]:
    """Per epoch (from 1), the epoch-level values metrics.csv recorded."""
    out: dict[int, dict[str, float]] = {}
    with open(run_dir / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            for key in ("train/acc", "val/acc", "val/loss"):
                if row.get(key):
                    out.setdefault(int(row["epoch"]) + 1, {})[key] = float(row[key])
    return out


def printed(stdout: str) -> dict[int, dict[str, float]]:
    lines = re.findall(r"^epoch (\d+)/\d+ (.*) \(", stdout, flags=re.M)
    return {int(e): {k: float(v) for k, v in re.findall(r"(\S+)=" + FLOAT, rest)} for e, rest in lines}


@pytest.mark.slow
@pytest.mark.parametrize("every", [1, 2])
def test_each_epoch_line_prints_that_epochs_own_metrics(tmp_path, capsys, every):
    code, run_dir = train(
        tmp_path,
        *("--max-epochs", "4", "--limit-train-batches", "4", "--width", "8"),
        *("--check-val-every-n-epoch", str(every)),
    )
    assert code == 0
    shown, logged = printed(capsys.readouterr().out), epoch_metrics(run_dir)
    assert sorted(shown) == [1, 2, 3, 4]
    for epoch, values in logged.items():
        assert shown[epoch] == pytest.approx(values, abs=6e-5), (epoch, shown[epoch], values)
    # Training accuracy rises over the epochs: each line has its own value, the first one included.
    assert len({shown[e]["train/acc"] for e in shown}) == 4
    assert all(("val/acc" in shown[e]) == (e % every == 0) for e in shown)


FULL_DISK = """
import errno, runpy, sys
from lightning.fabric.plugins.io import torch_io
real, saves = torch_io._atomic_save, []
def fill_up(checkpoint, path):  # the first epoch's files are written; then the disk is full
    saves.append(str(path))
    if saves.count(str(path)) > 1:
        print("failing:", path, file=sys.stderr)
        raise OSError(errno.ENOSPC, "No space left on device")
    real(checkpoint, path)
torch_io._atomic_save = fill_up
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_last_checkpoint_stays(tmp_path):
    runner = tmp_path / "full_disk.py"
    runner.write_text(FULL_DISK)
    flags = (
        "--max-epochs",
        "3",
        "--limit-train-batches",
        "2",
        "--width",
        "8",
        "--output-dir",
        "runs",
        "--run-name",
        "full",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(runner), str(ROOT / "train.py"), *FAST, "--dataset", "digits", *flags],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    err = done.stderr.splitlines()
    failing = next(i for i, line in enumerate(err) if line.startswith("failing: "))
    lines = [line for line in err[failing + 1 :] if line.strip()]  # what follows the failed write
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and "No space left on device" in lines[0] and " free in " in lines[0], done.stderr
    assert re.search(r"needs [0-9.]+ [kMG]B", lines[0]) and err[failing].split(": ", 1)[1] in lines[0]
    last = tmp_path / "runs" / "full" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0  # the first epoch's, whole


@pytest.mark.slow
@pytest.mark.parametrize("depth", ["50", "20"])
def test_a_trunk_too_large_to_build_is_refused_before_any_allocation(tmp_path, depth):
    """--model cnn --depth 50 --width 1 doubles its channels 50 times: the meta-device estimate overflows, and the real
    build used to allocate layer after layer until the allocator (or the kernel's OOM killer) stopped it. Run under a
    4 GiB address-space limit, so that a regression fails here instead of exhausting the machine."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    argv = [*FAST, "--dataset", "digits", "--model", "cnn", "--depth", depth, "--width", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *argv, "--output-dir", str(tmp_path / "runs")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=HANG,
        preexec_fn=limit,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert done.returncode == 2 and len(lines) == 1 and "--depth " + depth in lines[0], done.stderr[-2000:]
    assert not (tmp_path / "runs").exists()
