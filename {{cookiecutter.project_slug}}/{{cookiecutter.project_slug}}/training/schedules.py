"""THE place to add a learning-rate schedule: ε_k as a pure function of the optimizer step k (one
entry of SCHEDULES), wrapped once for Lightning (lambda_lr). `--lr-schedule` lists the names, read
from this file without importing it (keep SCHEDULES a dict literal; a test holds config/flags.py's
ROBBINS_MONRO to the same names). Only the standard library at import (torch inside lambda_lr)."""

import math
from collections.abc import Callable, Mapping

# Each takes (k, ε0, p) and returns ε_k; p holds steps_per_epoch, tau, final_ratio, decay,
# step_epochs. n = k // steps_per_epoch is the epoch, counted from 0.


def _linear(k: int, lr: float, p: dict) -> float:
    # GBC16 §8.3.1: ε_k = (1 - k/τ)ε0 + (k/τ)ε_τ for k <= τ, ε_τ after.
    tau, lr_tau = p["tau"], p["final_ratio"] * lr
    return lr_tau if k >= tau else (1 - k / tau) * lr + (k / tau) * lr_tau


def _cosine(k: int, lr: float, p: dict) -> float:
    tau, lr_tau = p["tau"], p["final_ratio"] * lr
    return lr_tau if k >= tau else lr_tau + (lr - lr_tau) * (1 + math.cos(math.pi * k / tau)) / 2


SCHEDULES: dict[str, Callable[[int, float, dict], float]] = {
    "constant": lambda k, lr, p: lr,
    "linear": _linear,
    "inverse-time": lambda k, lr, p: lr / (1 + p["decay"] * (k // p["steps_per_epoch"])),  # Ng
    "exponential": lambda k, lr, p: p["decay"] ** (k // p["steps_per_epoch"]) * lr,  # Ng, δ < 1
    "sqrt": lambda k, lr, p: lr / math.sqrt(k // p["steps_per_epoch"] + 1),  # Ng, n counted from 1
    "step": lambda k, lr, p: lr * p["decay"] ** ((k // p["steps_per_epoch"]) // p["step_epochs"]),
    "cosine": _cosine,
}


def lr_at(
    k, schedule, lr, *, steps_per_epoch, total_steps, tau, final_ratio, decay, step_epochs, warmup_steps
) -> float:
    """ε_k of `schedule` at optimizer step k (from 0), ε0 = lr, with the optional linear warm-up from 0. Keywords: the
    flags' values (schedule_arguments; tau None: the last step; defaults in config/flags.py only), the step counts."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r} (choose from {', '.join(SCHEDULES)})")
    tau = max(1, total_steps - 1) if tau is None else tau  # the last step of the run uses exactly ε_τ
    params = dict(
        steps_per_epoch=max(1, steps_per_epoch), tau=tau, final_ratio=final_ratio, decay=decay, step_epochs=step_epochs
    )
    value = SCHEDULES[schedule](k, lr, params)
    if k < warmup_steps:
        value *= k / warmup_steps
    return value


# The flags of a schedule; lr_at's keyword is the flag's name without "lr_".
SCHEDULE_FLAGS = ("lr_schedule", "lr_tau", "lr_final_ratio", "lr_decay", "lr_step_epochs", "warmup_steps")


def schedule_arguments(hp) -> dict:
    """The one adapter from a run's flags (mapping or namespace) to lr_at's keywords: scheduler and plot share it."""
    values = hp if isinstance(hp, Mapping) else vars(hp)
    return {"lr": values["lr"], **{flag.removeprefix("lr_"): values[flag] for flag in SCHEDULE_FLAGS}}


def lambda_lr(optimizer, lr: float, **schedule_kw):
    """The one Lightning wrapper: LambdaLR multiplies the base ε0 by ε_k/ε0 after every step."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: lr_at(k, lr=lr, **schedule_kw) / lr)
