"""The project's block (Linear/Conv → BN → activation, dropout), the activations, and `Network`: any trunk
(networks.py{% if cookiecutter.backbones %}, torchvision, timm{% endif %}) with the input adaptation and one head per task."""

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NetworkError


class Maxout(nn.Module):
    """Max over k linear pieces (GBC16): [B, k·units, …] → [B, units, …], unit j the max of features j, units + j, …"""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (self.pieces, -1)).amax(dim=1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


# name → constructor(width, leaky_slope, pieces). A maxout layer needs `pieces`× wider inputs.
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": lambda units, slope, pieces: nn.ReLU(),
    "leaky-relu": lambda units, slope, pieces: nn.LeakyReLU(slope),  # g(z) = max(z, αz); α = 0 is ReLU
    "prelu": lambda units, slope, pieces: nn.PReLU(units, init=slope),
    "maxout": lambda units, slope, pieces: Maxout(pieces),
    "elu": lambda units, slope, pieces: nn.ELU(),
    "gelu": lambda units, slope, pieces: nn.GELU(),
    "silu": lambda units, slope, pieces: nn.SiLU(),
    "tanh": lambda units, slope, pieces: nn.Tanh(),
    "sigmoid": lambda units, slope, pieces: nn.Sigmoid(),
}


class Block(nn.Sequential):
    """Linear/Conv → BN → activation (pre) or → activation → BN (post), then dropout; BN's β replaces the layer bias."""

    def __init__(
        self,
        layer: Callable[[int, bool], nn.Module],
        units: int,
        dims: int,
        *,
        activation: str = "relu",
        batchnorm: bool = False,
        bn_position: str = "pre",
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        leaky_slope: float = 0.01,
        maxout_pieces: int = 2,
        dropout: float = 0.0,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r} (choose from {', '.join(ACTIVATIONS)})")
        pieces = maxout_pieces if activation == "maxout" else 1
        bn = partial(nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d, eps=bn_eps, momentum=bn_momentum)
        pre = batchnorm and bn_position == "pre"
        modules = (
            layer(units * pieces, not pre),
            bn(units * pieces) if pre else None,
            ACTIVATIONS[activation](units, leaky_slope, maxout_pieces),
            bn(units) if batchnorm and bn_position == "post" else None,
            nn.Dropout(dropout) if dropout > 0 else None,
        )
        super().__init__(*(m for m in modules if m is not None))


class Heads(nn.Module):
    """One linear output per task on the shared trunk: C logits for C classes, 1 logit if binary."""

    def __init__(self, in_features: int, classes_per_task: list[int]):
        super().__init__()
        self.outputs = nn.ModuleList(nn.Linear(in_features, 1 if c == 2 else c) for c in classes_per_task)

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        return [head(h) for head in self.outputs]


class Network(nn.Module):
    """adapt the input → input dropout → trunk → features [B, F] → dropout (for trunks not built from `Block`) → heads.
    It takes images in [0, 1], so checkpoints and exports take the raw images too: grayscale repeated to `channels`,
    images smaller than `size` resized up, standardized with `mean` and `std` (buffers: the training split's
    per-channel statistics, as the checklist advises{% if cookiecutter.backbones %}, or a backbone's own{% endif %})."""

    def __init__(
        self,
        trunk: nn.Module,
        features: int,
        classes_per_task: list[int],
        input_dropout: float = 0.0,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        *,
        channels: int | None = None,
        size: int | None = None,
        dropout: float = 0.0,
        freeze_trunk: bool = False,
    ):
        super().__init__()
        channels = channels or (len(mean) if mean else 1)
        mean, std = list(mean or [0.0]), list(std or [1.0])
        if len(mean) == 1 and channels > 1:  # grayscale statistics for the repeated channels
            mean, std = mean * channels, std * channels
        self.channels, self.size, self.freeze_trunk = channels, size, freeze_trunk
        self.register_buffer("mean", torch.tensor(mean).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, channels, 1, 1))
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout > 0 else nn.Identity()
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.heads = Heads(features, classes_per_task)
        if freeze_trunk:
            self.trunk.requires_grad_(False).eval()  # Lightning keeps a module's built mode, also after validation

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] in [0, 1] or a sequence [B, C, L] → what the trunk takes (≥size, channels), standardized."""
        if x.shape[1] == 1 and self.channels > 1:
            x = x.expand(-1, self.channels, -1, -1)  # grayscale → the channels a backbone expects
        if self.size and min(x.shape[-2:]) < self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x - self.mean.view(-1, *(1,) * (x.dim() - 2))) / self.std.view(-1, *(1,) * (x.dim() - 2))  # any rank

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.heads(self.dropout(self.trunk(self.input_dropout(self.adapt(x)))))

    def train(self, mode: bool = True) -> "Network":
        super().train(mode)
        if self.freeze_trunk:  # a frozen trunk's batch norm keeps its running statistics too
            self.trunk.eval()
        return self


# Layers whose matrices are the checklist's weights w (subclasses too; attention: in_proj_weight).
WEIGHTED = (nn.Linear, nn.modules.conv._ConvNd, nn.RNNBase, nn.MultiheadAttention)


def weights(net: nn.Module) -> list[nn.Parameter]:
    """The checklist's weights w (L2 decays, L1 penalizes, schemes fill): WEIGHTED layers' matrices, no bias/norm/α."""
    layers = (m for m in net.modules() if isinstance(m, WEIGHTED))
    return [p for m in layers for name, p in m.named_parameters(recurse=False) if "weight" in name]


def check_features(trunk: nn.Module, features: int, input_shape: tuple[int, ...], who: str) -> None:
    """A batch of 2 through the trunk must give [2, features] (eval mode: batch norm's statistics stay)."""
    probe, was_training = torch.rand(2, *input_shape), trunk.training
    try:
        with torch.no_grad():
            out = trunk.eval()(probe)
    except Exception as e:
        raise NetworkError(f"{who} raised {type(e).__name__} on a batch of shape {list(probe.shape)}: {e}") from e
    finally:
        trunk.train(was_training)
    shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != [2, features]:
        raise NetworkError(
            f"{who} returned features of shape {shape} for input {list(probe.shape)}, expected [2, {features}]"
        )


RNN_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}  # --rnn-cell → the recurrent layer


class SequenceRNN(nn.Module):
    """[B, C, L] as L steps of C features ([B, C, H, W]: H rows of C·W) through `depth` layers, both ways if
    `bidirectional` → [B, directions·width]: each direction's last state (readout last), or the mean or max of steps."""

    def __init__(self, input_shape, depth, width, cell, dropout, bidirectional=False, readout="last"):
        super().__init__()
        if (steps := input_shape[1]) < 2:
            raise NetworkError(f"--model rnn: input {list(input_shape)} gives it {steps} step; time is a sequence's L")
        drop, size = dropout if depth > 1 else 0.0, torch.Size(input_shape).numel() // steps
        self.rnn = RNN_CELLS[cell](size, width, depth, batch_first=True, dropout=drop, bidirectional=bidirectional)
        self.readout, self.features = readout, width * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x.transpose(1, 2) if x.dim() == 3 else x.permute(0, 2, 1, 3).flatten(2))[0]  # [B, steps, ·]
        if self.readout == "last":  # forward: after the last step; backward: after the first
            return torch.cat([out[:, -1, : self.rnn.hidden_size], out[:, 0, self.rnn.hidden_size :]], 1)
        return out.mean(1) if self.readout == "mean" else out.amax(1)
