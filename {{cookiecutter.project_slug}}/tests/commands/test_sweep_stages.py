"""Staged sweeps: `python -m <package>.sweeps next` carries a stage's best values into the next
stage's file (offline, from run directories); a W&B agent's dashed parameter names end up as the
underscore names in the run's config, without "locked by 'sweep'" lines; the edge check widens a
range whose best value lies at its edge, on the range's scale."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import yaml
from conftest import HANG, ROOT

from {{cookiecutter.project_slug}}.commands.edges import widened
from {{cookiecutter.project_slug}}.commands.sweeps import main
from {{cookiecutter.project_slug}}.config.flags import FLAG_BY_NAME
from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args

STAGES = ROOT / "sweeps"


def fake_run(runs, name: str, acc: float, *flags: str) -> None:
    """A finished run directory as run.py leaves it: config.yaml of every flag, results.json."""
    d = runs / name
    d.mkdir(parents=True)
    a = parse_args([*flags, "--run-name", name])
    (d / "config.yaml").write_text(yaml.safe_dump(config_dict(a), sort_keys=False))
    (d / "results.json").write_text(
        json.dumps({"run_name": name, "val/acc": acc, "val/loss": 1 - acc, "test/acc": acc})
    )


def next_file(tmp_path, *args: str) -> dict:
    out = tmp_path / "next.yaml"
    assert main(["next", *args, "--stages", str(STAGES), "--output", str(out)]) == 0
    return yaml.safe_load(out.read_text())


@pytest.mark.cli
def test_stage_1_best_lr_is_bracketed_by_a_decade_in_stage_2(tmp_path):
    runs = tmp_path / "runs"
    for i, (lr, acc) in enumerate([(1e-4, 0.80), (4e-3, 0.97), (0.3, 0.40), (1e-3, 0.95)]):
        fake_run(runs, f"stage1-{i}", acc, "--lr", str(lr))
    fake_run(runs, "crashed", 0.99)
    (runs / "crashed" / "results.json").unlink()  # unfinished: not a candidate
    sweep = next_file(tmp_path, "--from", str(runs))
    stage2 = yaml.safe_load((STAGES / "stage2_momentum_batch_width.yaml").read_text())
    lr = sweep["parameters"]["lr"]
    assert lr["distribution"] == "log_uniform_values"
    assert (lr["min"], lr["max"]) == pytest.approx((4e-3 / math.sqrt(10), 4e-3 * math.sqrt(10)))
    assert {k: v for k, v in sweep["parameters"].items() if k != "lr"} == {
        k: v for k, v in stage2["parameters"].items() if k != "lr"
    }
    assert {k: v for k, v in sweep.items() if k != "parameters"} == {
        k: v for k, v in stage2.items() if k != "parameters"
    }
    assert "best run stage1-1 (val/acc = 0.9700)" in (tmp_path / "next.yaml").read_text()


@pytest.mark.cli
def test_stage_2_best_values_are_fixed_in_stage_3(tmp_path):
    runs = tmp_path / "runs"
    configs = [
        ("0.002", "0.85", "32", "128", 0.96),
        ("0.001", "0.95", "128", "512", 0.98),
        ("0.003", "0.9", "64", "64", 0.93),
    ]
    for i, (lr, momentum, bs, width, acc) in enumerate(configs):
        fake_run(runs, f"stage2-{i}", acc, "--lr", lr, "--momentum", momentum, "--batch-size", bs, "--width", width)
    sweep = next_file(tmp_path, "--from", str(runs))
    stage3 = yaml.safe_load((STAGES / "stage3_depth_decay_regularization.yaml").read_text())
    params = sweep["parameters"]
    assert {k: params[k] for k in ("lr", "momentum", "batch_size", "width")} == {
        "lr": {"value": 0.001},
        "momentum": {"value": 0.95},
        "batch_size": {"value": 128},
        "width": {"value": 512},
    }
    for name, spec in stage3["parameters"].items():  # the stage's own search is untouched
        assert name == "lr" or params[name] == spec
    for name, spec in params.items():  # every value is one train.py accepts
        assert name in FLAG_BY_NAME
        if "value" in spec:
            assert getattr(parse_args([f"--{name}={spec['value']}"]), name) == spec["value"]


@pytest.mark.cli
def test_next_from_the_command_line_writes_a_sweep_file(tmp_path):
    runs = tmp_path / "runs"
    for i, lr in enumerate(["0.01", "0.001"]):
        fake_run(runs, f"r{i}", 0.9 + i / 100, "--lr", lr)
    out = tmp_path / "stage2.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "{{cookiecutter.project_slug}}.sweeps",
            "next",
            "--from",
            str(runs),
            "--stages",
            str(STAGES),
            "--output",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}; start it with: wandb sweep {out}"
    sweep = yaml.safe_load(out.read_text())
    assert sweep["command"] == ["${env}", "${interpreter}", "${program}", "${args}"]
    assert sweep["parameters"]["lr"]["min"] == pytest.approx(0.001 / math.sqrt(10))


@pytest.mark.cli
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "no finished run"),
        ("same", "do not differ"),
        ("last_stage", "last stage"),
        ("bad_to", "--to"),
        ("unknown_flag", "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, case, expected):
    runs = tmp_path / "runs"
    runs.mkdir()
    args = ["next", "--from", str(runs), "--stages", str(STAGES), "--output", str(tmp_path / "out.yaml")]
    if case == "missing":
        args[2] = str(tmp_path / "nowhere")
    elif case == "same":
        fake_run(runs, "a", 0.9)
        fake_run(runs, "b", 0.8)
    elif case == "last_stage":
        fake_run(runs, "a", 0.9, "--depth", "3", "--dropout", "0.1")
        fake_run(runs, "b", 0.8, "--depth", "1", "--dropout", "0.3")
    elif case == "bad_to":
        fake_run(runs, "a", 0.9, "--lr", "0.1")
        args += ["--to", str(tmp_path / "nope.yaml")]
    elif case == "unknown_flag":
        args.append("--best")
    with pytest.raises(SystemExit) as e:
        sys.exit(main(args))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.slow
def test_agent_dashed_parameters_become_underscore_keys_without_lock_noise(tmp_path):
    """As `wandb agent` starts a run: the parameters in WANDB_SWEEP_PARAM_PATH, and on the command line."""
    import wandb_records

    params = tmp_path / "sweep-x" / "config-r1.yaml"
    params.parent.mkdir()
    params.write_text("wandb_version: 1\n\nbatch-size:\n  value: 32\nlr:\n  value: 0.01\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "WANDB_SWEEP_PARAM_PATH": str(params),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "false",
    }
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--batch-size=32",
            "--lr=0.01",
            "--dataset",
            "digits",
            "--accelerator",
            "cpu",
            "--width",
            "16",
            "--max-epochs",
            "1",
            "--limit-train-batches",
            "2",
            "--limit-val-batches",
            "1",
            "--run-name",
            "agent",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "locked" not in done.stdout + done.stderr
    config = {}
    for r in wandb_records.records(wandb_records.find_run_file(tmp_path / "runs" / "agent")):
        kind = r.WhichOneof("record_type")
        updates = r.run.config.update if kind == "run" else r.config.update if kind == "config" else []
        config.update({u.key: json.loads(u.value_json) for u in updates})
    config = {k: v.get("value", v) if isinstance(v, dict) else v for k, v in config.items()}
    assert "batch-size" not in config and (config["batch_size"], config["lr"]) == (32, 0.01)
    assert config["global_batch_size"] == 32 and config["momentum"] == 0.9  # the program's own keys still arrive


def test_online_reads_the_sweep_runs_from_the_wandb_api(tmp_path, monkeypatch):
    """The online path on a stand-in for wandb.Api: the sweep's own parameters name the stage."""
    import types

    import wandb

    stage2 = yaml.safe_load((STAGES / "stage2_momentum_batch_width.yaml").read_text())

    def run(name, state, acc, **config):
        return types.SimpleNamespace(name=name, state=state, config=config, summary={"val/acc": acc})

    runs = [
        run("a", "finished", 0.91, lr=0.002, momentum=0.9, **{"batch-size": 64}, width=128),
        run("b", "finished", 0.97, lr=0.001, momentum=0.95, **{"batch-size": 128}, width=256),
        run("c", "crashed", 0.99, lr=0.1, momentum=0.8, **{"batch-size": 16}, width=64),
    ]
    paths = []

    class Api:
        def __init__(self, timeout=None):
            pass

        def sweep(self, path):
            paths.append(path)
            return types.SimpleNamespace(runs=runs, config=stage2)

    monkeypatch.setattr(wandb, "Api", Api)
    sweep = next_file(tmp_path, "--from", "wandb:team/proj/abc123")
    assert paths == ["team/proj/abc123"]
    params = sweep["parameters"]
    assert (params["lr"], params["momentum"], params["batch_size"], params["width"]) == (
        {"value": 0.001},
        {"value": 0.95},
        {"value": 128},
        {"value": 256},
    )
    assert "depth" in params and "values" in params["depth"]  # stage 3's own search


@pytest.mark.parametrize(
    "spec, best, expected",
    [
        ({"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0}, 0.5, (1e-5, 1.0)),  # flag's limit
        (
            {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
            0.08,
            (1e-4, 0.1 * 10**0.75),
        ),  # ×10^1.5 > 1: a quarter
        ({"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}, 1.2e-4, (1e-4 / 10**1.5, 0.1)),
        ({"distribution": "uniform", "min": 0.2, "max": 0.6}, 0.58, (0.2, 0.8)),
        ({"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}, 0.003, None),  # inside: narrowed as before
    ],
)
def test_edge_check_widens_on_the_ranges_scale(spec, best, expected):
    found = widened(spec, best, valid=lambda x: x <= 1.0)
    if expected is None:
        assert found is None
        return
    out, words = found
    assert (out["min"], out["max"]) == pytest.approx(expected)
    assert ("log scale" if spec["distribution"].startswith("log") else "linear scale") in words
