"""W&B sweep files: they parse, name known flags with values in each flag's domain, and every
configuration the agent would render (wandb's own create_sweep_command_args) runs."""

from __future__ import annotations

import math
import random

import pytest
import yaml
from conftest import ROOT
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from {{cookiecutter.project_slug}}.commands.train import run as main
from {{cookiecutter.project_slug}}.config.flags import FLAG_BY_NAME
from {{cookiecutter.project_slug}}.config.parser import parse_args

FILES = [ROOT / "sweep.yaml", *sorted((ROOT / "sweeps").glob("*.yaml"))]


def load(path):
    return yaml.safe_load(path.read_text())


def test_there_is_one_file_per_stage():
    assert [p.name for p in FILES] == [
        "sweep.yaml",
        "stage1_lr.yaml",
        "stage2_momentum_batch_width.yaml",
        "stage3_depth_decay_regularization.yaml",
    ]
    assert list(load(FILES[1])["parameters"]) == ["lr", "max_epochs"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_sweep_file_shape(path):
    sweep = load(path)
    assert sweep["program"] == "train.py" and (ROOT / sweep["program"]).is_file()
    assert sweep["method"] in ("bayes", "random", "grid")
    assert sweep["metric"] == {"name": "val/acc", "goal": "maximize"}
    assert sweep["early_terminate"]["type"] == "hyperband"
    assert sweep["command"] == ["${env}", "${interpreter}", "${program}", "${args}"]
    assert "command:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n  - ${args}" in path.read_text()


def test_main_sweep_follows_ngs_order():
    names = list(load(FILES[0])["parameters"])
    assert names[0] == "lr" and load(FILES[0])["parameters"]["lr"]["distribution"] == "log_uniform_values"
    assert names.index("momentum") < names.index("depth") < names.index("weight_decay")
    assert all(b in (16, 32, 64, 128, 256, 512) for b in load(FILES[0])["parameters"]["batch_size"]["values"])


def domain(spec) -> list:
    """The values a parameter can take that the program must accept: listed values, or the bounds."""
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        return spec["values"]
    return [spec["min"], spec["max"]]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_parameter_is_a_flag_with_values_in_its_domain(path):
    for name, spec in load(path)["parameters"].items():
        assert name in FLAG_BY_NAME, f"{path.name}: {name} is not a flag"
        for value in domain(spec):
            rendered = create_sweep_command_args({"args": {name: {"value": value}}})["args"]
            assert (
                getattr(parse_args(rendered), name) == pytest.approx(value)
                if isinstance(value, float)
                else str(getattr(parse_args(rendered), name)).lower() == str(value).lower()
            )


def sample(spec, rng: random.Random):
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return rng.choice(spec["values"])
    lo, hi = spec["min"], spec["max"]
    kind = spec.get("distribution", "uniform")
    if kind == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if kind == "int_uniform":
        return rng.randint(lo, hi)
    assert kind == "uniform", kind
    return rng.uniform(lo, hi)


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_sampled_configurations_run(path, tmp_path):
    rng = random.Random(0)
    params = load(path)["parameters"]
    for i in range(3):
        config = {name: {"value": sample(spec, rng)} for name, spec in params.items()}
        argv = create_sweep_command_args({"args": config})["args"]  # what the agent appends: --lr=0.01 …
        a = parse_args(
            [
                *argv,
                "--fast-dev-run",
                "--wandb-mode",
                "disabled",
                "--accelerator",
                "cpu",
                "--output-dir",
                str(tmp_path),
                "--run-name",
                f"{path.stem}-{i}",
            ]
        )
        assert main(a) == 0, argv
