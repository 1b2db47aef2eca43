"""Pretrained backbones: torchvision/timm trunks, --pretrained, --freeze-backbone and
--backbone-lr-ratio on a backbone, which flags reach it, and bad backbone names."""

from __future__ import annotations

import csv
import importlib.util
import math

import pytest
import torch
from conftest import assert_bad_input, train
from formats import make_cifar
from torch import nn

from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module
from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.models.blocks import weights
from {{cookiecutter.project_slug}}.training.module import TaskModule

TINY = ["--batch-size", "8", "--limit-train-batches", "2", "--limit-val-batches", "1"]
BACKBONES = ["torchvision:resnet18", "torchvision:mobilenet_v3_small"]


def module_for(*argv: str, seed: int = 0):
    """Build the module exactly as a run does: data first, then torch seeded, then the network."""
    a = parse_args(["--accelerator", "cpu", *argv])
    dm = build_datamodule(a)
    torch.manual_seed(seed)
    return build_module(a, dm), dm


def rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("model", BACKBONES)
@pytest.mark.parametrize("dataset", ["digits", "cifar10"])
def test_torchvision_backbone_fast_dev_run(model, dataset, tmp_path):
    if dataset == "cifar10":
        make_cifar(tmp_path / "data")
    status, run_dir = train(
        tmp_path,
        "--model",
        model,
        "--dataset",
        dataset,
        "--data-dir",
        str(tmp_path / "data"),
        "--fast-dev-run",
        "--batch-size",
        "8",
    )
    assert status == 0


def test_a_backbone_trunk_keeps_its_layers_and_the_project_adds_the_heads():
    module, _ = module_for("--model", "torchvision:resnet18", "--tasks", "digit,parity,zero", "--dropout", "0.3")
    net = module.net
    assert isinstance(net.trunk.fc, nn.Identity) and isinstance(net.dropout, nn.Dropout) and net.dropout.p == 0.3
    assert [h.out_features for h in net.heads.outputs] == [10, 1, 1] and net.channels == 3
    # L2 and L1 see exactly the backbone's conv/linear weights and the heads' weights.
    convs = [m.weight for m in net.trunk.modules() if isinstance(m, nn.Conv2d)]
    assert {id(w) for w in weights(net)} == {id(w) for w in convs + [h.weight for h in net.heads.outputs]}
    # --init he-normal (default) reaches the backbone when it is not pretrained: N(0, 2/m).
    big = max(convs, key=lambda w: w.numel())
    m = big.shape[1] * big[0][0].numel()
    assert big.var().item() == pytest.approx(2 / m, rel=6 * math.sqrt(2 / big.numel()))


@pytest.mark.slow
def test_freeze_backbone_keeps_the_trunk_bit_identical_and_trains_the_heads(tmp_path):
    argv = ["--model", "torchvision:resnet18", "--freeze-backbone"]
    initial, _ = module_for(*argv)
    status, run_dir = train(tmp_path, *argv, "--max-steps", "3", *TINY, "--run-name", "frozen")
    assert status == 0
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    before = initial.state_dict()
    trunk = [k for k in before if k.startswith("net.trunk.")]
    assert any("running_mean" in k for k in trunk)  # batch norm statistics are part of what stays
    assert all(torch.equal(state[k], before[k]) for k in trunk)
    assert not torch.equal(state["net.heads.outputs.0.weight"], before["net.heads.outputs.0.weight"])


@pytest.mark.slow
def test_backbone_lr_ratio_holds_at_every_step(tmp_path):
    status, run_dir = train(
        tmp_path,
        "--model",
        "torchvision:resnet18",
        "--backbone-lr-ratio",
        "0.1",
        "--max-epochs",
        "2",
        *TINY,
        "--warmup-steps",
        "2",
        "--run-name",
        "ratio",
    )
    assert status == 0
    logged = [(int(r["step"]), float(r["lr"]), float(r["lr-backbone"])) for r in rows(run_dir) if r.get("lr")]
    assert [s for s, _, _ in logged] == [0, 1, 2, 3]
    for _, lr, lr_backbone in logged:
        assert lr_backbone == pytest.approx(0.1 * lr, rel=1e-12, abs=0)
    assert logged[0][1] == 0 and logged[1][1] > 0  # the warm-up ramps both groups


def test_pretrained_loads_cached_weights_bit_identical(tmp_path, monkeypatch):
    import torchvision

    from {{cookiecutter.project_slug}}.models.backbones import weights_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(123)
    reference = torchvision.models.resnet18()  # its own random state, under the name torchvision expects
    path = weights_file("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    module, _ = module_for("--model", "torchvision:resnet18", "--pretrained")
    trunk = module.net.trunk.state_dict()
    for k, v in reference.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(trunk[k], v), k
    torch.testing.assert_close(module.net.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    torch.testing.assert_close(module.net.std.flatten(), torch.tensor([0.229, 0.224, 0.225]))
    # A checkpoint holds the weights: rebuilding from its hyperparameters needs no cache.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "elsewhere"))
    rebuilt = TaskModule(**module.hparams)
    rebuilt.load_state_dict(module.state_dict())
    assert torch.equal(rebuilt.net.trunk.conv1.weight, reference.conv1.weight)


def test_pretrained_without_cached_weights_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    status, run_dir = train(tmp_path, "--model", "torchvision:resnet18", "--pretrained")
    assert status == 2 and not (tmp_path / "runs").exists()
    err = capsys.readouterr().err
    expected = tmp_path / "empty" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert err.count("\n") == 1 and str(expected) in err and "fetch them once" in err, err


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="the timm extra is not installed")
def test_timm_backbone_fast_dev_run(tmp_path):
    status, _ = train(tmp_path, "--model", "timm:test_resnet", "--fast-dev-run", "--batch-size", "8")
    assert status == 0


def test_timm_without_timm_is_one_line(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "timm" else real(name, *a))
    assert_bad_input("--model timm:resnet18", "--model", capsys)


def test_torchvision_name_that_is_not_a_classifier(tmp_path, capsys):
    status, _ = train(tmp_path, "--model", "torchvision:fasterrcnn_resnet50_fpn")
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "classification" in err and "mlp" in err
    assert not (tmp_path / "runs").exists()


def test_flags_that_cannot_apply_warn_once_each(capsys):
    parse_args(["--model", "torchvision:resnet18", "--depth", "3", "--activation", "gelu", "--dropout", "0.1"])
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: --depth 3 does not apply to --model torchvision:resnet18; ignored",
        "warning: --activation gelu does not apply to --model torchvision:resnet18; ignored",
    ]
    parse_args(["--model", "mlp", "--rnn-cell", "lstm", "--pretrained"])
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_the_summary_lists_what_reaches_the_network(tmp_path, capsys):
    status, _ = train(tmp_path, "--model", "torchvision:mobilenet_v3_small", "--fast-dev-run", "--batch-size", "8")
    out = capsys.readouterr().out
    assert status == 0
    assert "flags that apply to it: --dropout (before the heads), --init (trunk and heads)" in out
    assert "flags ignored by it: --depth, --width, --rnn-cell, --batchnorm" in out


def test_a_backbone_keeps_width_auto():
    assert parse_args(["--model", "torchvision:resnet18"]).width == "auto"


@pytest.mark.parametrize("argv", ["--model torchvision:"])
def test_unknown_model_lists_the_registered_names(argv, capsys):
    assert_bad_input(argv, "--model", capsys)
    # (assert_bad_input consumed stderr; parse again to read the message)
    with pytest.raises(SystemExit):
        parse_args(argv.split())
    assert "mlp, cnn, rnn, resnet" in capsys.readouterr().err
