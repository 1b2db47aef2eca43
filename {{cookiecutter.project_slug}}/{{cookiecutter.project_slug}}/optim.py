"""Optimizers (a registry of name → constructor) and learning-rate schedules (pure functions of
the optimizer step k), wrapped once for Lightning."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

# name → constructor(params, lr, momentum, nesterov, beta2, eps, weight_decay).
# `momentum` is heavy-ball momentum for sgd/rmsprop and β1 for adam/adamw; `beta2` is Adam's β2
# and RMSProp's α. weight_decay is coupled (added to the gradient) except for adamw (decoupled).
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda params, lr, momentum, nesterov, beta2, eps, weight_decay: torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    ),
    "adam": lambda params, lr, momentum, nesterov, beta2, eps, weight_decay: torch.optim.Adam(
        params, lr=lr, betas=(momentum, beta2), eps=eps, weight_decay=weight_decay
    ),
    "adamw": lambda params, lr, momentum, nesterov, beta2, eps, weight_decay: torch.optim.AdamW(
        params, lr=lr, betas=(momentum, beta2), eps=eps, weight_decay=weight_decay
    ),
    "rmsprop": lambda params, lr, momentum, nesterov, beta2, eps, weight_decay: torch.optim.RMSprop(
        params, lr=lr, alpha=beta2, eps=eps, momentum=momentum, weight_decay=weight_decay
    ),
}


def create_optimizer(
    name: str,
    params: Iterable,
    *,
    lr: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[name](params, lr, momentum, nesterov, beta2, eps, weight_decay)


# ----------------------------------------------------------------------------- schedules
# Each takes (k, ε0, p) and returns ε_k; p holds steps_per_epoch, tau, final_ratio, decay,
# step_epochs. n = k // steps_per_epoch is the epoch, counted from 0.


def _linear(k: int, lr: float, p: dict) -> float:
    # GBC16 §8.3.1: ε_k = (1 - k/τ)ε0 + (k/τ)ε_τ for k <= τ, ε_τ after.
    tau, lr_tau = p["tau"], p["final_ratio"] * lr
    if k >= tau:
        return lr_tau
    return (1 - k / tau) * lr + (k / tau) * lr_tau


def _cosine(k: int, lr: float, p: dict) -> float:
    tau, lr_tau = p["tau"], p["final_ratio"] * lr
    if k >= tau:
        return lr_tau
    return lr_tau + (lr - lr_tau) * (1 + math.cos(math.pi * k / tau)) / 2


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
    k: int,
    schedule: str,
    lr: float,
    *,
    steps_per_epoch: int,
    total_steps: int,
    tau: int | None = None,
    final_ratio: float = 0.01,
    decay: float = 0.5,
    step_epochs: int = 10,
    warmup_steps: int = 0,
) -> float:
    """ε_k of `schedule` at optimizer step k (from 0), with the optional linear warm-up from 0."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r} (choose from {', '.join(SCHEDULES)})")
    params = {
        "steps_per_epoch": max(1, steps_per_epoch),
        # τ defaults to the last step of the run, so that step uses exactly ε_τ.
        "tau": tau if tau is not None else max(1, total_steps - 1),
        "final_ratio": final_ratio,
        "decay": decay,
        "step_epochs": step_epochs,
    }
    value = SCHEDULES[schedule](k, lr, params)
    if k < warmup_steps:
        value *= k / warmup_steps
    return value


def lambda_lr(optimizer: torch.optim.Optimizer, lr: float, **schedule_kw) -> torch.optim.lr_scheduler.LambdaLR:
    """The one Lightning wrapper: LambdaLR multiplies the base ε0 by ε_k/ε0 after every step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: lr_at(k, lr=lr, **schedule_kw) / lr)


def parameter_groups(decayed: list, others: list, weight_decay: float) -> list[dict]:
    """L2 applies to weights only: biases and normalization/activation parameters are not decayed."""
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
