"""Networks: mlp, cnn, rnn and resnet built from one set of knobs (depth, width, activation,
batch norm before or after the activation, dropout), each ending in one head per task."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Maxout(nn.Module):
    """Max over k linear pieces (GBC16): input [B, k·units, ...] → [B, units, ...].

    The preceding Linear/Conv outputs k·units features; unit j is the max over pieces
    j, units + j, …, (k-1)·units + j (for conv layers: over k channel groups)."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x.view(b, self.pieces, c // self.pieces, *x.shape[2:]).amax(dim=1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


# name → constructor(width, leaky_slope, pieces). A maxout layer needs `pieces`× wider inputs.
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": lambda units, slope, pieces: nn.ReLU(),
    # g(z) = max(z, αz); with α = 0 this is exactly ReLU.
    "leaky-relu": lambda units, slope, pieces: nn.LeakyReLU(slope),
    "prelu": lambda units, slope, pieces: nn.PReLU(units, init=slope),
    "maxout": lambda units, slope, pieces: Maxout(pieces),
    "elu": lambda units, slope, pieces: nn.ELU(),
    "gelu": lambda units, slope, pieces: nn.GELU(),
    "silu": lambda units, slope, pieces: nn.SiLU(),
    "tanh": lambda units, slope, pieces: nn.Tanh(),
    "sigmoid": lambda units, slope, pieces: nn.Sigmoid(),
}
SATURATING = ("tanh", "sigmoid")


def create_activation(name: str, units: int, leaky_slope: float = 0.01, maxout_pieces: int = 2) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (choose from {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name](units, leaky_slope, maxout_pieces)


class Block(nn.Sequential):
    """Linear/Conv → BN → activation (pre) or Linear/Conv → activation → BN (post), then dropout.

    A layer whose output goes straight into batch norm has no bias: BN's β replaces it."""

    def __init__(self, layer: Callable[[int, bool], nn.Module], units: int, dims: int, *, activation: str = "relu",
                 batchnorm: bool = False, bn_position: str = "pre", bn_momentum: float = 0.1, bn_eps: float = 1e-5,
                 leaky_slope: float = 0.01, maxout_pieces: int = 2, dropout: float = 0.0):
        pieces = maxout_pieces if activation == "maxout" else 1
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        pre = batchnorm and bn_position == "pre"
        modules = [layer(units * pieces, not pre)]
        if pre:
            modules.append(bn(units * pieces, eps=bn_eps, momentum=bn_momentum))
        modules.append(create_activation(activation, units, leaky_slope, maxout_pieces))
        if batchnorm and bn_position == "post":
            modules.append(bn(units, eps=bn_eps, momentum=bn_momentum))
        if dropout > 0:
            modules.append(nn.Dropout(dropout))
        super().__init__(*modules)


class Heads(nn.Module):
    """One linear output per task on the shared trunk: C logits for C classes, 1 logit if binary."""

    def __init__(self, in_features: int, classes_per_task: list[int]):
        super().__init__()
        self.outputs = nn.ModuleList(nn.Linear(in_features, 1 if c == 2 else c) for c in classes_per_task)

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        return [head(h) for head in self.outputs]


class Network(nn.Module):
    """normalize → input dropout → trunk (architecture-specific) → features [B, F] → heads (one per task).

    Inputs are images in [0, 1]; the first step standardizes them with the training split's
    per-channel mean and std (buffers, saved in checkpoints), so the features have zero mean
    and unit variance as the checklist advises."""

    def __init__(self, trunk: nn.Module, features: int, classes_per_task: list[int], input_dropout: float = 0.0,
                 mean: list[float] | None = None, std: list[float] | None = None):
        super().__init__()
        channels = len(mean) if mean else 1
        self.register_buffer("mean", torch.tensor(mean or [0.0]).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(std or [1.0]).view(1, channels, 1, 1))
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout > 0 else nn.Identity()
        self.trunk = trunk
        self.heads = Heads(features, classes_per_task)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std  # [B, C, H, W]
        return self.heads(self.trunk(self.input_dropout(x)))


WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.RNNBase)


def weights(net: nn.Module) -> list[nn.Parameter]:
    """The checklist's weights w: matrices of Linear, Conv and recurrent layers. Not biases, not
    normalization parameters, not activation parameters (prelu's α). These are what L2 decays, L1
    penalizes and the initialization schemes fill."""
    return [p for m in net.modules() if isinstance(m, WEIGHTED)
            for name, p in m.named_parameters(recurse=False) if name.startswith("weight")]


def _mlp(input_shape, depth, width, block_kw):
    c, h, w = input_shape
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = c * h * w
    for _ in range(depth):
        layers.append(Block(lambda out, bias, n=fan_in: nn.Linear(n, out, bias=bias), width, 1, **block_kw))
        fan_in = width
    return nn.Sequential(*layers), fan_in


def _cnn(input_shape, depth, width, block_kw):
    # Conv blocks with channels width, 2·width, 4·width…; 2×2 max pooling while the map is >= 2×2.
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for i in range(depth):
        out = width * 2**i
        layers.append(Block(lambda o, bias, n=c: nn.Conv2d(n, o, 3, padding=1, bias=bias), out, 2, **block_kw))
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = out
    layers.append(nn.Flatten())  # [B, c·h·w] → the dense head
    return nn.Sequential(*layers), c * h * w


class RowRNN(nn.Module):
    """Reads an image [B, C, H, W] row by row: a sequence of H steps of C·W features."""

    CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

    def __init__(self, input_shape, depth, width, cell, dropout):
        super().__init__()
        c, h, w = input_shape
        self.rnn = self.CELLS[cell](c * w, width, num_layers=depth, batch_first=True,
                                    dropout=dropout if depth > 1 else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.permute(0, 2, 1, 3).flatten(2)  # [B, H, C·W]
        out, _ = self.rnn(seq)
        return out[:, -1]  # the state after the last row: [B, width]


def _rnn(input_shape, depth, width, block_kw, cell="gru"):
    # The recurrent cells keep their own gate nonlinearities; activation and batch norm apply to
    # the dense layer between the recurrent stack and the heads.
    rnn = RowRNN(input_shape, depth, width, cell, block_kw.get("dropout", 0.0))
    dense = Block(lambda out, bias: nn.Linear(width, out, bias=bias), width, 1, **block_kw)
    return nn.Sequential(rnn, dense), width


class Residual(nn.Module):
    """x + F(x) with F = two conv blocks: channels and map size are kept, so the sum needs no projection."""

    def __init__(self, channels, block_kw):
        super().__init__()
        conv = lambda o, bias: nn.Conv2d(channels, o, 3, padding=1, bias=bias)  # noqa: E731
        self.f = nn.Sequential(Block(conv, channels, 2, **block_kw), Block(conv, channels, 2, **block_kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


def _resnet(input_shape, depth, width, block_kw):
    c, h, w = input_shape
    stem = Block(lambda o, bias: nn.Conv2d(c, o, 3, padding=1, bias=bias), width, 2, **block_kw)
    layers: list[nn.Module] = [stem]
    for _ in range(depth):
        layers.append(Residual(width, block_kw))
        if min(h, w) >= 4:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # [B, width]
    return nn.Sequential(*layers), width


ARCHITECTURES = {"mlp": _mlp, "cnn": _cnn, "rnn": _rnn, "resnet": _resnet}


def create_network(name: str, input_shape: tuple[int, int, int], classes_per_task: list[int], *, depth: int = 2,
                   width: int = 256, rnn_cell: str = "gru", input_dropout: float = 0.0, mean: list[float] | None = None,
                   std: list[float] | None = None, **block_kw) -> Network:
    """The one place that builds a network from the architecture flags."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(ARCHITECTURES)})")
    extra = {"cell": rnn_cell} if name == "rnn" else {}
    trunk, features = ARCHITECTURES[name](input_shape, depth, width, block_kw, **extra)
    return Network(trunk, features, classes_per_task, input_dropout, mean, std)
