"""THE place to add a network: a builder per trunk (the part before the heads), `@register_model("mynet", width=64)`
on `mynet(input_shape, *, depth, width, block) -> (trunk, features)`, with the flags' values and `block(layer, units,
dims)` (the project's Block) as keywords; README: "Your own network". Keep the decorator's first argument a string
literal: the command line reads the names from this file without importing torch."""

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .models.blocks import Block, SequenceRNN


@dataclass(frozen=True)
class ModelEntry:
    function: Callable[..., tuple[nn.Module, int]]
    keywords: tuple[str, ...] | None  # the builder's keyword parameters; None: it takes **kwargs
    defaults: dict = field(default_factory=dict)


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, **defaults) -> Callable:
    """Decorator: make `function(input_shape, **keywords) -> (trunk, features)` available as --model NAME."""

    def register(function: Callable) -> Callable:
        params = list(inspect.signature(function).parameters.values())[1:]
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params)
        MODELS[name] = ModelEntry(function, None if takes_all else tuple(p.name for p in params), defaults)
        return function

    return register


# Default widths (--width auto), measured over 3 epochs on digits (test accuracy, seconds on 1 CPU thread): cnn
# 16/32/64/256 (channels width·2^i): 0.897/0.950/0.975/0.967 in 0.6/0.6/1.9/7.9 s, 64 matching 256 in a quarter of the
# time; resnet 16/32/64: 0.621/0.911/0.983 in 1.1/3.9/7.7 s; rnn 64/128/256: 0.914/0.953/0.983; mlp 64/256: 0.942/0.972.


@register_model("mlp", width=256)
def mlp(input_shape, *, depth, width, block):
    """`depth` fully connected blocks of `width` units on the flattened image."""
    sizes = [math.prod(input_shape)] + [width] * depth  # the flattened image, then each block's units
    layers = [block(lambda out, bias, n=n: nn.Linear(n, out, bias=bias), width, 1) for n in sizes[:-1]]
    return nn.Sequential(nn.Flatten(), *layers), sizes[-1]


@register_model("cnn", width=64)
def cnn(input_shape, *, depth, width, kernel_size, stride, pool, block):
    """Conv blocks (1-D on a sequence [C, L], 2-D on an image) of width, 2·width… channels, kernel k, stride s, padding
    ⌊k/2⌋ (a length L → ⌊(L + 2⌊k/2⌋ − k)/s⌋ + 1), then max pooling (window `pool`; 1: none) while the map >= pool."""
    conv, maxpool, dims = (nn.Conv1d, nn.MaxPool1d, 1) if len(input_shape) == 2 else (nn.Conv2d, nn.MaxPool2d, 2)
    c, size = input_shape[0], list(input_shape[1:])
    layers: list[nn.Module] = []
    for i in range(depth):
        out, pad = width * 2**i, kernel_size // 2
        layers.append(block(lambda o, bias, n=c, p=pad: conv(n, o, kernel_size, stride, p, bias=bias), out, dims))
        size = [(n + 2 * pad - kernel_size) // stride + 1 for n in size]
        if pool > 1 and min(size) >= pool:
            layers.append(maxpool(pool))
            size = [n // pool for n in size]
        c = out
    layers.append(nn.Flatten())  # [B, c·(map size)] → the dense head
    return nn.Sequential(*layers), c * math.prod(size)


@register_model("rnn", width=256)
def rnn(input_shape, *, depth, width, rnn_cell, bidirectional, rnn_readout, dropout, block):
    """blocks.SequenceRNN's recurrent layers (their own gate nonlinearities), then a dense block (activation, BN)."""
    stack = SequenceRNN(input_shape, depth, width, rnn_cell, dropout, bidirectional, rnn_readout)
    dense = block(lambda out, bias: nn.Linear(stack.features, out, bias=bias), width, 1)
    return nn.Sequential(stack, dense), width


class Residual(nn.Module):
    """x + F(x) with F = two conv blocks: channels and map size are kept, so the sum needs no projection."""

    def __init__(self, channels: int, block: Callable[..., Block], conv, k: int, dims: int):
        super().__init__()
        layer = lambda o, bias: conv(channels, o, k, padding=k // 2, bias=bias)  # noqa: E731
        self.f = nn.Sequential(block(layer, channels, dims), block(layer, channels, dims))

    def forward(self, x):
        return x + self.f(x)


@register_model("resnet", width=64)
def resnet(input_shape, *, depth, width, kernel_size, stride, pool, block):
    """A conv stem (stride s), then `depth` residual blocks of `width` channels, each followed by max pooling of
    window `pool` while the map is >= 2·pool, global average pooling. 1-D over a sequence, 2-D over an image."""
    conv, maxpool, dims = (nn.Conv1d, nn.MaxPool1d, 1) if len(input_shape) == 2 else (nn.Conv2d, nn.MaxPool2d, 2)
    (c, *size), k = input_shape, kernel_size
    size = [(n + 2 * (k // 2) - k) // stride + 1 for n in size]  # after the stem
    layers: list[nn.Module] = [block(lambda o, bias: conv(c, o, k, stride, k // 2, bias=bias), width, dims)]
    for _ in range(depth):
        layers.append(Residual(width, block, conv, k, dims))
        if pool > 1 and min(size) >= 2 * pool:
            layers.append(maxpool(pool))
            size = [n // pool for n in size]
    layers += [nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # [B, width]
    return nn.Sequential(*layers), width


# Add yours below (the README's worked example shows one), then: python train.py --model <name>
