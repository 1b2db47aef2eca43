"""Ordered inputs in the networks: 1-D convolutions (cnn, resnet) against hand-computed output lengths and
parameter counts, the recurrent network's directions and readouts against torch.nn.GRU, the input's per-channel
standardization at any rank, --split-seed apart from --seed, and the new flags' bad values."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_bad_input, data_options
from torch import nn

from {{cookiecutter.project_slug}}.config.reach import flag_reach
from {{cookiecutter.project_slug}}.data.memory import InMemoryDataModule
from {{cookiecutter.project_slug}}.datasets import DATASETS
from {{cookiecutter.project_slug}}.errors import NetworkError
from {{cookiecutter.project_slug}}.models.blocks import SequenceRNN
from {{cookiecutter.project_slug}}.models.build import create_network
from {{cookiecutter.project_slug}}.networks import MODELS


def net(model, shape, **kw):
    return create_network(model, shape, [10], models=MODELS, **kw)


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_cnn_on_a_sequence_is_1d_with_the_hand_computed_lengths_and_about_5k_parameters():
    # [1, 40] → conv k5 s2 p2: ⌊(40 + 4 − 5)/2⌋ + 1 = 20 → pool 2: 10 → conv: ⌊(10 + 4 − 5)/2⌋ + 1 = 5 → pool: 2.
    n = net("cnn", (1, 40), depth=2, width=20, kernel_size=5, stride=2, pool=2, batchnorm=True)
    convs = [m for m in n.trunk.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert [type(m) for m in convs] == [nn.Conv1d, nn.Conv1d]
    norms = [m for m in n.trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 2 and all(isinstance(m, nn.BatchNorm1d) for m in norms)
    assert [c.kernel_size for c in convs] == [(5,), (5,)] and [c.stride for c in convs] == [(2,), (2,)]
    lengths, x = [], torch.randn(3, 1, 40)
    for m in n.trunk:
        x = m(x)
        lengths.append(x.shape[-1])
    assert lengths[:4] == [20, 10, 5, 2] and x.shape == (3, 40 * 2)
    # conv 20·1·5 (no bias: BN follows) + BN 2·20; conv 40·20·5 + BN 2·40; head 80·10 + 10.
    assert count(n) == (100 + 40) + (4000 + 80) + 810 == 5030
    assert [o.shape for o in n(torch.randn(3, 1, 40))] == [(3, 10)]


def test_cnn_on_an_image_is_still_2d_and_a_stride_and_kernel_shape_it():
    n = net("cnn", (1, 8, 8), depth=1, width=4, kernel_size=3, stride=1, pool=2, batchnorm=False)
    conv = n.trunk[0][0]
    assert isinstance(conv, nn.Conv2d) and count(n) == (4 * 9 + 4) + (4 * 4 * 4 * 10 + 10)
    n = net("cnn", (2, 9, 9), depth=1, width=3, kernel_size=5, stride=3, pool=1, batchnorm=False)
    # ⌊(9 + 4 − 5)/3⌋ + 1 = 3 per axis, no pooling: 3·3·3 features.
    assert n.heads.outputs[0].in_features == 27 and count(n.trunk) == 3 * 2 * 25 + 3


def test_resnet_on_a_sequence_is_1d():
    n = net("resnet", (2, 32), depth=1, width=8, kernel_size=3, stride=2, pool=2, batchnorm=False)
    assert {type(m) for m in n.trunk.modules() if isinstance(m, nn.modules.conv._ConvNd)} == {nn.Conv1d}
    # stem 8·2·3 + 8, one residual block of two 8·8·3 + 8 convs; head 8·10 + 10.
    assert count(n) == (48 + 8) + 2 * (192 + 8) + 90
    assert n.trunk(torch.randn(2, 2, 32)).shape == (2, 8)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("readout", ["last", "mean", "max"])
def test_rnn_bidirectional_parameters_equal_torch_and_readouts_have_both_directions(cell, readout):
    n = net("rnn", (3, 12), depth=2, width=6, rnn_cell=cell, bidirectional=True, rnn_readout=readout, batchnorm=False)
    stack = n.trunk[0]
    reference = (nn.GRU if cell == "gru" else nn.LSTM)(3, 6, 2, bidirectional=True)
    assert count(stack) == count(reference)
    assert count(n) == count(reference) + (12 * 6 + 6) + (6 * 10 + 10)  # dense block on 2·width, head
    assert stack(torch.randn(4, 3, 12)).shape == (4, 12)


def test_the_backward_direction_reads_the_steps_reversed_and_the_readouts_are_their_formulas():
    torch.manual_seed(0)
    bi = SequenceRNN((3, 7), 1, 5, "gru", 0.0, bidirectional=True, readout="last")
    forward, backward = nn.GRU(3, 5, batch_first=True), nn.GRU(3, 5, batch_first=True)
    for name, p in bi.rnn.named_parameters():
        target = backward if name.endswith("_reverse") else forward
        getattr(target, name.removesuffix("_reverse")).data.copy_(p.data)
    x = torch.randn(2, 3, 7)
    steps = x.transpose(1, 2)  # [B, L, C]: time is the last axis of the input
    h_forward, h_backward = forward(steps)[1][0], backward(steps.flip(1))[1][0]
    torch.testing.assert_close(bi(x), torch.cat([h_forward, h_backward], 1))
    out_f, out_b = forward(steps)[0], backward(steps.flip(1))[0].flip(1)
    everything = torch.cat([out_f, out_b], 2)  # [B, L, 2·width]
    bi.readout = "mean"
    torch.testing.assert_close(bi(x), everything.mean(1))
    bi.readout = "max"
    torch.testing.assert_close(bi(x), everything.amax(1))


def test_one_step_is_refused_and_an_image_is_read_row_by_row():
    with pytest.raises(NetworkError, match="1 step"):
        net("rnn", (40, 1), depth=1, width=4)
    stack = SequenceRNN((1, 5, 3), 1, 4, "gru", 0.0)  # an image: 5 rows of 1·3 features
    assert stack.rnn.input_size == 3 and stack(torch.rand(2, 1, 5, 3)).shape == (2, 4)


def test_a_sequence_is_standardized_per_channel():
    n = net("mlp", (2, 5), depth=1, width=4, mean=[1.0, -2.0], std=[2.0, 0.5])
    x = torch.randn(3, 2, 5)
    expected = (x - torch.tensor([1.0, -2.0]).view(1, 2, 1)) / torch.tensor([2.0, 0.5]).view(1, 2, 1)
    torch.testing.assert_close(n.adapt(x), expected)


def test_the_new_knobs_reach_the_networks_that_take_them():
    assert {"kernel_size", "stride", "pool"} <= set(flag_reach("cnn")[0]) and "bidirectional" in flag_reach("cnn")[1]
    assert {"bidirectional", "rnn_readout"} <= set(flag_reach("rnn")[0]) and "kernel_size" in flag_reach("rnn")[1]
    assert {"kernel_size", "stride", "pool", "bidirectional"} <= set(flag_reach("mlp")[1])


@pytest.mark.parametrize(
    "argv, flag",
    [
        ("--kernel-size 0", "--kernel-size"),
        ("--stride -1", "--stride"),
        ("--pool 0", "--pool"),
        ("--rnn-readout first", "--rnn-readout"),
        ("--split-seed -3", "--split-seed"),
    ],
)
def test_bad_values_are_one_line(argv, flag, capsys):
    assert_bad_input(argv, flag, capsys)


def test_the_split_follows_split_seed_not_seed():
    def val_images(**seeds):
        dm = InMemoryDataModule(DATASETS["digits"], data_options(**seeds))
        dm.prepare_data()
        dm.setup()
        return dm.val_set.x, dm.test_set.x

    fixed = val_images(seed=0, split_seed=0)
    assert all(torch.equal(a, b) for a, b in zip(fixed, val_images(seed=7, split_seed=0)))
    assert not torch.equal(fixed[0], val_images(seed=0, split_seed=1)[0])
