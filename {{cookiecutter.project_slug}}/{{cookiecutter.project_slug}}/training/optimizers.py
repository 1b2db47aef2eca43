"""THE place to add an optimizer (an example: the README's "Extend"): a constructor registered under its
`--optimizer` name (a string literal: the command line reads the names without importing torch) whose
keyword parameters are the flags it takes and gets; a flag given to one that does not take it is refused
(--nesterov with adam). `momentum` is heavy-ball momentum for sgd/rmsprop and β1 for adam/adamw; `beta2`
is Adam's β2 and RMSProp's α; weight_decay is coupled (added to the gradient) except for adamw."""

import inspect
from collections.abc import Callable, Iterable

import torch

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {}
OPTIMIZER_FLAGS: dict[str, tuple[str, ...]] = {}  # name → the flags its constructor takes


def register_optimizer(name: str) -> Callable:
    """Decorator: make `constructor(params, *, lr, <flags>)` available as --optimizer NAME."""

    def register(constructor: Callable) -> Callable:
        OPTIMIZERS[name] = constructor
        OPTIMIZER_FLAGS[name] = tuple(list(inspect.signature(constructor).parameters)[1:])
        return constructor

    return register


@register_optimizer("sgd")
def sgd(params, *, lr, momentum, nesterov, weight_decay):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


@register_optimizer("adam")
def adam(params, *, lr, momentum, beta2, eps, weight_decay):
    return torch.optim.Adam(params, lr=lr, betas=(momentum, beta2), eps=eps, weight_decay=weight_decay)


@register_optimizer("adamw")
def adamw(params, *, lr, momentum, beta2, eps, weight_decay):
    return torch.optim.AdamW(params, lr=lr, betas=(momentum, beta2), eps=eps, weight_decay=weight_decay)


@register_optimizer("rmsprop")
def rmsprop(params, *, lr, momentum, beta2, eps, weight_decay):
    return torch.optim.RMSprop(params, lr=lr, alpha=beta2, eps=eps, momentum=momentum, weight_decay=weight_decay)


def create_optimizer(name: str, params: Iterable, **flags) -> torch.optim.Optimizer:
    """The optimizer `name` over `params`, given the flags its constructor takes (others ignored; no defaults here)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[name](params, **{k: flags[k] for k in OPTIMIZER_FLAGS[name] if k in flags})


def parameter_groups(decayed: list, others: list, weight_decay: float) -> list[dict]:
    """L2 applies to weights only: biases and normalization/activation parameters are not decayed."""
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
