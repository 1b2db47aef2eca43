"""One fixture style for every test: CPU, tiny runs, outputs under tmp_path, W&B off or offline."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Fast flags shared by the training tests: CPU, no W&B unless a test asks for it.
FAST = ["--accelerator", "cpu", "--wandb-mode", "disabled", "--max-epochs", "1"]
# A deadline that only guards against a hang: tests wait for the event they need, never for a machine's speed.
HANG = 1800


@pytest.fixture(autouse=True)
def _digits_by_default(monkeypatch):
    """The tests train on the embedded digits data, whatever dataset the project defaults to."""
    from {{cookiecutter.project_slug}}.config import flags as cli

    digits = dataclasses.replace(cli.FLAG_BY_NAME["dataset"], default="digits")
    monkeypatch.setattr(cli, "FLAGS", [digits if f.name == "dataset" else f for f in cli.FLAGS])
    monkeypatch.setitem(cli.FLAG_BY_NAME, "dataset", digits)


@pytest.fixture(autouse=True)
def _no_logging_to_closed_streams():
    """A library that added a StreamHandler during an earlier test (some do on first use) holds that
    test's captured stderr, closed since: each write would print "--- Logging error ---" into a later
    test's stderr. Drop such handlers before every test."""
    loggers = [
        logging.getLogger(),
        *(g for g in logging.Logger.manager.loggerDict.values() if isinstance(g, logging.Logger)),
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("CHECKLIST_RUN_NAME", raising=False)
    # A W&B agent's variables (wandb's Agent, driven in-process by the agent tests, sets some in
    # os.environ for its runs): every test starts outside an agent unless it says otherwise.
    for name in ("WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    # An in-process W&B run exports its service's address (WANDB_SERVICE) for child processes: a
    # train.py subprocess of a later test must start its own, logging under its own WANDB_DIR.
    monkeypatch.delenv("WANDB_SERVICE", raising=False)


def run_cli(*args: str, cwd: Path, timeout: float = HANG) -> subprocess.CompletedProcess:
    """`python train.py ARGS` in a fresh process (exit status, stdout and stderr as a user sees them)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not any(a.startswith("--dataset") for a in args):
        args = ("--dataset", "digits", *args)
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# train.py held at one optimizer step until SIGTERM has landed: a stop exactly there, on a busy machine or an idle one.
PAUSED_TRAIN = """
import runpy, sys, time
from pathlib import Path
from {{cookiecutter.project_slug}}.training.module import TaskModule

step, marker, sys.argv[0] = int(sys.argv.pop(1)), Path(sys.argv.pop(1)), sys.argv.pop(1)
step_once = TaskModule.training_step


def training_step(self, batch, batch_idx):
    if self.global_step == step and not marker.exists():
        marker.touch()
        while not self.trainer.received_sigterm:
            time.sleep(0.05)
    return step_once(self, batch, batch_idx)


TaskModule.training_step = training_step
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def start_train(cwd: Path, *args: str, env: dict | None = None, pause_at: int | None = None) -> subprocess.Popen:
    """`python train.py ARGS` in the background. With `pause_at`, the run waits before that optimizer step
    (`cwd/paused-<step>` then exists) until it has received SIGTERM: the test sends it there, and the run
    stops after that step."""
    marker = str(cwd / f"paused-{pause_at}")
    paused = [] if pause_at is None else ["-c", PAUSED_TRAIN, str(pause_at), marker]
    return subprocess.Popen(
        [sys.executable, *paused, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(process: subprocess.Popen, done) -> None:
    """Until `done()` (the state the test needs); the process ending first fails with its stderr."""
    deadline = time.monotonic() + HANG
    while not done():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"nothing happened in {HANG} s: hung?"
        time.sleep(0.05)


def train(tmp_path: Path, *args: str) -> tuple[int, Path]:
    """Parse and run in this process (faster than a subprocess); returns (exit status, run dir)."""
{%- if cookiecutter.inference %}
    from {{cookiecutter.project_slug}}.commands.evaluate import evaluate
{%- endif %}
    from {{cookiecutter.project_slug}}.commands.train import train as run
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    a = parse_args([*FAST, "--output-dir", str(tmp_path / "runs"), *args])
{%- if cookiecutter.inference %}
    return evaluate(a) if a.test_only else run(a)  # as train.py dispatches; run dir None: refused before one
{%- else %}
    return run(a)  # as train.py does; run dir None: refused before one
{%- endif %}


def parsed(*argv: str):
    """Every flag's value as train.py parses `argv`, the rest at the flag table's defaults: a view or a
    factory's keywords that a test builds by hand come from here (`view(Cls, parsed(...))`), as no
    view or factory defaults a flag again."""
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    return parse_args(list(argv))


def data_options(**values):
    """The data flags (DataOptions) at their defaults, with `values` instead: what a DataModule that a
    test builds by hand takes, `ImageDataModule(DATASETS["digits"], data_options(batch_size=8))`."""
    from {{cookiecutter.project_slug}}.config.views import view
    from {{cookiecutter.project_slug}}.data.build import DataOptions

    return view(DataOptions, parsed(), **{"pin_memory": False, **values})


def assert_bad_input(argv: str, flag: str, capsys) -> None:
    """Bad input: exit status 2 and one line on stderr that names the flag."""
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(argv.split())
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err, err


N_IMAGES = 24  # test images written by the test_images fixture


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A digits run with two tasks (digit: 10 classes, parity: a binary head); returns its directory."""
    from {{cookiecutter.project_slug}}.commands.train import run
    from {{cookiecutter.project_slug}}.config.parser import parse_args

    out = tmp_path_factory.mktemp("runs")
    flags = ["--dataset", "digits", "--max-epochs", "2", "--width", "16", "--tasks", "digit,parity"]
    assert run(parse_args([*FAST, *flags, "--output-dir", str(out), "--run-name", "r"])) == 0
    os.environ.pop("CHECKLIST_RUN_NAME", None)
    return out / "r"


@pytest.fixture(scope="module")
def test_images(tmp_path_factory):
    """The first digits test images as 8-bit PNG files in a folder tree, and their tensors [N, 1, 8, 8]."""
    from PIL import Image

    from {{cookiecutter.project_slug}}.data.memory import ImageDataModule
    from {{cookiecutter.project_slug}}.datasets import DATASETS

    dm = ImageDataModule(DATASETS["digits"], data_options(seed=0))
    dm.setup()
    x = dm.test_set.x[:N_IMAGES]
    folder = tmp_path_factory.mktemp("images")
    for i, image in enumerate(x):
        sub = folder / ("a" if i % 2 else "b")  # folders are searched recursively
        sub.mkdir(exist_ok=True)
        Image.fromarray((image[0] * 255).round().byte().numpy()).save(sub / f"{i:03d}.png")
    return folder, x


def exit_status(main, argv) -> int:
    """A command's exit status, whether it returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def refused(capsys, code, *words) -> str:
    """A refusal: exit status 2 and one line on stderr, no traceback, holding each of `words`."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def images(folder: Path, n: int = 4) -> Path:
    """An image folder of two classes (a/, b/), `n` 8×8 gray PNG files each."""
    from PIL import Image

    for c in ("a", "b"):
        (folder / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("L", (8, 8), 40 * i).save(folder / c / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 3-step digits checkpoint (the checkpoint tests edit copies of it: no training per case)."""
    code, run_dir = train(tmp_path_factory.mktemp("tiny"), "--max-steps", "3", "--width", "8", "--run-name", "tiny")
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture
def old_run(tmp_path) -> Path:
    """The checkpoint of an earlier layout (tests/fixtures/) as the last.ckpt of a run directory."""
    import shutil

    from checkpoint_cases import FIXTURE

    run_dir = tmp_path / "runs" / "v0"
    (run_dir / "checkpoints").mkdir(parents=True)
    shutil.copy(FIXTURE, run_dir / "checkpoints" / "last.ckpt")
    return run_dir
