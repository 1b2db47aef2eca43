"""Your own network and pretrained backbones: the registry, torchvision/timm trunks, --pretrained,
--freeze-backbone, --backbone-lr-ratio, which flags reach a network, and bad networks."""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, assert_bad_input, train
from formats import make_cifar
from torch import nn

from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module
from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.config.reach import declared_models
from {{cookiecutter.project_slug}}.models.blocks import Network, weights
from {{cookiecutter.project_slug}}.networks import MODELS, register_model
from {{cookiecutter.project_slug}}.training.module import Classifier

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


# ----------------------------------------------------------------------------- the registry


def test_the_command_line_reads_the_registry_without_importing_it():
    declared = declared_models()
    assert list(declared)[: len(MODELS)] == list(MODELS)
    for name, entry in MODELS.items():
        assert declared[name].keywords == entry.keywords and declared[name].defaults == entry.defaults
    probe = (
        "import sys; from {{cookiecutter.project_slug}}.config.parser import parse_args; parse_args(['--model', 'cnn']); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("model", MODELS)
def test_registry_init_formula_on_every_layer(model):
    """--init normal: every weight the network holds (its own layers included) is N(0, σ²), biases --bias-init."""
    module, _ = module_for(
        "--model",
        model,
        "--width",
        "16",
        "--init",
        "normal",
        "--init-variance",
        "0.04",
        "--bias-init",
        "0.25",
        "--no-batchnorm",
        "--output-bias",
        "zero",
    )
    found = weights(module.net)
    assert found
    for w in found:
        if w.numel() >= 1000:  # sample variance within 6 standard errors √(2/N)
            assert w.var().item() == pytest.approx(0.04, rel=6 * math.sqrt(2 / w.numel()))
    for name, p in module.net.trunk.named_parameters():
        if "bias" in name:
            assert torch.all(p == 0.25), name


@pytest.mark.parametrize("model", MODELS)
def test_registry_checkpoint_round_trip(model, tmp_path):
    status, run_dir = train(
        tmp_path, "--model", model, "--width", "16", "--max-steps", "2", *TINY, "--tasks", "digit,parity"
    )
    assert status == 0
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    loaded = Classifier.load_from_checkpoint(ckpt, map_location="cpu")
    assert loaded.hparams.model == model
    state = loaded.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    outputs = loaded.eval()(torch.rand(3, 1, 8, 8))
    assert [o.shape for o in outputs] == [(3, 10), (3, 1)]


def test_the_readme_example_trains_in_a_fresh_project(tmp_path):
    """The README's worked example, appended to networks.py exactly as written, trains and passes the
    registry-parametrized tests."""
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```\n<!-- end of the worked example", readme, re.S).group(1)
    name = re.search(r'@register_model\("(\w+)"', code).group(1)
    project = tmp_path / "project"
    skip = shutil.ignore_patterns("runs", "wandb", "__pycache__", ".*")
    # The project's own outputs (runs/, data/, wandb/) stay behind; the package's data/ is code.
    ignore = lambda folder, names: set(skip(folder, names)) | ({"data"} if Path(folder) == ROOT else set())  # noqa: E731
    shutil.copytree(ROOT, project, ignore=ignore)
    networks = next(project.glob("*/networks.py"))
    networks.write_text(networks.read_text() + "\n\n" + code)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(project)}
    # Every test parametrized over the registry, for this network: a fast run, the summary, the init
    # formulas, a checkpoint round trip, every activation/batch-norm combination, multitask heads.
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/models/test_networks.py",
            "tests/training/test_train.py",
            "tests/models/test_models.py",
            "tests/training/test_regularization.py",
            "-k",
            name,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert int(re.search(r"(\d+) passed", tests.stdout).group(1)) >= 30


@pytest.mark.parametrize("model", MODELS)
def test_registry_summary_names_the_flags_that_reach_it(model, tmp_path, capsys):
    status, _ = train(tmp_path, "--model", model, "--width", "8", "--fast-dev-run")
    out = capsys.readouterr().out
    assert status == 0 and f"network: --model {model}: trunk" in out
    uses_block = MODELS[model].keywords is None or "block" in MODELS[model].keywords
    assert ("--batchnorm (trunk's blocks)" in out) == uses_block


# ----------------------------------------------------------------------------- backbones


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


def test_grayscale_is_repeated_and_small_images_resized_inside_the_network():
    net = Network(nn.Flatten(), 3 * 16 * 16, [10], mean=[0.5], std=[0.25], channels=3, size=16)
    x = torch.rand(2, 1, 8, 8)
    expected = (nn.functional.interpolate(x.repeat(1, 3, 1, 1), size=(16, 16), mode="bilinear") - 0.5) / 0.25
    torch.testing.assert_close(net.adapt(x), expected)
    assert net.adapt(torch.rand(2, 1, 20, 20)).shape == (2, 3, 20, 20)  # large enough: kept


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


def test_weights_of_any_module_exclude_biases_and_norms():
    net = nn.Sequential(
        nn.Conv1d(3, 4, 3),
        nn.LayerNorm(4),
        nn.TransformerEncoderLayer(8, 2, 16),
        nn.LSTM(4, 5),
        nn.ConvTranspose2d(2, 2, 3),
        nn.GroupNorm(1, 2),
        nn.Embedding(3, 4),
    )
    names = {id(p): n for n, p in net.named_parameters()}
    found = sorted(names[id(w)] for w in weights(net))
    assert found == sorted(
        n
        for n, p in net.named_parameters()
        if "weight" in n and not n.startswith(("1.", "5.", "6.")) and "norm" not in n
    )
    assert "2.self_attn.in_proj_weight" in found and not any("bias" in n for n in found)


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


def test_backbone_lr_ratio_puts_the_trunk_in_its_own_groups():
    module, _ = module_for("--model", "cnn", "--width", "8", "--backbone-lr-ratio", "0.5", "--weight-decay", "0.01")
    groups = module.parameter_groups()
    trunk = {id(p) for p in module.net.trunk.parameters()}
    assert [g["lr"] for g in groups] == [0.003, 0.003, 0.0015, 0.0015]
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0, 0.01, 0.0]
    assert all(id(p) in trunk for g in groups[2:] for p in g["params"])
    assert not any(id(p) in trunk for g in groups[:2] for p in g["params"])


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
    rebuilt = Classifier(**module.hparams)
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


# ----------------------------------------------------------------------------- bad input and warnings


@pytest.mark.parametrize("argv", ["--model nope", "--model torchvision:", "--model keras:resnet"])
def test_unknown_model_lists_the_registered_names(argv, capsys):
    assert_bad_input(argv, "--model", capsys)
    # (assert_bad_input consumed stderr; parse again to read the message)
    with pytest.raises(SystemExit):
        parse_args(argv.split())
    assert "mlp, cnn, rnn, resnet" in capsys.readouterr().err


def test_torchvision_name_that_is_not_a_classifier(tmp_path, capsys):
    status, _ = train(tmp_path, "--model", "torchvision:fasterrcnn_resnet50_fpn")
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "classification" in err and "mlp" in err
    assert not (tmp_path / "runs").exists()


def _raises(input_shape, *, width):
    raise RuntimeError("my bug")


def _wrong_shape(input_shape, *, width):
    return nn.Conv2d(input_shape[0], width, 3), width


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (_raises, "_raises(input_shape=(1, 8, 8)) raised RuntimeError"),
        (_wrong_shape, "returned features of shape [2, 16, 6, 6] for input [2, 1, 8, 8], expected [2, 16]"),
    ],
)
def test_a_broken_user_network_names_itself_then_shows_its_traceback(builder, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(MODELS, "broken", MODELS["mlp"])  # registered at run time, as a user's import would
    register_model("broken")(builder)
    status, _ = train(tmp_path, "--model", "broken", "--width", "16")
    err = capsys.readouterr().err
    assert status == 2 and not (tmp_path / "runs").exists()
    first, rest = err.split("\n", 1)
    assert expected in first and builder.__name__ in first, first
    if builder is _raises:
        assert rest.startswith("Traceback") and "my bug" in rest


def test_flags_that_cannot_apply_warn_once_each(capsys):
    parse_args(["--model", "torchvision:resnet18", "--depth", "3", "--activation", "gelu", "--dropout", "0.1"])
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: --depth 3 does not apply to --model torchvision:resnet18; ignored",
        "warning: --activation gelu does not apply to --model torchvision:resnet18; ignored",
    ]
    parse_args(["--model", "mlp", "--rnn-cell", "lstm", "--pretrained"])
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_width_auto_is_each_networks_default():
    assert parse_args(["--model", "cnn"]).width == MODELS["cnn"].defaults["width"]
    assert parse_args(["--model", "mlp"]).width == MODELS["mlp"].defaults["width"]
    assert parse_args(["--model", "cnn", "--width", "8"]).width == 8
    assert parse_args(["--model", "torchvision:resnet18"]).width == "auto"


def test_the_summary_lists_what_reaches_the_network(tmp_path, capsys):
    status, _ = train(tmp_path, "--model", "torchvision:mobilenet_v3_small", "--fast-dev-run", "--batch-size", "8")
    out = capsys.readouterr().out
    assert status == 0
    assert "flags that apply to it: --dropout (before the heads), --init (trunk and heads)" in out
    assert "flags ignored by it: --depth, --width, --rnn-cell, --batchnorm" in out


def test_a_trunk_without_the_block_gets_dropout_before_the_heads(monkeypatch):
    def plain_trunk(input_shape, *, width):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width)), width

    monkeypatch.setitem(MODELS, "plain", MODELS["mlp"])
    register_model("plain")(plain_trunk)
    module, _ = module_for("--model", "plain", "--width", "8", "--dropout", "0.3")
    assert isinstance(module.net.dropout, nn.Dropout) and module.net.dropout.p == 0.3
    assert not any(isinstance(m, nn.Dropout) for m in module.net.trunk.modules())
    mlp, _ = module_for("--model", "mlp", "--width", "8", "--dropout", "0.3")
    assert isinstance(mlp.net.dropout, nn.Identity)  # its blocks end in dropout already
