"""Regularization: L2, L1, dropout, augmentation, adversarial training, early stopping, multitask."""

from __future__ import annotations

import csv
import json
import types

import pytest
import torch
from conftest import assert_bad_input, data_options, parsed, train
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module
from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.data.augment import adjust_contrast, affine, create_augmentation, gaussian_blur
from {{cookiecutter.project_slug}}.data.memory import ImageDataModule
from {{cookiecutter.project_slug}}.datasets import DATASETS
from {{cookiecutter.project_slug}}.models.blocks import Block, weights
from {{cookiecutter.project_slug}}.networks import MODELS
from {{cookiecutter.project_slug}}.training.objectives import sparsity
from {{cookiecutter.project_slug}}.training.optimizers import OPTIMIZERS, create_optimizer


def module_for(*argv: str, seed: int = 0):
    a = parse_args(["--accelerator", "cpu", *argv])
    dm = build_datamodule(a)
    torch.manual_seed(seed)
    return build_module(a, dm), dm


def batch(dm, n: int = 32):
    return dm.train_set.x[:n], dm.train_set.y[:n]


def rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- L2


@pytest.mark.parametrize("model", MODELS)
def test_weight_decay_groups_hold_weights_only(model):
    module, _ = module_for(
        "--model", model, "--batchnorm", "--activation", "prelu", "--weight-decay", "0.03", "--width", "8"
    )
    module.trainer = types.SimpleNamespace(
        estimated_stepping_batches=10, num_training_batches=5, accumulate_grad_batches=1
    )
    optimizer = module.configure_optimizers()["optimizer"]
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.03 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in module.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert decayed | kept == set(names.values()) and not decayed & kept
    owners = dict(module.named_modules())
    for name in decayed:
        owner = owners[name.rsplit(".", 1)[0]]
        assert isinstance(owner, (nn.Linear, nn.Conv2d, nn.RNNBase)) and name.rsplit(".", 1)[1].startswith("weight")
    for name in kept:
        owner = owners[name.rsplit(".", 1)[0]]
        assert "bias" in name or isinstance(owner, (nn.BatchNorm1d, nn.BatchNorm2d, nn.PReLU)), name


@pytest.mark.parametrize(("name", "expected"), [("sgd", 0.95), ("adam", 0.9), ("adamw", 0.95), ("rmsprop", None)])
def test_adamw_decay_is_decoupled_and_the_others_coupled(name, expected):
    # w = 1, zero loss gradient, ε0 = 0.1, λ = 0.5. Decoupled (adamw): w ← w − ε0·λ·w = 0.95.
    # Coupled: the gradient becomes λw; Adam's first normalized step is then ε0 → 0.9.
    w = nn.Parameter(torch.ones(1))
    momentum = 0.0 if name != "adam" else 0.9
    opt = create_optimizer(name, [w], **vars(parsed("--lr=0.1", "--weight-decay=0.5", f"--momentum={momentum}")))
    w.grad = torch.zeros(1)
    opt.step()
    assert name in OPTIMIZERS
    if expected is not None:
        assert w.item() == pytest.approx(expected, rel=1e-4)
    else:
        assert w.item() < 1.0  # rmsprop: coupled, the decay gradient moves w


# ----------------------------------------------------------------------------- L1


def test_l1_adds_lambda_times_sum_of_absolute_weights():
    plain, dm = module_for("--model", "cnn", "--width", "8", seed=1)
    with_l1, _ = module_for("--model", "cnn", "--width", "8", "--l1", "0.01", seed=1)
    x, y = batch(dm)
    penalty = 0.01 * sum(w.abs().sum() for w in weights(plain.net))
    biases = sum(p.abs().sum() for n, p in plain.net.named_parameters() if "bias" in n)
    assert biases > 0, "the output bias prior makes biases non-zero: they must stay out of the penalty"
    torch.testing.assert_close(with_l1.training_step((x, y), 0), plain.training_step((x, y), 0) + penalty)


def test_sparsity_is_the_share_of_near_zero_weights():
    assert sparsity([torch.tensor([0.0, 1e-4, -5e-4, 0.1]), torch.tensor([[2.0, -1e-2]])]).item() == 0.5


def test_logged_l1_is_lambda_times_the_initial_weights(tmp_path):
    status, run_dir = train(tmp_path, "--l1", "1e-3", "--max-epochs", "2", "--run-name", "l1")
    assert status == 0
    logged = rows(run_dir)
    l1 = [float(r["train/l1"]) for r in logged if r.get("train/l1")]
    assert len(l1) == 42 and all(v > 0 for v in l1) and l1[-1] < l1[0]
    # The run seeds torch with --seed (0) before building the network, as module_for does.
    initial, _ = module_for("--l1", "1e-3", seed=0)
    assert l1[0] == pytest.approx(1e-3 * sum(w.abs().sum().item() for w in weights(initial.net)), rel=1e-5)


@pytest.mark.slow
def test_a_large_l1_ends_sparser(tmp_path):
    sparsity_at_end = {}
    for name, l1 in (("plain", "0"), ("l1", "3e-3")):
        status, run_dir = train(tmp_path, "--l1", l1, "--max-epochs", "3", "--run-name", name)
        assert status == 0
        sparsity_at_end[name] = [float(r["val/sparsity"]) for r in rows(run_dir) if r.get("val/sparsity")][-1]
    assert sparsity_at_end["l1"] > sparsity_at_end["plain"] + 0.05


# ----------------------------------------------------------------------------- dropout


def test_dropout_is_inverted_and_off_at_test_time():
    torch.manual_seed(0)
    block = Block(lambda out, bias: nn.Linear(1000, out, bias=bias), 1000, 1, dropout=0.3)
    dropout = block[-1]
    assert isinstance(dropout, nn.Dropout) and dropout.p == 0.3
    h = torch.rand(200, 1000) + 0.5
    dropped = dropout.train()(h)
    kept = dropped != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.01)  # keep probability 1 − p
    torch.testing.assert_close(dropped[kept], h[kept] / 0.7)  # scaled by 1/keep during training
    assert dropped.mean().item() == pytest.approx(h.mean().item(), rel=0.01)  # expectation unchanged
    assert torch.equal(dropout.eval()(h), h)  # nothing dropped at test time


def test_network_dropout_in_train_and_eval_mode():
    # One hidden layer, so the dropped units feed nothing else that would bend their average.
    module, dm = module_for("--dropout", "0.5", "--no-batchnorm", "--width", "64", "--depth", "1")
    plain, _ = module_for("--dropout", "0", "--no-batchnorm", "--width", "64", "--depth", "1")
    plain.net.load_state_dict(module.net.state_dict())
    x = batch(dm, 4)[0]
    module.eval()
    assert torch.equal(module(x)[0], module(x)[0])  # eval: deterministic, nothing dropped
    torch.testing.assert_close(module(x)[0], plain.eval()(x)[0])
    # Train mode: the hidden units, averaged over many draws, match no dropout (inverted scaling).
    hidden = lambda net: net.trunk(net.input_dropout((x - net.mean) / net.std))  # noqa: E731
    module.train()
    torch.manual_seed(0)
    draws = torch.stack([hidden(module.net) for _ in range(2000)])
    assert (draws == 0).float().mean().item() == pytest.approx(
        0.5 + 0.5 * (hidden(plain.net) == 0).float().mean().item(), abs=0.02
    )
    torch.testing.assert_close(draws.mean(0), hidden(plain.net), atol=0.15, rtol=0.05)


@pytest.mark.parametrize("model", MODELS)
def test_dropout_reaches_every_architecture(model):
    module, _ = module_for(
        "--model", model, "--dropout", "0.25", "--input-dropout", "0.1", "--depth", "2", "--width", "8"
    )
    ps = sorted({m.p for m in module.net.modules() if isinstance(m, nn.Dropout)})
    assert ps == [0.1, 0.25]
    if model == "rnn":
        assert module.net.trunk[0].rnn.dropout == 0.25  # between recurrent layers


# ----------------------------------------------------------------------------- augmentation

OPS = {"translate": 0.25, "scale": 0.3, "rotate": 30.0, "mirror": 1.0, "skew": 30.0, "blur": 1.0, "contrast": 0.8}


def test_all_operations_off_means_no_augmentation():
    assert create_augmentation((8, 8), **{op: 0.0 for op in OPS}) is None


def digit_images(n: int = 16) -> torch.Tensor:
    dm = ImageDataModule(DATASETS["digits"], data_options())
    dm.setup()
    return dm.train_set.batch(range(n))[0]


@pytest.mark.parametrize("op", OPS)
def test_each_operation_changes_images_within_range(op):
    augment = create_augmentation((8, 8), **{op: OPS[op]})
    images = digit_images()
    torch.manual_seed(0)
    out = augment(images)
    assert out.shape == images.shape and not torch.equal(out, images)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    if op == "mirror":
        torch.testing.assert_close(out, images.flip(-1))


def test_each_image_gets_its_own_draw():
    augment = create_augmentation((8, 8), rotate=30, translate=0.2)
    out = augment(digit_images(1).repeat(8, 1, 1, 1))
    assert len({tuple(img.flatten().tolist()) for img in out}) == 8


@pytest.mark.parametrize(
    ("angle", "tx", "ty", "scale", "shear", "mirror"),
    [
        (90, 0, 0, 1, 0, False),
        (17, 0, 0, 1, 0, False),
        (0, 1, -2, 1, 0, False),
        (0, 0, 0, 1.3, 0, False),
        (0, 0, 0, 1, 12, False),
        (25, 1, -1, 0.8, 10, True),
        (-40, 0, 2, 1.2, -15, False),
    ],
)
def test_affine_matches_torchvision(angle, tx, ty, scale, shear, mirror):
    torch.manual_seed(0)
    x = torch.rand(3, 2, 8, 8)
    full = lambda v: torch.full((3,), float(v))  # noqa: E731
    ours = affine(
        x, full(angle), torch.tensor([[tx / 8, ty / 8]] * 3), full(scale), full(shear), torch.full((3,), mirror)
    )
    # torchvision's affine() turns clockwise for a positive angle, rotate() counter-clockwise.
    ref = TF.affine(
        x, angle=-angle, translate=[tx, ty], scale=scale, shear=[shear, 0.0], interpolation=InterpolationMode.BILINEAR
    )
    if mirror:
        ref = TF.horizontal_flip(ref)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    if (tx, ty, scale, shear) == (0, 0, 1, 0):
        torch.testing.assert_close(
            ours, TF.rotate(x, angle, interpolation=InterpolationMode.BILINEAR), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
def test_blur_matches_torchvision(sigma):
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(
        gaussian_blur(x, 5, torch.full((2,), sigma)), TF.gaussian_blur(x, [5, 5], [sigma, sigma]), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize(("channels", "factor"), [(1, 0.4), (3, 1.5)])
def test_contrast_matches_torchvision(channels, factor):
    x = torch.rand(2, channels, 8, 8)
    torch.testing.assert_close(
        adjust_contrast(x, torch.full((2,), factor)), TF.adjust_contrast(x, factor), atol=1e-6, rtol=0
    )


def test_augmentation_only_on_training_batches_and_deterministic():
    a = parse_args(["--aug-rotate", "20", "--aug-translate", "0.1"])
    dm = build_datamodule(a)
    x, y = batch(dm)
    dm.trainer = types.SimpleNamespace(training=False)
    assert dm.on_after_batch_transfer((x, y), 0)[0] is x  # validation and test: never augmented
    dm.trainer = types.SimpleNamespace(training=True)
    torch.manual_seed(3)
    first = dm.on_after_batch_transfer((x, y), 0)[0]
    torch.manual_seed(3)
    again = dm.on_after_batch_transfer((x, y), 0)[0]
    assert torch.equal(first, again) and not torch.equal(first, x)


def test_aug_preview_writes_the_grid_and_exits(tmp_path, capsys):
    status, run_dir = train(tmp_path, "--aug-preview", "--aug-rotate", "15", "--aug-mirror", "0.5")
    assert status == 0
    # 8 rows × 8 columns (an image, 7 copies) of 8×8 digits drawn 4× larger, 2-pixel gaps.
    with Image.open(run_dir / "plots" / "augment.png") as png:
        assert png.size == (8 * 32 + 9 * 2, 8 * 32 + 9 * 2)
    assert not (run_dir / "checkpoints").exists()
    assert "mirroring a digit changes its meaning" in capsys.readouterr().err


@pytest.mark.slow
def test_augmented_run_is_reproducible(tmp_path):
    flags = ["--aug-rotate", "20", "--aug-blur", "0.8", "--max-epochs", "1", "--seed", "5"]
    results = []
    for name in ("a", "b"):
        status, run_dir = train(tmp_path, *flags, "--run-name", name)
        assert status == 0
        results.append([r["train/loss"] for r in rows(run_dir) if r["train/loss"]])
    assert results[0] == results[1]


# ----------------------------------------------------------------------------- adversarial


@pytest.mark.parametrize("kind", ["fgsm", "pgd"])
def test_adversarial_examples_stay_close_valid_and_raise_the_loss(kind):
    module, dm = module_for("--adversarial", kind, "--adv-eps", "0.1", "--adv-steps", "4")
    x, y = batch(dm, 64)
    x_adv = module.adversarial_examples(x, y)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert module.total_loss(x_adv, y) > module.total_loss(x, y)


def test_adversarial_loss_mixes_clean_and_adversarial():
    module, dm = module_for("--adversarial", "fgsm", "--adv-weight", "0.3")
    x, y = batch(dm)
    x_adv = module.adversarial_examples(x, y)
    expected = 0.7 * module.total_loss(x, y) + 0.3 * module.total_loss(x_adv, y)
    torch.testing.assert_close(module.training_step((x, y), 0), expected)


def test_zero_adversarial_weight_is_plain_training():
    adv, dm = module_for("--adversarial", "pgd", "--adv-weight", "0", seed=2)
    plain, _ = module_for(seed=2)
    x, y = batch(dm)
    torch.testing.assert_close(adv.training_step((x, y), 0), plain.training_step((x, y), 0))


def test_adversarial_run_logs_val_adv_acc(tmp_path):
    status, run_dir = train(
        tmp_path,
        "--adversarial",
        "pgd",
        "--adv-steps",
        "2",
        "--max-epochs",
        "2",
        "--run-name",
        "adv",
        "--precision",
        "bf16-mixed",
    )
    assert status == 0
    logged = rows(run_dir)
    adv = [float(r["val/adv_acc"]) for r in logged if r.get("val/adv_acc")]
    acc = [float(r["val/acc"]) for r in logged if r.get("val/acc")]
    assert len(adv) == 2 and all(0 <= v <= 1 for v in adv)
    assert adv[-1] < acc[-1], "adversarial examples are harder than clean ones"


# ----------------------------------------------------------------------------- early stopping, multitask


def test_early_stopping_stops_when_val_acc_stalls(tmp_path):
    # ε0 so small that val/acc never changes: epoch 0 sets the best, 2 more epochs without a rise.
    # Without batch norm, whose running averages would move val/acc even at a frozen ε.
    status, run_dir = train(
        tmp_path, "--lr", "1e-12", "--early-stopping-patience", "2", "--max-epochs", "20", "--no-batchnorm"
    )
    assert status == 0
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == 3


def test_patience_zero_never_stops_early(tmp_path):
    status, run_dir = train(
        tmp_path, "--lr", "1e-12", "--early-stopping-patience", "0", "--max-epochs", "5", "--no-batchnorm"
    )
    assert status == 0
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == 5


@pytest.mark.slow
def test_three_task_digits_run(tmp_path):
    status, run_dir = train(tmp_path, "--tasks", "digit,parity,zero", "--max-epochs", "20", "--run-name", "mt3")
    assert status == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test/digit/acc"] >= 0.9 and results["test/zero/acc"] >= 0.95


def test_multitask_loss_is_the_weighted_sum():
    module, dm = module_for("--tasks", "digit,parity,zero", "--task-weights", "1,0.5,2")
    x, y = batch(dm)
    losses, _, _ = module.model_step(x, y)
    assert len(losses) == 3
    torch.testing.assert_close(module.training_step((x, y), 0), losses[0] + 0.5 * losses[1] + 2 * losses[2])


def test_multitask_run_logs_every_task(tmp_path):
    status, run_dir = train(tmp_path, "--tasks", "parity,digit,zero", "--max-epochs", "2", "--run-name", "mt")
    assert status == 0
    final = [r for r in rows(run_dir) if r.get("val/acc")][-1]
    for task in ("digit", "parity", "zero"):
        assert 0 <= float(final[f"val/{task}/acc"]) <= 1 and float(final[f"val/{task}/loss"]) > 0
    assert final["val/acc"] == final["val/parity/acc"], "the first task is the primary one"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test/acc"] == pytest.approx(results["test/parity/acc"])


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        ("--dropout 1", "--dropout"),
        ("--dropout -0.1", "--dropout"),
        ("--input-dropout 1", "--input-dropout"),
        ("--weight-decay -1", "--weight-decay"),
        ("--l1 -1", "--l1"),
        ("--aug-rotate 200", "--aug-rotate"),
        ("--aug-mirror 1.5", "--aug-mirror"),
        ("--aug-translate 1", "--aug-translate"),
        ("--adv-eps 0", "--adv-eps"),
        ("--adv-weight 1.5", "--adv-weight"),
        ("--adv-steps 0", "--adv-steps"),
        ("--adversarial bim", "--adversarial"),
        ("--early-stopping-patience -1", "--early-stopping-patience"),
        ("--tasks digit,color", "--tasks"),
        ("--tasks digit,parity --task-weights 1", "--task-weights"),
        ("--tasks digit,digit", "--tasks"),
        ("--task-weights -1", "--task-weights"),
        ("--aug-preview", "--aug-preview"),
        ("--aug-blur -1", "--aug-blur"),
        ("--aug-scale -0.1", "--aug-scale"),
        ("--aug-skew -5", "--aug-skew"),
        ("--aug-contrast -0.5", "--aug-contrast"),
        ("--adversarial fgsm --adv-eps 0", "--adv-eps"),
        ("--adv-weight -0.1", "--adv-weight"),
    ],
)
def test_bad_regularization_values(argv, flag, capsys):
    assert_bad_input(argv, flag, capsys)


def test_workers_augment_training_batches_only():
    a = parse_args(["--aug-rotate", "30", "--aug-translate", "0.2", "--num-workers", "2", "--batch-size", "1294"])
    dm = build_datamodule(a)
    ((x, _),) = list(dm.train_dataloader())  # the whole training split, shuffled and augmented in a worker
    raw = dm.train_set.x
    assert x.shape == raw.shape and not torch.equal(x.sort(0).values, raw.sort(0).values)
    ((v, _),) = list(dm.val_dataloader())
    assert torch.equal(v, dm.val_set.x)  # validation images are never augmented
    dm.trainer = types.SimpleNamespace(training=True)
    assert dm.on_after_batch_transfer((v, None), 0)[0] is v  # not twice
