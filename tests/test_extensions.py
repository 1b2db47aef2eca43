"""The generated README's "Extending the project" sections, followed word for word on a fresh bake: each
example is pasted where its section says, then the project trains with all of them at once and the
tests parametrized over the registries pass on the result."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# example → (the file its section names, relative to the package; how it goes in)
PLACES = {
    "knob-flag": ("config/flags.py", "below # --- Your flags"),
    "knob-network": ("networks.py", "end"),
    "kind-module": ("data/arrays.py", "new file"),
    "kind-declaration": ("datasets.py", "end"),
    "loss": ("data/tasks.py", "end"),
    "metric": ("data/tasks.py", "end"),
    "optimizer": ("training/optimizers.py", "end"),
    "schedule": ("training/schedules.py", "end"),
    "callback": ("training/callbacks.py", "end"),
    "logger": ("training/loggers.py", "end"),
}


def examples(readme: str, slug: str) -> dict[str, str]:
    """Each example's code, after checking that the prose just before it names the file it goes in."""
    found = {}
    for name, (file, _) in PLACES.items():
        m = re.search(rf"<!-- extension:{name}:start -->\n```python\n(.*?)```\n<!-- extension:{name}:end -->", readme, re.S)
        assert m, f"README.md lost the example {name}"
        before = readme[max(0, m.start() - 600) : m.start()]
        assert f"{slug}/{file}" in before or (file == "datasets.py" and "`datasets.py`" in before), (name, file)
        found[name] = m.group(1)
    return found


def paste(package: Path, name: str, code: str) -> None:
    file, how = PLACES[name]
    path = package / file
    if how == "new file":
        path.write_text(code)
    elif how.startswith("below "):
        marker = how[len("below ") :]
        text = path.read_text()
        line = next(ln for ln in text.splitlines() if ln.startswith(marker))
        path.write_text(text.replace(line, line + "\n" + code.rstrip("\n"), 1))
    else:
        path.write_text(path.read_text() + "\n\n" + code)


# Extension points are the core's: the examples go into a bake of the core alone (every feature no).
CORE = {f: False for f in ("sweeps_engine", "inference", "fast_wandb", "diagnostics", "tables", "backbones",
                           "streaming", "benchmarks")}


@pytest.fixture(scope="module")
def extended(cookies_session):
    root = Path(cookies_session.bake(extra_context=CORE).project_path)
    package = root / root.name
    for name, code in examples((root / "README.md").read_text(), root.name).items():
        paste(package, name, code)
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, env=env, timeout=900)


def test_every_extension_reaches_the_command_line(extended):
    helped = run(extended, "train.py", "--help")
    assert helped.returncode == 0, helped.stderr[-2000:]
    for name in ("widecnn", "nadam", "inverse-step", "arrays", "--kernel-size"):
        assert name in helped.stdout, name


def test_a_run_uses_every_extension_at_once(extended):
    flags = ["--accelerator", "cpu", "--wandb-mode", "disabled", "--output-dir", "runs", "--dataset", "digits"]
    trained = run(extended, "train.py", *flags, "--run-name", "ext", "--model", "widecnn", "--kernel-size", "5",
                  "--optimizer", "nadam", "--lr-schedule", "inverse-step", "--lr", "0.01", "--lr-decay", "0.5",
                  "--max-epochs", "2", "--limit-train-batches", "3", "--depth", "1")
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_dir = extended / "runs" / "ext"
    inspect = run(extended, "-c", "import torch, sys; sd = torch.load(sys.argv[1], weights_only=True)['state_dict']; "
                  "print([list(v.shape) for k, v in sd.items() if v.ndim == 4])", str(run_dir / "checkpoints" / "last.ckpt"))
    assert "5, 5]" in inspect.stdout, inspect.stdout + inspect.stderr  # the knob shaped the kernels
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lrs = {int(r["step"]): float(r["lr"]) for r in rows if r.get("lr")}
    assert all(lr == pytest.approx(0.01 / (1 + 0.5 * k)) for k, lr in lrs.items()) and len(lrs) == 6  # the schedule
    assert any(r.get("val/f1") for r in rows) and any(r.get("train/f1") for r in rows)  # the metric
    assert len((run_dir / "epoch_seconds.csv").read_text().splitlines()) == 2  # the callback, once per epoch
    assert (run_dir / "extra" / "metrics.csv").is_file()  # the logger
    other = run(extended, "train.py", *flags, "--model", "mlp", "--kernel-size", "7", "--fast-dev-run")
    assert other.returncode == 0 and "--kernel-size 7 does not apply to --model mlp" in other.stderr
    resumed = run(extended, "train.py", *flags, "--resume", str(run_dir), "--kernel-size", "3", "--max-epochs", "3")
    assert resumed.returncode == 2 and "--kernel-size 3 (checkpoint: 5)" in resumed.stderr


def test_the_loss_and_the_kind_of_dataset(extended, tmp_path):
    slug = extended.name
    check = run(extended, "-c", f"import torch, torch.nn.functional as F; from {slug}.data.tasks import TASK_KINDS; "
                "x, y = torch.randn(6, 10), torch.arange(6); loss = TASK_KINDS['classification'].loss(x, y, 0, 1)[0]; "
                "assert torch.isclose(loss, F.cross_entropy(x, y, label_smoothing=0.1)), loss")
    assert check.returncode == 0, check.stderr[-2000:]
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.random((120, 1, 6, 6), dtype=np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 10, 120))
    trained = run(extended, "train.py", "--dataset", "arrays", "--data-dir", str(tmp_path), "--fast-dev-run",
                  "--accelerator", "cpu", "--wandb-mode", "disabled", "--output-dir", str(tmp_path / "runs"))
    assert trained.returncode == 0, trained.stderr[-3000:]


def test_the_registry_tests_pass_with_every_extension(extended):
    tests = run(extended, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/training/test_optim.py",
                "tests/training/test_registries.py", "tests/models/test_models.py", "tests/models/test_networks.py",
                "-k", "nadam or inverse-step or widecnn or f1 or callback or logger or registries or source")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert int(re.search(r"(\d+) passed", tests.stdout).group(1)) >= 8


# A network the README allows that takes neither `block` nor `dropout` (its --dropout goes before the heads).
PLAIN_NETWORK = '''
@register_model("plain", width=8)
def plain(input_shape, *, width):
    """A trunk of its own: --batchnorm, --bn-* and the activation flags do not reach it."""
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, width), nn.ReLU()), width
'''


def test_the_registry_tests_pass_unedited_on_a_network_without_block(cookies):
    root = Path(cookies.bake(extra_context=CORE).project_path)
    networks = root / root.name / "networks.py"
    networks.write_text(networks.read_text() + "\n\n" + PLAIN_NETWORK)
    tests = run(root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/models", "-k", "plain")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert int(re.search(r"(\d+) passed", tests.stdout).group(1)) >= 5, tests.stdout[-2000:]
