"""The fast_wandb feature: every run's W&B logger works on a thread of its own. A call returns before
W&B has done it, the calls run in the order they were made, flush() waits for all of them, and a W&B
that fails is one warning while the run goes on."""

from __future__ import annotations

import threading

import pytest
from conftest import HANG
from lightning.pytorch.loggers import WandbLogger

from {{cookiecutter.project_slug}}.training import background, loggers


@pytest.fixture
def logger(tmp_path, monkeypatch):
    """A background logger whose W&B work is recorded instead of done (wandb.init included)."""
    done: list = []
    monkeypatch.setattr(WandbLogger, "experiment", property(lambda self: done.append("init") or "run"))
    monkeypatch.setattr(WandbLogger, "log_metrics", lambda self, metrics, step=None: done.append((step, metrics)))
    made = background.BackgroundWandbLogger(save_dir=str(tmp_path), mode="offline")
    made.done = done
    return made


def test_attach_makes_it_every_runs_wandb_logger(monkeypatch):
    monkeypatch.setattr(loggers, "WANDB_LOGGER", loggers.SweepWandbLogger)
    background.attach()
    assert loggers.WANDB_LOGGER is background.BackgroundWandbLogger


def test_a_call_returns_before_wandb_does_it_and_calls_keep_their_order(logger):
    gate = threading.Event()
    logger.start()
    logger.call(lambda: logger.done.append(("gate opened", gate.wait(timeout=HANG))))
    logger.log_metrics({"train/loss": 1.0}, step=0)  # queued behind the gate: it has not run yet
    logger.call(lambda: logger.done.append("last"))
    assert (0, {"train/loss": 1.0}) not in logger.done
    gate.set()  # only now can the thread go on; a call made on the training thread would have blocked above
    logger.flush()
    assert logger.done == ["init", ("gate opened", True), (0, {"train/loss": 1.0}), "last"]


def test_tensors_are_sent_as_the_values_they_held_when_logged(logger):
    import torch

    value = torch.tensor(2.0)
    logger.start()
    logger.log_metrics({"train/loss": value}, step=3)
    value += 1  # the training loop reuses its tensors
    logger.flush()
    assert logger.done[-1] == (3, {"train/loss": 2.0})


def test_a_failed_wandb_init_is_one_warning_and_later_calls_are_dropped(tmp_path, monkeypatch, capsys):
    def broken(self):
        raise OSError("no space left on device")

    monkeypatch.setattr(WandbLogger, "experiment", property(broken))
    made = background.BackgroundWandbLogger(save_dir=str(tmp_path), mode="offline")
    made.start()
    made.log_metrics({"train/loss": 1.0}, step=0)
    made.flush()
    made.flush()
    assert "OSError: no space left on device" in made.failure
    assert loggers.wandb_run_id(made) is None
    assert capsys.readouterr().err.count("warning: W&B failed") == 1
