"""Your own network: the registry, the input adapted inside the network, --backbone-lr-ratio on a
trunk, which flags reach a network, and bad networks."""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import HANG, ROOT, assert_bad_input, train
from torch import nn

from {{cookiecutter.project_slug}}.commands.options import build_datamodule, build_module, make_plan
from {{cookiecutter.project_slug}}.config.environment import RUN_NAME_ENV
from {{cookiecutter.project_slug}}.config.parser import parse_args
from {{cookiecutter.project_slug}}.config.reach import declared_models
from {{cookiecutter.project_slug}}.models.blocks import WEIGHTED, Network, weights
from {{cookiecutter.project_slug}}.networks import MODELS, register_model
from {{cookiecutter.project_slug}}.training.module import TaskModule

TINY = ["--batch-size", "8", "--limit-train-batches", "2", "--limit-val-batches", "1"]


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
    for layer in (m for m in module.net.trunk.modules() if isinstance(m, WEIGHTED)):  # not a norm's β of its own
        for name, p in layer.named_parameters(recurse=False):
            assert "bias" not in name or torch.all(p == 0.25), name


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_registry_checkpoint_round_trip(model, tmp_path):
    status, run_dir = train(
        tmp_path, "--model", model, "--width", "16", "--max-steps", "2", *TINY, "--tasks", "digit,parity"
    )
    assert status == 0
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    loaded = TaskModule.load_from_checkpoint(ckpt, map_location="cpu")
    assert loaded.hparams.model == model
    state = loaded.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    outputs = loaded.eval()(torch.rand(3, 1, 8, 8))
    assert [o.shape for o in outputs] == [(3, 10), (3, 1)]


@pytest.mark.slow
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
        timeout=HANG,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert int(re.search(r"(\d+) passed", tests.stdout).group(1)) >= 30


@pytest.mark.parametrize("model", MODELS)
def test_registry_summary_names_the_flags_that_reach_it(model, tmp_path, capsys):
    status, _ = train(tmp_path, "--model", model, "--width", "8", "--fast-dev-run")
    out = capsys.readouterr().out
    assert status == 0 and f"network: --model {model}: trunk" in out
    assert "input: raw images in [0, 1], standardized" in out
    uses_block = MODELS[model].keywords is None or "block" in MODELS[model].keywords
    assert ("--batchnorm (trunk's blocks)" in out) == uses_block


# ----------------------------------------------------------------------------- trunks and heads


def test_grayscale_is_repeated_and_small_images_resized_inside_the_network():
    net = Network(nn.Flatten(), 3 * 16 * 16, [10], mean=[0.5], std=[0.25], channels=3, size=16)
    x = torch.rand(2, 1, 8, 8)
    expected = (nn.functional.interpolate(x.repeat(1, 3, 1, 1), size=(16, 16), mode="bilinear") - 0.5) / 0.25
    torch.testing.assert_close(net.adapt(x), expected)
    assert net.adapt(torch.rand(2, 1, 20, 20)).shape == (2, 3, 20, 20)  # large enough: kept


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


def test_backbone_lr_ratio_puts_the_trunk_in_its_own_groups():
    module, _ = module_for("--model", "cnn", "--width", "8", "--backbone-lr-ratio", "0.5", "--weight-decay", "0.01")
    groups = module.parameter_groups()
    trunk = {id(p) for p in module.net.trunk.parameters()}
    assert [g["lr"] for g in groups] == [0.003, 0.003, 0.0015, 0.0015]
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0, 0.01, 0.0]
    assert all(id(p) in trunk for g in groups[2:] for p in g["params"])
    assert not any(id(p) in trunk for g in groups[:2] for p in g["params"])


# ----------------------------------------------------------------------------- bad input and warnings


@pytest.mark.parametrize("argv", ["--model nope", "--model keras:resnet"])
def test_unknown_model_lists_the_registered_names(argv, capsys):
    assert_bad_input(argv, "--model", capsys)
    # (assert_bad_input consumed stderr; parse again to read the message)
    with pytest.raises(SystemExit):
        parse_args(argv.split())
    assert "mlp, cnn, rnn, resnet" in capsys.readouterr().err


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


def test_width_auto_is_each_networks_default():
    assert parse_args(["--model", "cnn"]).width == MODELS["cnn"].defaults["width"]
    assert parse_args(["--model", "mlp"]).width == MODELS["mlp"].defaults["width"]
    assert parse_args(["--model", "cnn", "--width", "8"]).width == 8


def plain_trunk(input_shape, *, width):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width)), width


def test_run_names_carry_the_dataset_and_the_flags_that_reach_the_network(monkeypatch, tmp_path):
    monkeypatch.setitem(MODELS, "plain", MODELS["mlp"])
    register_model("plain")(plain_trunk)  # no depth: no -d in its runs' names
    monkeypatch.setenv(RUN_NAME_ENV, "")  # restored afterwards: choosing a name sets it

    def name(*argv: str) -> str:
        return make_plan(parse_args(["--output-dir", str(tmp_path), *argv]), {}).run_name

    assert re.fullmatch(r"digits-mlp-d2-w256-adam-lr0\.003-bs64-\d{8}-\d{6}", name())
    plain = name("--model", "plain", "--width", "8", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "32")
    assert re.fullmatch(r"digits-plain-w8-sgd-lr0\.1-bs32-\d{8}-\d{6}", plain)


def test_a_trunk_without_the_block_gets_dropout_before_the_heads(monkeypatch):
    monkeypatch.setitem(MODELS, "plain", MODELS["mlp"])
    register_model("plain")(plain_trunk)
    module, _ = module_for("--model", "plain", "--width", "8", "--dropout", "0.3")
    assert isinstance(module.net.dropout, nn.Dropout) and module.net.dropout.p == 0.3
    assert not any(isinstance(m, nn.Dropout) for m in module.net.trunk.modules())
    mlp, _ = module_for("--model", "mlp", "--width", "8", "--dropout", "0.3")
    assert isinstance(mlp.net.dropout, nn.Identity)  # its blocks end in dropout already
