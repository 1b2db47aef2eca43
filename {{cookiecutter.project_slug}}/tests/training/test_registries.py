"""The registries of training (kinds of task, callbacks, loggers) and the names the command line
reads from the registries' source without importing them: every entry reaches a run."""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json

import pytest
import torch
from conftest import parsed, train

from {{cookiecutter.project_slug}}.config import flags
from {{cookiecutter.project_slug}}.config.declared import decorated, dict_keys
from {{cookiecutter.project_slug}}.config.parser import config_dict
from {{cookiecutter.project_slug}}.config.views import view
from {{cookiecutter.project_slug}}.data.tasks import TASK_KINDS{% if cookiecutter.tables %}, Regression, parse_task_types, torchmetric{% endif %}
from {{cookiecutter.project_slug}}.models.blocks import ACTIVATIONS, RNN_CELLS
from {{cookiecutter.project_slug}}.models.initialization import INITS
from {{cookiecutter.project_slug}}.networks import MODELS
from {{cookiecutter.project_slug}}.training.callbacks import CALLBACKS
from {{cookiecutter.project_slug}}.training.loggers import LOGGERS
{%- if cookiecutter.tables %}
from {{cookiecutter.project_slug}}.training.module import TaskModule
from {{cookiecutter.project_slug}}.training.monitor import monitor_of
{%- endif %}
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


VIEWS = [
    "training.trainer.TrainerOptions",
    "training.loggers.LoggingOptions",
    "training.tuning.PlanOptions",
    "training.tuning.CliffOptions",
    "training.fit.Tools",
    "data.build.DataOptions",
    "data.augment.AugmentOptions",
]


@pytest.mark.parametrize("path", VIEWS)
def test_a_view_names_flags_of_this_bake_and_defaults_none(path):
    """The flag table holds each default once; a view missing one of its flags is refused, not defaulted."""
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(f"{{cookiecutter.project_slug}}.{module}"), name)
    names = {f.name for f in dataclasses.fields(cls)} - {"pin_memory"}  # pin_memory: resolved by the command
    assert names <= set(flags.FLAG_BY_NAME)
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(cls))
    assert view(cls, parsed(), pin_memory=False) == view(cls, config_dict(parsed()), pin_memory=False)
    missing = sorted(names)[0]
    with pytest.raises(AttributeError, match=f"{name} reads {missing}"):
        view(cls, {k: v for k, v in vars(parsed()).items() if k != missing}, pin_memory=False)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registries")
    status, run_dir = train(tmp, "--max-epochs", "2", "--limit-train-batches", "4", "--run-name", "r")
    assert status == 0
    return run_dir


@pytest.mark.parametrize("name", TASK_KINDS["classification"].metrics)
def test_every_metric_is_logged_per_split_and_epoch(name, short_run):
    """Classification metrics on a digits run (the regression ones are tested on regression runs)."""
    with open(short_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for split in ("train", "val"):
        values = [float(r[f"{split}/{name}"]) for r in rows if r.get(f"{split}/{name}")]
        assert len(values) == 2 and all(0 <= v <= 1 for v in values), (split, values)
    assert f"test/{name}" in json.loads((short_run / "results.json").read_text())


@pytest.mark.parametrize("name", TASK_KINDS)
def test_every_task_kind_trains_scores_and_predicts(name):
    """Its loss is a scalar with gradients, its metrics read its predictions and targets, it predicts a
    row per example (a numeric kind's head: one output)."""
    kind, mean, std = TASK_KINDS[name], torch.tensor(2.0), torch.tensor(3.0)
    outputs = torch.randn(8, 1 if kind.numeric else 10, requires_grad=True)
    loss, prediction, target = kind.loss(outputs, (torch.arange(8) % 10).float(), mean, std)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss) and outputs.grad.abs().sum() > 0
    for make in kind.metrics.values():
        metric = make(outputs.shape[1])
        metric.update(prediction.detach(), target)
        assert torch.isfinite(metric.compute())
    assert len(kind.predict(outputs, mean, std)) == 8
{%- if cookiecutter.tables %}


class Doubled(Regression):
    """A kind of this test's own: twice the regression loss, scored by a metric of its own."""

    name, monitor = "doubled", "err"
    metrics = {"err": torchmetric("MeanAbsoluteError")}

    def loss(self, outputs, target, mean, std, **flags):
        loss, prediction, target = super().loss(outputs, target, mean, std, **flags)
        return 2 * loss, prediction, target


def test_a_registered_kind_reaches_the_flags_loss_metrics_and_monitor(monkeypatch):
    monkeypatch.setitem(TASK_KINDS, "doubled", Doubled())
    assert parse_task_types(["y:doubled"], ["y"]) == {"y": "doubled"}
    data = {"input_shape": [3, 1, 1], "input_mean": [0.0] * 3, "input_std": [1.0] * 3, "task_names": ["y"]}
    data |= {"task_classes": [1], "label_frequencies": [[0.0]], "target_mean": [5.0], "target_std": [2.0]}
    plain, doubled = (TaskModule(**config_dict(parsed()), **data, task_kinds=[k]) for k in ("regression", "doubled"))
    doubled.net.load_state_dict(plain.net.state_dict())
    x, y = torch.rand(16, 3, 1, 1), 5 + torch.randn(16, 1)
    torch.testing.assert_close(doubled.training_step((x, y), 0), 2 * plain.training_step((x, y), 0))
    _, predictions, targets = doubled.model_step(x, y)
    doubled.update_metrics("val", predictions, targets)
    assert list(doubled.metrics["val_"][0]) == ["err"] and doubled.metrics["val_"][0]["err"].update_count == 1
    assert monitor_of(doubled.hparams).name == "val/err"
{%- endif %}


@pytest.mark.parametrize("make", CALLBACKS)
def test_every_registered_callback_is_on_the_trainer(make, tmp_path):
    from {{cookiecutter.project_slug}}.training.trainer import TrainerOptions, callbacks_for

    made = make(tmp_path)
    on = callbacks_for(view(TrainerOptions, parsed()), tmp_path, interactive=False)
    assert made is None or any(type(c) is type(made) for c in on)


@pytest.mark.parametrize("make", LOGGERS)
def test_every_registered_logger_is_on_a_run(make, tmp_path):
    from {{cookiecutter.project_slug}}.training.loggers import LoggingOptions, loggers_for

    options = view(LoggingOptions, parsed("--wandb-mode", "disabled"))
    made = make(tmp_path)
    assert made is None or any(type(x) is type(made) for x in loggers_for(options, tmp_path, None, None))
