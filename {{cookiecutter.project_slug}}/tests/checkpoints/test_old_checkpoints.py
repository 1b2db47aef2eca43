"""A checkpoint written before the package was laid out by concern (a digits MLP, depth 1, width 16,
one epoch: tests/fixtures/v0-digits-mlp-d1-w16.ckpt) still resumes{% if cookiecutter.inference %} and tests to its recorded
accuracy{% endif %}."""

from __future__ import annotations

import json

import pytest
from conftest import train

TEST_ACC = 0.4261838495731354  # what that run's results.json recorded for its test split
pytestmark = pytest.mark.slow
{%- if cookiecutter.inference %}


def test_an_old_checkpoint_tests_to_its_recorded_accuracy(old_run, tmp_path):
    status, run_dir = train(tmp_path, "--test-only", "--resume", str(old_run / "checkpoints" / "last.ckpt"))
    assert status == 0
    assert json.loads((run_dir / "results.json").read_text())["test/acc"] == pytest.approx(TEST_ACC, abs=1e-6)
{%- endif %}


def test_an_old_checkpoint_resumes(old_run, tmp_path):
    status, run_dir = train(tmp_path, "--resume", str(old_run), "--max-epochs", "2")
    assert status == 0 and run_dir == old_run
    results = json.loads((run_dir / "results.json").read_text())
    assert results["steps"] == 42 and results["epochs"] == 2  # 21 steps per epoch, one more epoch trained
