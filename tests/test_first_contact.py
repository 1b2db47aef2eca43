"""A new user's first contact: the template README's first command, run as written on a fresh copy of
the repository. It installs, bakes the default answers and trains; the console says what happened (the
network line, one line per epoch, the result and the run directory) and nothing else; and `pytest`
runs in the baked project with only what that command installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
# What a first run printed before (issue 31), none of which a user acts on: it must not come back.
NOISE = (
    "anonymous setting",
    "multiple `ModelCheckpoint`",
    "val_check_interval=1.0",
    "Total Flops",
    "`Trainer.fit` stopped",
    "weights_only",
    "Restoring states",
    "Loaded model weights",
    "wandb: Run history",
)
# Every line a default run may print, from its network line on.
ALLOWED = (
    r"network: --model mlp: .*",
    r"  flags (that apply to|ignored by) it: .*",
    r"epoch \d+/20 train/acc=\S+ val/loss=\S+ val/acc=\S+ \(\S+\)",
    r"test/acc=\S+ test/loss=\S+; run directory: runs/\S+",
    r"W&B: offline run, upload it with: wandb sync runs/\S+",
)


def readme_command(marker: str) -> str:
    block = (TEMPLATE / "README.md").read_text().split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->")[0]
    return "\n".join(line for line in block.strip().splitlines() if not line.startswith("```"))


def fresh_copy(to: Path) -> Path:
    """The repository's files as a clone has them (tracked files, as they are in the working tree)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=TEMPLATE, capture_output=True, text=True, check=True)
    for rel in filter(None, listed.stdout.split("\0")):
        if (TEMPLATE / rel).is_file():
            (to / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / rel, to / rel)
    return to


@pytest.mark.slow
def test_the_first_command_installs_bakes_trains_and_says_only_that(tmp_path):
    clone = fresh_copy(tmp_path / "lightning-checklist")
    # A user's shell: no virtual environment active, no W&B settings, nothing on PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "venv" not in p) or env["PATH"]
    env["PYTHONUNBUFFERED"] = "1"  # the run's stdout and stderr reach the one stream in the order they were written
    # One stream in the order it was written: what follows the network line is the run's own console.
    done = subprocess.run(["bash", "-c", readme_command("train-command")], cwd=clone, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
    out = done.stdout
    assert done.returncode == 0, out[-4000:]
    assert not [n for n in NOISE if n in out], [n for n in NOISE if n in out]
    run = out[out.index("network: --model mlp"):].splitlines()
    stray = [line for line in run if line.strip() and not any(re.fullmatch(p, line) for p in ALLOWED)]
    assert not stray, stray
    assert [int(m) for m in re.findall(r"^epoch (\d+)/20 ", out, re.M)] == list(range(1, 21))
    run_dir = re.search(r"run directory: (runs/\S+)", out).group(1)
    project = clone / "build" / "lightning_project"
    assert (project / run_dir / "results.json").is_file()
    # The install path installed what the generated README's commands need: its `pytest` runs.
    tests = subprocess.run(["bash", "-c", ". ../../.venv/bin/activate && pytest -q -p no:cacheprovider -x"],
                           cwd=project, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                           timeout=3600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
