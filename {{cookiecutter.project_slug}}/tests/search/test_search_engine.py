"""`sweeps run`: the local engine on sweep files. The bookkeeping tests start a stand-in for
train.py (fake_train.py: train.py's parser, its run directory rule, results.json; no torch), so
they cost a fraction of a second per trial; the slow ones run the real train.py on digits:
Hyperband prunes with two workers on SQLite, and two workers share a real PostgreSQL server."""

from __future__ import annotations

import json
import math
import os
import shutil
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
from {{cookiecutter.project_slug}}.search import engine  # noqa: E402

FAKE = Path(__file__).with_name("fake_train.py")
FAST_TRAIN = [
    "--dataset",
    "digits",
    "--accelerator",
    "cpu",
    "--wandb-mode",
    "disabled",
    "--width",
    "16",
    "--limit-train-batches",
    "3",
    "--limit-val-batches",
    "2",
    "--batch-size",
    "32",
]
ALL_FORMS = {
    "lr": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1},
    "momentum": {"distribution": "uniform", "min": 0.8, "max": 0.99},
    "dropout": {"min": 0.0, "max": 0.5},
    "depth": {"distribution": "int_uniform", "min": 1, "max": 3},
    "lr_decay": {"distribution": "q_uniform", "min": 0.3, "max": 0.9, "q": 0.1},
    "weight_decay": {"distribution": "q_log_uniform_values", "min": 1e-5, "max": 1e-2, "q": 1e-5},
    "l1": {"distribution": "log_uniform", "min": -12, "max": -8},
    "eps": {"distribution": "inv_log_uniform_values", "min": 1e-9, "max": 1e-7},
    "activation": {"distribution": "categorical", "values": ["relu", "gelu"]},
    "width": {"values": [8, 16, 32], "probabilities": [0.5, 0.25, 0.25]},
    "batchnorm": {"values": [True, False]},
    "max_epochs": {"value": 2},
}
GRID = {
    "width": {"values": [8, 16]},
    "depth": {"distribution": "int_uniform", "min": 1, "max": 2},
    "lr_decay": {"distribution": "q_uniform", "min": 0.5, "max": 0.55, "q": 0.1},
    "lr": {"value": 0.001},
    "max_epochs": {"value": 1},
}


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def sweep_file(tmp_path, parameters, method="random", program=FAKE, **extra) -> Path:
    path = tmp_path / f"{method}.yaml"
    config = {
        "program": str(program),
        "method": method,
        "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": parameters,
        **extra,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def study_of(runs: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{runs / 'sweeps.db'}")


def ran(runs: Path) -> list[str]:
    return (runs / "ran.log").read_text().splitlines()


def assert_each_ran_once(runs: Path, study: optuna.Study, n: int) -> None:
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == n
    names = [Path(t.user_attrs["run_dir"]).name for t in done]
    lines = ran(runs)
    assert sorted(line for line in lines if line.endswith("finished")) == sorted(f"{x} finished" for x in names)
    assert len({line for line in lines if line.endswith("started")}) == len([x for x in lines if x.endswith("started")])


@pytest.mark.slow
@pytest.mark.parametrize("method, quasi", [("random", False), ("random", True), ("bayes", False), ("grid", False)])
def test_every_form_and_method_through_the_engine(method, quasi, tmp_path, capsys):
    runs = tmp_path / "runs"
    params = GRID if method == "grid" else ALL_FORMS
    argv = ["run", str(sweep_file(tmp_path, params, method)), "--trials", "5", "--output-dir", str(runs), "--seed", "1"]
    assert main([*argv, *(["--quasi-random"] if quasi else []), "--", "--seed", "3"]) == 0
    study = study_of(runs, method)
    n = 4 if method == "grid" else 5  # the grid has 4 points: --trials lowered to 4
    assert_each_ran_once(runs, study, n)
    assert study.direction.name == "MAXIMIZE" and study.user_attrs["sweep"]["parameters"] == params
    for t in study.trials:
        passed = json.loads((Path(t.user_attrs["run_dir"]) / "argv.json").read_text())
        config = t.user_attrs["config"]
        assert passed[: len(config)] == [f"--{k}={v}" for k, v in config.items()]  # the agent's ${args}
        assert passed[len(config) :] == [
            "--output-dir",
            str(runs),
            "--run-name",
            f"{method}-{t.number:04d}",
            "--wandb-group",
            method,
            "--seed",
            "3",
        ]
        assert t.value == pytest.approx(1 / (1 + abs(config["lr"] - 0.01)) + 0.001 * config["width"])
        if method != "grid":
            assert config["width"] in (8, 16, 32) and config["weight_decay"] == pytest.approx(
                round(config["weight_decay"] / 1e-5) * 1e-5
            )
            assert 0.3 <= config["lr_decay"] <= 0.9 and round(config["lr_decay"] * 10) == pytest.approx(
                config["lr_decay"] * 10
            )
    if method == "grid":
        assert sorted((c["width"], c["depth"]) for c in (t.user_attrs["config"] for t in study.trials)) == [
            (8, 1),
            (8, 2),
            (16, 1),
            (16, 2),
        ]
    # run again: the study holds its trials already, nothing runs twice
    assert main([*argv, "--", "--seed", "3"]) == 0
    assert_each_ran_once(runs, study_of(runs, method), n)
    assert f"{n} of {n} trials so far" in capsys.readouterr().out


@pytest.mark.slow
def test_two_workers_on_sqlite_run_each_trial_once_and_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SLEEP", "1.5")
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "run",
                str(sweep_file(tmp_path, ALL_FORMS, "bayes")),
                "--trials",
                "6",
                "--workers",
                "2",
                "--output-dir",
                str(runs),
            ]
        )
        == 0
    )
    assert_each_ran_once(runs, study_of(runs, "bayes"), 6)
    lines = ran(runs)
    assert lines[0].endswith("started") and lines[1].endswith("started")  # two at once


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_runner_resumes_the_study(tmp_path, sig):
    runs, marker = tmp_path / "runs", tmp_path / "slept"
    sweep = sweep_file(tmp_path, ALL_FORMS, "random")
    command = [
        sys.executable,
        "-m",
        "{{cookiecutter.project_slug}}.sweeps",
        "run",
        str(sweep),
        "--trials",
        "3",
        "--output-dir",
        str(runs),
    ]
    env = {**os.environ, "FAKE_SLEEP_ONCE": str(marker)}
    runner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + HANG
    while not marker.exists() and runner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the first trial never started"
    runner.send_signal(sig)
    status = runner.wait(timeout=HANG)
    killed = study_of(runs, "random").trials[0]
    if sig == signal.SIGKILL:  # no goodbye: the trial stays RUNNING in the study
        assert killed.state.name == "RUNNING"
    else:  # stopped: its trial ended, failed and queued again at once
        assert status == 143 and killed.state.name == "FAIL" and "not_counted" in killed.user_attrs
        assert [t.state.name for t in study_of(runs, "random").trials] == ["FAIL", "WAITING"]
    assert main(["run", str(sweep), "--trials", "3", "--output-dir", str(runs)]) == 0
    study = study_of(runs, "random")
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1 and states[0] == "FAIL"
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == 0)
    assert retry.params == killed.params and retry.state.name == "COMPLETE"  # asked again, same values
    assert_each_ran_once(runs, study, 3)


@pytest.mark.slow
def test_next_reads_an_optuna_study_and_the_run_directories_it_wrote(tmp_path, monkeypatch, capsys):
    stage1 = yaml.safe_load((ROOT / "sweeps" / "stage1_lr.yaml").read_text())
    params = {**stage1["parameters"], "max_epochs": {"value": 2}}
    runs = tmp_path / "runs"
    sweep = sweep_file(tmp_path, params, "random", name="stage1")
    assert main(["run", str(sweep), "--trials", "4", "--output-dir", str(runs), "--seed", "0", "--study", "s1"]) == 0
    best = study_of(runs, "s1").best_trial
    monkeypatch.chdir(ROOT)
    for origin in (f"optuna:sqlite:///{runs / 'sweeps.db'}#s1", str(runs)):
        out = tmp_path / "next.yaml"
        capsys.readouterr()
        assert main(["next", "--from", origin, "--output", str(out)]) == 0
        said = capsys.readouterr().out  # the next stage runs where this one ran: locally
        assert f"start it with: python -m {{cookiecutter.project_slug}}.sweeps run {out} --trials N" in said, said
        text = out.read_text()
        first, second = text.splitlines()[:2]
        assert first.startswith("# stage2_momentum_batch_width.yaml") and origin in first  # the stage after stage 1
        assert f"best run {Path(best.user_attrs['run_dir']).name} (val/acc = {best.value:.4f})" in second
        lr, best_lr = yaml.safe_load(text)["parameters"]["lr"], best.user_attrs["config"]["lr"]
        assert "edge check" not in text  # the best ε0 lies inside stage 1's range: the decade around it
        assert (lr["min"], lr["max"]) == pytest.approx((best_lr / 10**0.5, best_lr * 10**0.5))


def test_next_widens_a_range_whose_best_lies_at_its_edge(tmp_path, monkeypatch, capsys):
    from {{cookiecutter.project_slug}}.config.parser import config_dict, parse_args

    runs = tmp_path / "runs"
    for i, lr in enumerate([0.001, 0.05, 0.09]):  # stage 2 searched lr on [3e-4, 3e-3]... and beyond: 0.09 is best
        d = runs / f"r{i}"
        d.mkdir(parents=True)
        a = parse_args(
            ["--lr", str(lr), "--momentum", "0.9", "--batch-size", "64", "--width", "128", "--run-name", d.name]
        )
        (d / "config.yaml").write_text(yaml.safe_dump(config_dict(a)))
        (d / "results.json").write_text(json.dumps({"val/acc": 0.5 + lr}))
    monkeypatch.chdir(ROOT)
    stage2 = tmp_path / "stage2.yaml"
    spec = yaml.safe_load((ROOT / "sweeps" / "stage2_momentum_batch_width.yaml").read_text())
    spec["parameters"]["lr"] = {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1}
    stage2.write_text(yaml.safe_dump(spec))
    out = tmp_path / "next.yaml"
    shutil.copy(ROOT / "sweeps" / "stage3_depth_decay_regularization.yaml", tmp_path / "stage3.yaml")
    stages = tmp_path / "stages"
    stages.mkdir()
    shutil.copy(stage2, stages / "stage2.yaml")
    shutil.copy(tmp_path / "stage3.yaml", stages / "stage3.yaml")
    assert main(["next", "--from", str(runs), "--stages", str(stages), "--output", str(out)]) == 0
    lr = yaml.safe_load(out.read_text())["parameters"]["lr"]
    assert lr["distribution"] == "log_uniform_values" and lr["min"] == 0.001 and lr["max"] > 0.1  # searched, wider
    said = capsys.readouterr().out
    assert "lr: best 0.09 lies in the upper tenth of [0.001, 0.1] (log scale): widened" in said
    assert "edge check: lr" in out.read_text()


def wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.slow
def test_hyperband_prunes_real_trials_with_two_workers(tmp_path):
    runs = tmp_path / "runs"
    params = {
        # Four that learn, one that cannot: the grid's order with --seed 0 (0.05, 0.2, 0.3, 0.1, 1e300,
        # 1e-8) runs it last, when W&B's rule has the others' values at its band to judge it against.
        "lr": {"values": [1e300, 0.3, 0.2, 0.1, 1e-8, 0.05]},
        "optimizer": {"value": "sgd"},
        "max_epochs": {"value": 3},
    }
    sweep = sweep_file(
        tmp_path,
        params,
        "grid",
        program=ROOT / "train.py",
        early_terminate={"type": "hyperband", "min_iter": 1, "eta": 2},
    )
    argv = ["run", str(sweep), "--trials", "6", "--workers", "2", "--output-dir", str(runs), "--seed", "0"]
    assert main([*argv, "--", *FAST_TRAIN]) == 0
    trials = study_of(runs, "grid").trials
    by_lr = {t.user_attrs["config"]["lr"]: t for t in trials}
    assert len(trials) == 6 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    diverged = by_lr[1e300]
    assert diverged.state.name == "COMPLETE" and diverged.value == 0.0 and "diverged" in diverged.user_attrs
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [(t.state.name, t.intermediate_values) for t in trials]
    for t in pruned:
        results = json.loads((Path(t.user_attrs["run_dir"]) / "results.json").read_text())
        assert results["epochs"] < 3 and max(t.intermediate_values) == t.user_attrs["pruned_at"] < 3  # stopped early
        assert results["pruned"] is True and results["pruned_at"] == t.user_attrs["pruned_at"]  # `sweeps report`
    logs = [log.read_text() for log in (runs / "grid-logs").glob("*.log")]
    assert len(logs) == 6 and not any("ModelCheckpoint" in log for log in logs)  # no warning from Lightning
    full = [t for t in trials if t.state.name == "COMPLETE" and t.number != diverged.number]
    assert full and all(max(t.intermediate_values) == 3 for t in full)
    for t in full:
        results = json.loads((Path(t.user_attrs["run_dir"]) / "results.json").read_text())
        assert t.value == pytest.approx(results["val/acc"])  # the best epoch's, as results.json holds


def start_postgres() -> tuple[str, list, Path]:
    """A PostgreSQL server of our own on a free port, as a non-root user (initdb refuses root), in a
    directory that user can reach (pytest's tmp_path is private to root)."""
    import socket
    import tempfile

    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        pytest.skip("PostgreSQL is not installed (initdb not found); .ci/run installs Debian's postgresql")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed (extra [sweeps])")
    bindir = Path(os.path.realpath(initdb)).parent
    home = Path(tempfile.mkdtemp(prefix="sweeps-pg-"))
    data, prefix = home / "data", []
    if os.geteuid() == 0:
        user = "postgres" if subprocess.run(["id", "postgres"], capture_output=True).returncode == 0 else "nobody"
        shutil.chown(home, user)
        prefix = ["runuser", "-u", user, "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    initialize = [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "sweeps", "-A", "trust"]
    subprocess.run(initialize, check=True, capture_output=True)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-o", options, "-w", "-l", str(home / "log"), "start"], check=True, capture_output=True)
    return f"postgresql+psycopg2://sweeps@127.0.0.1:{port}/postgres", [*pg_ctl, "-m", "fast", "stop"], home


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study(tmp_path):
    url, stop, home = start_postgres()
    try:
        runs = tmp_path / "runs"
        params = {"lr": {"distribution": "log_uniform_values", "min": 0.01, "max": 0.1}, "max_epochs": {"value": 1}}
        sweep = sweep_file(tmp_path, params, "bayes", program=ROOT / "train.py")
        argv = [
            "run",
            str(sweep),
            "--trials",
            "4",
            "--workers",
            "2",
            "--output-dir",
            str(runs),
            "--storage",
            url,
            "--study",
            "pg",
        ]
        assert main([*argv, "--", *FAST_TRAIN]) == 0
        study = optuna.load_study(study_name="pg", storage=url)
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
        dirs = sorted(Path(t.user_attrs["run_dir"]).name for t in study.trials)
        assert dirs == [f"pg-{i:04d}" for i in range(4)] and all((runs / d / "results.json").is_file() for d in dirs)
        assert not (runs / "sweeps.db").exists()  # the study lives in the server
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_restarted_runner_with_a_fixed_seed_draws_new_values(tmp_path):
    runs = tmp_path / "runs"
    sweep = sweep_file(tmp_path, {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}}, "random")
    for trials in (2, 4):  # the second start continues the study with the same --seed
        assert main(["run", str(sweep), "--trials", str(trials), "--output-dir", str(runs), "--seed", "0"]) == 0
    values = [t.params["lr"] for t in study_of(runs, "random").trials]
    assert len(values) == 4 and len(set(values)) == 4, values  # before: trial 2 = trial 0's ε0


@pytest.mark.slow
def test_a_runner_killed_after_its_trial_wrote_results_does_not_run_it_again(tmp_path):
    runs, marker = tmp_path / "runs", tmp_path / "slept"
    sweep = sweep_file(tmp_path, ALL_FORMS, "random")
    command = [sys.executable, "-m", "{{cookiecutter.project_slug}}.sweeps", "run", str(sweep), "--trials", "2"]
    env = {**os.environ, "FAKE_SLEEP_AFTER_ONCE": str(marker)}
    runner = subprocess.Popen([*command, "--output-dir", str(runs)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    wait_for(marker, HANG)
    runner.kill()  # trial 0 wrote results.json; its runner dies before telling the study
    runner.wait(timeout=HANG)
    assert study_of(runs, "random").trials[0].state.name == "RUNNING"
    assert main(["run", str(sweep), "--trials", "2", "--output-dir", str(runs)]) == 0
    study = study_of(runs, "random")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]  # recorded, not failed and re-run
    value = json.loads((runs / "random-0000" / "results.json").read_text())["val/acc"]
    assert study.trials[0].value == pytest.approx(value)
    assert_each_ran_once(runs, study, 2)


def on_host(host: str, argv: list) -> list:
    """argv run under its own hostname: a UTS namespace, as if on another machine (only the storage is shared)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-u", "true"], capture_output=True).returncode:
        pytest.skip("unshare -u (a UTS namespace per runner) needs root and util-linux")
    return ["unshare", "-u", "sh", "-c", 'hostname "$0" && exec "$@"', host, *argv]


class Lines:
    """A process's stdout lines with the time each arrived."""

    def __init__(self, process: subprocess.Popen):
        import threading

        self.lines: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend((time.monotonic(), x) for x in process.stdout))
        self.thread.start()

    def first(self, text: str) -> float | None:
        return next((t for t, line in list(self.lines) if text in line), None)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["start together", "one machine dies"])
def test_runners_on_two_machines_share_a_postgresql_study(tmp_path, case):
    """Two runners under two hostnames on one fresh PostgreSQL study: both start (the schema is created once
    though both race to create it); a runner killed with its trial (its machine died) is noticed by the other
    within about 2 x --heartbeat, its trial failed and run again with the same values, its lock removed, and
    the study ends with exactly --trials complete trials, each run once."""
    url, stop, home = start_postgres()
    try:
        runs, trials, beat = tmp_path / "runs", 4, 1
        sweep = sweep_file(tmp_path, {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}})
        argv = [sys.executable, "-m", "{{cookiecutter.project_slug}}.sweeps", "run", str(sweep), "--trials", str(trials)]
        argv += ["--output-dir", str(runs), "--storage", url, "--study", "many", "--heartbeat", str(beat)]
        env = {**os.environ, "FAKE_SLEEP": "1.5"}
        start = {"cwd": ROOT, "env": env, "stdout": subprocess.PIPE, "text": True, "start_new_session": True}
        a, b = (subprocess.Popen(on_host(h, argv), **start) for h in ("machine-a", "machine-b"))
        out_a, out_b = Lines(a), Lines(b)
        if case == "one machine dies":
            deadline = time.monotonic() + HANG
            while out_a.first("started") is None and a.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert out_a.first("started") is not None, out_a.lines
            os.killpg(a.pid, signal.SIGKILL)  # the runner and its trial, as when the machine goes down
            killed = time.monotonic()
            a.wait(timeout=HANG)
        assert b.wait(timeout=HANG) == 0, out_b.lines
        a.wait(timeout=HANG)
        out_a.thread.join(), out_b.thread.join()
        study = optuna.load_study(study_name="many", storage=url)
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        assert len(complete) == trials
        assert_each_ran_once(runs, study, trials)
        hosts = {t.user_attrs["runner"].rpartition(":")[0] for t in complete}
        if case == "start together":
            assert a.returncode == 0, out_a.lines
            assert hosts == {"machine-a", "machine-b"} and [t.state.name for t in study.trials] == ["COMPLETE"] * 4
        else:
            failed = [t for t in study.trials if t.state.name == "FAIL"]
            assert len(failed) == 1 and failed[0].user_attrs["runner"].startswith("machine-a:")
            retried = [t for t in complete if t.system_attrs.get("failed_trial") == failed[0].number]
            assert len(retried) == 1 and retried[0].params == failed[0].params  # the same values, run again
            assert retried[0].user_attrs["runner"].startswith("machine-b:")
            assert not (Path(failed[0].user_attrs["run_dir"]) / ".lock").exists()  # the dead run's lock is gone
            noticed = out_b.first(f"trial {failed[0].number} was running when its runner")
            assert noticed is not None and noticed - killed < 2 * beat + 1.0, noticed - killed
            print(f"noticed {noticed - killed:.2f} s after the kill (--heartbeat {beat})")
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_the_best_trial_line_shows_the_values_the_trials_ran_with(tmp_path, capsys):
    runs = tmp_path / "runs"
    sweep = sweep_file(tmp_path, {"width": {"values": [8, 16]}, "lr": {"values": [0.01, 0.1]}}, "grid")
    assert main(["run", str(sweep), "--trials", "4", "--output-dir", str(runs), "--", "--width", "64"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "best trial" in last and "'width': 64" in last and "'width': 8" not in last, last  # after `--` wins
    assert {t.user_attrs["config"]["width"] for t in study_of(runs, "grid").trials} == {64}


def test_next_from_run_directories_checks_the_edge_on_the_range_the_runs_searched(tmp_path, monkeypatch, capsys):
    stage2 = yaml.safe_load((ROOT / "sweeps" / "stage2_momentum_batch_width.yaml").read_text())
    params = {**stage2["parameters"], "lr": {"distribution": "log_uniform_values", "min": 0.00536, "max": 0.0536}}
    runs = tmp_path / "runs"
    sweep = sweep_file(tmp_path, params, "random")  # a stage 2 filled in by `sweeps next`: its own ε0 range
    assert main(["run", str(sweep), "--trials", "4", "--output-dir", str(runs), "--seed", "1"]) == 0
    assert yaml.safe_load((runs / "random-0000" / "sweep.yaml").read_text())["parameters"]["lr"]["min"] == 0.00536
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    assert main(["next", "--from", str(runs), "--output", str(tmp_path / "next.yaml")]) == 0
    said = capsys.readouterr().out
    assert "[0.0003, 0.003]" not in said  # the shipped stage 2's range, which these runs did not search
    best = max(study_of(runs, "random").trials, key=lambda t: t.value).user_attrs["config"]["lr"]
    edge = not 0.1 < math.log(best / 0.00536) / math.log(10) < 0.9  # in the outer tenth of the searched range
    assert ("edge check: lr: best" in said) == edge and (not edge or "[0.00536, 0.0536]" in said), said


def test_a_study_name_is_never_a_path(tmp_path, capsys):
    runs = tmp_path / "out" / "runs"
    sweep = sweep_file(tmp_path, {"lr": {"values": [0.01]}}, "random")
    for study in ("../../esc", "a/b", "x" * 300):  # --study is a plain name: refused in one line
        with pytest.raises(SystemExit) as refused:
            main(["run", str(sweep), "--trials", "1", "--output-dir", str(runs), "--study", study])
        assert refused.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random.yaml"]  # nothing written anywhere
    # A study read from a storage (any name) still becomes a file name only: no path, at most 100 characters.
    assert engine.safe_name("../../esc" + "x" * 300) == "esc" + "x" * 97


def test_the_runners_of_a_study_beat_with_one_heartbeat(tmp_path, capsys):
    runs = tmp_path / "runs"
    sweep = sweep_file(tmp_path, {"lr": {"values": [0.01, 0.1]}}, "random")
    assert main(["run", str(sweep), "--trials", "1", "--output-dir", str(runs), "--heartbeat", "5"]) == 0
    capsys.readouterr()
    assert main(["run", str(sweep), "--trials", "2", "--output-dir", str(runs), "--heartbeat", "1"]) == 2
    err = capsys.readouterr().err  # 1 s would take the others' live trials (beating every 2.5 s) for dead ones
    assert len(err.strip().splitlines()) == 1 and "--heartbeat 5" in err
    assert len(study_of(runs, "random").trials) == 1


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:"])
def test_next_from_a_missing_study_file_creates_nothing(tmp_path, capsys, scheme):
    missing = tmp_path / "new.db"
    assert main(["next", "--from", f"optuna:{scheme}{missing}#x", "--output", str(tmp_path / "n.yaml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err
    assert not missing.exists() and not (tmp_path / "n.yaml").exists()
