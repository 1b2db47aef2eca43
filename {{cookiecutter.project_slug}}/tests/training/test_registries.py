"""The registries of training (metrics, losses, callbacks, loggers) and the names the command line
reads from the registries' source without importing them: every entry reaches a run."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from conftest import train

from {{cookiecutter.project_slug}}.config import flags
from {{cookiecutter.project_slug}}.config.declared import decorated, dict_keys
from {{cookiecutter.project_slug}}.models.blocks import ACTIVATIONS, RNN_CELLS
from {{cookiecutter.project_slug}}.models.initialization import INITS
from {{cookiecutter.project_slug}}.networks import MODELS
from {{cookiecutter.project_slug}}.training.callbacks import CALLBACKS
from {{cookiecutter.project_slug}}.training.loggers import LOGGERS
from {{cookiecutter.project_slug}}.training.metrics import METRICS
from {{cookiecutter.project_slug}}.training.objectives import TASK_LOSSES
from {{cookiecutter.project_slug}}.training.optimizers import OPTIMIZER_FLAGS, OPTIMIZERS
from {{cookiecutter.project_slug}}.training.schedules import SCHEDULES


def test_the_source_readings_equal_the_imported_registries():
    assert set(decorated("networks.py", "register_model")) == set(MODELS)
    optimizers = decorated("training/optimizers.py", "register_optimizer")
    assert set(optimizers) == set(OPTIMIZERS)
    assert all(optimizers[n].keywords == OPTIMIZER_FLAGS[n] for n in OPTIMIZERS)
    assert dict_keys("training/schedules.py", "SCHEDULES") == tuple(SCHEDULES)
    assert dict_keys("models/initialization.py", "INITS") == tuple(INITS)
    assert dict_keys("models/blocks.py", "ACTIVATIONS") == tuple(ACTIVATIONS)
    assert dict_keys("models/blocks.py", "RNN_CELLS") == tuple(RNN_CELLS)


def test_flag_choices_come_from_the_registries():
    choices = {f.name: f.choices for f in flags.FLAGS}
    assert choices["optimizer"] == tuple(OPTIMIZERS)
    assert choices["lr_schedule"] == tuple(SCHEDULES)
    assert choices["init"] == (*INITS, "torch-default")
    assert choices["activation"] == tuple(ACTIVATIONS)
    assert choices["rnn_cell"] == tuple(RNN_CELLS)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registries")
    status, run_dir = train(tmp, "--max-epochs", "2", "--limit-train-batches", "4", "--run-name", "r")
    assert status == 0
    return run_dir


@pytest.mark.parametrize("name", METRICS["classification"])
def test_every_metric_is_logged_per_split_and_epoch(name, short_run):
    """Classification metrics on a digits run (the regression ones are tested on regression runs)."""
    with open(short_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for split in ("train", "val"):
        values = [float(r[f"{split}/{name}"]) for r in rows if r.get(f"{split}/{name}")]
        assert len(values) == 2 and all(0 <= v <= 1 for v in values), (split, values)
    assert f"test/{name}" in json.loads((short_run / "results.json").read_text())


@pytest.mark.parametrize("kind", TASK_LOSSES)
def test_every_task_loss_is_a_scalar_with_gradients(kind):
    logits = torch.randn(8, 1 if kind == "regression" else 10, requires_grad=True)  # a regression head: 1 output
    loss, for_metrics = TASK_LOSSES[kind](logits, torch.arange(8) % 10)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss) and logits.grad.abs().sum() > 0
    assert len(for_metrics) == 8


@pytest.mark.parametrize("make", CALLBACKS)
def test_every_registered_callback_is_on_the_trainer(make, tmp_path):
    from {{cookiecutter.project_slug}}.training.trainer import TrainerOptions, callbacks_for

    made = make(tmp_path)
    on = callbacks_for(TrainerOptions(), tmp_path, interactive=False)
    assert made is None or any(type(c) is type(made) for c in on)


@pytest.mark.parametrize("make", LOGGERS)
def test_every_registered_logger_is_on_a_run(make, tmp_path):
    from {{cookiecutter.project_slug}}.training.loggers import LoggingOptions, loggers_for

    options = LoggingOptions("disabled", "p", None, [], None, False, False)
    made = make(tmp_path)
    assert made is None or any(type(x) is type(made) for x in loggers_for(options, tmp_path, None, None))
