"""The generated README's add-a-dataset example, pasted into a baked project exactly as written, trains."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def readme_example(readme: str) -> str:
    block = re.search(r"<!-- add-dataset-example:start -->\n```python\n(.*?)```\n<!-- add-dataset-example:end -->",
                      readme, re.S)
    assert block, "README.md lost its add-dataset-example markers"
    return block.group(1)


FEATURES = ("sweeps_engine", "inference", "fast_wandb", "diagnostics", "tables", "backbones", "streaming", "benchmarks")


@pytest.mark.parametrize("features", [False, True], ids=["core", "full"])
def test_readme_example_dataset_trains_in_a_baked_project(cookies, tmp_path, features):
    root = Path(cookies.bake(extra_context=dict.fromkeys(FEATURES, features)).project_path)
    slug = root.name
    example = readme_example((root / "README.md").read_text())
    datasets_py = root / slug / "datasets.py"
    datasets_py.write_text(datasets_py.read_text() + "\n\n" + example)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=root, capture_output=True, text=True, env=env)
    assert "my-digits" in run("train.py", "--help").stdout
    missing = run("train.py", "--dataset", "my-digits", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "my-digits/" in missing.stderr and "Traceback" not in missing.stderr
    assert "--download" not in missing.stderr  # its loader cannot download: not offered
    # The user's files, written here in the format the README describes.
    rng = np.random.default_rng(1)
    (tmp_path / "data" / "my-digits").mkdir(parents=True)
    for split, n in (("train", 50), ("test", 10)):
        np.savez(tmp_path / "data" / "my-digits" / f"{split}.npz",
                 images=rng.integers(0, 256, (n, 10, 10), dtype=np.uint8), labels=rng.integers(0, 10, n))
    trained = run("train.py", "--dataset", "my-digits", "--data-dir", str(tmp_path / "data"), "--tasks",
                  "digit,large", "--fast-dev-run", "--accelerator", "cpu", "--output-dir", str(tmp_path / "runs"))
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert list((tmp_path / "data" / "my-digits").glob("*.npz"))
    assert (tmp_path / "data" / ".tensors" / "my-digits-32.pt").is_file()  # the cache follows the declaration
    # The generated tests parametrized over datasets now include it (its `sample` writes the files).
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/data/test_data.py", "-k", "my-digits")
    assert tests.returncode == 0 and "1 passed" in tests.stdout, tests.stdout[-3000:]
