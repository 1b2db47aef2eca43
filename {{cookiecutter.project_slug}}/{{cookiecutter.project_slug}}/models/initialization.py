"""Parameter initialization: the checklist's formulas for every weight, and the output biases."""

import math
from collections.abc import Callable

import torch
from torch import nn

from .blocks import WEIGHTED


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(m, n): inputs and outputs of the layer. Conv: m = in_channels × kernel area; recurrent
    matrices [gates·hidden, inputs] count their rows as outputs (torch.nn.init's convention)."""
    return weight.shape[1] * weight[0][0].numel(), weight.shape[0] * weight[0][0].numel()


# name → fill(weight, variance). Written from the formulas (not nn.init's gain conventions) so
# that each one reads as the checklist states it.
INITS: dict[str, Callable[[torch.Tensor, float], None]] = {
    "he-normal": lambda w, var: nn.init.normal_(w, 0.0, math.sqrt(2.0 / fans(w)[0])),  # N(0, 2/m), Ng
    "normal": lambda w, var: nn.init.normal_(w, 0.0, math.sqrt(var)),  # N(0, σ²), Ng's 0.1
    "uniform-fan-in": lambda w, var: nn.init.uniform_(w, -(b := fans(w)[0] ** -0.5), b),  # U(±m^-1/2), GBC16
    "glorot-uniform": lambda w, var: nn.init.uniform_(w, -(b := (sum(fans(w)) / 6.0) ** -0.5), b),  # U(±((m+n)/6)^-1/2)
    "he-uniform": lambda w, var: nn.init.uniform_(w, -(b := math.sqrt(6.0 / fans(w)[0])), b),  # variance 2/m
    "orthogonal": lambda w, var: nn.init.orthogonal_(w),
}


def initialize(net: nn.Module, scheme: str = "he-normal", variance: float = 0.1, bias: float = 0.0) -> None:
    """Fill every Linear/Conv/recurrent weight with `scheme` and every bias with `bias`."""
    if scheme == "torch-default":
        return
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r} (choose from {', '.join([*INITS, 'torch-default'])})")
    with torch.no_grad():
        for module in (m for m in net.modules() if isinstance(m, WEIGHTED)):
            for name, p in module.named_parameters(recurse=False):
                if "weight" in name:  # weight, weight_ih_l0, weight_hh_l0, in_proj_weight, …
                    INITS[scheme](p, variance)
                elif "bias" in name:
                    p.fill_(bias)


def set_output_bias(heads: nn.ModuleList, biases: list[list[float]] | None) -> None:
    """--output-bias prior: each head's bias from TaskKind.bias (the labels' statistics at zero weights); zero: 0."""
    with torch.no_grad():
        for head, bias in zip(heads, biases or [[0.0]] * len(heads)):
            head.bias.copy_(torch.tensor(bias))  # [1] broadcasts: [0.0] zeroes every class's bias
