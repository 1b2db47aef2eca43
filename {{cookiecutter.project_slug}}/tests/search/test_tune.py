"""`sweeps tune`: the stage chooser and the capacity candidates in-process; the procedure through the engine
with the stand-in trainer (fake_train.py: FAKE_MODE=underfit / overfit shapes the curves), a killed tune
continued, and one real tune on digits."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import HANG, ROOT

optuna = pytest.importorskip("optuna", reason="Optuna is the optional [sweeps] extra: pip install -e '.[sweeps]'")

from {{cookiecutter.project_slug}}.commands.sweeps import main  # noqa: E402
from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args  # noqa: E402
from {{cookiecutter.project_slug}}.search import tune  # noqa: E402

FAKE = Path(__file__).with_name("fake_train.py")
SMALL = {"lr": 2, "lr-narrow": 2, "family": 2, "capacity": 3, "regularize": 2, "second": 2}


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def tuner(tmp_path, trials=20, fixed=()) -> tune.Tune:
    args = argparse.Namespace(
        trials=trials, epochs=None, seeds=2, workers=1, storage=None, study="tune", output_dir=tmp_path / "out", seed=0
    )
    t = tune.Tune(args, list(fixed), argparse.Namespace(max_epochs=2, lr=3e-3))
    t.monitor, t.maximize = "val/acc", True
    return t


def run_dir(tmp_path, train: float, val: float, findings=None) -> str:
    d = tmp_path / "run"
    d.mkdir(exist_ok=True)
    rows = ["epoch,step,train/loss,train/acc,val/acc", "0,0,2.3,,", f"0,5,,{train - 0.1},{val}", f"1,10,,{train},{val}"]
    (d / "metrics.csv").write_text("\n".join(rows) + "\n")
    if findings is not None:
        (d / "diagnosis.json").write_text(json.dumps({"findings": findings}))
    return str(d)


def test_a_high_training_error_asks_for_capacity_first(tmp_path):
    t = tuner(tmp_path)
    stage, why = t.choose((0.6, {}, run_dir(tmp_path, train=0.62, val=0.6)), set())
    assert stage == "capacity" and "training error 0.38" in why
    # once capacity was tried the gap (1 point) asks for no regularization: the second tier
    assert t.choose((0.6, {}, run_dir(tmp_path, train=0.62, val=0.61)), {"capacity"})[0] == "second"


def test_a_large_gap_asks_for_regularization(tmp_path):
    stage, why = tuner(tmp_path).choose((0.8, {}, run_dir(tmp_path, train=0.99, val=0.8)), set())
    assert stage == "regularize" and "gap 0.19" in why


@pytest.mark.parametrize(
    "model, shape, train, stage",
    [
        ("mlp", [1, 16, 16], 0.99, "family"),  # a gap, an MLP on images' rows: a network that reads the order first
        ("mlp", [1, 16, 16], 0.62, "family"),  # a training error: the same
        ("cnn", [1, 16, 16], 0.99, "regularize"),  # a network that reads the order already
        ("mlp", [30], 0.99, "regularize"),  # a table's unordered columns
    ],
)
def test_an_mlp_on_ordered_data_tries_another_family_first(tmp_path, model, shape, train, stage):
    d = run_dir(tmp_path, train=train, val=0.6)
    (Path(d) / "hparams.yaml").write_text(yaml.safe_dump({"model": model, "input_shape": shape}))
    t = tuner(tmp_path)
    assert t.choose((0.6, {"model": model}, d), set())[0] == stage
    assert t.choose((0.6, {"model": model}, d), {"family"})[0] in ("capacity", "regularize")  # once
    if stage == "family":
        hp = {**config_dict(parse_args([])), "input_shape": shape, "task_classes": [4], "image_size": 16}
        (Path(d) / "hparams.yaml").write_text(yaml.safe_dump({**hp, "input_mean": [0.0], "input_std": [1.0]}))
        params, _, nets, _ = t.plan("family", (0.6, {"model": "mlp"}, d))
        assert [n["model"] for n in nets] == ["cnn", "rnn"] and params["model"] == {"values": ["cnn", "rnn"]}  # images
        t.state["stages"] = [{"name": "family", "runs": [[0.6, {"model": "cnn", "depth": 2, "width": 64}, d]]}]
        _, _, nets, _ = t.plan("capacity", (0.6, {"model": "mlp"}, d))
        assert nets and {"model": "cnn", "depth": 2, "width": 64} not in nets  # the family stage ran it already


def test_the_diagnostics_feature_decides_and_is_quoted(tmp_path):
    finding = [{"id": "regularize", "evidence": "train/acc − val/acc = 9.0% at epoch 20"}]
    stage, why = tuner(tmp_path).choose((0.6, {}, run_dir(tmp_path, 0.62, 0.6, finding)), set())
    assert stage == "regularize" and "train/acc − val/acc = 9.0%" in why


def test_a_regression_run_is_judged_on_its_rmse(tmp_path):
    t = tuner(tmp_path)
    t.monitor, t.maximize = "val/rmse", False
    d = Path(run_dir(tmp_path, 0, 0))
    (d / "metrics.csv").write_text("epoch,step,train/rmse,val/rmse\n0,5,34.5,63.7\n")
    assert t.choose((63.7, {}, str(d)), set())[0] == "regularize"
    (d / "metrics.csv").write_text("epoch,step,train/rmse,val/rmse\n0,5,60.0,63.7\n")
    assert t.choose((63.7, {}, str(d)), set())[0] == "capacity"


def test_capacity_follows_the_data_and_the_parameter_budget(monkeypatch):
    from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args

    data = {"input_shape": [1, 8, 8], "task_classes": [10], "input_mean": [0.3], "input_std": [0.4]}
    hp = {**config_dict(parse_args([])), **data}
    nets = tune.capacity_candidates(hp, {"model": "mlp", "depth": 2, "width": 256}, set())
    assert {n["model"] for n in nets} == {"mlp", "rnn", "cnn"}  # an image: families that read rows, maps
    assert nets[0]["model"] in ("rnn", "cnn")  # another family before a bigger MLP
    table = {**hp, "input_shape": [30]}
    assert {n["model"] for n in tune.capacity_candidates(table, {"depth": 2, "width": 256}, set())} == {"mlp"}
    monkeypatch.setattr(tune, "PARAM_BUDGET", 1)  # then 8× the incumbent's own parameters bound them
    own = tune.count_parameters(hp, "mlp", 2, 8)
    assert 64 * 8 + 8 * 8 + 8 * 10 < own < 10_000  # built (in every bake): weights, biases, batch norm
    bounded = tune.capacity_candidates(hp, {"model": "mlp", "depth": 2, "width": 8}, set())
    assert bounded and {"rnn", "cnn"}.isdisjoint(n["model"] for n in bounded)  # their own widths: over 8× own
    for n in bounded:
        assert tune.count_parameters(hp, n["model"], n["depth"], n["width"]) <= 8 * own
    fixed = tune.capacity_candidates(hp, {"model": "mlp", "depth": 2, "width": 256}, {"model"})
    assert {n["model"] for n in fixed} == {"mlp"}  # a family fixed after `--` is kept


def test_flags_fixed_after_the_double_dash_are_never_searched(tmp_path):
    assert tune.given(["--lr", "0.1", "--no-batchnorm", "--max-epochs=3"]) >= {"lr", "batchnorm", "max_epochs"}


def tune_argv(out: Path, *budget: str) -> list[str]:
    return [
        "tune",
        *budget,
        "--seeds",
        "2",
        "--output-dir",
        str(out.parent),  # the study "tune" writes in <output-dir>/tune/ = out
        "--program",
        str(FAKE),
        "--",
        "--max-epochs",
        "2",
    ]


def stages(out: Path) -> list[dict]:
    return json.loads((out / "tune.json").read_text())["stages"]


@pytest.mark.slow
def test_underfit_capacity_then_lr_again_test_read_for_the_winner_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_MODE", "underfit")
    monkeypatch.setattr(tune, "SIZES", SMALL)
    read = []
    monkeypatch.setattr(tune, "test_value", lambda d, name: read.append(d) or 0.5)
    out = tmp_path / "tune"
    assert main(tune_argv(out, "--trials", "16", "--seed", "5")) == 0
    names = [s["name"] for s in stages(out)]
    assert names[:4] == ["lr", "noise", "capacity", "lr-narrow"]  # the network changed: ε0 again, narrowly
    first, noise = (tune.Tune.trials_of(_bare(out), stages(out)[i]) for i in (0, 1))
    assert {r[1]["lr"] for r in first} >= {3e-3, 0.01}  # the flags' ε0 and the range test's (FAKE_LR) are tried
    assert {r[1]["seed"] for r in first} == {5} and {r[1]["seed"] for r in noise} == {1006, 1007}  # --seed 5
    narrow = yaml.safe_load(Path(stages(out)[3]["file"]).read_text())["parameters"]
    capacity_best = max(tune.Tune.trials_of(_bare(out), stages(out)[2]), key=lambda r: r[0])
    assert narrow["lr"]["max"] / narrow["lr"]["min"] == pytest.approx(10)
    assert narrow["depth"] == {"value": capacity_best[1]["depth"]}  # the new network, fixed
    # the budget: run directories (the range test's included) never beyond --trials
    assert len([d for d in out.iterdir() if (d / "argv.json").is_file() or d.name.endswith("lr-find")]) <= 16
    state = json.loads((out / "tune.json").read_text())
    winners = {str(Path(d).resolve()) for d in read}
    last = [s for s in stages(out) if s["name"] in ("noise",) or s["name"].startswith("repeat")]
    holding = [{str(Path(r[2]).resolve()) for r in tune.Tune.trials_of(_bare(out), s)} for s in last]
    assert len(read) == 2 and any(winners == h for h in holding)  # the winner's 2 seeds, nothing else
    assert (out / "report.md").read_text().count("## ") >= 4
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best == state["winner"] and "seed" not in best
    assert all(f"--{k.replace('_', '-')} {v}" in state["command"] for k, v in best.items())
    assert "test/acc = 0.5000 ± 0.0000 over 2 seeds" in capsys.readouterr().out


def _bare(out: Path) -> tune.Tune:
    args = argparse.Namespace(study="tune", storage=None, output_dir=out, trials=1, epochs=None, seed=0, seeds=2)
    t = tune.Tune(args, [], _E())
    t.maximize = True
    return t


class _E:
    max_epochs, lr = 2, 3e-3


@pytest.mark.slow
def test_overfit_regularizes_and_the_epoch_budget_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "overfit")
    monkeypatch.setattr(tune, "SIZES", SMALL)
    out = tmp_path / "tune"
    assert main(tune_argv(out, "--budget-epochs", "24")) == 0
    names = [s["name"] for s in stages(out)]
    assert names[:3] == ["lr", "noise", "regularize"]
    regularize = yaml.safe_load(Path(stages(out)[2]["file"]).read_text())["parameters"]
    assert not any(k.startswith("aug_") for k in regularize)  # no hparams.yaml: not known to be images
    epochs = sum(json.loads(r.read_text())["epochs"] for r in out.glob("tune-*/results.json"))
    assert epochs + 1 <= 24  # + the range test


@pytest.mark.slow
def test_families_that_gain_nothing_give_way_to_the_stage_the_curves_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "overfit")  # a gap that only L2 and dropout close: the family changes nothing
    monkeypatch.setenv("FAKE_INPUT_SHAPE", "1,16,16")  # an MLP on images' rows: ordered
    monkeypatch.setattr(tune, "SIZES", SMALL)
    out = tmp_path / "tune"
    assert main(tune_argv(out, "--trials", "14")) == 0
    names = [s["name"] for s in stages(out)]
    assert names[:4] == ["lr", "noise", "family", "regularize"], names
    family = tune.Tune.trials_of(_bare(out), stages(out)[2])
    assert {r[1]["model"] for r in family} == {"rnn", "cnn"}


@pytest.mark.slow
def test_a_killed_tune_continues_without_running_a_trial_again(tmp_path):
    out, once = tmp_path / "tune", tmp_path / "slept"
    env = {**os.environ, "FAKE_MODE": "underfit", "FAKE_SLEEP_ONCE": str(once)}
    argv = [sys.executable, "-m", "{{cookiecutter.project_slug}}.sweeps", *tune_argv(out, "--trials", "12")]
    first = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + HANG
    while not once.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=HANG) == 143
    spent = stages(out)
    second = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert second.returncode == 0, second.stdout + second.stderr
    assert [s["study"] for s in stages(out)][: len(spent)] == [s["study"] for s in spent]  # the same plan
    lines = (out / "ran.log").read_text().splitlines()
    finished = [x for x in lines if x.endswith("finished")]
    assert len(finished) == len(set(finished))  # no finished trial ran again
    ranges = [x for x in lines if "lr-find" in x]  # the range test prints and ends: never "finished"
    assert len(finished) + len(ranges) // 2 <= 12 and len(ranges) == 1  # the budget kept; the test not run twice
    assert (out / "best.yaml").is_file()


@pytest.mark.slow
def test_a_real_tune_on_digits(tmp_path):
    out = tmp_path / "tune"
    fast = ["--accelerator", "cpu", "--wandb-mode", "disabled", "--width", "16", "--max-epochs", "1"]
    fast += ["--limit-train-batches", "4", "--batch-size", "32"]
    argv = [sys.executable, "-m", "{{cookiecutter.project_slug}}.sweeps", "tune", "--trials", "6", "--seeds", "2"]
    done = subprocess.run([*argv, "--output-dir", str(tmp_path), "--", *fast], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test/acc = " in done.stdout and (out / "report.md").is_file()
    config = yaml.safe_load((out / "best.yaml").read_text())
    assert 1e-6 < config["lr"] < 10


def test_the_metric_follows_the_task_before_any_run():
    from {{cookiecutter.project_slug}}.config.parser import parse_args
    from {{cookiecutter.project_slug}}.datasets import DATASETS

    assert tune.monitor_guess(parse_args([])) == ("val/acc", True)
    if "diabetes" in DATASETS:  # the tables feature: a regression dataset is tuned on val/rmse, minimized
        assert tune.monitor_guess(parse_args(["--dataset", "diabetes"])) == ("val/rmse", False)


def test_a_fixed_seed_is_refused(tmp_path, capsys):
    assert main(tune_argv(tmp_path / "tune", "--trials", "8") + ["--seed", "3"]) == 2
    assert "do not fix --seed" in capsys.readouterr().err and not (tmp_path / "tune").exists()


def test_a_restart_with_another_seed_is_refused(tmp_path, capsys):
    out = tmp_path / "tune"
    out.mkdir()
    (out / "tune.json").write_text(json.dumps({"stages": [], "seed": 0, "seeds": 2}))
    assert main(tune_argv(out, "--trials", "8", "--seed", "1")) == 2
    err = capsys.readouterr().err
    assert "was started with --seed 0" in err and len(err.strip().splitlines()) == 1


def test_a_listed_stage_samples_from_the_engines_seed(tmp_path, monkeypatch):
    """The engine passes a stage's seed + its trials so far: a restarted stage draws no value it drew before."""
    from {{cookiecutter.project_slug}}.search import engine

    seen = []
    monkeypatch.setattr(tune, "ListSampler", lambda candidates, seed: seen.append(seed))
    monkeypatch.setattr(engine, "run_sweep", lambda sweep, o: engine.make_sampler(sweep, None, o.seed + 5, False) or 0)
    monkeypatch.setattr(tune.Tune, "trials_of", lambda self, record: [])
    t = tuner(tmp_path)
    t.a.heartbeat, t.a.program = 30, "train.py"
    space = {"lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-1}}
    t.stage("lr", "why", space, {}, 3, [{"lr": 0.003}])
    assert seen == [0 + 5]  # --seed 0, stage 0, 5 trials already in its study


@pytest.mark.slow
def test_the_report_is_logged_to_the_tunes_wandb_group(tmp_path):
    import wandb_records

    run = tmp_path / "out" / "winner"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"wandb_mode": "offline"}))
    (run / "config.yaml").write_text(yaml.safe_dump({"wandb_project": "p"}))
    (tmp_path / "out" / "report.md").write_text("# sweeps tune\n")
    (tmp_path / "out" / "best.yaml").write_text("lr: 0.01\n")
    t = tuner(tmp_path, fixed=["--wandb-group", "g1"])
    t.log_to_wandb(str(run), tmp_path / "out" / "report.md", tmp_path / "out" / "best.yaml")
    rows = wandb_records.history(wandb_records.find_run_file(tmp_path / "out"))
    assert any(row.get("tune/report/_type") == "html-file" for row in rows)
    config = wandb_records.records(wandb_records.find_run_file(tmp_path / "out"))
    assert any(r.WhichOneof("record_type") == "run" and r.run.run_group == "g1" for r in config)


def test_an_output_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(tune_argv(tmp_path / "file" / "tune", "--trials", "8")) == 2  # --output-dir is the file
    assert "is not a directory" in capsys.readouterr().err and (tmp_path / "file").read_text() == "x"
