"""Saturating and dead units: a sample of training inputs through a network's final weights, with a
forward hook on each hidden tanh/sigmoid/ReLU module (torch's hooks; nothing else needed)."""

import torch
from torch import nn

SATURATION = {nn.Tanh: (-0.97, 0.97), nn.Sigmoid: (0.03, 0.97)}  # outside: gradient < 6% / 12% of its peak
SATURATED_INPUTS = 0.9  # a unit is saturated when it is on 90% of the sampled inputs
NAMES = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.ReLU: "relu"}


@torch.no_grad()
def unit_statistics(trunk: nn.Module, forward, x: torch.Tensor) -> dict:
    """{activation, units, inputs, saturated, dead}: the share of `trunk`'s hidden units saturated
    (tanh/sigmoid) or never active (ReLU) when `forward(x)` runs; units = 0 for other activations."""
    outputs: list[tuple[type, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: outputs.append((type(m), o.detach())))
        for m in trunk.modules()
        if type(m) in NAMES
    ]
    try:
        forward(x)
    finally:
        for h in hooks:
            h.remove()
    kinds = {k for k, _ in outputs}
    if len(kinds) != 1:
        return {"activation": None, "units": 0, "inputs": len(x), "saturated": 0.0, "dead": 0.0}
    kind = kinds.pop()
    saturated = dead = total = 0
    for _, o in outputs:
        per_unit = o.transpose(0, 1).reshape(o.shape[1], -1) if o.dim() > 2 else o.T  # [units, samples]
        total += per_unit.shape[0]
        if kind in SATURATION:
            low, high = SATURATION[kind]
            share = ((per_unit < low) | (per_unit > high)).float().mean(1)  # [units]
            saturated += int((share >= SATURATED_INPUTS).sum())
        else:
            dead += int((per_unit <= 0).all(1).sum())
    return {
        "activation": NAMES[kind],
        "units": total,
        "inputs": len(x),
        "saturated": saturated / total,
        "dead": dead / total,
    }
