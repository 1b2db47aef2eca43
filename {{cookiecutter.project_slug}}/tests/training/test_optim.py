"""Learning-rate schedules against CLI.md's formulas, and the optimizer registry."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from conftest import assert_bad_input, parsed, train

from {{cookiecutter.project_slug}}.config.flags import FLAG_BY_NAME
from {{cookiecutter.project_slug}}.training.optimizers import OPTIMIZERS, create_optimizer
from {{cookiecutter.project_slug}}.training.schedules import SCHEDULES, lr_at, schedule_arguments

LR0, PER_EPOCH, TOTAL = 0.1, 7, 50


def formula(schedule: str, k: int, tau: int, final: float, decay: float, step_epochs: int) -> float:
    """CLI.md, written out again independently of optim.py."""
    n = k // PER_EPOCH
    lr_tau = final * LR0
    if schedule == "constant":
        return LR0
    if schedule == "linear":
        return (1 - k / tau) * LR0 + (k / tau) * lr_tau if k <= tau else lr_tau
    if schedule == "inverse-time":
        return LR0 / (1 + decay * n)
    if schedule == "exponential":
        return decay**n * LR0
    if schedule == "sqrt":
        return LR0 / math.sqrt(n + 1)
    if schedule == "step":
        return LR0 * decay ** math.floor(n / step_epochs)
    if schedule == "cosine":
        return lr_tau + (LR0 - lr_tau) * (1 + math.cos(math.pi * min(k, tau) / tau)) / 2
    raise AssertionError(schedule)


BUILT_IN = ("constant", "linear", "inverse-time", "exponential", "sqrt", "step", "cosine")  # formula() knows them


def test_every_built_in_schedule_is_registered_and_quoted_in_the_help():
    from {{cookiecutter.project_slug}}.config.flags import ROBBINS_MONRO

    assert set(BUILT_IN) <= set(SCHEDULES) and set(ROBBINS_MONRO) == set(BUILT_IN)


@pytest.mark.parametrize("schedule", BUILT_IN)
@pytest.mark.parametrize(("tau", "warmup"), [(None, 0), (20, 0), (20, 5)])
def test_schedule_matches_formula(schedule, tau, warmup):
    kw = dict(final_ratio=0.05, decay=0.7, step_epochs=2)
    effective_tau = tau if tau is not None else TOTAL - 1
    for k in [0, 1, 3, 6, 7, 13, 14, 19, 20, 21, 35, 48, 49]:
        expected = formula(schedule, k, effective_tau, kw["final_ratio"], kw["decay"], kw["step_epochs"])
        if k < warmup:
            expected *= k / warmup
        got = lr_at(k, schedule, LR0, steps_per_epoch=PER_EPOCH, total_steps=TOTAL, tau=tau, warmup_steps=warmup, **kw)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (schedule, k)


def test_linear_default_ends_exactly_at_lr_tau():
    kw = schedule_arguments(parsed("--lr", str(LR0), "--lr-schedule", "linear"))
    values = [lr_at(k, steps_per_epoch=PER_EPOCH, total_steps=TOTAL, **kw) for k in range(TOTAL)]
    assert values[0] == LR0 and values[-1] == pytest.approx(0.01 * LR0, rel=1e-12)
    assert all(a > b for a, b in zip(values, values[1:]))


def read_lr(run_dir) -> dict[int, float]:
    with open(run_dir / "metrics.csv") as f:
        return {int(r["step"]): float(r["lr"]) for r in csv.DictReader(f) if r["lr"]}


@pytest.mark.slow
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_logged_lr_equals_formula_at_every_step(schedule, tmp_path):
    # digits: 1,294 training images / 128 = 11 steps per epoch; 3 epochs = 33 steps; τ = 20 < 33
    # so the linear/cosine floor ε_τ shows, and 4 warm-up steps show the ramp.
    status, run_dir = train(
        tmp_path,
        "--lr-schedule",
        schedule,
        "--lr",
        "0.01",
        "--batch-size",
        "128",
        "--max-epochs",
        "3",
        "--lr-tau",
        "20",
        "--warmup-steps",
        "4",
        "--lr-decay",
        "0.6",
        "--lr-step-epochs",
        "2",
        "--lr-final-ratio",
        "0.1",
    )
    assert status == 0
    logged = read_lr(run_dir)
    assert sorted(logged) == list(range(33))
    for k, value in logged.items():
        expected = lr_at(
            k,
            schedule,
            0.01,
            steps_per_epoch=11,
            total_steps=33,
            tau=20,
            final_ratio=0.1,
            decay=0.6,
            step_epochs=2,
            warmup_steps=4,
        )
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-15), (schedule, k)
    if schedule == "linear":
        assert logged[32] == pytest.approx(0.001) and logged[20] == pytest.approx(0.001)


def test_resume_continues_the_schedule(tmp_path):
    flags = ["--batch-size", "128", "--lr", "0.01", "--lr-schedule", "linear", "--lr-tau", "40"]
    status, run_dir = train(tmp_path, *flags, "--max-epochs", "2", "--run-name", "r")
    assert status == 0
    status, _ = train(tmp_path, *flags, "--resume", "last", "--max-epochs", "4")
    assert status == 0
    logged = read_lr(run_dir)
    assert sorted(logged) == list(range(44))
    kw = schedule_arguments(parsed(*flags))
    for k in range(22, 44):  # after the resume: the same formula, not a restart at ε0
        assert logged[k] == pytest.approx(lr_at(k, steps_per_epoch=11, total_steps=44, **kw))


EXPECTED = {
    "sgd": (torch.optim.SGD, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.0}),
    "adam": (torch.optim.Adam, {"betas": (0.8, 0.95), "eps": 1e-6}),
    "adamw": (torch.optim.AdamW, {"betas": (0.8, 0.95), "eps": 1e-6}),
    "rmsprop": (torch.optim.RMSprop, {"momentum": 0.8, "alpha": 0.95, "eps": 1e-6}),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_registered_optimizer_takes_its_declared_flags_and_descends(name):
    from {{cookiecutter.project_slug}}.training.optimizers import OPTIMIZER_FLAGS

    assert set(OPTIMIZER_FLAGS[name]) <= set(FLAG_BY_NAME)  # each keyword is a flag the constructor gets
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = create_optimizer(name, [w], **vars(parsed("--lr", "0.05")))
    before = float((w**2).sum())
    for _ in range(5):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w**2).sum()) < before


@pytest.mark.parametrize("name", EXPECTED)
def test_optimizer_has_requested_class_and_hyperparameters(name):
    params = [torch.nn.Parameter(torch.zeros(3))]
    given = ["--lr=0.05", "--momentum=0.8", "--beta2=0.95", "--eps=1e-6", f"--nesterov={name == 'sgd'}"]
    opt = create_optimizer(name, params, **vars(parsed("--optimizer", name, *given)))
    cls, expected = EXPECTED[name]
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.05
    for key, value in expected.items():
        assert group[key] == value, key


def test_unknown_optimizer_lists_the_choices():
    with pytest.raises(ValueError, match="sgd, adam, adamw, rmsprop"):
        create_optimizer("lbfgs", [], lr=1.0)


BAD = [
    ("--lr-tau 0", "--lr-tau"),
    ("--lr-tau -5", "--lr-tau"),
    ("--lr-final-ratio 0", "--lr-final-ratio"),
    ("--lr-final-ratio 1.5", "--lr-final-ratio"),
    ("--lr-decay 0", "--lr-decay"),
    ("--lr-decay -1", "--lr-decay"),
    ("--lr-schedule exponential --lr-decay 1", "--lr-decay"),
    ("--lr-schedule step --lr-decay 1.5", "--lr-decay"),
    ("--momentum -0.1", "--momentum"),
    ("--momentum 1", "--momentum"),
    ("--beta2 0", "--beta2"),
    ("--beta2 1", "--beta2"),
    ("--warmup-steps -1", "--warmup-steps"),
    ("--optimizer adam --nesterov", "--nesterov"),
    ("--optimizer sgd --momentum 0 --nesterov", "--nesterov"),
    ("--eps 0", "--eps"),
    ("--gradient-clip-val -1", "--gradient-clip-val"),
    ("--find-batch-size-max 0", "--find-batch-size-max"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD)
def test_bad_learning_rate_and_optimizer_values(argv, flag, capsys):
    assert_bad_input(argv, flag, capsys)
