"""Architectures (1-D and 2-D convolutions, recurrent readouts), batch normalization, initialization and activations,
checked against the checklist."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import assert_bad_input, data_options, train
from torch import nn

from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.config.reach import flag_reach
from {{cookiecutter.project_slug}}.data.memory import ImageDataModule
from {{cookiecutter.project_slug}}.data.tasks import TASK_KINDS
from {{cookiecutter.project_slug}}.datasets import DATASETS
from {{cookiecutter.project_slug}}.errors import NetworkError
from {{cookiecutter.project_slug}}.models.blocks import ACTIVATIONS, Block, Maxout, SequenceRNN
from {{cookiecutter.project_slug}}.models.build import create_network
from {{cookiecutter.project_slug}}.models.initialization import INITS, initialize
from {{cookiecutter.project_slug}}.networks import MODELS
from {{cookiecutter.project_slug}}.training.module import TaskModule

DIGITS = (1, 8, 8)
BN = (nn.BatchNorm1d, nn.BatchNorm2d)
WEIGHTED = (nn.Linear, nn.Conv2d)


def net(model="mlp", **kw):
    kw = {"depth": 2, "width": 8, **kw}
    return create_network(model, DIGITS, [10, 2], models=MODELS, **kw)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("batchnorm", "position"), [(False, "pre"), (True, "pre"), (True, "post")])
def test_every_combination_builds_and_trains_one_step(model, activation, batchnorm, position):
    network = net(model, activation=activation, batchnorm=batchnorm, bn_position=position)
    x = torch.randn(4, *DIGITS)
    outputs = network(x)
    assert [o.shape for o in outputs] == [(4, 10), (4, 1)]
    sum(o.sum() for o in outputs).backward()
    assert all(p.grad is not None for p in network.parameters() if p.requires_grad)


def blocks(network):
    return [m for m in network.modules() if isinstance(m, Block)]


def takes_blocks(model: str) -> bool:
    """README: a trunk built from `block` gets the block flags; one without it ignores them."""
    return MODELS[model].keywords is None or "block" in MODELS[model].keywords


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("position", ["pre", "post"])
def test_batchnorm_order_and_no_bias_before_it(model, position):
    found = blocks(net(model, batchnorm=True, bn_position=position))
    if not takes_blocks(model):  # --batchnorm does not reach it: the same network as without it
        assert not found and str(net(model, batchnorm=True, bn_position=position)) == str(net(model))
        return
    assert found
    for block in found:
        kinds = list(block)
        layer, bn_index = kinds[0], next(i for i, m in enumerate(kinds) if isinstance(m, BN))
        assert isinstance(layer, WEIGHTED)
        if position == "pre":  # Linear/Conv → BN → activation; β replaces the bias
            assert bn_index == 1 and layer.bias is None
            assert isinstance(kinds[2], nn.ReLU)
        else:  # Linear/Conv → activation → BN
            assert bn_index == 2 and isinstance(kinds[1], nn.ReLU) and layer.bias is not None


@pytest.mark.parametrize("model", MODELS)
def test_no_batchnorm_means_no_bn_layers_and_biases(model):
    network = net(model)
    if takes_blocks(model):  # a trunk without blocks may hold batch norm of its own
        assert not any(isinstance(m, BN) for m in network.modules())
    assert all(b[0].bias is not None for b in blocks(network))


def test_batchnorm_uses_running_averages_at_test_time():
    block = Block(
        lambda out, bias: nn.Linear(3, out, bias=bias), 5, 1, batchnorm=True, bn_momentum=0.5, activation="relu"
    )
    linear, bn = block[0], block[1]
    x = torch.randn(64, 3) * 3 + 1
    z = linear(x)
    # Training: the minibatch's own μ and σ² (biased variance), then γ z_norm + β with γ=1, β=0.
    expected_train = torch.relu((z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + bn.eps))
    torch.testing.assert_close(block.train()(x), expected_train, atol=1e-5, rtol=1e-5)
    # One update with momentum 0.5 from (0, 1): running = 0.5·old + 0.5·batch (unbiased var).
    torch.testing.assert_close(bn.running_mean, 0.5 * z.mean(0).detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bn.running_var, 0.5 + 0.5 * z.var(0, unbiased=True).detach(), atol=1e-5, rtol=1e-5)
    expected_eval = torch.relu((z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps))
    torch.testing.assert_close(block.eval()(x), expected_eval, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(expected_eval, expected_train, atol=1e-3)


def fan_in(w):
    return w.shape[1] * w[0][0].numel()


# scheme → (expected variance, uniform bound or None) for a weight with m inputs and n outputs.
EXPECTED = {
    "he-normal": lambda m, n: (2 / m, None),
    "normal": lambda m, n: (0.1, None),
    "uniform-fan-in": lambda m, n: (1 / (3 * m), m**-0.5),
    "glorot-uniform": lambda m, n: (((m + n) / 6) ** -1 / 3, ((m + n) / 6) ** -0.5),
    "he-uniform": lambda m, n: (2 / m, math.sqrt(6 / m)),
    "orthogonal": lambda m, n: (1 / max(m, n), None),
}


@pytest.mark.parametrize("scheme", INITS)
@pytest.mark.parametrize(
    "layer", [nn.Linear(1000, 800), nn.Conv2d(64, 32, 3), nn.GRU(300, 200)], ids=["linear", "conv", "gru"]
)
def test_init_variance_and_bounds_match_the_formula(scheme, layer):
    torch.manual_seed(0)
    initialize(layer, scheme, variance=0.1, bias=0.25)
    for name, p in layer.named_parameters():
        if name.startswith("bias"):
            assert torch.all(p == 0.25), name
            continue
        if isinstance(layer, nn.GRU):  # three gates stacked: each gate's matrix is hidden × inputs
            m, n = p.shape[1], p.shape[0]
        else:
            m, n = fan_in(p), p.shape[0] * p[0][0].numel()
        variance, bound = EXPECTED[scheme](m, n)
        count = p.numel()
        # The sample variance of N draws has relative standard error √(2/N) (normal) or less
        # (uniform): allow 6 of them.
        assert p.var().item() == pytest.approx(variance, rel=6 * math.sqrt(2 / count)), (scheme, name)
        if bound is not None:
            assert p.abs().max().item() <= bound + 1e-7
            assert p.abs().max().item() >= 0.99 * bound


def test_torch_default_leaves_pytorch_init():
    torch.manual_seed(0)
    a = nn.Linear(50, 50)
    torch.manual_seed(0)
    b = nn.Linear(50, 50)
    initialize(b, "torch-default", bias=3.0)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


@pytest.fixture(scope="module")
def digits_tasks():
    dm = ImageDataModule(DATASETS["digits"], data_options(tasks=["digit", "parity", "zero"]))
    dm.setup("fit")
    return dm


def classifier(dm, **flags):
    a = parse_args([f"--{k.replace('_', '-')}={v}" for k, v in flags.items()])
    from {{cookiecutter.project_slug}}.commands.options import build_module

    return build_module(a, dm)


def test_prior_output_bias_reproduces_the_training_labels(digits_tasks):
    dm = digits_tasks
    module = classifier(dm, output_bias="prior", bias_init=0.3, batchnorm="false")
    freqs = dm.label_frequencies()
    labels = dm.train_set.y
    heads = module.net.heads.outputs
    torch.testing.assert_close(heads[0].bias, torch.log(torch.tensor(freqs[0])).float())
    # With zero weights the output equals the label statistics of the training split.
    with torch.no_grad():
        for head in heads:
            head.weight.zero_()
        digit, parity, zero = module(dm.train_set.x[:5])
    counts = torch.bincount(labels[:, 0], minlength=10).double()
    torch.testing.assert_close(digit.softmax(1)[0].double(), counts / counts.sum(), atol=1e-6, rtol=1e-5)
    p_odd = labels[:, 1].double().mean()
    p_zero = labels[:, 2].double().mean()
    assert torch.sigmoid(parity[0, 0]).item() == pytest.approx(p_odd.item(), rel=1e-5)
    assert torch.sigmoid(zero[0, 0]).item() == pytest.approx(p_zero.item(), rel=1e-5)
    assert 0.05 < p_zero < 0.15, "the imbalanced binary task"
    # Hidden biases keep --bias-init.
    assert all(torch.all(b[0].bias == 0.3) for b in blocks(module.net))


def test_checklist_example_sigma_b_equals_075():
    b = TASK_KINDS["classification"].bias([0.25, 0.75])  # a binary head: one logit
    assert len(b) == 1 and torch.sigmoid(torch.tensor(b)).item() == pytest.approx(0.75)


def test_zero_output_bias(digits_tasks):
    module = classifier(digits_tasks, output_bias="zero")
    assert all(torch.all(h.bias == 0) for h in module.net.heads.outputs)


def test_maxout_is_the_max_of_k_affine_maps():
    torch.manual_seed(0)
    k, units = 3, 4
    block = Block(lambda out, bias: nn.Linear(5, out, bias=bias), units, 1, activation="maxout", maxout_pieces=k)
    linear = block[0]
    assert linear.out_features == k * units and isinstance(block[1], Maxout)
    x = torch.randn(7, 5)
    by_hand = torch.empty(7, units)
    for j in range(units):
        pieces = [x @ linear.weight[i * units + j] + linear.bias[i * units + j] for i in range(k)]
        by_hand[:, j] = torch.stack(pieces).max(0).values
    torch.testing.assert_close(block(x), by_hand)


def test_maxout_over_channel_groups_in_conv():
    block = Block(
        lambda out, bias: nn.Conv2d(1, out, 3, padding=1, bias=bias), 4, 2, activation="maxout", maxout_pieces=2
    )
    x = torch.randn(2, 1, 8, 8)
    z = block[0](x)
    torch.testing.assert_close(block(x), torch.maximum(z[:, :4], z[:, 4:]))


def test_leaky_relu_with_zero_slope_is_relu_and_prelu_learns_alpha():
    x = torch.linspace(-3, 3, 101)
    torch.testing.assert_close(ACTIVATIONS["leaky-relu"](1, 0.0, 2)(x), torch.relu(x))
    torch.testing.assert_close(ACTIVATIONS["leaky-relu"](1, 0.2, 2)(x), torch.maximum(x, 0.2 * x))
    prelu = ACTIVATIONS["prelu"](6, 0.1, 2)
    alpha = dict(prelu.named_parameters())["weight"]
    assert alpha.requires_grad and alpha.shape == (6,) and torch.all(alpha == 0.1)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "epochs"), [("mlp", 10), ("cnn", 10), ("rnn", 15), ("resnet", 10)])
def test_each_architecture_learns_digits(model, epochs, tmp_path):
    extra = ["--width", "32"] if model in ("cnn", "resnet") else ["--width", "128"]
    status, run_dir = train(tmp_path, "--model", model, "--max-epochs", str(epochs), "--lr", "0.003", *extra)
    assert status == 0
    assert json.loads((run_dir / "results.json").read_text())["test/acc"] >= 0.9


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        ("--maxout-pieces 1", "--maxout-pieces"),
        ("--leaky-slope -0.1", "--leaky-slope"),
        ("--leaky-slope 1", "--leaky-slope"),
        ("--bn-eps 0", "--bn-eps"),
        ("--bn-momentum 1.5", "--bn-momentum"),
        ("--bn-momentum -0.1", "--bn-momentum"),
        ("--init-variance 0", "--init-variance"),
        ("--width 0", "--width"),
        ("--init xavier", "--init"),
        ("--activation swish", "--activation"),
        ("--rnn-cell transformer", "--rnn-cell"),
        ("--sync-batchnorm true --accelerator cpu", "--sync-batchnorm"),
    ],
)
def test_bad_architecture_values(argv, flag, capsys):
    assert_bad_input(argv, flag, capsys)


def test_sync_batchnorm_auto(monkeypatch):
    from {{cookiecutter.project_slug}}.training.trainer import sync_batchnorm

    a = parse_args(["--batchnorm"])
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert sync_batchnorm(a) is False  # never on CPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert sync_batchnorm(a) is True
    assert sync_batchnorm(parse_args(["--no-batchnorm"])) is False  # no batch norm, nothing to sync
    assert sync_batchnorm(parse_args(["--batchnorm", "--devices", "1"])) is False
    assert sync_batchnorm(parse_args(["--batchnorm", "--accelerator", "cpu"])) is False


def test_saturating_activation_warns(capsys):
    parse_args(["--activation", "tanh"])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "saturate at both ends" in err[0]


def test_classifier_is_a_lightning_module_with_hparams(digits_tasks):
    module = classifier(digits_tasks, model="cnn")
    assert isinstance(module, TaskModule) and module.hparams.model == "cnn"


# ----------------------------------------------------------------------------- ordered inputs
# 1-D convolutions (cnn, resnet) against hand-computed output lengths and parameter counts, the recurrent
# network's directions and readouts against torch.nn.GRU, the input's per-channel standardization at any rank,
# --split-seed apart from --seed, and the new flags' bad values.


def seq_net(model, shape, **kw):
    return create_network(model, shape, [10], models=MODELS, **kw)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_cnn_on_a_sequence_is_1d_with_the_hand_computed_lengths_and_about_5k_parameters():
    # [1, 40] → conv k5 s2 p2: ⌊(40 + 4 − 5)/2⌋ + 1 = 20 → pool 2: 10 → conv: ⌊(10 + 4 − 5)/2⌋ + 1 = 5 → pool: 2.
    n = seq_net("cnn", (1, 40), depth=2, width=20, kernel_size=5, stride=2, pool=2, batchnorm=True)
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
    assert n_params(n) == (100 + 40) + (4000 + 80) + 810 == 5030
    assert [o.shape for o in n(torch.randn(3, 1, 40))] == [(3, 10)]


def test_cnn_on_an_image_is_still_2d_and_a_stride_and_kernel_shape_it():
    n = seq_net("cnn", (1, 8, 8), depth=1, width=4, kernel_size=3, stride=1, pool=2, batchnorm=False)
    conv = n.trunk[0][0]
    assert isinstance(conv, nn.Conv2d) and n_params(n) == (4 * 9 + 4) + (4 * 4 * 4 * 10 + 10)
    n = seq_net("cnn", (2, 9, 9), depth=1, width=3, kernel_size=5, stride=3, pool=1, batchnorm=False)
    # ⌊(9 + 4 − 5)/3⌋ + 1 = 3 per axis, no pooling: 3·3·3 features.
    assert n.heads.outputs[0].in_features == 27 and n_params(n.trunk) == 3 * 2 * 25 + 3


def test_resnet_on_a_sequence_is_1d():
    n = seq_net("resnet", (2, 32), depth=1, width=8, kernel_size=3, stride=2, pool=2, batchnorm=False)
    assert {type(m) for m in n.trunk.modules() if isinstance(m, nn.modules.conv._ConvNd)} == {nn.Conv1d}
    # stem 8·2·3 + 8, one residual block of two 8·8·3 + 8 convs; head 8·10 + 10.
    assert n_params(n) == (48 + 8) + 2 * (192 + 8) + 90
    assert n.trunk(torch.randn(2, 2, 32)).shape == (2, 8)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("readout", ["last", "mean", "max"])
def test_rnn_bidirectional_parameters_equal_torch_and_readouts_have_both_directions(cell, readout):
    kw = {"rnn_cell": cell, "bidirectional": True, "rnn_readout": readout, "batchnorm": False}
    n = seq_net("rnn", (3, 12), depth=2, width=6, **kw)
    stack = n.trunk[0]
    reference = (nn.GRU if cell == "gru" else nn.LSTM)(3, 6, 2, bidirectional=True)
    assert n_params(stack) == n_params(reference)
    assert n_params(n) == n_params(reference) + (12 * 6 + 6) + (6 * 10 + 10)  # dense block on 2·width, head
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
        seq_net("rnn", (40, 1), depth=1, width=4)
    stack = SequenceRNN((1, 5, 3), 1, 4, "gru", 0.0)  # an image: 5 rows of 1·3 features
    assert stack.rnn.input_size == 3 and stack(torch.rand(2, 1, 5, 3)).shape == (2, 4)


def test_a_sequence_is_standardized_per_channel():
    n = seq_net("mlp", (2, 5), depth=1, width=4, mean=[1.0, -2.0], std=[2.0, 0.5])
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
def test_bad_network_knob_values_are_one_line(argv, flag, capsys):
    assert_bad_input(argv, flag, capsys)


def test_the_split_follows_split_seed_not_seed():
    def val_images(**seeds):
        dm = ImageDataModule(DATASETS["digits"], data_options(**seeds))
        dm.prepare_data()
        dm.setup()
        return dm.val_set.x, dm.test_set.x

    fixed = val_images(seed=0, split_seed=0)
    assert all(torch.equal(a, b) for a, b in zip(fixed, val_images(seed=7, split_seed=0)))
    assert not torch.equal(fixed[0], val_images(seed=0, split_seed=1)[0])
